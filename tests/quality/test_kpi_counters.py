"""The trigger-kept counts of migration 0016 against a recount of the tables, after writes,
updates, merges, deletes and registry link and proposal changes: 法人番号 coverage per kind and
per source system, closed companies still active, and customers with no transaction for N days
per source system."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from tests.conftest import _asyncpg_dsn
from tests.helpers import PERSON, corporation, other_corporation

STATE = """
    CASE WHEN l.customer_id IS NOT NULL AND l.withdrawn THEN 'withdrawn'
         WHEN l.customer_id IS NOT NULL THEN 'confirmed'
         WHEN EXISTS (SELECT 1 FROM registry_proposals AS p
                      WHERE p.customer_id = c.id AND p.status = 'pending') THEN 'suggested'
         ELSE 'unknown' END
"""
RECOUNT_BY_KIND = f"""
SELECT c.kind, {STATE} AS state, count(*) AS n,
       count(*) FILTER (WHERE l.closed_on IS NOT NULL) AS closed
FROM customers AS c LEFT JOIN registry_links AS l ON l.customer_id = c.id
WHERE c.status = 'active' GROUP BY 1, 2
"""
RECOUNT_BY_SYSTEM = f"""
SELECT r.system, c.kind, {STATE} AS state, count(*) AS n,
       count(*) FILTER (WHERE l.closed_on IS NOT NULL) AS closed
