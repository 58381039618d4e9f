"""The row checks of the published layouts (pure)."""

from __future__ import annotations

import datetime as dt

import pytest

from mdm_hub.registry.layouts import (
    ParsedRow,
    RowError,
    invoice_status,
    parse_invoice_row,
    parse_nta_row,
)
from mdm_hub.registry.reader import RegistryFileError, detect_encoding
from tests.registry.files import corporate_number, csv_bytes, invoice_row, nta_row

NUMBER = corporate_number(100001)


def test_a_full_row_is_typed() -> None:
    parsed = parse_nta_row(nta_row(7, NUMBER, change_date="2026-11-29"), 7)
    assert isinstance(parsed, ParsedRow)
    assert parsed.key == NUMBER
    assert parsed.values["sequence_number"] == 7
    assert parsed.values["update_date"] == dt.date(2026, 11, 30)
    assert parsed.values["change_date"] == dt.date(2026, 11, 29)
    assert parsed.values["latest"] is True
    assert parsed.values["hihyoji"] is False
    assert parsed.values["name"] == "テスト株式会社"
    assert parsed.values["close_date"] is None


def test_the_digest_ignores_the_sequence_number_only() -> None:
    a = parse_nta_row(nta_row(1, NUMBER), 1)
    b = parse_nta_row(nta_row(900, NUMBER), 900)
    c = parse_nta_row(nta_row(1, NUMBER, name="別名株式会社"), 1)
    assert isinstance(a, ParsedRow) and isinstance(b, ParsedRow) and isinstance(c, ParsedRow)
    assert a.digest == b.digest != c.digest


@pytest.mark.parametrize(
    ("row", "reason", "column"),
    [
        (nta_row(1, NUMBER)[:29], "expected 30 columns, found 29", None),
        ([*nta_row(1, NUMBER), ""], "expected 30 columns, found 31", None),
        (nta_row(1, "1" + NUMBER[1:]), "is not a valid 法人番号", "corporate_number"),
        (nta_row(1, NUMBER, process="31"), "unknown 処理区分 '31'", "process"),
        (nta_row(1, NUMBER, update_date="2026/11/30"), "is not a date", "update_date"),
        (nta_row(1, NUMBER, close_date="2026-02-30"), "is not a date", "close_date"),
        (nta_row(1, NUMBER, latest="2"), "neither 0 nor 1", "latest"),
        (nta_row(1, NUMBER, name=""), "missing 商号又は名称", "name"),
        (
            nta_row(1, NUMBER, process="71", successor_corporate_number="123"),
            "not a valid 法人番号",
            "successor_corporate_number",
        ),
    ],
)
def test_rows_that_do_not_fit_are_refused_with_the_reason(
    row: list[str], reason: str, column: str | None
) -> None:
    error = parse_nta_row(row, 12)
    assert isinstance(error, RowError)
    assert reason in error.reason
    assert error.column == column
    assert error.row_number == 12


def test_a_deletion_row_is_empty_but_for_three_fields() -> None:
    parsed = parse_nta_row(nta_row(3, NUMBER, process="99"), 3)
    assert isinstance(parsed, ParsedRow)
    assert parsed.values["process"] == "99"
    assert parsed.values["latest"] is None
    assert parsed.values["name"] is None


def test_invoice_rows() -> None:
    number = "T" + NUMBER
    parsed = parse_invoice_row(invoice_row(1, number), 1)
    assert isinstance(parsed, ParsedRow)
    assert parsed.values["corporate_number"] == NUMBER
    assert parsed.values["status"] == "registered"
    expired = parse_invoice_row(invoice_row(2, number, "03", expire_date="2026-10-31"), 2)
    assert isinstance(expired, ParsedRow) and expired.values["status"] == "expired"
    revoked = parse_invoice_row(invoice_row(3, number, "04", disposal_date="2026-09-30"), 3)
    assert isinstance(revoked, ParsedRow) and revoked.values["status"] == "revoked"
    person = parse_invoice_row(invoice_row(4, number, kind="1"), 4)
    assert isinstance(person, RowError) and "個人" in person.reason
    short = parse_invoice_row(invoice_row(5, number)[:23], 5)
    assert isinstance(short, RowError) and "expected 24 columns, found 23" in short.reason
    no_t = parse_invoice_row(invoice_row(6, NUMBER), 6)
    assert isinstance(no_t, RowError) and no_t.column == "registration_number"


def test_invoice_status_is_read_from_the_dates() -> None:
    day = dt.date(2026, 1, 1)
    assert invoice_status("01", None, None) == "registered"
    assert invoice_status("04", day, None) == "revoked"
    assert invoice_status("03", None, day) == "expired"
    assert invoice_status("99", None, None) == "deleted"


def test_encoding_detection_on_half_width_kana_and_0x5c_characters() -> None:
    rows = [nta_row(i, NUMBER, name="ｿﾌﾄｳｪｱ表示能力株式会社", furigana="ｿﾌﾄｳｪｱ") for i in range(50)]
    assert detect_encoding(csv_bytes(rows, "cp932")) == "cp932"
    assert detect_encoding(csv_bytes(rows, "utf-8")) == "utf-8-sig"
    assert detect_encoding(b"\xef\xbb\xbf" + csv_bytes(rows, "utf-8")) == "utf-8-sig"
    with pytest.raises(RegistryFileError):
        detect_encoding(bytes([0x81, 0x20, 0xFF, 0xFE]) * 10)


def test_the_digest_ignores_the_latest_flag() -> None:
    """A row superseded by a newer one (最新履歴 0 in a 差分) is the row the 全件 published."""
    current = parse_nta_row(nta_row(1, NUMBER, latest="1"), 1)
    superseded = parse_nta_row(nta_row(2, NUMBER, latest="0"), 2)
    assert isinstance(current, ParsedRow) and isinstance(superseded, ParsedRow)
    assert current.digest == superseded.digest
