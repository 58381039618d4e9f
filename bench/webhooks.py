"""Webhook delivery: deliveries per second and change-to-delivery latency (p50/p99).

    .venv/bin/python bench/webhooks.py [--backlog 20000] [--rate 1000] [--seconds 20]
                                       [--customers 2000] [--workers 1]

Everything runs on this machine: an embedded PostgreSQL in a temporary folder (or the server
in DATABASE_URL, in a fresh database ``mdm_hub_bench``), `mdm-hub worker` processes exactly as
deployed, and a receiver process on 127.0.0.1 that answers 204 and records, per message, the
time from the change (the event's ``timestamp``) to its arrival. Changes are appended to the
outbox directly (SQL, as ``append_event`` does, each with a realistic ~1.5 KB customer), so
the figures are the webhook path's and not the write path's.

Two phases, one endpoint subscribed to everything:

1. **Throughput**: ``--backlog`` events are written first, then the workers start; deliveries
   per second until the last one arrived.
2. **Latency at a rate**: with the workers running, changes are written at ``--rate`` per
   second for ``--seconds`` (in transactions of 10, spread over ``--customers`` customers);
   the receiver's change-to-delivery latency p50/p99 and the delivery rate reached.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import datetime as dt
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from machine import machine

ROOT = Path(__file__).resolve().parents[1]
PROFILE = bool(os.environ.get("BENCH_PROFILE"))  # cProfile the workers into the temp folder
sys.path.insert(0, str(ROOT))

CUSTOMER = {
    "kind": "corporation",
    "name": "株式会社ABC商事",
    "name_kana": "エービーシーショウジ",
    "corporate_number": "7000012050002",
    "addresses": [
        {
            "purpose": "head_office",
            "postal_code": "100-0005",
            "prefecture": "東京都",
            "city": "千代田区",
            "town": "丸の内",
            "street": "1-2-3",
            "building": "丸の内ビル5F",
        }
    ],
    "phones": [{"number": "03-1234-5678", "e164": "+81312345678", "purpose": "main"}],
    "emails": [{"address": "info@abc-shoji.example.jp", "purpose": "main"}],
    "billing": {"closing_day": "end_of_month", "payment_month_offset": 1, "payment_day": 25},
    "transactions": {"started_on": "2020-04-01", "annual_amount": 12_000_000},
    "classification": {"industry": "卸売業", "region": "関東", "rank": "A"},
    "company_profile": {"employees": 120, "capital": 50_000_000, "established_on": "1998-06-01"},
    "custom_fields": {},
    "status": "active",
    "customer_code": "C00000001",
}


# ------------------------------------------------------------------------------------------
# The receiver (a separate process: `bench/webhooks.py --receiver PORT`)
# ------------------------------------------------------------------------------------------


def run_receiver(port: int) -> None:
    import uvicorn

    latencies: list[float] = []
    arrivals: list[float] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["path"] == "/stats":
            payload = json.dumps({"latencies": latencies, "arrivals": arrivals}).encode()
            latencies.clear()
            arrivals.clear()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": payload})
            return
        now = time.time()
        stamp = json.loads(body)["timestamp"]
        changed = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        latencies.append(now - changed)
        arrivals.append(now)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ------------------------------------------------------------------------------------------
# The bench
# ------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _recreate(server: str) -> None:
    conn = await asyncpg.connect(server.replace("postgresql+asyncpg://", "postgresql://"))
    await conn.execute('DROP DATABASE IF EXISTS "mdm_hub_bench" WITH (FORCE)')
    await conn.execute('CREATE DATABASE "mdm_hub_bench"')
    await conn.close()


def prepare_database(tmp: Path) -> str:
    """A fresh, migrated database (alembic runs its own event loop, so this is not async)."""
    from mdm_hub.db import sqlalchemy_url
    from mdm_hub.migrate import upgrade

    given = os.environ.get("DATABASE_URL")
    if given:
        server = sqlalchemy_url(given)
        asyncio.run(_recreate(server))
        base, _, query = server.partition("?")
        url = base.rsplit("/", 1)[0] + "/mdm_hub_bench" + (f"?{query}" if query else "")
    else:
        from mdm_hub.embedded import start_embedded_postgres

        url = start_embedded_postgres(tmp, database="mdm_hub_bench")
    upgrade(url)
    return url


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _append(conn: asyncpg.Connection, customers: list[uuid.UUID], start: int, n: int) -> None:
    now = dt.datetime.now(dt.UTC)
    rows = []
    for k in range(start, start + n):
        customer_id = customers[k % len(customers)]
        payload = {**CUSTOMER, "id": str(customer_id), "version": k // len(customers) + 1}
        rows.append(
            (
                uuid.uuid4(),
                "customer.updated",
                customer_id,
                k // len(customers) + 1,
                '["/classification/rank"]',
                json.dumps(payload, ensure_ascii=False),
                now,
            )
        )
    async with conn.transaction():
        await conn.executemany(
            "INSERT INTO customer_events (event_id, type, customer_id, customer_version, "
            "changed_fields, payload, occurred_at) VALUES ($1, $2, $3, $4, $5::jsonb, "
            "$6::jsonb, $7)",
            rows,
        )


async def _start_workers(url: str, count: int, logs: Path) -> list[asyncio.subprocess.Process]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDM_")}
    env.update({"DATABASE_URL": url, "MDM_LOG_LEVEL": "WARNING"})
    processes = []
    for i in range(count):
        profile = ["-m", "cProfile", "-o", str(logs / f"worker{i}.prof")] if PROFILE else []
        processes.append(
            await asyncio.create_subprocess_exec(
                sys.executable, *profile, "-m", "mdm_hub.cli", "worker", env=env
            )
        )
    return processes


async def _stats(client: httpx.AsyncClient, base: str) -> tuple[list[float], list[float]]:
    data = (await client.get(f"{base}/stats")).json()
    return data["latencies"], data["arrivals"]


async def _wait_delivered(conn: asyncpg.Connection, total: int, within: float) -> tuple[float, int]:
    deadline = time.monotonic() + within
    while True:
        done = await conn.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'"
        )
        if done >= total or time.monotonic() > deadline:
            return time.monotonic(), done
        await asyncio.sleep(0.05)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else float("nan")


async def bench(args: argparse.Namespace, tmp: Path, url: str, port: int) -> None:
    base = f"http://127.0.0.1:{port}"
    workers: list[asyncio.subprocess.Process] = []
    conn = await asyncpg.connect(_dsn(url))
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                try:
                    await client.get(f"{base}/stats")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            # Subscribe the receiver (through the API's service layer would need the app; the
            # row is what POST /v1/webhooks/endpoints writes).
            from mdm_hub.events.signing import new_secret

            await conn.execute(
                "INSERT INTO webhook_endpoints (id, url, enabled, secret, created_at, updated_at)"
                " VALUES ($1, $2, true, $3, now() - interval '1 minute', now())",
                uuid.uuid4(),
                f"{base}/hook",
                new_secret(),
            )
            customers = [uuid.uuid4() for _ in range(args.customers)]

            # Phase 1: throughput over a backlog.
            for start in range(0, args.backlog, 500):
                await _append(conn, customers, start, min(500, args.backlog - start))
            started = time.monotonic()
            workers = await _start_workers(url, args.workers, tmp)
            finished, done = await _wait_delivered(conn, args.backlog, within=600)
            _, arrivals = await _stats(client, base)
            span = max(arrivals) - min(arrivals)
            print(
                f"throughput: {done} deliveries, {len(arrivals) / span:,.0f} deliveries/s from "
                f"the first arrival to the last ({done / (finished - started):,.0f}/s counting "
                "the worker's start-up)",
                flush=True,
            )

            # Phase 2: latency at a steady rate.
            total = int(args.rate * args.seconds)
            per_txn = 10
            sent = 0
            t0 = time.monotonic()
            while sent < total:
                await _append(conn, customers, args.backlog + sent, per_txn)
                sent += per_txn
                delay = t0 + sent / args.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            produced = time.monotonic() - t0
            finished, done = await _wait_delivered(conn, args.backlog + total, within=120)
            latencies, arrivals = await _stats(client, base)
            rate = len(arrivals) / (max(arrivals) - min(arrivals)) if len(arrivals) > 1 else 0
            print(
                f"steady rate: wrote {total} changes in {produced:.1f}s "
                f"({total / produced:,.0f}/s, target {args.rate}/s); delivered {len(latencies)}"
                f" at {rate:,.0f}/s",
                flush=True,
            )
            print(
                f"change-to-delivery latency: p50 {_pct(latencies, 50) * 1000:.0f} ms, "
                f"p99 {_pct(latencies, 99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms, "
                f"mean {statistics.mean(latencies) * 1000:.0f} ms",
                flush=True,
            )
            cpu = sum(_cpu_seconds(w.pid) for w in workers)
            print(
                f"worker CPU: {cpu:.1f}s for {args.backlog + total} deliveries = "
                f"{cpu / (args.backlog + total) * 1000:.2f} ms per delivery",
                flush=True,
            )
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                await asyncio.wait_for(worker.wait(), 30)
            except TimeoutError:
                worker.kill()
        await conn.close()
    if PROFILE:
        print(f"profiles: {tmp}/worker*.prof", flush=True)


def _machine(args: argparse.Namespace) -> str:
    info = machine()
    return (
        f"machine: {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, "
        f"workers {args.workers}, customers {args.customers}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.receiver:
        run_receiver(args.receiver)
        return
    tmp = Path(tempfile.mkdtemp(prefix="mdm-bench-webhooks-"))
    if not PROFILE:  # registered first, so it runs after the embedded server has stopped
        atexit.register(shutil.rmtree, tmp, True)
    url = prepare_database(tmp)
    port = _free_port()
    receiver = subprocess.Popen([sys.executable, __file__, "--receiver", str(port)])
    try:
        asyncio.run(bench(args, tmp, url, port))
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
    print(_machine(args), flush=True)


if __name__ == "__main__":
    main()
