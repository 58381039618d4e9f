"""Migration 0021's trigger-kept counts against a recount of the tables (the queries the KPIs
ran before): the freshness figures read from per-day counts (customers not updated / with no
transaction for N days, source records not written for N days) — across the cutoff's own day —
and the T-number (インボイス) status per kind and per source system, after writes, registry
changes, merges and deletes; and the customers behind each T-number and source-system figure
(GET /v1/customers?invoice_status=…&source_system=…)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from tests.conftest import _asyncpg_dsn
from tests.helpers import PERSON, corporation, listed_codes, other_corporation

STATUSES = ("not_registered", "expired", "revoked", "deleted")

RECOUNT_INVOICE = """
SELECT c.kind, COALESCE(i.status, 'not_registered') AS status, count(*) AS n
FROM customers AS c
LEFT JOIN invoice_registrations AS i ON i.registration_number = c.invoice_registration_number
WHERE c.status = 'active' AND c.invoice_registration_number IS NOT NULL
GROUP BY 1, 2
"""
RECOUNT_INVOICE_BY_SYSTEM = """
SELECT r.system, c.kind, COALESCE(i.status, 'not_registered') AS status, count(*) AS n
FROM source_records AS r JOIN customers AS c ON c.id = r.customer_id
LEFT JOIN invoice_registrations AS i ON i.registration_number = c.invoice_registration_number
WHERE c.status = 'active' AND c.invoice_registration_number IS NOT NULL
  AND r.system <> '_steward'
GROUP BY 1, 2, 3
"""
RECOUNT_FRESHNESS = """
SELECT kind, count(*) FILTER (WHERE updated_at < $1) AS stale,
       count(*) FILTER (WHERE last_transaction_on < $2) AS old
