"""How long the quality KPIs take at 1M customers (issue 18: each under 1 s).

Loading 1M customers through the write path would take hours here (~115 writes/s, see
docs/benchmarks.md), so the rows are generated in PostgreSQL with INSERT … SELECT
generate_series straight into customers, source_records, quality_findings, match_candidates
and merge_log, then the registries (links, proposals, インボイス). The statement-level triggers
of migrations 0008, 0014 and 0016 keep the KPI counts
exactly as they do for the write path (one delta row per statement and count). Then VACUUM
ANALYZE, and: each KPI query on its own, and GET /v1/quality/kpis through the real app (ASGI),
``--repeat`` times; the median and the slowest are printed.

    .venv/bin/python bench/quality_kpis.py --customers 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from machine import print_header
from match_quality import app_client, embedded_database

# Every 20th customer a person; 1 in 10 without a phone, 1 in 4 without kana; 1 in 20 source
# records with a finding; 1 in 50 customers merged away; updated_at and 最終取引日 spread over
# four years, so freshness counts are large ranges (the slow case for a range count).
_CUSTOMERS = """
INSERT INTO customers (
    id, customer_code, kind, status, version, merged_into_id, name, name_key, name_kana,
    corporate_number, phones, emails, record, lineage, created_at, updated_at)
SELECT
    gen_random_uuid(), 'C' || lpad(i::text, 8, '0'),
    CASE WHEN i % 20 = 0 THEN 'person' ELSE 'corporation' END,
    CASE WHEN i % 50 = 0 THEN 'merged' ELSE 'active' END, 1, NULL,
    '株式会社テスト' || i, 'テスト' || i,
    CASE WHEN i % 4 = 0 THEN NULL ELSE 'テスト' END,
    CASE WHEN i % 20 = 0 OR i % 3 = 0 THEN NULL ELSE lpad(i::text, 13, '0') END,
    CASE WHEN i % 10 = 0 THEN '{}'::text[]
         ELSE ARRAY['+8131234' || lpad((i % 10000)::text, 4, '0')] END,
    ARRAY['info' || i || '@example.jp'],
    jsonb_build_object(
        'kind', CASE WHEN i % 20 = 0 THEN 'person' ELSE 'corporation' END,
        'name', '株式会社テスト' || i,
        'invoice_registration_number',
            CASE WHEN i % 20 = 0 OR i % 3 = 0 OR i % 2 = 1 THEN NULL
                 ELSE 'T' || lpad(i::text, 13, '0') END,
        'addresses', jsonb_build_array(jsonb_build_object(
            'postal_code', CASE WHEN i % 7 = 0 THEN NULL ELSE '1000005' END,
            'prefecture', '東京都', 'city', '千代田区')),
        'classification', jsonb_build_object('industry',
            CASE WHEN i % 5 = 0 THEN NULL ELSE '卸売業' END),
        'transactions', jsonb_build_object('last_transaction_on',
            CASE WHEN i % 6 = 0 THEN NULL
                 ELSE to_char(DATE '2023-01-01' + (i % 1460), 'YYYY-MM-DD') END)),
    '{}'::jsonb,
    now() - make_interval(days => i % 1460), now() - make_interval(days => i % 1460)
FROM generate_series(1, :n) AS i
"""
_SOURCES = """
INSERT INTO source_records (
    system, source_id, customer_id, raw_payload, payload_hash, normalized, changes, findings,
    decision, version, created_at, updated_at)
SELECT (ARRAY['crm', 'sfa', 'billing'])[1 + (row_number() OVER () % 3)::int],
       c.customer_code, c.id, '{}'::jsonb, '', c.record, '[]'::jsonb,
       CASE WHEN row_number() OVER () % 20 = 0
            THEN '[{"rule": "phone_number_not_valid"}]'::jsonb ELSE '[]'::jsonb END,
       jsonb_build_object('outcome', 'new_customer'), 1, c.created_at, c.updated_at