FROM source_records AS r JOIN customers AS c ON c.id = r.customer_id
LEFT JOIN registry_links AS l ON l.customer_id = c.id
WHERE c.status = 'active' AND r.system <> '_steward' GROUP BY 1, 2, 3
"""
RECOUNT_NO_TRANSACTION = """
SELECT system, count(*) FILTER (
           WHERE normalized #>> '{transactions,last_transaction_on}' < $1) AS old,
       count(*) FILTER (
           WHERE normalized #>> '{transactions,last_transaction_on}' IS NULL) AS undated
FROM source_records WHERE system <> '_steward' GROUP BY system
"""
STATES = ("confirmed", "suggested", "withdrawn", "unknown")


async def _check(client: httpx.AsyncClient, database_url: str) -> dict[str, Any]:
    """The KPIs equal the recount; returns them."""
    answer = await client.get("/v1/quality/kpis")
    assert answer.status_code == 200, answer.text
    kpis: dict[str, Any] = answer.json()
    days = kpis["parameters"]["no_transaction_days"]
    cutoff = (dt.datetime.now(ZoneInfo("Asia/Tokyo")).date() - dt.timedelta(days=days)).isoformat()
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        by_kind = await conn.fetch(RECOUNT_BY_KIND)
        by_system = await conn.fetch(RECOUNT_BY_SYSTEM)
        transactions = await conn.fetch(RECOUNT_NO_TRANSACTION, cutoff)
    finally:
        await conn.close()

    expected: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATES, 0))
    closed: dict[str, int] = defaultdict(int)
    for r in by_kind:
        expected[r["kind"]][r["state"]] = r["n"]
        closed[r["kind"]] += r["closed"]
    for kind in ("corporation", "person"):
        got = kpis["enrichment_by_kind"][kind]
        assert {s: got[s] for s in STATES} == expected[kind], kind
        assert got["closed_still_active"] == closed[kind]
        assert got["customers"] == sum(expected[kind].values())
    top = kpis["enrichment"]
    assert {s: top[s] for s in STATES} == expected["corporation"]
    assert top["closed_still_active"] == closed["corporation"]

    per_system: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(STATES, 0)
    )
    closed_per_system: dict[tuple[str, str], int] = defaultdict(int)
    for r in by_system:
        per_system[(r["system"], r["kind"])][r["state"]] = r["n"]
        closed_per_system[(r["system"], r["kind"])] += r["closed"]
    got_systems = kpis["enrichment_by_system"]
    for (system, kind), states in per_system.items():
        got = got_systems[system][kind]
        assert {s: got[s] for s in STATES} == states, (system, kind)
        assert got["closed_still_active"] == closed_per_system[(system, kind)]
    for system, kinds in got_systems.items():
        for kind, got in kinds.items():
            if kind != "all":
                want = per_system.get((system, kind), dict.fromkeys(STATES, 0))
                assert {s: got[s] for s in STATES} == want, (system, kind)
        every = {s: sum(g[s] for k, g in kinds.items() if k != "all") for s in STATES}
        assert {s: kinds["all"][s] for s in STATES} == every

    for r in transactions:
        freshness = kpis["freshness_by_system"][r["system"]]
        assert freshness["no_transaction"] == r["old"], r["system"]
        assert freshness["no_transaction_date"] == r["undated"], r["system"]
    return kpis


async def _put(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> str:
    answer = await client.put(f"/v1/sources/{path}", json=body)
    assert answer.status_code in (200, 201), answer.text
    customer_id: str = answer.json()["customer"]["id"]
    return customer_id


async def test_registry_and_transaction_counts_follow_every_change(
    client: httpx.AsyncClient, database_url: str
) -> None:
    old = {"last_transaction_on": "2019-03-31"}
    a = await _put(client, "crm/records/A", corporation(transactions=old))
    # The same company from web: merged at write, A has two source records.
    assert await _put(client, "web/records/A", corporation()) == a
    b = await _put(client, "crm/records/B", other_corporation(2, transactions=old))
    c = await _put(client, "web/records/C", other_corporation(3))
    d = await _put(client, "web/records/D", other_corporation(4))
    person = await _put(client, "crm/records/P", {**PERSON, "transactions": old})
    kpis = await _check(client, database_url)
    assert kpis["enrichment"]["unknown"] == 4
    assert kpis["freshness_by_system"]["crm"]["no_transaction"] == 3
    assert kpis["freshness_by_system"]["web"]["no_transaction"] == 0

    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        # Links (one closed), proposals (two for C, one rejected for D) in single statements.
        await conn.execute(
            "INSERT INTO registry_links (customer_id, corporate_number, linked_by, closed_on) "
            "VALUES ($1, '1234567890123', 'corporate_number', DATE '2026-11-27'), "
            "($2, '2234567890123', 'match', NULL)",
            a,
            b,
        )
        await conn.execute(
            "INSERT INTO registry_proposals (customer_id, corporate_number, probability, "
            "explanation, status) VALUES ($1, '3000000000001', 0.7, '{}', 'pending'), "
            "($1, '3000000000002', 0.6, '{}', 'pending'), "
            "($2, '3000000000003', 0.6, '{}', 'rejected')",
            c,
            d,
        )
        kpis = await _check(client, database_url)
        assert (kpis["enrichment"]["confirmed"], kpis["enrichment"]["suggested"]) == (2, 1)
        assert kpis["enrichment"]["closed_still_active"] == 1
        assert kpis["enrichment_by_system"]["web"]["corporation"]["confirmed"] == 1

        # The registry withdraws B's number; one of C's proposals is rejected (one still
        # pending), D's rejected one is pending again; A's link is removed.
        await conn.execute("UPDATE registry_links SET withdrawn = true WHERE customer_id = $1", b)
        await conn.execute(
            "UPDATE registry_proposals SET status = 'rejected' "
            "WHERE corporate_number = '3000000000001'"
        )
        await conn.execute(
            "UPDATE registry_proposals SET status = 'pending' WHERE customer_id = $1", d
        )
        kpis = await _check(client, database_url)
        assert (kpis["enrichment"]["withdrawn"], kpis["enrichment"]["suggested"]) == (1, 2)
        # The registry's update of every link's dates changes no fact.
        await conn.execute("UPDATE registry_links SET applied_update_date = DATE '2026-11-30'")
        assert (await _check(client, database_url))["enrichment"] == kpis["enrichment"]
        await conn.execute("DELETE FROM registry_links WHERE customer_id = $1", a)
        await conn.execute("DELETE FROM registry_proposals WHERE customer_id = $1", d)
        kpis = await _check(client, database_url)
        assert kpis["enrichment"]["closed_still_active"] == 0

        # A steward merges C (suggested, from web) into B (withdrawn, from crm): C's web record
        # now counts with B's state; then B is deleted.
        merged = await client.post(f"/v1/customers/{b}/merge", json={"customer_ids": [c]})
        assert merged.status_code == 200, merged.text
        kpis = await _check(client, database_url)
        assert kpis["enrichment_by_system"]["web"]["corporation"]["withdrawn"] == 1
        assert kpis["enrichment"]["suggested"] == 0
        assert (await client.delete(f"/v1/customers/{b}")).status_code == 204
        kpis = await _check(client, database_url)
        assert kpis["enrichment"]["withdrawn"] == 0

        # A new transaction at the source takes the record out of the stale ones; a source
        # record removed outright counts out too (B, deleted, keeps its stale one).
        recent = {"last_transaction_on": dt.date.today().isoformat()}
        await _put(client, "crm/records/A", corporation(transactions=recent))
        await conn.execute("DELETE FROM source_records WHERE customer_id = $1", uuid.UUID(person))
        kpis = await _check(client, database_url)
        assert kpis["freshness_by_system"]["crm"]["no_transaction"] == 1  # B (deleted)
    finally:
        await conn.close()

    # Folding the deltas into the counts changes nothing.
    assert (await client.post("/v1/quality/kpis/snapshots")).status_code == 200
    after = await _check(client, database_url)
    assert after["enrichment_by_system"] == kpis["enrichment_by_system"]
    assert after["enrichment_by_kind"] == kpis["enrichment_by_kind"]

    history = (await client.get("/v1/quality/kpis/history")).json()["items"]
    assert history[-1]["kpis"]["enrichment_by_system"] == after["enrichment_by_system"]
    assert history[-1]["kpis"]["freshness_by_system"]["crm"]["no_transaction"] == 1
    metrics = (await client.get("/metrics")).text
    assert 'mdm_quality_enrichment_by_kind_customers{kind="corporation",state="unknown"}' in (
        metrics
    )
    assert 'mdm_quality_source_records_no_transaction{system="crm"} 1.0' in metrics
    assert (
        'mdm_quality_enrichment_source_records{kind="all",state="confirmed",system="web"} 0.0'
        in metrics
    )
