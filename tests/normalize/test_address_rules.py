"""Address rules of issue 21's second part, one test per rule, with places of Japan Post's data.

The broad tables (every category over 40+ places drawn from Japan Post's data) are in
data/address_forms.json (test_address_forms.py); these pin each rule and its limits.
"""

from __future__ import annotations

import pytest

from mdm_hub.normalize.address import Street, canonical_street, normalize_address
from mdm_hub.normalize.base import Report
from mdm_hub.record import Address, AddressIn


def _address(text: str) -> Address:
    return normalize_address(AddressIn(full_text=text), "/addresses/0", Report())


def _key(text: str) -> str | None:
    return _address(text).site_key


def _same(*forms: str) -> None:
    keys = {form: _key(form) for form in forms}
    assert None not in keys.values(), keys
    assert len(set(keys.values())) == 1, keys


@pytest.mark.parametrize(
    ("spaced", "city"),
    [
        ("大阪府大阪市 北区梅田1-1-1", "大阪市北区"),
        ("北海道札幌市 豊平区月寒東1条1-1", "札幌市豊平区"),
        ("愛知県知多郡 東浦町緒川1-1", "知多郡東浦町"),
    ],
)
def test_a_space_inside_the_city_name_is_read_through(spaced: str, city: str) -> None:
    assert _address(spaced).city == city
    assert _key(spaced) == _key(spaced.replace(" ", ""))


@pytest.mark.parametrize(
    ("variant", "usual"),
    [
        ("沖縄県冝野湾市大山1-2-3", "沖縄県宜野湾市大山1-2-3"),  # 冝 / 宜
        ("千葉県巿原巿五井1234", "千葉県市原市五井1234"),  # 巿 (U+5DFF) looks like 市
        ("奈良県宇陀市莵田野古市場12", "奈良県宇陀市菟田野古市場12"),  # 莵 / 菟
    ],
)
def test_variant_characters_in_city_and_town(variant: str, usual: str) -> None:
    a, b = _address(variant), _address(usual)
    assert (a.city, a.site_key) == (b.city, b.site_key)
    assert b.town is not None


def test_town_written_without_a_leading_part_of_its_name() -> None:
    # Japan Post: 新宿区四谷本塩町; 本塩町 is no other town of 新宿区
    a = _address("東京都新宿区本塩町3-1")
    assert (a.town, a.site_key) == ("四谷本塩町", _key("東京都新宿区四谷本塩町3-1"))


def test_town_written_without_a_closing_or_inner_machi() -> None:
    # 石川県輪島市: Japan Post's 門前町池田 written 門前池田; 江戸川区: 西小松川町 as 西小松川
    assert _address("石川県輪島市門前池田1-2").town == "門前町池田"
    _same("東京都江戸川区西小松川町1-2", "東京都江戸川区西小松川1-2")


def test_completion_needs_three_letters() -> None:
    # 中央区's only town ending in 本町 is 日本橋本町; 本町 (two letters) is not completed
    assert _address("東京都中央区本町1-1").town == "本町"


def test_completion_needs_one_town() -> None:
    # 江戸川区 has 小松川, 西小松川町 and 東小松川: 小松川 is a town, read as written
    assert _address("東京都江戸川区小松川1-2").town == "小松川"


@pytest.mark.parametrize(
    ("written", "town"),
    [
        ("和歌山県和歌山市3番町12", "三番丁"),  # 丁 written 町, numeral as a digit
        ("和歌山県和歌山市三番町12", "三番丁"),
        ("東京都千代田区4番町5", "四番町"),
        ("宮城県仙台市青葉区1番町1-1", "一番町"),
    ],
)
def test_numerals_and_machi_in_a_numbered_town_name(written: str, town: str) -> None:
    assert _address(written).town == town


def test_a_numbered_town_of_the_other_spelling_is_not_taken() -> None:
    # 京都市中京区 has both 舟屋町 and 船屋町: neither is read as the other
    assert _address("京都府京都市中京区舟屋町400").town == "舟屋町"
    assert _address("京都府京都市中京区船屋町400").town == "船屋町"
    assert _key("京都府京都市中京区舟屋町400") != _key("京都府京都市中京区船屋町400")


def test_fune_written_with_the_other_character_after_kyoto_directions() -> None:
    a = _address("京都府京都市上京区堀川通今出川上る西舟橋町12")
    assert a.town == "西船橋町"
    assert a.site_key == _key("京都府京都市上京区西船橋町12")


@pytest.mark.parametrize(
    ("written", "prefecture"),
    [
        ("府中市白糸台1-2-3", "東京都"),  # 白糸台 is a town of 東京都府中市 only
        ("府中市高木町100", "広島県"),  # 高木町 of 広島県府中市
        ("伊達市梁川町青葉町1", "福島県"),
    ],
)
def test_a_city_of_two_prefectures_placed_by_its_town(written: str, prefecture: str) -> None:
    a = _address(written)
    assert a.prefecture == prefecture
    assert a.site_key == _key(prefecture + written)


def test_a_city_of_two_prefectures_without_a_telling_town_stays_unplaced() -> None:
    assert _address("府中市1-2-3").prefecture is None


@pytest.mark.parametrize(
    "forms",
    [
        # 小字 with 字, without it, or left out: one site
        (
            "長野県上伊那郡辰野町伊那富字宮所1234",
            "長野県上伊那郡辰野町伊那富宮所1234",
            "長野県上伊那郡辰野町伊那富1234",
        ),
    ],
)
def test_koaza_with_or_without_aza(forms: tuple[str, ...]) -> None:
    _same(*forms)


def test_different_lots_under_one_koaza_stay_apart() -> None:
    assert _key("長野県上伊那郡辰野町伊那富宮所1234") != _key("長野県上伊那郡辰野町伊那富宮所1235")


@pytest.mark.parametrize(
    ("raw", "street", "building"),
    [
        ("十二ーロ三", "12-ロ3", None),  # ー after a kanji numeral separates
        ("三丁目四ー五", "3-4-5", None),
        ("5号3", "5-3", None),  # 号 between two numbers
        ("2番地3号 4F", "2-3", "4F"),  # a space after 号: the floor is not a number of the lot
        ("二ノ町12-3", "2ノ町12-3", None),  # a numbered part of a name, not a 丁目
        ("2の町12の3", "2ノ町12-3", None),
        ("十五番町101-2", "15番町101-2", None),
        ("2番地4三番町ビル5階", "2-4", "三番町ビル5階"),  # 番町 in a building's name
    ],
)
def test_street_separators_and_numbered_names(raw: str, street: str, building: str | None) -> None:
    assert canonical_street(raw) == Street(street, building)
