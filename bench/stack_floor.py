"""The floor of the stack: what an HTTP write costs in FastAPI + uvicorn + asyncpg + PostgreSQL
on this machine when the handler does *nothing* of the hub's work.

    .venv/bin/python bench/stack_floor.py [--requests 6000] [--seconds 30] [--concurrency 16]
                                          [--workers 2] [--statements 0 8]

A minimal FastAPI app (no middleware, no auth, no normalization, no matching) in a live uvicorn
(the same flags as ``bench/write_path.py``: uvloop, httptools, no access log, ``--workers``
processes) answers ``PUT /floor/{id}``: pydantic validates the JSON body (the write path's
benchmark payload), then the handler makes ``--statements`` round trips to an embedded
PostgreSQL on one pooled asyncpg connection — ``BEGIN``, ``SELECT 1`` …, ``COMMIT``, as many as a
matched PUT of the hub makes — and answers a small JSON object. The load generator and the CPU
accounting are ``bench/write_path.py``'s (aiohttp clients; CPU of the uvicorn and PostgreSQL
process trees from /proc).

The figures are a lower bound for any write path built on this stack on this machine: the hub's
PUT does this and, on top, authentication, normalization, blocking, scoring, the golden record
and real statements on indexed tables. See docs/benchmarks.md ("The floor of the stack").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import print_header
from pydantic import BaseModel, ConfigDict
from write_path import (
    database,
    entity,
    free_port,
    load_towns,
    postmaster_pid,
    run_phase,
    start_uvicorn,
    stop_server,
    wait_ready,
)


class Payload(BaseModel):
    """The body is validated (as any JSON API does); its fields are the hub's payload."""

    model_config = ConfigDict(extra="allow")
    kind: str


def floor_app() -> Any:
    """uvicorn factory: the minimal app (DSN and statement count from the environment)."""
    import asyncpg
    from fastapi import FastAPI

    dsn = os.environ["FLOOR_DSN"]
    statements = int(os.environ["FLOOR_STATEMENTS"])
    pool: dict[str, asyncpg.Pool] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        pool["pg"] = await asyncpg.create_pool(dsn, min_size=2, max_size=10)
        yield
        await pool["pg"].close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    @app.put("/floor/{record_id}")
    async def write(record_id: str, payload: Payload) -> dict[str, Any]:
        if statements:
            async with pool["pg"].acquire() as connection:
                await connection.execute("BEGIN")
                for _ in range(max(0, statements - 2)):
                    await connection.fetchval("SELECT 1")
                await connection.execute("COMMIT")
        return {"id": record_id, "kind": payload.kind, "decision": "floor"}

    return app


def start_floor_server(dsn: str, port: int, workers: int, statements: int) -> subprocess.Popen:
    environment = {"FLOOR_DSN": dsn, "FLOOR_STATEMENTS": str(statements)}
    return start_uvicorn("stack_floor:floor_app", port, workers, environment)


def requests(seed: int) -> Any:
    towns = load_towns()
    i = 0
    while True:
        i += 1
        yield "PUT", f"/floor/{i}", entity(i, towns, seed)


async def main_async(args: argparse.Namespace) -> None:
    print_header()
    print()
    print("| round trips per request | requests | per s | p50 ms | p99 ms | CPU per request |")
    print("|---:|---:|---:|---:|---:|---|")
    async with database(None) as db:
        for statements in args.statements:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            server = start_floor_server(db.dsn, port, args.workers, statements)
            meters = {"uvicorn": server.pid, "PostgreSQL": await postmaster_pid(db.dsn)}
            try:
                await wait_ready(base)
                await run_phase(base, "warm-up", requests(args.seed + 1), requests=300,
                                seconds=20, concurrency=args.concurrency)  # fmt: skip
                phase = await run_phase(
                    base,
                    f"{statements}",
                    requests(args.seed),
                    requests=args.requests,
                    seconds=args.seconds,
                    concurrency=args.concurrency,
                    meters=meters,
                )
            finally:
                stop_server(server)
            lat = sorted(phase.latencies)
            ok = sum(n for s, n in phase.statuses.items() if s < 300)
            print(
                f"| {statements} | {len(lat):,} | {ok / phase.elapsed:,.0f} | "
                f"{lat[len(lat) // 2] * 1000:.1f} | {lat[int(0.99 * len(lat))] * 1000:.1f} | "
                f"{phase.cpu_per_request()} |"
            )
            if ok < len(lat):
                print(f"  statuses: {dict(phase.statuses)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--statements", type=int, nargs="+", default=[0, 8])
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
