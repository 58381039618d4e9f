"""Where a matched PUT's PostgreSQL CPU goes: the statements a PUT runs and the triggers they
fire.

    .venv/bin/python bench/put_postgres.py [--size 5000] [--requests 150]

1. Starts an embedded PostgreSQL in a temporary folder, migrates it and pre-loads ``--size``
   customers as bench/write_path.py does (sealed documents, blind-indexed keys), with
   ``track_functions = 'all'`` for the database (PostgreSQL then times every PL/pgSQL
   function: the trigger functions).
2. Runs ``--requests`` sequential matched PUTs in this process (the real app, httpx over ASGI;
   the payloads of bench/write_path.py) per phase: all triggers on; then each group of the
   write path's triggers disabled in turn (the KPI counts of migration 0014 on
   ``source_records``, those of migration 0008 on customers, source records and findings, and
   the hierarchy's follow trigger of migration 0012); then all on again.
3. Prints per phase the CPU of PostgreSQL (all its processes, from /proc) and of this process
   per PUT, and from ``pg_stat_user_functions`` each trigger function's calls and time per PUT.

The phases with triggers disabled only measure: they leave the KPI counts wrong, in a
throwaway database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import print_header
from match_quality import app_client, embedded_database
from write_path import (
    load_towns,
    postmaster_pid,
    preload,
    process_tree_cpu,
    requests_for,
)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=5000, help="customers pre-loaded")
    parser.add_argument("--requests", type=int, default=150, help="PUTs per phase")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print_header()
    import asyncpg

    async with embedded_database("mdm_put_pg") as db:
        await preload(db.dsn, args.size, args.seed, 1)
        conn = await asyncpg.connect(db.dsn)
        try:
            await conn.execute("ALTER DATABASE mdm_put_pg SET track_functions = 'all'")
            postmaster = await postmaster_pid(db.dsn)
            make = requests_for("put", args.size, args.seed, load_towns())
            triggers = await conn.fetch(
                "SELECT tgname, tgrelid::regclass::text AS tab FROM pg_trigger "
                "WHERE NOT tgisinternal ORDER BY 2, 1"
            )
            names = [(t["tab"], t["tgname"]) for t in triggers]
            groups = {
                "KPI counts of source records' facts (0014)": [
                    (t, n) for t, n in names if n.startswith("source_records_quality_facts")
                ],
                "KPI counts of customers, source records, findings (0008)": [
                    (t, n)
                    for t, n in names
                    if "_quality_" in n and not n.startswith("source_records_quality_facts")
                ],
                "hierarchy follow (0012)": [(t, n) for t, n in names if "hierarchy" in n],
            }
            async with app_client(db.url) as client:
                for _ in range(30):  # warm-up: imports, the postal index, connections
                    method, path, body = next(make)
                    await client.request(method, path, json=body)

                async def phase(name: str) -> None:
                    await conn.execute("SELECT pg_stat_reset()")
                    pg0, py0 = process_tree_cpu(postmaster), time.process_time()
                    for _ in range(args.requests):
                        method, path, body = next(make)
                        answer = await client.request(method, path, json=body)
                        assert answer.status_code < 300, answer.text
                    n = args.requests
                    pg = (process_tree_cpu(postmaster) - pg0) / n * 1000
                    py = (time.process_time() - py0) / n * 1000
                    functions = await conn.fetch(
                        "SELECT funcname, calls, total_time FROM pg_stat_user_functions "
                        "WHERE calls > 0 ORDER BY total_time DESC"
                    )
                    print(
                        f"\n{name}: PostgreSQL CPU {pg:.2f} ms per PUT, this process "
                        f"{py:.2f} ms per PUT (load {os.getloadavg()[0]:.1f})"
                    )
                    for f in functions:
                        print(
                            f"  {f['funcname']}: {f['calls'] / n:.1f} calls and "
                            f"{f['total_time'] / n:.3f} ms per PUT"
                        )

                await phase("all triggers")
                for group, members in groups.items():
                    for table, trigger in members:
                        await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
                    await phase(f"without {group}")
                    for table, trigger in members:
                        await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
                await phase("all triggers again")
        finally:
            await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
