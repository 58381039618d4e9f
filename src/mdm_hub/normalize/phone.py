"""Phone numbers: parsed with ``phonenumbers`` for region JP.

Stored as E.164 (the match key) plus a display form: the national format for Japanese numbers
("03-1234-5678") and the international format for foreign ones ("+1 650-253-0000"), since a
national format without its country is ambiguous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from mdm_hub.record import PhoneLineType

from .base import InvalidValue
from .text import normalize_text

REGION = "JP"

_LINE_TYPES = {
    PhoneNumberType.FIXED_LINE: PhoneLineType.fixed_line,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: PhoneLineType.fixed_line,
    PhoneNumberType.MOBILE: PhoneLineType.mobile,
    PhoneNumberType.TOLL_FREE: PhoneLineType.toll_free,
    PhoneNumberType.VOIP: PhoneLineType.voip,
}

_POSSIBLE = (
    phonenumbers.ValidationResult.IS_POSSIBLE,
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
)

# "03-1234-5678 内線123", "… ext. 12", "… x12", "… #12"
_EXTENSION = re.compile(r"\s*(?:内線|ext\.?|x|#)\s*(\d{1,10})\s*$", re.IGNORECASE)
_EXTENSION_PREFIX = re.compile(r"^(?:内線|ext\.?|x|#)\s*", re.IGNORECASE)
_LABEL = re.compile(r"^(?:tel|fax|phone|電話|携帯|ファックス|ファクス)\s*[.:]?\s*", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedPhone:
    number: str  # display
    e164: str
    line_type: PhoneLineType
    extension: str | None
    # False for a number of a possible length that lies outside the allocated ranges: kept as
    # written (a plausibility finding, phone_number_not_valid), not refused.
    valid: bool = True


def split_extension(text: str) -> tuple[str, str | None]:
    """Split "03-1234-5678 内線123" into the number and the extension digits."""
    match = _EXTENSION.search(text)
    if match is None:
        return text, None
    return text[: match.start()], match.group(1)


def normalize_extension(text: str | None) -> str | None:
    if text is None:
        return None
    return _EXTENSION_PREFIX.sub("", normalize_text(text)) or None


@lru_cache(maxsize=8192)
def parse_phone(text: str) -> ParsedPhone:
    """Parse one phone number as written.

    Raises InvalidValue when it is not a phone number at all (not digits, impossible length,
    unknown country code); a number of a possible length outside the allocated ranges is
    returned with ``valid=False`` and its digits as written.
    """
    cleaned = _LABEL.sub("", normalize_text(text))
    cleaned, extension = split_extension(cleaned)
    try:
        parsed = phonenumbers.parse(cleaned, REGION)
    except phonenumbers.NumberParseException:
        raise InvalidValue("invalid_phone_number", f"not a phone number: {text!r}") from None
    # number_type is UNKNOWN exactly when the number is not valid for its region, which saves
    # a second walk through the metadata (is_valid_number).
    number_type = phonenumbers.number_type(parsed)
    if number_type == PhoneNumberType.UNKNOWN:
        if phonenumbers.is_possible_number_with_reason(parsed) not in _POSSIBLE:
            raise InvalidValue(
                "invalid_phone_number",
                f"{text!r} is not a phone number (region {REGION} unless it starts with +)",
            )
        return ParsedPhone(
            number=cleaned.strip(),
            e164=phonenumbers.format_number(parsed, PhoneNumberFormat.E164),
            line_type=PhoneLineType.other,
            extension=extension or parsed.extension or None,
            valid=False,
        )
    display_format = (
        PhoneNumberFormat.NATIONAL if parsed.country_code == 81 else PhoneNumberFormat.INTERNATIONAL
    )
    return ParsedPhone(
        number=phonenumbers.format_number(parsed, display_format),
        e164=phonenumbers.format_number(parsed, PhoneNumberFormat.E164),
        line_type=_LINE_TYPES.get(number_type, PhoneLineType.other),
        extension=extension or parsed.extension or None,
    )


def phone_e164(text: str) -> str:
    """E.164 form of a phone number as written; raises NormalizationError (field "")."""
    try:
        return parse_phone(text).e164
    except InvalidValue as exc:
        raise exc.as_error() from None
