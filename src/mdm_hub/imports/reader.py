"""Reading customer lists: CSV/TSV in UTF-8, UTF-8 with BOM or CP932, and Excel .xlsx.

Pure and streaming: rows are yielded one at a time from the open file, never the whole file
in memory. Text files are decoded first and parsed after (so a CP932 byte 0x5C inside 能, ソ or
表 is never mistaken for a backslash or a delimiter), ``.xlsx`` is read with python-calamine.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from charset_normalizer import from_bytes

from mdm_hub.imports.spool import SealedSpool

SAMPLE_BYTES = 256 * 1024
# What Windows Excel writes as "CSV" is CP932 (Shift_JIS plus NEC/IBM extensions: ①, ㈱, Ⅲ,
# 髙, ...). A detector's "shift_jis" is read as cp932, its superset, so those survive.
_JAPANESE_ENCODINGS = ["utf_8", "cp932", "euc_jp", "iso2022_jp"]
_AS_CP932 = {"shift_jis", "shift_jis_2004", "shift_jisx0213", "cp932", "ms932", "sjis"}


class FileProblem(ValueError):
    """The file as a whole cannot be read (not the fault of one row)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Row:
    line: int  # the line (text files: of the record's first physical line) or Excel row number
    values: list[str]


@dataclass(frozen=True)
class FileFormat:
    kind: str  # csv | tsv | xlsx
    encoding: str | None  # text files only
    sheet: str | None = None  # xlsx only


def detect_encoding(sample: bytes) -> str:
    """The encoding of a text file from its first bytes: a BOM, valid UTF-8, else the best
    Japanese encoding charset-normalizer finds (CP932 for Shift_JIS)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A sample cut inside a multi-byte character is still UTF-8.
        if exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
    # Half-width kana in Shift_JIS are single bytes 0xA1–0xDF, which is exactly what makes
    # detectors guess Latin or Cyrillic code pages: ask only among the Japanese encodings.
    best = from_bytes(sample, cp_isolation=_JAPANESE_ENCODINGS).best()
    encoding = best.encoding if best is not None else "cp932"
    if encoding.replace("-", "_").lower() in _AS_CP932:
        return "cp932"
    return encoding


def _normalized_encoding(name: str) -> str:
    try:
        canonical = codecs.lookup(name).name
    except LookupError as exc:
        raise FileProblem("unknown_encoding", f"Unknown encoding {name!r}") from exc
    return "cp932" if canonical.replace("-", "_") in _AS_CP932 else canonical


# A file to read: a path, or a staged upload's spool (sealed on disk, read back in clear).
Source = Path | SealedSpool


def _open(source: Source) -> IO[bytes]:
    return source.open("rb") if isinstance(source, Path) else source.open()


def file_format(
    path: Source, *, encoding: str | None = None, sheet: str | None = None, name: str | None = None
) -> FileFormat:
    """What kind of file ``path`` is (by its name, ``name`` when given, and its first bytes)."""
    suffix = Path(name or path.name).suffix.lower()
    with _open(path) as f:
        head = f.read(SAMPLE_BYTES)
    if head.startswith(b"PK\x03\x04") or suffix in (".xlsx", ".xlsm", ".xls", ".ods"):
        return FileFormat("xlsx", None, sheet)
    chosen = _normalized_encoding(encoding) if encoding else detect_encoding(head)
    if chosen == "utf-8" and head.startswith(codecs.BOM_UTF8):
        chosen = "utf-8-sig"
    kind = "tsv" if suffix in (".tsv", ".tab") else "csv"
    if kind == "csv" and suffix not in (".csv",):
        # No telling suffix: a first line with tabs and no commas is TSV.
        first = head.split(b"\n", 1)[0]
        if b"\t" in first and b"," not in first:
            kind = "tsv"
    return FileFormat(kind, chosen)


def read_rows(path: Source, fmt: FileFormat) -> Iterator[Row]:
    """Every row of the file, the header first, as text (empty cells as "")."""
    if fmt.kind == "xlsx":
        yield from _xlsx_rows(path, fmt.sheet)
        return
    with _open(path) as raw:
        yield from text_rows(raw, fmt)


def text_rows(raw: IO[bytes], fmt: FileFormat) -> Iterator[Row]:
    assert fmt.encoding is not None
    text = io.TextIOWrapper(raw, encoding=fmt.encoding, errors="strict", newline="")
    reader = csv.reader(text, delimiter="\t" if fmt.kind == "tsv" else ",", strict=False)
    start = 1
    try:
        for values in reader:
            line, start = start, reader.line_num + 1
            if not any(v.strip() for v in values):
                continue
            yield Row(line, values)
    except UnicodeDecodeError as exc:
        raise FileProblem(
            "undecodable",
            f"The file is not valid {fmt.encoding} after line {start - 1} ({exc.reason}); "
            "give its encoding with --encoding / the encoding field",
        ) from exc
    except csv.Error as exc:
        raise FileProblem("malformed_csv", f"Line {reader.line_num}: {exc}") from exc


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _xlsx_rows(path: Source, sheet: str | None) -> Iterator[Row]:
    from python_calamine import CalamineWorkbook

    try:
        book = (
            CalamineWorkbook.from_path(str(path))
            if isinstance(path, Path)
            else CalamineWorkbook.from_filelike(io.BytesIO(path.read_all()))
        )
    except Exception as exc:  # calamine raises its own error types for every broken file
        raise FileProblem("unreadable_workbook", f"Not a readable Excel file: {exc}") from exc
    names = book.sheet_names
    if not names:
        raise FileProblem("no_sheet", "The workbook has no sheet")
    if sheet is None:
        chosen = names[0]
    elif sheet in names:
        chosen = sheet
    elif sheet.isdigit() and 1 <= int(sheet) <= len(names):
        chosen = names[int(sheet) - 1]
    else:
        raise FileProblem("unknown_sheet", f"No sheet {sheet!r}; the sheets are {names}")
    data = book.get_sheet_by_name(chosen)
    for index, values in enumerate(data.iter_rows(), start=data.start[0] + 1 if data.start else 1):
        cells = [_cell(v) for v in values]
        if any(c.strip() for c in cells):
            yield Row(index, cells)
