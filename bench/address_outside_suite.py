"""Address forms stored identically, measured on an outside suite this project never tuned on.

    .venv/bin/python bench/address_outside_suite.py --main-test main.test.ts --csv addresses.csv

The suite is the test data of geolonia/normalize-japanese-addresses (MIT), read from files the
caller fetched; nothing of it is stored in this repository or used by its tests:

* ``--main-test``: ``test/main.test.ts`` as of commit e6cc34f6e4 (2024-09-17, the last version
  with the variant tests: 大字, 異体字, kanji numerals, Kyoto's streets, Hokkaido's grid, …). Each
  ``test(...)`` block gives one or more input forms and the place they must normalize to
  (``pref``, ``city``, ``town``, ``addr``).
* ``--csv``: ``test/addresses/addresses.csv`` (7,190 real addresses with their expected
  prefecture, city, 町字 and 番地号).

Every input form is compared with the *reference form* of its place, the expected fields
written one after the other (``大阪府堺市北区新金岡町四丁1-8``), both through this hub's
normalizer (``normalize_address`` on a one-line address). A form counts as stored identically
when its prefecture, city and ``site_key`` (town and street number, no building) equal those of
the reference form; for a place given without ``addr``, prefecture, city and town.

Forms that need a town-level dictionary (a 住居表示 or 番丁 table this hub does not have) are
left out and counted: a place whose reference form the hub's Japan Post data cannot resolve to a
town, a form that writes no town at all (only numbers after the city: ``和歌山市12-45`` for
十二番丁45), and expected results below town level. "Kept apart": for every two different places of
one city, their reference keys must differ.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from mdm_hub.normalize.address import normalize_address
from mdm_hub.normalize.base import Report
from mdm_hub.record import AddressIn

Place = tuple[str, str, str, str]  # pref, city, town, addr ("" when not asserted)


@dataclass
class Case:
    place: Place
    forms: list[str] = field(default_factory=list)
    source: str = ""


def _strings(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"'([^'\n]*)'", text)]


def main_test_cases(path: Path) -> list[Case]:
    """Input forms and expected places of each ``test(...)`` block of main.test.ts."""
    text = path.read_text(encoding="utf-8")
    blocks = re.split(r"\n\s*test\(", text)[1:]
    cases: list[Case] = []
    for block in blocks:
        expected: dict[str, str] = {}
        for obj in re.finditer(r"toBeDeepCloseTo\((\{.*?\})\)", block):
            data = json.loads(obj.group(1).replace("undefined", "null"))
            expected.update(
                {k: str(v) for k, v in data.items() if k in ("pref", "city", "town", "addr")}
            )
            if int(data.get("level", 3)) < 3:
                expected["below_town"] = "1"
        for key, value in re.findall(r"res\.(pref|city|town|addr)\)\.toEqual\('([^']*)'\)", block):
            expected[key] = value
        for key, value in re.findall(r'res\.(pref|city|town|addr)\)\.toEqual\("([^"]*)"\)', block):
            expected[key] = value
        if "below_town" in expected or not expected.get("town"):
            continue
        forms: list[str] = []
        for call in re.finditer(r"normalize\('([^']+)'", block):
            forms.append(call.group(1))
        for array in re.finditer(r"const \w+ = \[(.*?)\]", block, re.S):
            forms.extend(_strings(array.group(1)))
        for single in re.finditer(r"const address = '([^']+)'", block):
            forms.append(single.group(1))
        forms = list(dict.fromkeys(forms))
        if not forms:
            continue
        place = (
            expected.get("pref", ""),
            expected.get("city", ""),
            expected["town"],
            expected.get("addr", ""),
        )
        cases.append(Case(place, forms, block.split("'")[1] if "'" in block else ""))
    return cases


def csv_cases(path: Path) -> list[Case]:
    cases: list[Case] = []
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if int(row["レベル"] or 0) < 3 or not row["町字"]:
                continue
            addr = row["番地号"] or row["その他"]
            cases.append(Case((row["都道府県"], row["市区町村"], row["町字"], addr), [row["住所"]]))
    return cases


def key(text: str, with_street: bool) -> tuple[str | None, ...]:
    a = normalize_address(AddressIn(full_text=text), "/a", Report())
    if with_street:
        return (a.prefecture, a.city, a.site_key)
    return (a.prefecture, a.city, a.town)


_NUMBERS_ONLY = re.compile(r"[0-9０-９一二三四五六七八九十百千\-－ー−‐のノ番地号\s]*")
_CHOME_TOWN = re.compile(r"[一二三四五六七八九十百千]+丁目")


def _town_not_written(form: str, place: Place) -> bool:
    """The form names no town, only numbers after the city (``和歌山市12-45`` for 十二番丁45):
    the town can only come from a dictionary of the city's 番丁 or 住居表示."""
    city = place[1]
    rest = form.split(city, 1)[1] if city and city in form else ""
    if not city or city not in form or _CHOME_TOWN.fullmatch(place[2]):
        return False  # a town named by its 丁目 alone is written by its number
    return _NUMBERS_ONLY.fullmatch(rest) is not None


