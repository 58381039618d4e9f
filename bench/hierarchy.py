"""GET /v1/customers/{id}/hierarchy and /rollup on a group of 1,000 companies × 10 sites.

    .venv/bin/python bench/hierarchy.py --companies 1000 --sites 10 --requests 50

The group is a tree (fan-out 10 under the top company); every company has its sites. Requests
go through the whole app (authentication, session, JSON) in process; the figures are the time
of each answer. Uses DATABASE_URL when set, else an embedded PostgreSQL in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import postgres_cpu, print_header

from mdm_hub.app import create_app
from mdm_hub.auth.dev_issuer import DevIssuer
from mdm_hub.db import sqlalchemy_url
from mdm_hub.hierarchy.repository import IN_EFFECT, PATH_IN_EFFECT
from mdm_hub.migrate import upgrade
from mdm_hub.settings import Settings

ISSUER = "http://hub.bench/dev-issuer"

# The tree's and the roll-up's statements as they were before migration 0017 (recursive walks
# down the links), for ``--compare``: run interleaved with today's on the same data and load,
# and checked to give the same answers.
AMOUNT = "COALESCE((c.record -> 'transactions' ->> 'annual_amount')::numeric, 0)"
WALK_DESCENDANTS = f"""
WITH RECURSIVE down(id, parent_id, relation_type, valid_from, valid_to, depth, path) AS (
    SELECT r.child_id, r.parent_id, r.relation_type, r.valid_from, r.valid_to, 1,
           ARRAY[r.parent_id]
    FROM customer_relations r
    WHERE r.parent_id = :id AND r.axis = 'group' AND {IN_EFFECT}
  UNION ALL
    SELECT r.child_id, r.parent_id, r.relation_type, r.valid_from, r.valid_to, down.depth + 1,
           down.path || down.id
    FROM down JOIN customer_relations r ON r.parent_id = down.id AND r.axis = 'group'
    WHERE {IN_EFFECT} AND down.depth < :max_depth AND NOT r.child_id = ANY(down.path)
)
SELECT down.id, down.parent_id, c.customer_code, c.name, c.status, down.relation_type,
       down.valid_from, down.valid_to, down.depth
FROM down JOIN customers c ON c.id = down.id
ORDER BY down.depth, c.customer_code
LIMIT :limit
"""
# The end both older roll-ups share: each group company's sites walked, then the sums.
SITES_AND_TOTALS = f"""site_rows AS (
    SELECT grp.depth = 0 AS direct, r.child_amount AS amount
    FROM grp JOIN customer_relations r ON r.parent_id = grp.id AND r.axis = 'site'
    WHERE grp.active AND r.child_active AND {IN_EFFECT}
)
SELECT g.*, s.* FROM
    (SELECT COALESCE(sum(amount) FILTER (WHERE active AND depth = 0), 0) AS own_amount,
            count(*) FILTER (WHERE active) AS group_companies,
            COALESCE(sum(amount) FILTER (WHERE active), 0) AS group_company_amount
     FROM grp) g,
    (SELECT count(*) FILTER (WHERE direct) AS direct_sites,
            COALESCE(sum(amount) FILTER (WHERE direct), 0) AS direct_site_amount,
            count(*) AS group_sites,
            COALESCE(sum(amount), 0) AS group_site_amount
     FROM site_rows) s
