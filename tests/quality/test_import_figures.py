"""The quality figures the triggers keep during bulk imports (import jobs in small batches, the
batch endpoint) equal those recounted from scratch from the tables: every trigger-kept scope
but the per-day write counts (``daily:``, counted by the day of each write), and the registry
state tables row by row (migration 0028 changed the INSERT path of their triggers)."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import httpx

from mdm_hub.imports.service import Runner
from tests.conftest import _asyncpg_dsn
from tests.helpers import PERSON, corporation, other_corporation
from tests.imports.files import rows, text_file


def _migration(number: str) -> ModuleType:
    folder = Path(__file__).resolve().parents[2] / "migrations" / "versions"
    path = next(folder.glob(f"{number}_*.py"))
    spec = importlib.util.spec_from_file_location(f"test_migration_{number}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STATES = """
    SELECT c.id, c.kind, c.status = 'active' AS active,
           CASE WHEN l.customer_id IS NOT NULL AND l.withdrawn THEN 'withdrawn'
                WHEN l.customer_id IS NOT NULL THEN 'confirmed'
                WHEN EXISTS (SELECT 1 FROM registry_proposals AS p
                             WHERE p.customer_id = c.id AND p.status = 'pending')
                    THEN 'suggested'
                ELSE 'unknown' END AS state,
           l.closed_on IS NOT NULL AS closed,
           CASE WHEN c.invoice_registration_number IS NOT NULL
                THEN COALESCE(i.status, 'not_registered') END AS invoice
    FROM customers AS c
    LEFT JOIN registry_links AS l ON l.customer_id = c.id
    LEFT JOIN invoice_registrations AS i ON i.registration_number = c.invoice_registration_number
"""


def _recount() -> str:
    days = _migration("0021")
    customer_days = days._CUSTOMER_DAYS.format(sign="1", rows="customers")
    source_days = days._SOURCE_DAYS.format(sign="1", rows="source_records")
    return f"""
    WITH states AS ({STATES}), facts AS (
        SELECT f.scope, f.metric FROM customers AS c CROSS JOIN LATERAL quality_customer_facts(
            c.kind, c.status, c.corporate_number, c.phones, c.emails, c.name_kana, c.record) f
        UNION ALL
        SELECT 'system:' || system, 'source_records' FROM source_records
        UNION ALL
        SELECT 'system:' || system, 'finding:' || rule
        FROM (SELECT DISTINCT source_record_id, system, rule FROM quality_findings) AS x
        UNION ALL
        SELECT 'system:' || system, 'findings'
        FROM (SELECT DISTINCT source_record_id, system FROM quality_findings) AS x
        UNION ALL
        SELECT f.scope, f.metric FROM source_records AS s
        CROSS JOIN LATERAL quality_source_facts(s.system, s.normalized, s.findings) AS f
        UNION ALL
        SELECT f.scope, f.metric FROM source_records AS s
        CROSS JOIN LATERAL quality_transaction_facts(s.system, s.normalized) AS f
        UNION ALL
        SELECT scope, metric FROM ({customer_days}) AS d
        UNION ALL
        SELECT scope, metric FROM ({source_days}) AS d
        UNION ALL
        SELECT 'registry:' || s.kind, f.metric FROM states AS s
        CROSS JOIN LATERAL quality_registry_facts(s.active, s.state, s.closed, s.invoice) AS f
        UNION ALL
        SELECT 'registry-source:' || r.system || ':' || s.kind, f.metric
        FROM source_records AS r JOIN states AS s ON s.id = r.customer_id
        CROSS JOIN LATERAL quality_registry_facts(s.active, s.state, s.closed, s.invoice) AS f
        WHERE r.system <> '_steward'
    )
    SELECT scope, metric, count(*) AS value FROM facts GROUP BY 1, 2
    """


KEPT = """
    SELECT scope, metric, sum(value) AS value FROM (
        SELECT scope, metric, value FROM quality_counts
        UNION ALL SELECT scope, metric, value FROM quality_count_deltas) AS f
    WHERE left(scope, 6) <> 'daily:'
    GROUP BY 1, 2 HAVING sum(value) <> 0
"""


async def _compare(database_url: str) -> dict[tuple[str, str], int]:
    """Asserts the kept figures and states equal the recount; returns the figures."""
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        kept = {(r["scope"], r["metric"]): r["value"] for r in await conn.fetch(KEPT)}
        recounted = {(r["scope"], r["metric"]): r["value"] for r in await conn.fetch(_recount())}
        states = await conn.fetch(
            "SELECT customer_id AS id, kind, active, state, closed, invoice "
            "FROM quality_registry_states ORDER BY 1"
        )
        expected_states = await conn.fetch(f"SELECT * FROM ({STATES}) AS s ORDER BY 1")
        source_states = await conn.fetch(
            "SELECT source_record_id, system, kind, active, state, closed, invoice "
            "FROM quality_registry_source_states ORDER BY 1"
        )
        expected_source_states = await conn.fetch(
            f"SELECT r.id, r.system, s.kind, s.active, s.state, s.closed, s.invoice "
            f"FROM source_records AS r JOIN ({STATES}) AS s ON s.id = r.customer_id "
            "WHERE r.system <> '_steward' ORDER BY 1"
        )
    finally:
        await conn.close()
    assert kept == recounted
    assert [tuple(r) for r in states] == [tuple(r) for r in expected_states]
    assert [tuple(r) for r in source_states] == [tuple(r) for r in expected_source_states]
    return kept


async def _import(client: httpx.AsyncClient, app: Any, path: Path, system: str) -> None:
    with path.open("rb") as f:
        answer = await client.post(
            "/v1/imports",
            files={"file": (path.name, f, "application/octet-stream")},
            data={"system": system},
        )
    assert answer.status_code == 202, answer.text
    # Batches of 7: many store statements, each firing the statement triggers.
    await Runner(app.state.sessionmaker, app.state.settings, batch_size=7).run_until_idle()
    job = (await client.get(f"/v1/imports/{answer.json()['id']}")).json()
    assert job["status"] == "done", job


async def test_figures_after_bulk_imports_equal_a_recount(
    client: httpx.AsyncClient, app: Any, database_url: str, tmp_path: Path
) -> None:
    data = rows(40)
    await _import(client, app, text_file(tmp_path / "crm.csv", "cp932", data), "crm")
    first = await _compare(database_url)
    # The same rows from another system: they join the customers the first import made.
    await _import(client, app, text_file(tmp_path / "billing.csv", "cp932", data), "billing")
    second = await _compare(database_url)
    assert first != second
    # The batch endpoint: corporations with a 法人番号 and a T-number, a person, and an item
    # that joins a customer of the imports (its phone and address), with one bad item.
    items = [
        {"source_id": "c1", "record": corporation(invoice_registration_number="T7000012050002")},
        {"source_id": "c2", "record": corporation(name="株式会社ABC商事 本社")},
        {"source_id": "p1", "record": PERSON},
        *({"source_id": f"o{i}", "record": other_corporation(i)} for i in range(5)),
        {"source_id": "bad", "record": {"kind": "corporation"}},
    ]
    answer = await client.post("/v1/sources/erp/records/batch", json={"items": items})
    assert answer.status_code == 200, answer.text
    statuses = Counter(item["status"] for item in answer.json()["items"])
    assert statuses[422] == 1 and statuses[201] == len(items) - 1, statuses
    third = await _compare(database_url)
    assert third[("registry:corporation", "invoice:not_registered")] >= 1
    assert third[("system:erp", "source_records")] == len(items) - 1
    assert third[("system:billing", "source_records")] == second[("system:crm", "source_records")]
