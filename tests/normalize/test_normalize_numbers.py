"""法人番号, インボイス登録番号, phones, emails, dates, rank: one table per rule."""

from __future__ import annotations

import datetime as dt

import pytest
from normalize_data import load_json

from mdm_hub.normalize import (
    NormalizationError,
    RankRule,
    check_rank_rules,
    derive_rank,
    normalize_email_address,
    phone_e164,
    validate_corporate_number,
    validate_invoice_registration_number,
)
from mdm_hub.normalize.base import InvalidValue
from mdm_hub.normalize.corporate_number import check_digit
from mdm_hub.normalize.dates import parse_date
from mdm_hub.normalize.email import check_email
from mdm_hub.normalize.phone import parse_phone
from mdm_hub.record import PhoneLineType

CORPORATE = load_json("corporate_numbers.json")


# --- 法人番号 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", CORPORATE["valid"])
def test_published_corporate_numbers_are_valid(number: str) -> None:
    assert validate_corporate_number(number) == number.replace("-", "")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        *[(n, "corporate_number_check_digit_mismatch") for n in CORPORATE["invalid_check_digit"]],
        *[(n, "invalid_corporate_number") for n in CORPORATE["invalid_format"]],
        ("700001205000", "invalid_corporate_number"),  # 12 digits
        ("70000120500021", "invalid_corporate_number"),  # 14 digits
        ("8000012050002", "corporate_number_check_digit_mismatch"),
    ],
)
def test_invalid_corporate_numbers(raw: str, code: str) -> None:
    with pytest.raises(NormalizationError) as info:
        validate_corporate_number(raw)
    assert [(e.field, e.code) for e in info.value.errors] == [("", code)]


@pytest.mark.parametrize(
    "raw", ["７０００ー０１２０ー５０００２", " 7000 0120 50002 ", "7000\u2010012050002"]
)
def test_corporate_number_width_and_separators(raw: str) -> None:
    assert validate_corporate_number(raw) == "7000012050002"


def test_check_digit_formula() -> None:
    # 9 - (Σ P_n × Q_n mod 9), Q_n = 1 for odd n, 2 for even n, counted from the right
    base = "000012050002"
    total = sum(int(d) * (1 if n % 2 else 2) for n, d in enumerate(reversed(base), 1))
    assert check_digit(base) == 9 - total % 9 == 7


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("T7000012050002", "T7000012050002"),
        ("t7000012050002", "T7000012050002"),
        ("Ｔ７０００－０１２０－５０００２", "T7000012050002"),
        ("7000012050002", "T7000012050002"),  # the T is added
    ],
)
def test_invoice_registration_number(raw: str, expected: str) -> None:
    assert validate_invoice_registration_number(raw) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("T123", "invalid_invoice_registration_number"),
        ("X7000012050002", "invalid_invoice_registration_number"),
        ("T8000012050002", "invoice_registration_number_check_digit_mismatch"),
    ],
)
def test_invalid_invoice_registration_number(raw: str, code: str) -> None:
    with pytest.raises(NormalizationError) as info:
        validate_invoice_registration_number(raw)
    assert info.value.errors[0].code == code


