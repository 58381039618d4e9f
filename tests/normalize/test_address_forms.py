"""Address forms as data: every form of a place stores one site key; different places do not.

The table (data/address_forms.json) is built from Japan Post's data by
data/build_address_forms.py, one section per category of variants (大字/字 and 小字, 異体字,
kanji numerals and numerals in town names, の/ノ and kana sub-lots, Hokkaido's grid, Kyoto's
street directions, the prefecture, buildings/floors; a space inside the city, a town written
without part of its name, numbered town names, a city placed by its town, a 小字 with or
without 字). bench/address_forms.py measures the same table as shares.
"""

from __future__ import annotations

import pytest
from normalize_data import load_json

from mdm_hub.normalize.address import normalize_address
from mdm_hub.normalize.base import Report
from mdm_hub.record import AddressIn

_TABLE = load_json("address_forms.json")["categories"]


def _site_key(text: str) -> str | None:
    return normalize_address(AddressIn(full_text=text), "/addresses/0", Report()).site_key


def _groups() -> list[tuple[str, list[str]]]:
    return [(name, group) for name, cat in _TABLE.items() for group in cat["groups"]]


def _apart() -> list[tuple[str, list[str]]]:
    return [(name, pair) for name, cat in _TABLE.items() for pair in cat["apart"]]


def test_every_category_has_places_and_pairs() -> None:
    assert set(_TABLE) == {
        "aza", "itaiji", "numerals", "separators", "hokkaido", "kyoto", "prefecture", "building",
        "city_space", "town_part", "numbered_name", "city_by_town", "koaza",
    }  # fmt: skip
    for name, category in _TABLE.items():
        assert len(category["groups"]) >= 40, name
        assert category["apart"], name


@pytest.mark.parametrize(("category", "forms"), _groups(), ids=lambda v: str(v)[:60])
def test_forms_of_one_place_store_one_site_key(category: str, forms: list[str]) -> None:
    keys = {form: _site_key(form) for form in forms}
    expected = keys[forms[0]]
    assert expected is not None
    assert {form: key for form, key in keys.items() if key != expected} == {}


@pytest.mark.parametrize(("category", "pair"), _apart(), ids=lambda v: str(v)[:60])
def test_different_places_stay_apart(category: str, pair: list[str]) -> None:
    a, b = (_site_key(text) for text in pair)
    assert a != b