FROM customers WHERE status = 'active' GROUP BY kind
"""
RECOUNT_SOURCES = """
SELECT system, count(*) FILTER (WHERE updated_at < $1) AS stale
FROM source_records WHERE system <> '_steward' GROUP BY system
"""


def _figures(statuses: dict[str, int]) -> dict[str, Any]:
    with_number = sum(statuses.values())
    return {
        "with_number": with_number,
        "registered": statuses.get("registered", 0),
        "not_confirmed": with_number - statuses.get("registered", 0),
        "by_status": {s: statuses.get(s, 0) for s in STATUSES},
    }


def _strip(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in figures.items() if k != "not_confirmed_share"}


async def _check(client: httpx.AsyncClient, database_url: str) -> dict[str, Any]:
    """The KPIs equal the recount, and each T-number figure lists as many customers."""
    answer = await client.get("/v1/quality/kpis")
    assert answer.status_code == 200, answer.text
    kpis: dict[str, Any] = answer.json()
    parameters = kpis["parameters"]
    stale_cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=parameters["stale_days"])
    today = dt.datetime.now(ZoneInfo("Asia/Tokyo")).date()
    tx_cutoff = (today - dt.timedelta(days=parameters["no_transaction_days"])).isoformat()
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        by_kind = await conn.fetch(RECOUNT_INVOICE)
        by_system = await conn.fetch(RECOUNT_INVOICE_BY_SYSTEM)
        freshness = await conn.fetch(RECOUNT_FRESHNESS, stale_cutoff, tx_cutoff)
        sources = await conn.fetch(RECOUNT_SOURCES, stale_cutoff)
    finally:
        await conn.close()

    kinds: dict[str, dict[str, int]] = defaultdict(dict)
    for r in by_kind:
        kinds[r["kind"]][r["status"]] = r["n"]
    every: dict[str, int] = defaultdict(int)
    for statuses in kinds.values():
        for status, n in statuses.items():
            every[status] += n
    assert _strip(kpis["invoice_registration"]) == _figures(every)
    for kind in ("corporation", "person"):
        got = kpis["invoice_registration_by_kind"][kind]
        assert _strip(got) == _figures(kinds.get(kind, {})), kind
        kind_param = {"kind": kind}
        assert (
            len(await listed_codes(client, invoice_status="not_confirmed", **kind_param))
            == (got["not_confirmed"])
        )
        assert (
            len(await listed_codes(client, invoice_status="registered", **kind_param))
            == (got["registered"])
        )
        for status in STATUSES:
            listed = await listed_codes(client, invoice_status=status, **kind_param)
            assert len(listed) == got["by_status"][status], (kind, status)

    systems: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for r in by_system:
        systems[(r["system"], r["kind"])][r["status"]] = r["n"]
    got_systems = kpis["invoice_registration_by_system"]
    for (system, kind), statuses in systems.items():
        assert _strip(got_systems[system][kind]) == _figures(statuses), (system, kind)
    for system, by in got_systems.items():
        for kind, got in by.items():
            if kind != "all":
                assert _strip(got) == _figures(systems.get((system, kind), {})), (system, kind)
        total: dict[str, int] = defaultdict(int)
        for (s, _), statuses in systems.items():
            if s == system:
                for status, n in statuses.items():
                    total[status] += n
        assert _strip(by["all"]) == _figures(total), system

    for r in freshness:
        assert kpis["freshness"][r["kind"]]["not_updated"] == r["stale"], r["kind"]
        assert kpis["freshness"][r["kind"]]["no_transaction"] == r["old"], r["kind"]
    assert kpis["freshness"]["all"]["not_updated"] == sum(r["stale"] for r in freshness)
    for r in sources:
        assert kpis["freshness_by_system"][r["system"]]["not_updated"] == r["stale"], r["system"]
    return kpis


async def _put(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> str:
    answer = await client.put(f"/v1/sources/{path}", json=body)
    assert answer.status_code in (200, 201), answer.text
    code: str = answer.json()["customer"]["customer_code"]
    return code


async def test_invoice_and_freshness_counts_follow_every_change(
    client: httpx.AsyncClient, database_url: str
) -> None:
    a = await _put(
        client, "crm/records/A", corporation(invoice_registration_number="T7000012050002")
    )
    assert await _put(client, "web/records/A", corporation()) == a  # merged at write
    b = await _put(
        client, "crm/records/B", other_corporation(2, invoice_registration_number="T1000000000002")
    )
    c = await _put(
        client, "web/records/C", other_corporation(3, invoice_registration_number="T1000000000003")
    )
    person = await _put(client, "crm/records/P", PERSON)
    kpis = await _check(client, database_url)
    assert kpis["invoice_registration"]["by_status"]["not_registered"] == 3
    assert await listed_codes(client, source_system="web") == {a, c}
    assert await listed_codes(client, source_system="crm") == {a, b, person}
    assert await listed_codes(client, source_system="crm", invoice_status="not_confirmed") == {a, b}
    assert await listed_codes(client, source_system="erp") == set()

    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        # The registry publishes A (registered) and B (revoked) in one statement, then an
        # update that rewrites every row's date changes no status.
        await conn.execute(
            "INSERT INTO invoice_registrations (registration_number, corporate_number, "
            "sequence_number, process, status, update_date, import_id) VALUES "
            "('T7000012050002', '7000012050002', 1, '01', 'registered', DATE '2026-11-30', 0), "
            "('T1000000000002', NULL, 1, '04', 'revoked', DATE '2026-11-30', 0)"
        )
        kpis = await _check(client, database_url)
        assert kpis["invoice_registration"]["registered"] == 1
        assert kpis["invoice_registration_by_system"]["web"]["corporation"]["registered"] == 1
        assert await listed_codes(client, invoice_status="revoked") == {b}
        await conn.execute("UPDATE invoice_registrations SET update_date = DATE '2026-12-01'")
        assert (await _check(client, database_url))["invoice_registration"] == (
            kpis["invoice_registration"]
        )
        # B is registered again, A's row is deleted (not published).
        await conn.execute(
            "UPDATE invoice_registrations SET status = 'registered' "
            "WHERE registration_number = 'T1000000000002'"
        )
        await conn.execute(
            "DELETE FROM invoice_registrations WHERE registration_number = 'T7000012050002'"
        )
        kpis = await _check(client, database_url)
        assert await listed_codes(client, invoice_status="registered") == {b}

        # C's source changes its T-number to B's (registered); a steward merges C into B.
        await _put(
            client,
            "web/records/C",
            other_corporation(3, invoice_registration_number="T1000000000002"),
        )
        kpis = await _check(client, database_url)
        assert kpis["invoice_registration"]["registered"] == 2
        b_id = (await client.get("/v1/customers", params={"customer_code": b})).json()["items"]
        c_id = (await client.get("/v1/customers", params={"customer_code": c})).json()["items"]
        merged = await client.post(
            f"/v1/customers/{b_id[0]['id']}/merge", json={"customer_ids": [c_id[0]["id"]]}
        )
        assert merged.status_code == 200, merged.text
        kpis = await _check(client, database_url)
        assert kpis["invoice_registration_by_system"]["web"]["corporation"]["registered"] == 1
        assert await listed_codes(client, source_system="web", invoice_status="registered") == {b}

        # Freshness across the cutoff's own day: customers and source records an hour either
        # side of now − N days count on the right side of it.
        days = kpis["parameters"]["stale_days"]
        await conn.execute(
            "UPDATE customers SET updated_at = now() - make_interval(days => $2) "
            "- interval '1 hour' WHERE customer_code = $1",
            a,
            days,
        )
        await conn.execute(
            "UPDATE customers SET updated_at = now() - make_interval(days => $2) "
            "+ interval '1 hour' WHERE customer_code = $1",
            person,
            days,
        )
        await conn.execute(
            "UPDATE source_records SET updated_at = now() - make_interval(days => $1) "
            "- make_interval(hours => CAST(id % 2 AS int) * 2 - 1)",
            days,
        )
        kpis = await _check(client, database_url)
        assert kpis["freshness"]["all"]["not_updated"] == 1
        assert await listed_codes(client, not_updated_days=days) == {a}
        # Old transactions, a person's included; then the customer is deleted.
        old = {"last_transaction_on": "2019-03-31"}
        await _put(client, "crm/records/P", {**PERSON, "transactions": old})
        kpis = await _check(client, database_url)
        assert kpis["freshness"]["person"]["no_transaction"] == 1
        p_id = (await client.get("/v1/customers", params={"customer_code": person})).json()
        assert (await client.delete(f"/v1/customers/{p_id['items'][0]['id']}")).status_code == 204
        kpis = await _check(client, database_url)
        assert kpis["freshness"]["person"]["no_transaction"] == 0
    finally:
        await conn.close()

    # Folding the deltas changes nothing; the history and the gauges carry the new figures.
    assert (await client.post("/v1/quality/kpis/snapshots")).status_code == 200
    after = await _check(client, database_url)
    assert after["invoice_registration_by_system"] == kpis["invoice_registration_by_system"]
    assert after["freshness"] == kpis["freshness"]
    history = (await client.get("/v1/quality/kpis/history")).json()["items"]
    assert (
        history[-1]["kpis"]["invoice_registration_by_kind"]
        == (after["invoice_registration_by_kind"])
    )
    metrics = (await client.get("/metrics")).text
    assert (
        'mdm_quality_invoice_numbers_source_records{kind="corporation",status="registered",'
        'system="web"} 1.0' in metrics
    )
    assert (
        'mdm_quality_invoice_numbers_by_kind_customers{kind="corporation",status="registered"}'
        " 1.0" in metrics
    )


async def test_bad_invoice_status_is_named(client: httpx.AsyncClient) -> None:
    for params, field in (
        ({"invoice_status": "maybe"}, "invoice_status"),
        ({"source_system": ""}, "source_system"),
        ({"source_system": "x" * 101}, "source_system"),
    ):
        answer = await client.get("/v1/customers", params=params)
        assert answer.status_code == 422, params
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert field in {e["field"] for e in answer.json()["errors"]}, answer.json()
