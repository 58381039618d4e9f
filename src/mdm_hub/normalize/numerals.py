"""Kanji numerals (一二三, 十二, 二〇二三, 壱弐参拾) to integers."""

from __future__ import annotations

import re

_DIGITS = {
    "〇": 0, "零": 0, "一": 1, "壱": 1, "二": 2, "弐": 2, "三": 3, "参": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_UNITS = {"十": 10, "拾": 10, "百": 100, "千": 1000}
KANJI_NUMERAL_CHARS = "".join(_DIGITS) + "".join(_UNITS)
KANJI_NUMBER = re.compile(f"[{KANJI_NUMERAL_CHARS}]+")


def kanji_to_int(text: str) -> int | None:
    """Value of a kanji numeral, or None when ``text`` is not one.

    Both positional (二〇二三 → 2023) and unit forms (二千二十三 → 2023, 十二 → 12) are read.
    """
    if not text or any(ch not in _DIGITS and ch not in _UNITS for ch in text):
        return None
    if not any(ch in _UNITS for ch in text):
        return int("".join(str(_DIGITS[ch]) for ch in text))
    total = 0
    pending: int | None = None
    for ch in text:
        if ch in _DIGITS:
            if pending is not None:
                return None  # 二三十: not a number people write
            pending = _DIGITS[ch]
        else:
            total += (1 if pending is None else pending) * _UNITS[ch]
            pending = None
    return total + (pending or 0)


def replace_kanji_numbers(text: str) -> str:
    """Every run of kanji numerals in ``text`` replaced by Arabic digits (unreadable runs kept)."""

    def arabic(match: re.Match[str]) -> str:
        value = kanji_to_int(match.group())
        return match.group() if value is None else str(value)

    return KANJI_NUMBER.sub(arabic, text)