FROM customers AS c
"""
_FINDINGS = """
INSERT INTO quality_findings (source_record_id, system, rule, field, message, value)
SELECT s.id, s.system,
       (ARRAY['phone_number_not_valid', 'name_kana_not_kana',
              'address_conflicts_with_postal_code'])[1 + (s.id % 3)::int],
       '/phones/0/number', 'generated', to_jsonb('03-0000-0000'::text)
FROM source_records AS s WHERE s.id % 20 = 0
"""
_CANDIDATES = """
INSERT INTO match_candidates (customer_a_id, customer_b_id, probability, match_weight,
                              explanation, reason, status)
SELECT a.id, b.id, 0.7, 1.0, '{}'::jsonb, 'generated', 'pending'
FROM (SELECT id, row_number() OVER () AS r FROM customers LIMIT 5000) AS a
JOIN (SELECT id, row_number() OVER () AS r FROM customers OFFSET 5000 LIMIT 5000) AS b
  ON a.r = b.r
"""

# The registries (issue 19): every customer with a 法人番号 linked, about 1 in 100 of them
# closed by the registry and 1 in 1,000 withdrawn; two pending proposals for 1 in 10
# corporations without one; the インボイス registry not publishing 1 in 5 of the T-numbers and
# revoking about 1 in 50 (codes ending in 8, 04).
_LINKS = """
INSERT INTO registry_links (customer_id, corporate_number, linked_by, closed_on, close_cause,
                            withdrawn)
SELECT id, corporate_number, 'corporate_number',
       CASE WHEN customer_code LIKE '%07' THEN DATE '2026-11-27' END,
       CASE WHEN customer_code LIKE '%07' THEN '01' END,
       customer_code LIKE '%113'
FROM customers WHERE corporate_number IS NOT NULL
"""
_PROPOSALS = """
INSERT INTO registry_proposals (customer_id, corporate_number, probability, explanation, status)
SELECT id, lpad((n.k)::text, 13, '9'), 0.7, '{}'::jsonb, 'pending'
FROM customers, (VALUES (1), (2)) AS n (k)
WHERE corporate_number IS NULL AND kind = 'corporation' AND customer_code LIKE '%1'
"""
_INVOICES = """
INSERT INTO invoice_registrations (registration_number, corporate_number, sequence_number,
                                   process, status, update_date, disposal_date, import_id)
SELECT invoice_registration_number, substr(invoice_registration_number, 2), 1,
       CASE WHEN customer_code LIKE '%04' THEN '04' ELSE '01' END,
       CASE WHEN customer_code LIKE '%04' THEN 'revoked' ELSE 'registered' END,
       DATE '2026-11-30', CASE WHEN customer_code LIKE '%04' THEN DATE '2026-11-28' END, 0