"""
WALK_ROLLUP = f"""
WITH RECURSIVE grp(id, active, amount, depth, path) AS (
    SELECT c.id, c.status = 'active', {AMOUNT}, 0, ARRAY[c.id]
    FROM customers c WHERE c.id = CAST(:id AS uuid)
  UNION ALL
    SELECT r.child_id, r.child_active, r.child_amount, grp.depth + 1, grp.path || r.child_id
    FROM grp JOIN customer_relations r ON r.parent_id = grp.id AND r.axis = 'group'
    WHERE {IN_EFFECT} AND NOT r.child_id = ANY(grp.path)
),
{SITES_AND_TOTALS}"""


# The roll-up as migration 0017 left it: the group from the closure table, then the sites
# walked (one index range per company), for ``--compare`` with today's (sites in the closure,
# migration 0022).
CLOSURE_0017_ROLLUP = f"""
WITH grp(id, active, amount, depth) AS (
    SELECT c.id, c.status = 'active', {AMOUNT}, 0
    FROM customers c WHERE c.id = CAST(:id AS uuid)
  UNION ALL
    SELECT p.descendant_id, p.descendant_active, p.descendant_amount, p.depth
    FROM customer_group_paths p
    WHERE p.ancestor_id = CAST(:id AS uuid) AND NOT p.site
      AND (p.valid_from IS NULL OR p.valid_from <= CURRENT_DATE)
      AND (p.valid_to IS NULL OR p.valid_to >= CURRENT_DATE)
),
{SITES_AND_TOTALS}"""
# The roll-up as migration 0022 left it: the group's companies and every site in one range of
# the closure table (11,000 rows for the top), for ``--compare`` with today's (the companies'
# range and each company's site totals, migration 0027).
CLOSURE_0022_ROLLUP = f"""
WITH me AS (
    SELECT c.status = 'active' AS active, {AMOUNT} AS amount
    FROM customers c WHERE c.id = CAST(:id AS uuid)
),
p AS MATERIALIZED (
    SELECT p.site, p.depth, p.descendant_id, p.descendant_active AS active,
           p.descendant_amount AS amount, p.corporation_id
    FROM customer_group_paths p
    WHERE p.ancestor_id = CAST(:id AS uuid) AND {PATH_IN_EFFECT}
),
inactive AS (
    SELECT COALESCE(array_agg(descendant_id), '{{}}') AS ids FROM (
        SELECT descendant_id FROM p WHERE NOT site AND NOT active
        UNION ALL
        SELECT CAST(:id AS uuid) FROM me WHERE NOT me.active
    ) i
),
t AS (
    SELECT count(*) FILTER (WHERE NOT site AND active) AS companies,
           COALESCE(sum(amount) FILTER (WHERE NOT site AND active), 0) AS company_amount,
           count(*) FILTER (WHERE site AND depth = 1 AND active) AS direct_sites,
           COALESCE(sum(amount) FILTER (WHERE site AND depth = 1 AND active), 0)
               AS direct_site_amount,
           count(*) FILTER (WHERE site AND active AND corporation_id <> ALL(inactive.ids))
               AS group_sites,
           COALESCE(sum(amount) FILTER (WHERE site AND active
                                        AND corporation_id <> ALL(inactive.ids)), 0)
               AS group_site_amount
    FROM p, inactive
    GROUP BY inactive.ids
)
SELECT me.active IS NOT NULL AS found,
       CASE WHEN me.active THEN me.amount ELSE 0 END AS own_amount,
       COALESCE(t.companies, 0) + CASE WHEN me.active THEN 1 ELSE 0 END AS group_companies,
       COALESCE(t.company_amount, 0) + CASE WHEN me.active THEN me.amount ELSE 0 END
           AS group_company_amount,
       CASE WHEN me.active THEN COALESCE(t.direct_sites, 0) ELSE 0 END AS direct_sites,
       CASE WHEN me.active THEN COALESCE(t.direct_site_amount, 0) ELSE 0 END
           AS direct_site_amount,
       COALESCE(t.group_sites, 0) AS group_sites,
       COALESCE(t.group_site_amount, 0) AS group_site_amount
