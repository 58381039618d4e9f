"""Dates: ISO (2023-04-01, 2023/4/1, 2023年4月1日, 20230401) and 和暦 (令和5年4月1日, R5.4.1,
平成元年1月8日, 昭和五十年一月一日) to :class:`datetime.date`.

A 和暦 date before its era began (令和1年4月1日) does not exist and is rejected. A date after the
era ended is accepted with a warning, because pre-printed forms keep the old era for a while
(平成31年5月1日 is 2019-05-01). 明治 dates before 明治6年 are read on the Gregorian calendar
(Japan was on the lunisolar calendar until then).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

from .base import InvalidValue
from .numerals import KANJI_NUMERAL_CHARS, kanji_to_int
from .text import normalize_text


@dataclass(frozen=True)
class Era:
    name: str
    start: dt.date


ERAS = (
    Era("令和", dt.date(2019, 5, 1)),
    Era("平成", dt.date(1989, 1, 8)),
    Era("昭和", dt.date(1926, 12, 25)),
    Era("大正", dt.date(1912, 7, 30)),
    Era("明治", dt.date(1868, 1, 1)),  # Gregorian reading of 明治元年1月1日, see above
)
_ERA_BY_KEY = {era.name: era for era in ERAS} | {
    "R": ERAS[0], "H": ERAS[1], "S": ERAS[2], "T": ERAS[3], "M": ERAS[4],
}  # fmt: skip
_ERA_END = {ERAS[i].name: ERAS[i - 1].start - dt.timedelta(days=1) for i in range(1, len(ERAS))}

_N = rf"(\d{{1,4}}|[{KANJI_NUMERAL_CHARS}]+)"
_WEEKDAY = r"(?:\s*\((?:[月火水木金土日]|祝)(?:・祝)?\))?"
_ISO = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
# An era (name or initial) and its year (元 or a number): 和暦's start, also of a partial date.
_ERA_YEAR = rf"({'|'.join(_ERA_BY_KEY)})\s*(元|{_N[1:-1]})"
_WAREKI = re.compile(
    rf"{_ERA_YEAR}\s*(?:年\s*{_N}\s*月\s*{_N}\s*日?|[-/.]\s*{_N}\s*[-/.]\s*{_N})", re.IGNORECASE
)
_PARTIAL = re.compile(rf"(?:{_ERA_YEAR}|\d{{4}})\s*[年./-]?(?:\s*{_N}\s*月?)?", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedDate:
    value: dt.date
    era: str | None  # the 和暦 era it was written in
    warning: str | None  # set when the date lies after its era ended


def _number(text: str) -> int:
    value = int(text) if text.isdigit() else kanji_to_int(text)
    if value is None:
        raise InvalidValue("invalid_date", f"{text!r} is not a number")
    return value


def _make_date(year: int, month: int, day: int, original: str) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise InvalidValue("invalid_date", f"{original!r} is not a calendar date") from None


@lru_cache(maxsize=4096)
def parse_date(text: str) -> ParsedDate:
    """Parse an ISO or 和暦 date; raises InvalidValue (invalid_date / incomplete_date)."""
    cleaned = re.sub(_WEEKDAY + "$", "", normalize_text(text))
    if match := _WAREKI.fullmatch(cleaned):
        era = _ERA_BY_KEY[match.group(1).upper() if len(match.group(1)) == 1 else match.group(1)]
        era_year = 1 if match.group(2) == "元" else _number(match.group(2))
        month = _number(match.group(3) or match.group(5))
        day = _number(match.group(4) or match.group(6))
        if era_year < 1:
            raise InvalidValue("invalid_date", f"{text!r}: there is no year 0 of {era.name}")
        value = _make_date(era.start.year + era_year - 1, month, day, text)
        if value < era.start:
            raise InvalidValue(
                "invalid_date", f"{text!r}: {era.name} began on {era.start.isoformat()}"
            )
        end = _ERA_END.get(era.name)
        warning = None
        if end is not None and value > end:
            warning = f"{text!r} is after {era.name} ended ({end.isoformat()}); read as {value}"
        return ParsedDate(value, era.name, warning)
    if match := _ISO.fullmatch(cleaned) or _COMPACT.fullmatch(cleaned):
        year, month, day = (int(g) for g in match.groups())
        return ParsedDate(_make_date(year, month, day, text), None, None)
    if _PARTIAL.fullmatch(cleaned):
        raise InvalidValue("incomplete_date", f"{text!r} has no day: a full date is required")
    raise InvalidValue(
        "invalid_date",
        f"{text!r} is not a date (use 2023-04-01, 2023年4月1日, 令和5年4月1日 or R5.4.1)",
    )
