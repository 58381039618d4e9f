"""法人番号 and インボイス登録番号 (適格請求書発行事業者登録番号).

The 法人番号 is 13 digits; the first is a check digit over the other 12 (国税庁 「法人番号の
指定等に関する省令」第2条):

    check = 9 - (Σ_{n=1..12} P_n × Q_n  mod 9)

where P_n is the n-th digit of the 12-digit base counted from the right and Q_n is 1 for odd n,
2 for even n. The インボイス登録番号 is "T" + 13 digits: the 法人番号 for a corporation, a number
with the same check-digit scheme for anyone else.
"""

from __future__ import annotations

import operator
import re

from .base import InvalidValue, NormalizationError
from .text import normalize_text

_SEPARATORS = re.compile(r"[\s\-]")
_THIRTEEN_DIGITS = re.compile(r"\d{13}")


# The weights of the 12 base digits from the left (2 for even positions counted from the right).
_WEIGHTS = tuple(2 if n % 2 == 0 else 1 for n in range(12, 0, -1))


def check_digit(base12: str) -> int:
    """The 法人番号 check digit of a 12-digit base number."""
    total: int = sum(map(operator.mul, map(int, base12), _WEIGHTS[-len(base12) :]))
    return 9 - total % 9


def is_valid_corporate_number(digits: str) -> bool:
    return _THIRTEEN_DIGITS.fullmatch(digits) is not None and int(digits[0]) == check_digit(
        digits[1:]
    )


def corporate_number_digits(text: str) -> str:
    """Width, spaces and hyphens removed; raises InvalidValue unless 13 digits (the check digit
    is not verified: a failing one is a plausibility finding, not malformed input)."""
    digits = _SEPARATORS.sub("", normalize_text(text))
    if _THIRTEEN_DIGITS.fullmatch(digits) is None:
        raise InvalidValue("invalid_corporate_number", f"法人番号 must be 13 digits, got {text!r}")
    return digits


def check_digit_problem(digits: str) -> str | None:
    """Why the check digit of 13 digits fails, or None when it holds."""
    if int(digits[0]) == check_digit(digits[1:]):
        return None
    return f"check digit {digits[0]} should be {check_digit(digits[1:])}"


def clean_corporate_number(text: str) -> str:
    """Width, spaces and hyphens removed; raises InvalidValue unless a valid 法人番号."""
    digits = corporate_number_digits(text)
    if int(digits[0]) != check_digit(digits[1:]):
        raise InvalidValue(
            "corporate_number_check_digit_mismatch",
            f"法人番号 {digits}: check digit {digits[0]} should be {check_digit(digits[1:])}",
        )
    return digits


def validate_corporate_number(text: str) -> str:
    """13 digits after width/hyphen cleanup, check digit verified; raises NormalizationError."""
    try:
        return clean_corporate_number(text)
    except InvalidValue as exc:
        raise exc.as_error() from None


def invoice_number_form(text: str) -> tuple[str, bool]:
    """("T" + 13 digits, whether the "T" was added); raises InvalidValue unless of that form
    (the check digit is not verified)."""
    cleaned = _SEPARATORS.sub("", normalize_text(text)).upper()
    added = False
    if _THIRTEEN_DIGITS.fullmatch(cleaned):
        cleaned, added = "T" + cleaned, True
    if not (cleaned.startswith("T") and _THIRTEEN_DIGITS.fullmatch(cleaned[1:])):
        raise InvalidValue(
            "invalid_invoice_registration_number",
            f"インボイス登録番号 must be T followed by 13 digits, got {text!r}",
        )
    return cleaned, added


def corporate_number_lookup(text: str) -> str:
    """13 digits after cleanup, check digit not verified (to look up stored numbers, also one
    kept with a finding); raises NormalizationError."""
    try:
        return corporate_number_digits(text)
    except InvalidValue as exc:
        raise exc.as_error() from None


def clean_invoice_number(text: str) -> tuple[str, bool]:
    """("T" + 13 digits, whether the "T" was added); raises InvalidValue when invalid."""
    cleaned, added = invoice_number_form(text)
    digits = cleaned[1:]
    if int(digits[0]) != check_digit(digits[1:]):
        raise InvalidValue(
            "invoice_registration_number_check_digit_mismatch",
            f"インボイス登録番号 {cleaned}: check digit {digits[0]} should be "
            f"{check_digit(digits[1:])}",
        )
    return cleaned, added


def validate_invoice_registration_number(text: str) -> str:
    """ "T" + 13 digits with a valid check digit; raises NormalizationError."""
    try:
        return clean_invoice_number(text)[0]
    except InvalidValue as exc:
        raise exc.as_error() from None


__all__ = [
    "NormalizationError",
    "check_digit",
    "check_digit_problem",
    "clean_corporate_number",
    "clean_invoice_number",
    "corporate_number_digits",
    "corporate_number_lookup",
    "invoice_number_form",
    "is_valid_corporate_number",
    "validate_corporate_number",
    "validate_invoice_registration_number",
]
