"""Server time of the console's pair page (確認待ち → one pair) on a loaded master.

    .venv/bin/python bench/console_pair.py [--size 100000] [--pairs 40] [--requests 400]
                                           [--database-url URL]

1. An embedded PostgreSQL in a temporary folder (or ``--database-url``), migrated, and
   ``--size`` customers pre-loaded through write_path.py's fast path (the same rows the write
   path writes; ``--load-workers`` processes).
2. ``--pairs`` review candidates made the way they arise: through the app (in process), a
   source record of a loaded corporation that repeats only its name and postal code, which the
   hub is unsure about and queues.
3. ``--requests`` GETs of ``/console/review/{id}`` (cycling over the pairs) through the whole
   app in this process (httpx over ASGI: middleware, authentication, the page's queries,
   masking, the template), as a steward with a bearer token; reports p50/p90/p99/max of the
   time from request to complete answer, and the page's SQL statements.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import print_header
from write_path import database, entity, load_towns, loaded_customers, preload

from mdm_hub.app import create_app
from mdm_hub.auth.dev_issuer import DevIssuer
from mdm_hub.settings import Settings


def unsure_variant(payload: dict[str, Any]) -> dict[str, Any]:
    """Only the name and the postal code of a loaded corporation: too little to merge."""
    return {
        "kind": "corporation",
        "name": payload["name"],
        "addresses": [{"postal_code": payload["addresses"][0]["postal_code"]}],
    }


async def main_async(args: argparse.Namespace) -> None:
    print_header()
    async with database(args.database_url) as db:
        if await loaded_customers(db.dsn) == 0:
            print(f"pre-loading {args.size:,} customers ...", file=sys.stderr)
            seconds = await preload(db.dsn, args.size, args.seed, max(1, args.load_workers))
            print(f"pre-load: {args.size:,} customers in {seconds:.0f} s")
        size = await loaded_customers(db.dsn)
        issuer = DevIssuer.ephemeral("http://bench.test/dev-issuer")
        app = create_app(Settings(database_url=db.url), dev_issuer=issuer)
        token = issuer.mint(subject="bench-steward", roles=["steward"])
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://bench.test",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            ) as client,
        ):
            towns = load_towns()
            outcomes: dict[str, int] = {}
            i = 0
            while outcomes.get("review", 0) < args.pairs:
                payload = entity(2 * i, towns, args.seed)  # even: a corporation
                response = await client.put(
                    f"/v1/sources/console-bench/records/{i}", json=unsure_variant(payload)
                )
                response.raise_for_status()
                outcome = response.json()["decision"]["outcome"]
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                i += 1
                if i > args.pairs * 20:
                    raise SystemExit(f"too few reviews: {outcomes}")
            queue = (await client.get("/v1/match-candidates", params={"limit": 200})).json()
            ids = [c["id"] for c in queue["items"]]
            print(f"customers: {size:,}; review pairs: {len(ids)} (writes: {outcomes})")

            statements: list[str] = []

            def count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
                statements.append(statement)

            engine = app.state.engine.sync_engine
            event.listen(engine, "before_cursor_execute", count)
            first = await client.get(f"/console/review/{ids[0]}")
            assert first.status_code == 200, first.text[:500]
            event.remove(engine, "before_cursor_execute", count)
            for _ in range(20):  # warm up
                await client.get(f"/console/review/{ids[0]}")
            times: list[float] = []
            for n in range(args.requests):
                started = time.perf_counter()
                response = await client.get(f"/console/review/{ids[n % len(ids)]}")
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
            times.sort()

            def pct(p: float) -> float:
                return times[min(len(times) - 1, int(p * len(times)))]

            print(
                f"GET /console/review/{{id}} x {len(times)}: "
                f"p50 {pct(0.5):.1f} ms, p90 {pct(0.9):.1f} ms, p99 {pct(0.99):.1f} ms, "
                f"max {times[-1]:.1f} ms, mean {statistics.fmean(times):.1f} ms; "
                f"{len(statements)} SQL statements (SQLAlchemy) per page, "
                f"{len(first.content):,} bytes"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--load-workers", type=int, default=2)
    parser.add_argument("--database-url")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
