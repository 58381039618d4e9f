"""How long the quality KPIs take at 1M customers (issue 18: each under 1 s).

Loading 1M customers through the write path would take hours here (~115 writes/s, see
docs/benchmarks.md), so the rows are generated in PostgreSQL with INSERT … SELECT
generate_series straight into customers, source_records, quality_findings, match_candidates
and merge_log, then the registries (links, proposals, インボイス). The statement-level triggers
of migrations 0008, 0014 and 0016 keep the KPI counts
exactly as they do for the write path (one delta row per statement and count). Then VACUUM
ANALYZE, and: each KPI query on its own, and GET /v1/quality/kpis through the real app (ASGI),
``--repeat`` times; the median and the slowest are printed.

Before and after migration 0021 in one sitting, on the same data: main's freshness range counts
and T-number join (kept below as ``MAIN_*``) and the per-day counts that replace them are timed
alternately and must give the same figures; then the whole GET /v1/quality/kpis alternately
with this tree's queries and with main's patched into the same app.

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


# main (before migration 0021): range counts over the stale part of the master, and the
# T-number join.
MAIN_NOT_UPDATED = """
SELECT k.kind, (SELECT count(*) FROM customers AS c
                WHERE c.status = 'active' AND c.kind = k.kind AND c.updated_at < $1) AS n
FROM (VALUES ('corporation'), ('person')) AS k (kind)
"""
MAIN_NO_TRANSACTION = """
SELECT k.kind, (SELECT count(*) FROM customers AS c
                WHERE c.status = 'active' AND c.kind = k.kind
                  AND c.last_transaction_on < $1) AS n
FROM (VALUES ('corporation'), ('person')) AS k (kind)
"""
MAIN_SOURCES_NOT_UPDATED = """
WITH RECURSIVE systems (system) AS (
    SELECT min(system) FROM source_records
    UNION ALL
    SELECT (SELECT min(s.system) FROM source_records AS s WHERE s.system > systems.system)
    FROM systems WHERE systems.system IS NOT NULL
)
SELECT system, (SELECT count(*) FROM source_records AS r
                WHERE r.system = systems.system AND r.updated_at < $1) AS n
