"""The first page of the customers behind a per-source-system figure
(GET /v1/customers?source_system=…&source_missing=… / source_no_transaction_days=…), at scale.

The rows are generated as in bench/quality_kpis.py (customers, one source record each spread
over three systems, the source record's normalized record the customer's); VACUUM ANALYZE;
then each search ``--repeat`` times through the real app (ASGI), the median and slowest printed,
and PostgreSQL's plan (EXPLAIN ANALYZE) of the customer query for each.

    .venv/bin/python bench/source_value_filters.py --customers 200000
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from pathlib import Path

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from machine import print_header
from match_quality import app_client, embedded_database
from quality_kpis import _CUSTOMERS, _SOURCES, _time

SEARCHES = (
    {"source_system": "crm", "source_missing": "phone"},  # 1 in 10
    {"source_system": "sfa", "source_missing": "corporate_number,phone"},
    {"source_system": "billing", "source_missing": "industry"},  # 1 in 5
    {"source_system": "crm", "source_missing": "birth_date"},  # nearly all
    {"source_system": "crm", "source_missing": "email"},  # none: the whole walk
    {"source_system": "sfa", "source_no_transaction_days": "365"},
    {"source_system": "crm", "source_no_transaction_days": "5000"},  # none: the whole walk
)


async def run(customers: int, repeat: int) -> None:
    from mdm_hub.customers import repository, search

    async with embedded_database("mdm_bench_source_values") as db:
        conn = await asyncpg.connect(db.dsn)
        try:
            for label, sql in (("customers", _CUSTOMERS), ("source_records", _SOURCES)):
                started = time.perf_counter()
                await conn.execute(sql.replace(":n", str(customers)))
                print(f"load {label}: {time.perf_counter() - started:.1f} s")
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()

        async with app_client(db.url) as client:
            for params in SEARCHES:

                async def page(params: dict[str, str] = params) -> None:
                    response = await client.get("/v1/customers", params={**params, "limit": "50"})
                    assert response.status_code == 200, response.text

                median, slowest = await _time(page, repeat)
                query = "&".join(f"{k}={v}" for k, v in params.items())
                print(
                    f"GET /v1/customers?{query}: median {median * 1000:.1f} ms, "
                    f"slowest {slowest * 1000:.1f} ms"
                )
                filters = repository.CustomerFilters()
                days = params.get("source_no_transaction_days")
                assert not search.apply(
                    search.QualityQuery(
                        source_system=params["source_system"],
                        source_missing=[params["source_missing"]]
                        if "source_missing" in params
                        else None,
                        source_no_transaction_days=int(days) if days else None,
                    ),
                    filters,
                )
                statement = (
                    repository.customer_query(filters)
                    .order_by(repository.Customer.customer_code)
                    .limit(51)
                )
                compiled = statement.compile(dialect=asyncpg_dialect())
                args = [compiled.params[k] for k in compiled.positiontup or ()]
                conn = await asyncpg.connect(db.dsn)
                try:
                    plan = await conn.fetch(f"EXPLAIN (ANALYZE, COSTS OFF) {compiled}", *args)
                finally:
                    await conn.close()
                for row in plan:
                    print("   ", row[0])
    print(f"done {dt.datetime.now(dt.UTC):%H:%M:%S} UTC")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print_header()
    asyncio.run(run(args.customers, args.repeat))


if __name__ == "__main__":
    main()
