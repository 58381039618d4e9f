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

``--sites N`` instead measures what the site totals of migration 0027 add to a PUT that sets
or moves a site link (issue 19): per phase, N corporations' new source records each naming a
head office (``relations.site_of_customer_code``: the PUT sets the link), then each of them
again naming another head office (the PUT moves it); phases alternate between all triggers on
and the site-totals triggers of ``customer_relations`` (``customer_relations_site_totals_*``)
disabled, each twice. Printed as above, with the link triggers' functions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

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
    parser.add_argument(
        "--sites", type=int, default=0, metavar="N",
        help="measure the site totals' triggers instead: N site records per phase, set + moved",
    )  # fmt: skip
    args = parser.parse_args()
    print_header()
    import asyncpg

    async with embedded_database("mdm_put_pg") as db:
        await preload(db.dsn, args.size, args.seed, 1)
        conn = await asyncpg.connect(db.dsn)
        try:
            await conn.execute("ALTER DATABASE mdm_put_pg SET track_functions = 'all'")
            postmaster = await postmaster_pid(db.dsn)
            if args.sites:
                await site_links(db.url, conn, postmaster, args)
                return
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


async def _functions(conn: Any, n: int) -> list[str]:
    rows = await conn.fetch(
        "SELECT funcname, calls, total_time, self_time FROM pg_stat_user_functions "
        "WHERE calls > 0 ORDER BY total_time DESC"
    )
    return [
        f"  {f['funcname']}: {f['calls'] / n:.1f} calls, {f['total_time'] / n:.3f} ms "
        f"(self {f['self_time'] / n:.3f} ms) per PUT"
        for f in rows
    ]


async def site_links(url: str, conn: Any, postmaster: int, args: argparse.Namespace) -> None:
    """``--sites``: PUTs that set and move site links, with and without the site totals."""
    heads = [
        r["customer_code"]
        for r in await conn.fetch(
            "SELECT customer_code FROM customers WHERE kind = 'corporation' "
            "ORDER BY customer_code LIMIT 2"
        )
    ]
    totals = [
        (r["tab"], r["tgname"])
        for r in await conn.fetch(
            "SELECT tgname, tgrelid::regclass::text AS tab FROM pg_trigger "
            "WHERE NOT tgisinternal AND tgname LIKE 'customer_relations_site_totals_%'"
        )
    ]
    assert totals, "no site-totals trigger (migration 0027)"
    make = requests_for("put", args.size, args.seed, load_towns())

    def site_payloads(count: int) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        while len(out) < count:
            _, path, body = next(make)
            if body.get("kind") == "corporation":
                out.append((path, body))
        return out

    async with app_client(url) as client:
        for path, body in site_payloads(20):  # warm-up
            body = {**body, "relations": {"site_of_customer_code": heads[0]}}
            assert (await client.put(path, json=body)).status_code < 300

        async def phase(name: str) -> None:
            await conn.execute("SELECT pg_stat_reset()")
            sites = site_payloads(args.sites)
            pg0, py0 = process_tree_cpu(postmaster), time.process_time()
            for head in (heads[0], heads[1]):  # set, then moved
                for path, body in sites:
                    body = {**body, "relations": {"site_of_customer_code": head}}
                    answer = await client.put(path, json=body)
                    assert answer.status_code < 300, answer.text
            n = 2 * len(sites)
            links = await conn.fetchval(
                "SELECT count(*) FROM customer_relations WHERE parent_id = "
                "(SELECT id FROM customers WHERE customer_code = $1)",
                heads[1],
            )
            pg = (process_tree_cpu(postmaster) - pg0) / n * 1000
            py = (time.process_time() - py0) / n * 1000
            print(
                f"\n{name}: PostgreSQL CPU {pg:.2f} ms per PUT, this process {py:.2f} ms per "
                f"PUT ({n} PUTs, {links} sites of the second head office; load "
                f"{os.getloadavg()[0]:.1f})"
            )
            print("\n".join(await _functions(conn, n)))

        for round_ in (1, 2):
            await phase(f"site links, all triggers (round {round_})")
            for table, trigger in totals:
                await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
            await phase(f"site links, site totals' triggers disabled (round {round_})")
            for table, trigger in totals:
                await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")


if __name__ == "__main__":
    asyncio.run(main())