# --- phones ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "national", "e164", "line_type"),
    [
        ("03-1234-5678", "03-1234-5678", "+81312345678", PhoneLineType.fixed_line),
        ("0312345678", "03-1234-5678", "+81312345678", PhoneLineType.fixed_line),
        ("+81 3 1234 5678", "03-1234-5678", "+81312345678", PhoneLineType.fixed_line),
        ("+81-3-1234-5678", "03-1234-5678", "+81312345678", PhoneLineType.fixed_line),
        ("(03)1234-5678", "03-1234-5678", "+81312345678", PhoneLineType.fixed_line),
        ("０３－１２３４－５６７８", "03-1234-5678", "+81312345678", PhoneLineType.fixed_line),
        ("03\u22121234\u22125678", "03-1234-5678", "+81312345678", PhoneLineType.fixed_line),
        ("03\u30fc1234\u30fc5678", "03-1234-5678", "+81312345678", PhoneLineType.fixed_line),
        ("TEL: 03-1234-5678", "03-1234-5678", "+81312345678", PhoneLineType.fixed_line),
        ("06-6123-4567", "06-6123-4567", "+81661234567", PhoneLineType.fixed_line),
        ("0466-12-3456", "0466-12-3456", "+81466123456", PhoneLineType.fixed_line),
        ("090-1234-5678", "090-1234-5678", "+819012345678", PhoneLineType.mobile),
        ("+819012345678", "090-1234-5678", "+819012345678", PhoneLineType.mobile),
        ("0120-123-456", "0120-123-456", "+81120123456", PhoneLineType.toll_free),
        ("0800-123-4567", "0800-123-4567", "+818001234567", PhoneLineType.toll_free),
        ("050-1234-5678", "050-1234-5678", "+815012345678", PhoneLineType.voip),
        ("0570-000-123", "0570-000-123", "+81570000123", PhoneLineType.other),
        ("+1 650-253-0000", "+1 650-253-0000", "+16502530000", PhoneLineType.fixed_line),
    ],
)
def test_phones(raw: str, national: str, e164: str, line_type: PhoneLineType) -> None:
    parsed = parse_phone(raw)
    assert (parsed.number, parsed.e164, parsed.line_type) == (national, e164, line_type)
    assert phone_e164(raw) == e164


@pytest.mark.parametrize(
    ("raw", "extension"),
    [("03-1234-5678 内線123", "123"), ("03-1234-5678 ext. 45", "45"), ("03-1234-5678 #9", "9")],
)
def test_phone_extension(raw: str, extension: str) -> None:
    parsed = parse_phone(raw)
    assert (parsed.e164, parsed.extension) == ("+81312345678", extension)


@pytest.mark.parametrize("raw", ["12", "0312345", "abc", "", "+999 1234"])
def test_invalid_phones(raw: str) -> None:
    with pytest.raises(NormalizationError) as info:
        phone_e164(raw)
    assert info.value.errors[0].code == "invalid_phone_number"


@pytest.mark.parametrize(
    ("raw", "number", "e164"),
    [
        ("03-1234-56789012", "03-1234-56789012", "+813123456789012"),
        ("03-0000-0000", "03-0000-0000", "+81300000000"),  # not an allocated range
    ],
)
def test_unallocated_phones_are_kept_as_written(raw: str, number: str, e164: str) -> None:
    parsed = parse_phone(raw)
    assert (parsed.valid, parsed.number, parsed.e164) == (False, number, e164)
    assert parsed.line_type == PhoneLineType.other
    assert parse_phone("03-1234-5678").valid


# --- email -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("taro@example.co.jp", "taro@example.co.jp"),
        ("Taro.Yamada@Example.CO.JP", "Taro.Yamada@example.co.jp"),  # local part as given
        ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏ．ｊｐ", "taro@example.co.jp"),  # full-width
        (" mailto:taro@example.co.jp ", "taro@example.co.jp"),
        ("<taro@example.co.jp>", "taro@example.co.jp"),
        ("Info@Example.co.jp", "info@example.co.jp"),  # RFC 2142 role name, case-insensitive
        ("taro@例え.jp", "taro@例え.jp"),
    ],
)
def test_emails(raw: str, expected: str) -> None:
    assert normalize_email_address(raw) == expected


@pytest.mark.parametrize(
    "raw", ["taro", "taro@", "@example.jp", "a..b@example.jp", "a..b@localhost", "x@a_b.jp", ""]
)
def test_invalid_emails(raw: str) -> None:
    with pytest.raises(NormalizationError) as info:
        normalize_email_address(raw)
    assert info.value.errors[0].code == "invalid_email"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("taro@localhost", "taro@localhost"),
        ("a@b", "a@b"),
        ("Taro@Example.INVALID", "Taro@example.invalid"),
        ("x@foo.123", "x@foo.123"),
    ],
)
def test_emails_whose_domain_cannot_exist_are_kept_with_the_reason(raw: str, stored: str) -> None:
    address, problem = check_email(raw)
    assert address == stored
    assert problem
    assert normalize_email_address(raw) == stored
    assert check_email("taro@example.co.jp") == ("taro@example.co.jp", None)