FROM (SELECT 1) one LEFT JOIN me ON true LEFT JOIN t ON true
"""


FIGURES = (
    "own_amount",
    "group_companies",
    "group_company_amount",
    "direct_sites",
    "direct_site_amount",
    "group_sites",
    "group_site_amount",
)


def positional(sql: str) -> str:
    return (
        sql.replace("CAST(:id AS uuid)", "$1::uuid")
        .replace(":id", "$1")
        .replace(":max_depth", "$2")
        .replace(":limit", "$3")
    )


async def load(dsn: str, companies: int, sites: int) -> tuple[uuid.UUID, uuid.UUID]:
    """The group: company 0 on top, company i under company (i - 1) // 10; the sites."""
    ids = [uuid.uuid4() for _ in range(companies)]
    customers = []
    relations = []
    code = 0
    for i, cid in enumerate(ids):
        code += 1
        record = {"kind": "corporation", "transactions": {"annual_amount": 1000 + i}}
        customers.append((cid, f"B{code:07d}", f"会社{i}", json.dumps(record)))
        if i:
            relations.append((cid, ids[(i - 1) // 10], "group", "subsidiary"))
        for s in range(sites):
            code += 1
            sid = uuid.uuid4()
            site = {
                "kind": "corporation",
                "relations": {"site_type": "branch"},
                "transactions": {"annual_amount": 10 + s},
            }
            customers.append((sid, f"B{code:07d}", f"会社{i} 支店{s}", json.dumps(site)))
            relations.append((sid, cid, "site", "site"))
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "customers",
            records=[
                (cid, c, "corporation", "active", 1, name, name, [], [], rec, "{}")
                for cid, c, name, rec in customers
            ],
            columns=[
                "id", "customer_code", "kind", "status", "version", "name", "name_key",
                "phones", "emails", "record", "lineage",
            ],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "customer_relations",
            records=[(c, p, a, t, "bench") for c, p, a, t in relations],
            columns=["child_id", "parent_id", "axis", "relation_type", "set_by"],
        )
        # As autovacuum leaves a hub: statistics, and the visibility map for index-only scans.
        for table in HIERARCHY_TABLES:
            if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
                await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()
    return ids[0], ids[-1]


HIERARCHY_TABLES = (
    "customers",
    "customer_relations",
    "customer_group_paths",
    "customer_site_totals",
)
PG_DATA: Path | None = None  # the embedded PostgreSQL's data folder (None with DATABASE_URL)
CPU: dict[str, tuple[float, float]] = {}  # per timed line: CPU ms per request (app, PostgreSQL)


async def timed(client: httpx.AsyncClient, url: str, n: int) -> list[float]:
    await client.get(url)  # warm
    times = []
    cpu, pg = time.process_time(), postgres_cpu(PG_DATA)
    for _ in range(n):
        started = time.perf_counter()
        answer = await client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text
    CPU[url] = ((time.process_time() - cpu) * 1000 / n, (postgres_cpu(PG_DATA) - pg) * 1000 / n)
    return times


async def profile(client: httpx.AsyncClient, url: str, n: int) -> None:
    """Where the bench process's CPU goes for ``n`` requests (the app and its httpx client):
    the functions with the most time of their own."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        assert (await client.get(url)).status_code == 200
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(15)
    print(f"profile of {n} × {url} (cProfile, its overhead included):")
    print(out.getvalue())


def line(name: str, times: list[float], url: str | None = None) -> str:
    times = sorted(times)
    p95 = times[int(len(times) * 0.95) - 1]
    cpu = ""
    if url in CPU:
        cpu = (
            f"; CPU per request: app + client {CPU[url][0]:.1f} ms, PostgreSQL {CPU[url][1]:.1f} ms"
        )
    return f"{name}: median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms{cpu}"


async def run(url: str, args: argparse.Namespace) -> None:
    dsn = sqlalchemy_url(url).replace("postgresql+asyncpg://", "postgresql://")
    top, leaf = await load(dsn, args.companies, args.sites)
    print(f"loaded {args.companies:,} companies × {args.sites} sites")
    if args.explain:
        from mdm_hub.hierarchy.repository import _ROLLUP

        conn = await asyncpg.connect(dsn)
        sql = _ROLLUP.replace("CAST(:id AS uuid)", f"'{top}'::uuid")
        for row in await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql):
            print(row[0])
        statement = await conn.prepare(_ROLLUP.replace("CAST(:id AS uuid)", "$1::uuid"))
        for _ in range(10):
            started = time.perf_counter()
            await statement.fetch(top)
            print(f"prepared rollup: {(time.perf_counter() - started) * 1000:.1f} ms")
        await conn.close()
    if args.compare:
        from mdm_hub.hierarchy.repository import _DESCENDANTS, _ROLLUP

        conn = await asyncpg.connect(dsn)
        pairs = {
            "tree": ((WALK_DESCENDANTS, _DESCENDANTS), (top, 10, 1001)),
            "rollup": ((WALK_ROLLUP, _ROLLUP), (top,)),
            "rollup (sites walked, 0017)": ((CLOSURE_0017_ROLLUP, _ROLLUP), (top,)),
            "rollup (sites in the closure, 0022)": ((CLOSURE_0022_ROLLUP, _ROLLUP), (top,)),
        }
        for what, ((walk, closure), params) in pairs.items():
            statements = {
                name: await conn.prepare(positional(sql))
                for name, sql in (("before", walk), ("now (0027)", closure))
            }
            times: dict[str, list[float]] = {name: [] for name in statements}
            for _ in range(args.requests):
                for name, statement in statements.items():
                    started = time.perf_counter()
                    await statement.fetch(*params)
                    times[name].append((time.perf_counter() - started) * 1000)
            answers = [await s.fetch(*params) for s in statements.values()]
            if what.startswith("rollup"):
                figures = [{k: rows[0][k] for k in FIGURES} for rows in answers]
                assert figures[0] == figures[1], (what, figures)  # the same answer
            else:
                assert [tuple(r) for r in answers[0]] == [tuple(r) for r in answers[1]], what
            for name, measured in times.items():
                print(line(f"{what} SQL of the top, {name} (prepared, interleaved)", measured))
        await conn.close()
    issuer = DevIssuer.ephemeral(ISSUER)
    app = create_app(Settings(database_url=url), dev_issuer=issuer)
    token = issuer.mint(subject="bench", roles=["administrator"], scopes=[])
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://hub.bench",
            headers={"Authorization": f"Bearer {token}"},
        ) as client,
    ):
        whole = f"/v1/customers/{top}/hierarchy?descendants_depth=10&limit=1000"
        answer = (await client.get(whole)).json()
        members, sites = len(answer["children"]), len(answer["sites"])
        print(f"top's hierarchy: {members} group members, {sites} sites")
        rollup = (await client.get(f"/v1/customers/{top}/rollup")).json()
        print(f"top's rollup: {rollup['group']}")
        for name, url in (
            ("hierarchy of the top (whole group, depth 10)", whole),
            ("hierarchy of a leaf (ancestors to the top)", f"/v1/customers/{leaf}/hierarchy"),
            (
                f"rollup of the top ({args.companies:,} companies, "
                f"{args.companies * args.sites:,} sites)",
                f"/v1/customers/{top}/rollup",
            ),
            ("rollup of a leaf", f"/v1/customers/{leaf}/rollup"),
        ):
            print(line(name, await timed(client, url, args.requests), url))
        if args.profile:
            for url in (whole, f"/v1/customers/{top}/rollup"):
                await profile(client, url, args.requests)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--companies", type=int, default=1000)
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--explain", action="store_true", help="print the rollup's plan")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the top's tree and roll-up requests"
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="time the tree's and roll-up's SQL before migration 0017 and now, interleaved",
    )
    args = parser.parse_args()
    print_header()
    with tempfile.TemporaryDirectory(prefix="bench-hierarchy-") as tmp:
        url = os.environ.get("DATABASE_URL")
        if not url:
            from mdm_hub.embedded import start_embedded_postgres

            global PG_DATA
            url = start_embedded_postgres(Path(tmp) / "pg")
            PG_DATA = Path(tmp) / "pg" / "pg"
        upgrade(url)
        asyncio.run(run(url, args))


if __name__ == "__main__":
    main()
