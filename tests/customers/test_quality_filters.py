"""GET /v1/customers with the quality filters: the customers behind each KPI figure (a field
missing, not updated, no transaction, a finding's rule, a 法人番号 coverage state), the same
count as the figure, each page read through a partial index, bad values named."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
from sqlalchemy.dialects import postgresql

from mdm_hub.customers.models import MISSING
from mdm_hub.customers.repository import CustomerFilters, customer_query
from tests.conftest import _asyncpg_dsn
from tests.helpers import PERSON, corporation, listed_codes, other_corporation


async def _put(client: httpx.AsyncClient, source_id: str, body: dict[str, Any]) -> str:
    answer = await client.put(f"/v1/sources/crm/records/{source_id}", json=body)
    assert answer.status_code in (200, 201), answer.text
    code: str = answer.json()["customer"]["customer_code"]
    return code


async def test_the_customers_behind_each_figure(
    client: httpx.AsyncClient, database_url: str
) -> None:
    full = await _put(
        client, "Q-1", corporation(transactions={"last_transaction_on": "2026-01-05"})
    )
    no_phone = await _put(client, "Q-2", other_corporation(2, phones=[]))
    old_tx = await _put(
        client, "Q-3", other_corporation(3, transactions={"last_transaction_on": "2019-03-31"})
    )
    bad_phone = {**PERSON, "phones": [{"number": "090-0000-0000", "purpose": "mobile"}]}
    person = await _put(client, "Q-4", bad_phone)
    stale = await _put(client, "Q-5", other_corporation(5))
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        await conn.execute(
            "UPDATE customers SET updated_at = now() - interval '400 days' "
            "WHERE customer_code = $1",
            stale,
        )
        await conn.execute(
            "INSERT INTO registry_links (customer_id, corporate_number, linked_by) "
            "SELECT id, corporate_number, 'corporate_number' FROM customers "
            "WHERE customer_code = $1",
            full,
        )
        await conn.execute(
            "INSERT INTO registry_proposals (customer_id, corporate_number, probability, "
            "explanation, status) SELECT id, '3000000000001', 0.7, '{}', 'pending' "
            "FROM customers WHERE customer_code = $1",
            no_phone,
        )
    finally:
        await conn.close()
    corporations = {full, no_phone, old_tx, stale}

    assert await listed_codes(client, missing="phone") == {no_phone}
    assert await listed_codes(client, missing="corporate_number") == {
        no_phone,
        old_tx,
        person,
        stale,
    }
    assert await listed_codes(client, missing="corporate_number,phone") == {no_phone}
    assert await listed_codes(client, missing=["corporate_number", "birth_date"]) == {
        no_phone,
        old_tx,
        stale,
    }
    assert await listed_codes(client, missing="last_transaction_on", kind="corporation") == {
        no_phone,
        stale,
    }
    assert await listed_codes(client, kind="person") == {person}
    assert await listed_codes(client, not_updated_days=365) == {stale}
    assert await listed_codes(client, updated_before="2026-06-01T00:00:00+09:00") == {stale}
    assert await listed_codes(client, no_transaction_days=365) == {old_tx}
    assert await listed_codes(client, finding_rule="phone_number_not_valid") == {person}
    assert await listed_codes(client, registry_status="confirmed") == {full}
    assert await listed_codes(client, registry_status="suggested") == {no_phone}
    assert await listed_codes(client, registry_status="unknown", kind="corporation") == (
        corporations - {full, no_phone}
    )

    # Each figure of the KPIs and its list are the same customers.
    kpis = (await client.get("/v1/quality/kpis")).json()
    for kind in ("all", "corporation", "person"):
        active = kpis["freshness"][kind]["active"]
        for field in MISSING:
            filled = kpis["completeness"][kind][field]["filled"]
            params = {"missing": field} | ({} if kind == "all" else {"kind": kind})
            assert len(await listed_codes(client, **params)) == active - filled, (kind, field)
        stale_days = kpis["parameters"]["stale_days"]
        params = {"not_updated_days": stale_days} | ({} if kind == "all" else {"kind": kind})
        assert len(await listed_codes(client, **params)) == kpis["freshness"][kind]["not_updated"]
    for state in ("confirmed", "suggested", "withdrawn", "unknown"):
        listed = await listed_codes(client, registry_status=state, kind="corporation")
        assert len(listed) == kpis["enrichment"][state], state

    for params, field in (
        ({"missing": "phone,fax"}, "missing"),
        ({"kind": "robot"}, "kind"),
        ({"finding_rule": "no_such_rule"}, "finding_rule"),
        ({"registry_status": "maybe"}, "registry_status"),
        ({"not_updated_days": "-1"}, "not_updated_days"),
        ({"no_transaction_days": "many"}, "no_transaction_days"),
    ):
        answer = await client.get("/v1/customers", params=params)
        assert answer.status_code == 422, params
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert field in {e["field"] for e in answer.json()["errors"]}, answer.json()


async def test_each_missing_filter_reads_its_partial_index(database_url: str) -> None:
    """The search's SQL proves each index's predicate (a literal status, the same condition):
    with sequential scans off and the table's other indexes dropped (in a transaction rolled
    back; on a near-empty table the planner may otherwise prefer any index on status), the plan
    of a page reads ``ix_customers_missing_<field>``."""
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        await conn.execute("SET enable_seqscan = off")
        transaction = conn.transaction()
        await transaction.start()
        try:
            others = await conn.fetch(
                "SELECT ic.relname AS index, con.conname AS constraint_name FROM pg_index i "
                "JOIN pg_class ic ON ic.oid = i.indexrelid "
                "LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid "
                "AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x') "
                "WHERE i.indrelid = 'customers'::regclass "
                "AND ic.relname NOT LIKE 'ix_customers_missing_%'"
            )
            assert others, "the customers table has other indexes to set aside"
            for other in others:
                if other["constraint_name"]:
                    name = other["constraint_name"]
                    await conn.execute(
                        f'ALTER TABLE customers DROP CONSTRAINT IF EXISTS "{name}" CASCADE'
                    )
                else:
                    await conn.execute(f'DROP INDEX IF EXISTS "{other["index"]}"')
            for field in MISSING:
                query = customer_query(CustomerFilters(missing=(field,)))
                sql = query.order_by("customer_code").limit(26)
                compiled = sql.compile(
                    dialect=postgresql.dialect(),  # type: ignore[no-untyped-call]
                    compile_kwargs={"literal_binds": True},
                )
                plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {compiled}"))
                assert f"ix_customers_missing_{field}" in plan, plan
        finally:
            await transaction.rollback()
    finally:
        await conn.close()
