"""Files in the exact published layouts, written by the tests (no header, 30 or 24 columns)."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path

from mdm_hub.normalize.corporate_number import check_digit
from mdm_hub.registry.layouts import INVOICE_COLUMNS, NTA_COLUMNS


def corporate_number(base12: int) -> str:
    """A valid 法人番号 built from a 12-digit base."""
    base = f"{base12:012d}"
    return f"{check_digit(base)}{base}"


def nta_row(sequence: int, number: str, process: str = "01", **values: str) -> list[str]:
    """One 法人番号 row; unspecified columns as the NTA leaves them (empty), and the usual
    values for a living 株式会社 in 東京都千代田区."""
    row = dict.fromkeys(NTA_COLUMNS, "")
    if process != "99":
        row.update(
            correct="0",
            update_date="2026-11-30",
            name="テスト株式会社",
            kind="301",
            prefecture_name="東京都",
            city_name="千代田区",
            street_number="丸の内１丁目１－１",
            prefecture_code="13",
            city_code="101",
            post_code="1000005",
            assignment_date="2015-10-05",
            latest="1",
            furigana="テスト",
            hihyoji="0",
        )
    else:
        row.update(update_date="2026-12-01")
    row.update(sequence_number=str(sequence), corporate_number=number, process=process)
    unknown = set(values) - set(NTA_COLUMNS)
    assert not unknown, unknown
    row.update(values)
    return [row[c] for c in NTA_COLUMNS]


def invoice_row(sequence: int, number: str, process: str = "01", **values: str) -> list[str]:
    row = dict.fromkeys(INVOICE_COLUMNS, "")
    if process != "99":
        row.update(
            correct="0",
            kind="2",
            country="1",
            latest="1",
            registration_date="2023-10-01",
            update_date="2026-11-30",
            address="東京都千代田区丸の内１丁目１－１",
            address_prefecture_code="13",
            address_city_code="101",
            name="テスト株式会社",
        )
    else:
        row.update(update_date="2026-12-01")
    row.update(sequence_number=str(sequence), registration_number=number, process=process)
    unknown = set(values) - set(INVOICE_COLUMNS)
    assert not unknown, unknown
    row.update(values)
    return [row[c] for c in INVOICE_COLUMNS]


def csv_bytes(rows: Sequence[Sequence[str]], encoding: str) -> bytes:
    """Rows as the NTA writes them: every field quoted, CRLF line ends, no header row."""
    out = io.StringIO(newline="")
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


def write_csv(path: Path, rows: Sequence[Sequence[str]], encoding: str = "utf-8") -> Path:
    path.write_bytes(csv_bytes(rows, encoding))
    return path


def write_zip(
    path: Path, csv_name: str, rows: Sequence[Sequence[str]], encoding: str = "utf-8"
) -> Path:
    """A zip as downloaded: the CSV and its detached signature (.asc) beside it."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(csv_name, csv_bytes(rows, encoding))
        archive.writestr(
            csv_name.rsplit(".", 1)[0] + ".asc",
            "-----BEGIN PGP SIGNATURE-----\n\n-----END PGP SIGNATURE-----\n",
        )
    return path