FROM systems WHERE system IS NOT NULL AND system <> '_steward'
"""
MAIN_INVOICE = """
SELECT COALESCE(i.status, 'not_registered') AS status, count(*) AS n
FROM customers AS c
LEFT JOIN invoice_registrations AS i ON i.registration_number = c.invoice_registration_number
WHERE c.status = 'active' AND c.invoice_registration_number IS NOT NULL
GROUP BY 1
"""


async def _main_rows(session: Any, sql: str, *args: Any) -> dict[str, int]:
    conn = await session.connection()
    raw = (await conn.get_raw_connection()).driver_connection
    return {r[0]: int(r[1]) for r in await raw.fetch(sql, *args)}


async def _then(awaitable: Awaitable[Any], fn: Callable[[Any], Any]) -> Any:
    return fn(await awaitable)


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
            stale_cutoff = now - dt.timedelta(days=365)
            tx_cutoff = today - dt.timedelta(days=365)

            def invoice_from_counts(counts: dict[tuple[str, str], int]) -> dict[str, int]:
                out: dict[str, int] = {}
                for (scope, metric), n in counts.items():
                    if scope.startswith("registry:") and metric.startswith("invoice:"):
                        key = metric.removeprefix("invoice:")
                        out[key] = out.get(key, 0) + n
                return {k: v for k, v in out.items() if v}

            # (label, main's query, this tree's query, this tree's answer in main's shape)
            pairs: list[
                tuple[str, Callable[[Any], Awaitable[Any]], Callable[[Any], Awaitable[Any]]]
            ] = [
                (
                    "not updated for 365 days (customers per kind)",
                    lambda s: _main_rows(s, MAIN_NOT_UPDATED, stale_cutoff),
                    lambda s: repository.not_updated_since(s, stale_cutoff),
                ),
                (
                    "no transaction for 365 days (customers per kind)",
                    lambda s: _main_rows(s, MAIN_NO_TRANSACTION, tx_cutoff.isoformat()),
                    lambda s: repository.no_transaction_since(s, tx_cutoff),
                ),
                (
                    "source records not written for 365 days, per system",
                    lambda s: _main_rows(s, MAIN_SOURCES_NOT_UPDATED, stale_cutoff),
                    lambda s: repository.sources_not_updated_since(s, stale_cutoff),
                ),
                (
                    "T-numbers by インボイス status (after: inside the counts)",
                    lambda s: _main_rows(s, MAIN_INVOICE),
                    lambda s: _then(repository.counts(s), invoice_from_counts),
                ),
            ]
            for label, main_query, query in pairs:
                times: dict[str, list[float]] = {"main": [], "branch": []}
                answers: dict[str, Any] = {}
                for _ in range(repeat):
                    for side, fn in (("main", main_query), ("branch", query)):
                        async with sessionmaker() as session:
                            started = time.perf_counter()
                            answers[side] = await fn(session)
                            times[side].append(time.perf_counter() - started)
                same = answers["main"] == answers["branch"]
                print(
                    f"{label}: main median {statistics.median(times['main']) * 1000:.1f} ms "
                    f"(slowest {max(times['main']) * 1000:.1f}), after "
                    f"{statistics.median(times['branch']) * 1000:.1f} ms "
                    f"(slowest {max(times['branch']) * 1000:.1f}); figures "
                    f"{'identical' if same else 'DIFFER'}: {answers['main']}"
                    + ("" if same else f" vs {answers['branch']}")
                )
                assert same, label

            queries: dict[str, Callable[[Any], Awaitable[Any]]] = {
                "counts (status, completeness, error rate, merged away, 法人番号 coverage and "
                "T-numbers per kind and source system, closed still active)": repository.counts,
                "daily counts (merges per 1,000 writes, writes per day)": lambda s: (
                    repository.daily_counts(s, today - dt.timedelta(days=29))
                ),
                "candidates waiting": repository.candidates_waiting,
                "source records with no transaction for 365 days, per system (day counts)": (
                    lambda s: repository.sources_no_transaction_since(
                        s, today - dt.timedelta(days=365)
                    )
                ),
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

            branch_functions = {
                name: getattr(repository, name)
                for name in (
                    "not_updated_since",
                    "no_transaction_since",
                    "sources_not_updated_since",
                    "counts",
                )
            }

            async def main_counts(s: Any) -> dict[tuple[str, str], int]:
                counted = await branch_functions["counts"](s)
                await _main_rows(s, MAIN_INVOICE)  # main's compute ran the join beside them
                return counted

            main_functions = {
                "not_updated_since": lambda s, c: _main_rows(s, MAIN_NOT_UPDATED, c),
                "no_transaction_since": lambda s, c: _main_rows(
                    s, MAIN_NO_TRANSACTION, c.isoformat()
                ),
                "sources_not_updated_since": lambda s, c: _main_rows(
                    s, MAIN_SOURCES_NOT_UPDATED, c
                ),
                "counts": main_counts,
            }
            whole: dict[str, list[float]] = {"main": [], "branch": []}
            documents: dict[str, Any] = {}
            for _ in range(repeat):
                for side, functions in (("main", main_functions), ("branch", branch_functions)):
                    for name, fn in functions.items():
                        setattr(repository, name, fn)
                    started = time.perf_counter()
                    response = await client.get("/v1/quality/kpis")
                    whole[side].append(time.perf_counter() - started)
                    assert response.status_code == 200, response.text
                    documents[side] = response.json()
            for side in ("main", "branch"):
                print(
                    f"GET /v1/quality/kpis with {'main' if side == 'main' else 'this tree'}'s "
                    f"queries (alternating): median {statistics.median(whole[side]) * 1000:.1f} "
                    f"ms, slowest {max(whole[side]) * 1000:.1f} ms, all "
                    + ", ".join(f"{t * 1000:.0f}" for t in whole[side])
                )
            for key in ("freshness", "freshness_by_system"):
                assert documents["main"][key] == documents["branch"][key], key
            print("  freshness figures identical with main's queries and this tree's")

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
            print(f"  invoice registration by kind {kpis['invoice_registration_by_kind']}")
            print(f"  invoice registration by system {kpis['invoice_registration_by_system']}")

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
                {"invoice_status": "not_confirmed"},
                {"invoice_status": "revoked", "kind": "corporation"},
                {"source_system": "crm"},
                {"source_system": "sfa", "missing": "phone"},
                {"source_system": "billing", "invoice_status": "not_registered"},
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
