"""Reading the published files as they come: a zip (with its .asc signatures beside the CSV) or
a bare CSV, in UTF-8 (the Unicode file) or Shift_JIS, streamed row by row.

Bytes are decoded first and parsed as CSV second: in Shift_JIS some characters (ソ, 表, 能, …)
carry 0x5C as their second byte, which a byte-level parser would take for a backslash.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

SAMPLE_BYTES = 256 * 1024
ENCODINGS = {"utf-8": "utf-8-sig", "cp932": "cp932", "shift_jis": "cp932"}


class RegistryFileError(ValueError):
    """The file cannot be read as a published registry file (said plainly, with the place)."""


@dataclass(frozen=True)
class Member:
    """One CSV inside the file: the file itself, or one member of the zip."""

    name: str


def file_digest(path: Path) -> str:
    """sha256 of the file's bytes: what a checkpoint belongs to."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def csv_members(path: Path) -> list[Member]:
    """The CSV files in ``path``: the zip's ``.csv`` members in name order, or the file itself."""
    if not path.is_file():
        raise RegistryFileError(f"{path}: no such file")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = sorted(
                info.filename
                for info in archive.infolist()
                if not info.is_dir() and info.filename.lower().endswith(".csv")
            )
        if not names:
            raise RegistryFileError(f"{path}: the zip holds no .csv file")
        return [Member(name) for name in names]
    return [Member(path.name)]


@contextmanager
def _open_bytes(path: Path, member: Member) -> Iterator[IO[bytes]]:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive, archive.open(member.name) as handle:
            yield handle
    else:
        with path.open("rb") as handle:
            yield handle


def detect_encoding(sample: bytes) -> str:
    """``utf-8-sig`` or ``cp932`` (Shift_JIS with the Windows extensions, a superset of the
    NTA's JIS 第一・第二水準 file), judged on the first bytes of the file."""
    for encoding in ("utf-8-sig", "cp932"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
        except UnicodeDecodeError:
            continue
        return encoding
    raise RegistryFileError(
        "the file is neither UTF-8 nor Shift_JIS text: is it the CSV download (not the XML)?"
    )


def member_encoding(path: Path, member: Member, forced: str | None) -> str:
    if forced is not None:
        try:
            return ENCODINGS[forced.lower().replace("-", "_").replace("utf_8", "utf-8")]
        except KeyError:
            raise RegistryFileError(
                f"unknown encoding {forced!r}: use utf-8 or shift_jis"
            ) from None
    with _open_bytes(path, member) as handle:
        return detect_encoding(handle.read(SAMPLE_BYTES))


def _decoded_lines(handle: IO[bytes], encoding: str, member: str) -> Iterator[str]:
    """The lines of ``handle`` decoded one by one, so that an undecodable byte is reported
    with its line. Splitting the bytes at LF is safe in both encodings: 0x0A is never part of
    a multi-byte character in UTF-8 or Shift_JIS."""
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    for line_number, line in enumerate(handle, 1):
        if line_number == 1 and codec == "utf-8":
            line = line.removeprefix(codecs.BOM_UTF8)
        try:
            yield line.decode(codec)
        except UnicodeDecodeError as exc:
            raise RegistryFileError(
                f"{member}: line {line_number} cannot be decoded as {codec} ({exc.reason}); "
                "give --encoding if the file is in the other encoding"
            ) from None


def read_rows(path: Path, member: Member, encoding: str) -> Iterator[tuple[int, list[str]]]:
    """(row number from 1, fields) for every row of ``member``, streamed.

    A byte sequence the encoding cannot decode stops the reading at its line (never replaced
    by U+FFFD: a garbled 商号 must not reach the registry).
    """
    row_number = 0
    with _open_bytes(path, member) as handle:
        reader = csv.reader(_decoded_lines(handle, encoding, member.name), strict=True)
        try:
            for fields in reader:
                row_number += 1
                if not fields:
                    continue  # a blank line (a trailing newline at the end of the file)
                yield row_number, fields
        except csv.Error as exc:
            raise RegistryFileError(
                f"{member.name}: row {row_number + 1} is not valid CSV ({exc})"
            ) from None