FROM customers WHERE invoice_registration_number IS NOT NULL AND customer_code NOT LIKE '%8'
"""


async def _time(fn: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times)


async def run(customers: int, repeat: int) -> None:
    from mdm_hub.quality import repository

    async with embedded_database("mdm_bench_quality") as db:
        conn = await asyncpg.connect(db.dsn)
        try:
            for label, sql in (
                ("customers", _CUSTOMERS),
                ("source_records", _SOURCES),
                ("quality_findings", _FINDINGS),
                ("match_candidates", _CANDIDATES),
                ("registry_links", _LINKS),
                ("registry_proposals", _PROPOSALS),
                ("invoice_registrations", _INVOICES),
            ):
                started = time.perf_counter()
                await conn.execute(sql.replace(":n", str(customers)))
                print(f"load {label}: {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            await conn.execute("VACUUM ANALYZE")
            print(f"VACUUM ANALYZE: {time.perf_counter() - started:.1f} s")
            deltas = await conn.fetchval("SELECT count(*) FROM quality_count_deltas")
            print(f"count deltas after the bulk load (one per statement and count): {deltas}")
        finally:
            await conn.close()

        async with app_client(db.url) as client:
            app = client._transport.app  # type: ignore[attr-defined]
            sessionmaker = app.state.sessionmaker  # type: ignore[attr-defined]
            today = dt.date.today()
            now = dt.datetime.now(dt.UTC)
            queries: dict[str, Callable[[Any], Awaitable[Any]]] = {
                "counts (status, completeness, error rate, merged away, 法人番号 coverage per "
                "kind and source system, closed still active)": repository.counts,
                "daily counts (merges per 1,000 writes, writes per day)": lambda s: (
                    repository.daily_counts(s, today - dt.timedelta(days=29))
                ),
                "not updated for 365 days": lambda s: repository.not_updated_since(
                    s, now - dt.timedelta(days=365)
                ),
                "no transaction for 365 days": lambda s: repository.no_transaction_since(
                    s, today - dt.timedelta(days=365)
                ),
                "source records not written for 365 days, per system": lambda s: (
                    repository.sources_not_updated_since(s, now - dt.timedelta(days=365))
                ),
                "candidates waiting": repository.candidates_waiting,
                "source records with no transaction for 365 days, per system (day counts)": (
                    lambda s: repository.sources_no_transaction_since(
                        s, today - dt.timedelta(days=365)
                    )
                ),
                "T-numbers by インボイス status": repository.invoice_statuses,
            }
            for label, query in queries.items():

                async def once(query: Callable[[Any], Awaitable[Any]] = query) -> None:
                    async with sessionmaker() as session:
                        await query(session)

                median, slowest = await _time(once, repeat)
                print(f"{label}: median {median * 1000:.1f} ms, slowest {slowest * 1000:.1f} ms")

            async def api() -> None:
                response = await client.get("/v1/quality/kpis")
                assert response.status_code == 200, response.text

            median, slowest = await _time(api, repeat)
            kpis = (await client.get("/v1/quality/kpis")).json()
            print(
                f"GET /v1/quality/kpis (all of the above): median {median * 1000:.1f} ms, "
                f"slowest {slowest * 1000:.1f} ms"
            )
            print(
                f"  active {kpis['customers']['all'].get('active')}, merged "
                f"{kpis['customers']['all'].get('merged')}, phone filled "
                f"{kpis['completeness']['all']['phone']['share']}, records with findings "
                f"{kpis['error_rate']['all']['share']}, not updated "
                f"{kpis['freshness']['all']['not_updated']}, no transaction "
                f"{kpis['freshness']['all']['no_transaction']}"
            )
            print(f"  enrichment {kpis['enrichment']}")
            print(f"  enrichment by system {kpis['enrichment_by_system']}")
            print(
                "  no transaction per system "
                f"{ {s: f['no_transaction'] for s, f in kpis['freshness_by_system'].items()} }"
            )
            print(f"  invoice registration {kpis['invoice_registration']}")

            # The customers behind the figures (the links of the console's データ品質 page):
            # the first page of 50 of each, through the app.
            for params in (
                {"missing": "phone"},
                {"missing": "corporate_number,phone", "kind": "corporation"},
                {"missing": "birth_date", "kind": "corporation"},
                {"not_updated_days": "365"},
                {"not_updated_days": "1400"},
                {"no_transaction_days": "365", "kind": "person"},
                {"finding_rule": "name_kana_not_kana"},
                {"registry_status": "suggested", "kind": "corporation"},
                {"registry_status": "withdrawn"},
                {"registry_status": "unknown", "kind": "corporation"},
            ):

                async def search(params: dict[str, str] = params) -> None:
                    response = await client.get("/v1/customers", params={**params, "limit": "50"})
                    assert response.status_code == 200, response.text
                    assert response.json()["items"], params

                median, slowest = await _time(search, repeat)
                query = "&".join(f"{k}={v}" for k, v in params.items())
                print(
                    f"GET /v1/customers?{query}: median {median * 1000:.1f} ms, "
                    f"slowest {slowest * 1000:.1f} ms"
                )

            async def snapshot() -> None:
                response = await client.post("/v1/quality/kpis/snapshots")
                assert response.status_code == 200, response.text

            median, slowest = await _time(snapshot, 1)
            print(
                f"POST /v1/quality/kpis/snapshots (fold + compute + store): {median * 1000:.1f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print_header()
    asyncio.run(run(args.customers, args.repeat))


if __name__ == "__main__":
    main()
