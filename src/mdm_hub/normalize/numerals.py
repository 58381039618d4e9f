"""Kanji numerals (一二三, 十二, 二〇二三, 壱弐参拾, 三万五千) to integers.

Two forms are read, and nothing else:

- positional: digits only, one per place (二〇二三 → 2023, 五六七八 → 5678);
- with units: ``[section 万] [section]``, where a section is ``[d]千 [d]百 [d]十 [d]`` with
  each unit at most once and in falling order, ``d`` a digit 1-9 (一 before a unit may be left
  out). 十十, 百千, 二十二十, 二三十, 万 and 一万万 are not numbers and read as None.

``kanjize`` (PyPI) was tried first: it rejects 十十 and 百千 but reads 二三十 as 230 (in
Japanese writing a range, "twenty or thirty"), so the strict grammar is kept here.
"""

from __future__ import annotations

import re

_DIGITS = {
    "〇": 0, "零": 0, "一": 1, "壱": 1, "二": 2, "弐": 2, "三": 3, "参": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_UNITS = {"十": 10, "拾": 10, "百": 100, "千": 1000}
_MAN = "万萬"
KANJI_NUMERAL_CHARS = "".join(_DIGITS) + "".join(_UNITS) + _MAN
KANJI_NUMBER = re.compile(f"[{KANJI_NUMERAL_CHARS}]+")
_MAN_SPLIT = re.compile(f"[{_MAN}]")


def _section(text: str) -> int | None:
    """Value 1-9999 of a section written with 千, 百, 十 (三千二百五, 十二, 七), else None."""
    value = 0
    last_unit = 10_000
    pending: int | None = None
    for ch in text:
        digit = _DIGITS.get(ch)
        if digit is not None:
            if pending is not None or digit == 0:
                return None  # 二三十, 二千〇三: not a number people write with units
            pending = digit
            continue
        unit = _UNITS[ch]
        if unit >= last_unit:
            return None  # 十十, 百千, 二十二十
        value += (1 if pending is None else pending) * unit
        last_unit = unit
        pending = None
    return (value + (pending or 0)) or None


def kanji_to_int(text: str) -> int | None:
    """Value of a kanji numeral, or None when ``text`` is not a well-formed one."""
    if not text or any(ch not in KANJI_NUMERAL_CHARS for ch in text):
        return None
    if all(ch in _DIGITS for ch in text):
        return int("".join(str(_DIGITS[ch]) for ch in text))
    parts = _MAN_SPLIT.split(text)
    if len(parts) > 2:
        return None  # 一万二万
    if len(parts) == 1:
        return _section(text)
    high, low = parts
    high_value = _section(high) if high else None
    if high_value is None:
        return None  # 万, 〇万
    if not low:
        return high_value * 10_000
    low_value = _section(low)
    return None if low_value is None else high_value * 10_000 + low_value


def replace_kanji_numbers(text: str) -> str:
    """Every run of kanji numerals in ``text`` replaced by Arabic digits (unreadable runs kept)."""

    def arabic(match: re.Match[str]) -> str:
        value = kanji_to_int(match.group())
        return match.group() if value is None else str(value)

    return KANJI_NUMBER.sub(arabic, text)