# --- dates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected", "era"),
    [
        ("2023-04-01", dt.date(2023, 4, 1), None),
        ("2023/4/1", dt.date(2023, 4, 1), None),
        ("2023.04.01", dt.date(2023, 4, 1), None),
        ("2023年4月1日", dt.date(2023, 4, 1), None),
        ("２０２３年４月１日", dt.date(2023, 4, 1), None),
        ("20230401", dt.date(2023, 4, 1), None),
        ("令和5年4月1日", dt.date(2023, 4, 1), "令和"),
        ("令和５年４月１日（土）", dt.date(2023, 4, 1), "令和"),
        ("R5.4.1", dt.date(2023, 4, 1), "令和"),
        ("r5/4/1", dt.date(2023, 4, 1), "令和"),
        ("R05-04-01", dt.date(2023, 4, 1), "令和"),
        ("\u32ff5年4月1日", dt.date(2023, 4, 1), "令和"),  # ㋿ square era name
        ("令和元年5月1日", dt.date(2019, 5, 1), "令和"),
        ("平成31年4月30日", dt.date(2019, 4, 30), "平成"),
        ("H31.4.30", dt.date(2019, 4, 30), "平成"),
        ("平成元年1月8日", dt.date(1989, 1, 8), "平成"),
        ("\u337b元年1月8日", dt.date(1989, 1, 8), "平成"),  # ㍻
        ("昭和64年1月7日", dt.date(1989, 1, 7), "昭和"),
        ("S50.1.1", dt.date(1975, 1, 1), "昭和"),
        ("昭和五十年一月一日", dt.date(1975, 1, 1), "昭和"),
        ("大正15年12月24日", dt.date(1926, 12, 24), "大正"),
        ("T1.7.30", dt.date(1912, 7, 30), "大正"),
        ("明治45年7月29日", dt.date(1912, 7, 29), "明治"),
        ("M33.1.1", dt.date(1900, 1, 1), "明治"),
    ],
)
def test_dates(raw: str, expected: dt.date, era: str | None) -> None:
    parsed = parse_date(raw)
    assert (parsed.value, parsed.era, parsed.warning) == (expected, era, None)


def test_date_after_its_era_is_read_with_a_warning() -> None:
    parsed = parse_date("平成31年5月1日")
    assert parsed.value == dt.date(2019, 5, 1)
    assert parsed.warning is not None


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("令和5年2月30日", "invalid_date"),
        ("2023-02-29", "invalid_date"),
        ("2023-13-01", "invalid_date"),
        ("令和1年4月30日", "invalid_date"),  # 令和 began 2019-05-01
        ("平成1年1月7日", "invalid_date"),  # 平成 began 1989-01-08
        ("令和0年5月1日", "invalid_date"),
        ("来週", "invalid_date"),
        ("平成31年", "incomplete_date"),
        ("2023年4月", "incomplete_date"),
        ("R5.4", "incomplete_date"),
    ],
)
def test_invalid_dates(raw: str, code: str) -> None:
    with pytest.raises(InvalidValue) as info:
        parse_date(raw)
    assert info.value.code == code


# --- rank --------------------------------------------------------------------------------------

RULES = [RankRule("C", 0), RankRule("A", 10_000_000), RankRule("B", 1_000_000)]


@pytest.mark.parametrize(
    ("amount", "rank"),
    [
        (0, "C"),
        (999_999, "C"),
        (1_000_000, "B"),
        (9_999_999, "B"),
        (10_000_000, "A"),
        (10**12, "A"),
    ],
)
def test_rank_highest_threshold_wins(amount: int, rank: str) -> None:
    assert derive_rank(amount, RULES) == rank


def test_rank_below_every_threshold() -> None:
    assert derive_rank(10, [RankRule("A", 100)]) is None
    assert derive_rank(10, []) is None


def test_rank_rules_checked_for_the_admin_api() -> None:
    check_rank_rules(RULES)
    with pytest.raises(ValueError, match="twice"):
        check_rank_rules([RankRule("A", 1), RankRule("B", 1)])
    with pytest.raises(ValueError, match=">= 0"):
        check_rank_rules([RankRule("A", -1)])