def _street_part(addr: str) -> tuple[str, ...]:
    """The first three numbers of a street address (丁目-番-号): a fourth part, a room or a
    building name does not make another place."""
    return tuple(re.findall(r"[0-9]+", addr.split()[0] if addr.split() else "")[:3])


def reference(place: Place) -> str:
    return "".join(place)


def measure(name: str, cases: list[Case], show: int) -> None:
    by_place: dict[Place, list[str]] = collections.defaultdict(list)
    for case in cases:
        by_place[case.place].extend(case.forms)
    forms = same = needs_dictionary = 0
    failures: list[str] = []
    ref_keys: dict[Place, tuple[str | None, ...]] = {}
    for place, place_forms in by_place.items():
        with_street = bool(place[3])
        expected = key(reference(place), with_street)
        resolved = expected[0] and expected[1] and expected[2]
        # The reference must reach the expected town (Japan Post knows it), else the place needs
        # a town dictionary this hub does not have.
        town_known = normalize_address(AddressIn(full_text=reference(place)), "/a", Report()).town
        if not resolved or not town_known:
            needs_dictionary += len(set(place_forms))
            continue
        ref_keys[place] = expected
        for form in dict.fromkeys(place_forms):
            if _town_not_written(form, place):
                needs_dictionary += 1
                continue
            forms += 1
            got = key(form, with_street)
            if got == expected:
                same += 1
            elif len(failures) < show:
                failures.append(f"{form} → {got}, reference {reference(place)} → {expected}")
    by_city: dict[tuple[str, str], list[Place]] = collections.defaultdict(list)
    for place in ref_keys:
        by_city[(place[0], place[1])].append(place)
    apart = kept = 0
    collisions: list[str] = []
    for places in by_city.values():
        for i, p in enumerate(places):
            for q in places[i + 1 :]:
                if bool(p[3]) != bool(q[3]) or (
                    p[2] == q[2] and _street_part(p[3]) == _street_part(q[3])
                ):
                    continue  # one place with and without building, room or 4th part
                apart += 1
                if ref_keys[p] != ref_keys[q]:
                    kept += 1
                elif len(collisions) < show:
                    collisions.append(f"{reference(p)} = {reference(q)} → {ref_keys[p]}")
    print(f"\n## {name}")
    print(f"places: {len(ref_keys)}; forms compared: {forms}; stored identically: {same} "
          f"({same / forms:.1%}); left out (need a town dictionary): {needs_dictionary}; "
          f"pairs of different places in one city kept apart: {kept}/{apart}")  # fmt: skip
    for line in failures:
        print("- differs:", line)
    for line in collisions:
        print("- not kept apart:", line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--main-test", type=Path, help="main.test.ts (commit e6cc34f6e4)")
    parser.add_argument("--csv", type=Path, help="test/addresses/addresses.csv")
    parser.add_argument("--show", type=int, default=20, help="failures listed per suite")
    args = parser.parse_args()
    if args.main_test:
        measure("main.test.ts (variant forms)", main_test_cases(args.main_test), args.show)
    if args.csv:
        measure("addresses.csv (real addresses)", csv_cases(args.csv), args.show)


if __name__ == "__main__":
    main()
