"""Kanji numerals: the positional and unit forms are read, malformed ones are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mdm_hub.normalize.address import canonical_street
from mdm_hub.normalize.base import InvalidValue
from mdm_hub.normalize.dates import parse_date
from mdm_hub.normalize.numerals import kanji_to_int, replace_kanji_numbers


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("〇", 0),
        ("七", 7),
        ("十", 10),
        ("一十", 10),
        ("十二", 12),
        ("二十", 20),
        ("百一", 101),
        ("千百", 1100),
        ("二千二十三", 2023),
        ("九千九百九十九", 9999),
        ("壱拾", 10),
        ("弐拾参", 23),
        ("一万", 10_000),
        ("十万", 100_000),
        ("一万二千", 12_000),
        ("三万五", 30_005),
        ("千二百三十四万五千六百七十八", 12_345_678),
        # positional: one digit per place, as addresses and years are written
        ("二〇二三", 2023),
        ("五六七八", 5678),
        ("〇一", 1),
    ],
)
def test_well_formed_numerals(text: str, value: int) -> None:
    assert kanji_to_int(text) == value


@pytest.mark.parametrize(
    "text",
    ["", "十十", "百千", "二十二十", "二三十", "十二三", "千千", "万", "一万万", "万五",
     "〇万", "萬", "二千〇三", "〇十", "一億", "12", "十a"],
)  # fmt: skip
def test_malformed_numerals_are_refused(text: str) -> None:
    assert kanji_to_int(text) is None


_KANJI_DIGITS = "〇一二三四五六七八九"


def _spell(n: int) -> str:
    """The unit form of 1 <= n < 10**8 as people write it (一 left out before 十, 百, 千)."""

    def section(v: int) -> str:
        out = ""
        for unit, mark in ((1000, "千"), (100, "百"), (10, "十")):
            d, v = divmod(v, unit)
            if d:
                out += ("" if d == 1 else _KANJI_DIGITS[d]) + mark
        return out + (_KANJI_DIGITS[v] if v else "")

    high, low = divmod(n, 10_000)
    return (section(high) + "万" if high else "") + section(low)


@given(st.integers(min_value=1, max_value=10**8 - 1))
def test_every_spelled_number_reads_back(n: int) -> None:
    assert kanji_to_int(_spell(n)) == n


@given(st.integers(min_value=0, max_value=10**6))
def test_every_positional_number_reads_back(n: int) -> None:
    assert kanji_to_int("".join(_KANJI_DIGITS[int(d)] for d in str(n))) == n


def test_replace_keeps_unreadable_runs() -> None:
    assert replace_kanji_numbers("第二十二十号") == "第二十二十号"
    assert replace_kanji_numbers("一万二千と五六七八") == "12000と5678"


@pytest.mark.parametrize(
    ("raw", "street"),
    [
        ("五六七八番地", "5678"),  # positional lot number
        ("三丁目二〇番五号", "3-20-5"),
        ("一万二千番地", "12000"),
        ("一万番地の三", "10000-3"),
        ("十十番地", "十十番地"),  # malformed: kept as written, not read as 20
        ("百千番地", "百千番地"),
    ],
)
def test_address_streets(raw: str, street: str) -> None:
    assert canonical_street(raw).street == street


def test_dates_refuse_malformed_numerals() -> None:
    assert parse_date("令和五年十二月二十日").value.isoformat() == "2023-12-20"
    with pytest.raises(InvalidValue):
        parse_date("令和五年十十月一日")
