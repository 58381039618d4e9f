"""Quality KPIs through the API: the trigger-kept counts agree with a recount of the tables."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from tests.conftest import _asyncpg_dsn
from tests.helpers import PERSON, corporation, other_corporation

# The same figures counted the slow way, straight from the tables.
RECOUNT = """
SELECT
    count(*) FILTER (WHERE status = 'active') AS active,
    count(*) FILTER (WHERE status = 'merged') AS merged,
    count(*) FILTER (WHERE status = 'active' AND cardinality(phones) > 0) AS phone,
    count(*) FILTER (WHERE status = 'active' AND corporate_number IS NOT NULL) AS corporate,
    count(*) FILTER (WHERE status = 'active' AND jsonb_path_exists(
        record, '$.addresses[*].postal_code ? (@ != null)')) AS postal
FROM customers
"""


async def _kpis(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/v1/quality/kpis")
    assert response.status_code == 200, response.text
    return response.json()


async def _recount(database_url: str) -> asyncpg.Record:
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        return await conn.fetchrow(RECOUNT)
    finally:
        await conn.close()


def _check_against(kpis: dict[str, Any], recount: asyncpg.Record) -> None:
    assert kpis["customers"]["all"].get("active", 0) == recount["active"]
    assert kpis["customers"]["all"].get("merged", 0) == recount["merged"]
    completeness = kpis["completeness"]["all"]
    assert completeness["phone"]["filled"] == recount["phone"]
    assert completeness["corporate_number"]["filled"] == recount["corporate"]
    assert completeness["address_with_postal_code"]["filled"] == recount["postal"]


async def test_kpis_follow_writes_merges_and_deletes(
    client: httpx.AsyncClient, database_url: str
) -> None:
    empty = await _kpis(client)
    assert empty["customers"]["all"] == {}
    assert empty["error_rate"]["all"]["share"] is None

    a = (await client.put("/v1/sources/crm/records/K-1", json=corporation())).json()
    # The same company from billing: merged at write.
    await client.put("/v1/sources/billing/records/K-2", json=corporation())
    person = {**PERSON, "phones": [{"number": "090-0000-0000", "purpose": "mobile"}]}
    await client.put("/v1/sources/crm/records/K-3", json=person)
    b = (await client.put("/v1/sources/crm/records/K-4", json=other_corporation(4))).json()
    c = (await client.put("/v1/sources/web/records/K-5", json=other_corporation(5))).json()
    # A steward merges K-5's customer into K-4's; K-1 is deleted.
    merged = await client.post(
        f"/v1/customers/{b['customer']['id']}/merge", json={"customer_ids": [c["customer"]["id"]]}
    )
    assert merged.status_code == 200, merged.text
    deleted = await client.delete(f"/v1/customers/{a['customer']['id']}")
    assert deleted.status_code == 204

    kpis = await _kpis(client)
    _check_against(kpis, await _recount(database_url))
    assert kpis["customers"]["all"] == {"active": 2, "merged": 1, "deleted": 1}
    assert kpis["customers"]["person"] == {"active": 1}
    assert kpis["completeness"]["person"]["phone"] == {"filled": 1, "share": 1.0}
    assert kpis["completeness"]["person"]["corporate_number"] == {"filled": 0, "share": 0.0}

    error_rate = kpis["error_rate"]
    assert error_rate["by_system"]["crm"]["records"] == 3
    assert error_rate["by_system"]["crm"]["records_with_findings"] == 1
    assert error_rate["by_system"]["crm"]["by_rule"] == {
        "phone_number_not_valid": {"records": 1, "share": round(1 / 3, 6)}
    }
    assert error_rate["all"]["records"] == 5

    duplicates = kpis["duplicates"]
    assert duplicates["writes"] == 5
    assert duplicates["merges_at_write"] == 1
    assert duplicates["steward_merges"] == 1
    assert duplicates["merges_per_1000_writes"] == 400.0
    assert duplicates["merged_away"] == 1
    assert duplicates["by_system"]["billing"] == {
        "writes": 1,
        "merges_at_write": 1,
        "merges_per_1000_writes": 1000.0,
    }
    assert kpis["update_frequency"]["crm"]["writes"] == 3
    assert list(kpis["update_frequency"]["crm"]["by_day"].values()) == [3]

    # Fixing the flagged phone at the source takes the record out of the error rate.
    fixed = {**PERSON, "phones": [{"number": "090-1234-5678", "purpose": "mobile"}]}
    await client.put("/v1/sources/crm/records/K-3", json=fixed)
    kpis = await _kpis(client)
    assert kpis["error_rate"]["by_system"]["crm"]["records_with_findings"] == 0
    assert kpis["update_frequency"]["crm"]["writes"] == 4


async def test_freshness_counts_old_updates_and_old_transactions(
    client: httpx.AsyncClient, database_url: str
) -> None:
    old = other_corporation(1, transactions={"last_transaction_on": "2019-03-31"})
    recent = other_corporation(2, transactions={"last_transaction_on": "2099-01-01"})
    await client.put("/v1/sources/crm/records/F-1", json=old)
    await client.put("/v1/sources/crm/records/F-2", json=recent)
    await client.put("/v1/sources/crm/records/F-3", json=other_corporation(3))
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:  # one customer last changed two years ago
        await conn.execute(
            "UPDATE customers SET updated_at = now() - interval '730 days' "
            "WHERE record -> 'transactions' ->> 'last_transaction_on' = '2019-03-31'"
        )
    finally:
        await conn.close()
    freshness = (await _kpis(client))["freshness"]["corporation"]
    assert freshness["active"] == 3
    assert freshness["not_updated"] == 1
    assert freshness["no_transaction"] == 1
    assert freshness["no_transaction_date"] == 1


async def test_history_snapshots_and_gauges(
    client: httpx.AsyncClient, client_as: Any, database_url: str
) -> None:
    await client.put("/v1/sources/crm/records/S-1", json=corporation())
    assert (await client.get("/v1/quality/kpis/history")).json()["items"] == []
    async with client_as(roles=["viewer"]) as viewer:
        assert (await viewer.post("/v1/quality/kpis/snapshots")).status_code == 403
        assert (await viewer.get("/v1/quality/kpis")).status_code == 200
    taken = await client.post("/v1/quality/kpis/snapshots")
    assert taken.status_code == 200, taken.text
    # Folding the deltas into the counts changes no figure.
    kpis = await _kpis(client)
    assert kpis["customers"] == taken.json()["customers"]
    assert kpis["completeness"] == taken.json()["completeness"]
    _check_against(kpis, await _recount(database_url))

    history = (await client.get("/v1/quality/kpis/history")).json()["items"]
    assert len(history) == 1
    assert history[0]["day"] == kpis["day"]
    assert history[0]["kpis"]["customers"]["all"] == {"active": 1}
    again = await client.post("/v1/quality/kpis/snapshots")
    assert again.status_code == 200
    assert len((await client.get("/v1/quality/kpis/history")).json()["items"]) == 1
    bad = await client.get(
        "/v1/quality/kpis/history", params={"since": "2026-02-01", "until": "2026-01-01"}
    )
    assert bad.status_code == 422

    metrics = (await client.get("/metrics")).text
    assert 'mdm_quality_completeness_ratio{field="phone",kind="all"} 1.0' in metrics
    assert 'mdm_quality_writes_per_day{system="crm"}' in metrics


async def test_the_worker_takes_one_snapshot_a_day(
    client: httpx.AsyncClient, database_url: str
) -> None:
    from mdm_hub.db import create_engine
    from mdm_hub.events.dispatcher import Dispatcher
    from mdm_hub.housekeeping import PERIODIC_JOBS
    from mdm_hub.settings import Settings

    await client.put("/v1/sources/crm/records/W-1", json=corporation())
    settings = Settings(database_url=database_url)
    engine = create_engine(database_url, settings)
    try:
        dispatcher = Dispatcher(engine, settings, housekeeping=PERIODIC_JOBS)
        await dispatcher.prune()
        await dispatcher.prune()  # the second run of the day keeps the first snapshot
    finally:
        await engine.dispose()
    history = (await client.get("/v1/quality/kpis/history")).json()["items"]
    assert [h["kpis"]["customers"]["all"] for h in history] == [{"active": 1}]


SOURCE_RECOUNT = """
SELECT system, count(*) AS records,
       count(*) FILTER (WHERE normalized ->> 'corporate_number' IS NOT NULL) AS corporate,
       count(*) FILTER (WHERE jsonb_array_length(findings) > 0) AS flagged
FROM source_records WHERE system <> '_steward' GROUP BY system
"""


async def test_slices_per_kind_and_per_source_system(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await client.put("/v1/sources/crm/records/C-1", json=corporation())
    bad_phone = {**PERSON, "phones": [{"number": "090-0000-0000", "purpose": "mobile"}]}
    await client.put("/v1/sources/crm/records/C-2", json=bad_phone)
    await client.put("/v1/sources/web/records/W-1", json=other_corporation(1))
    await client.put("/v1/sources/web/records/W-2", json=other_corporation(2))

    kpis = await _kpis(client)
    by_kind = kpis["error_rate"]["by_kind"]
    assert (by_kind["person"]["records"], by_kind["person"]["records_with_findings"]) == (1, 1)
    assert by_kind["person"]["by_rule"]["phone_number_not_valid"]["share"] == 1.0
    assert (by_kind["corporation"]["records"], by_kind["corporation"]["share"]) == (3, 0.0)
    crm = kpis["error_rate"]["by_system"]["crm"]["by_kind"]
    assert crm["person"]["records_with_findings"] == 1
    assert crm["corporation"]["records_with_findings"] == 0

    completeness = kpis["completeness_by_system"]
    assert completeness["crm"]["all"]["records"] == 2
    assert completeness["crm"]["corporation"]["fields"]["corporate_number"] == {
        "filled": 1,
        "share": 1.0,
    }
    assert completeness["crm"]["person"]["fields"]["birth_date"]["filled"] == 1
    assert completeness["web"]["all"]["fields"]["corporate_number"]["filled"] == 0
    assert completeness["web"]["all"]["fields"]["phone"]["share"] == 1.0

    # An update counts the record's old facts out and its new ones in.
    await client.put("/v1/sources/crm/records/C-1", json=corporation(corporate_number=None))
    await client.put("/v1/sources/crm/records/C-2", json=PERSON)
    kpis = await _kpis(client)
    crm_all = kpis["completeness_by_system"]["crm"]["all"]
    assert crm_all["fields"]["corporate_number"]["filled"] == 0
    assert kpis["error_rate"]["by_kind"]["person"]["records_with_findings"] == 0

    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        await conn.execute(
            "UPDATE source_records SET updated_at = now() - interval '730 days' "
            "WHERE system = 'web' AND source_id = 'W-1'"
        )
        recount = {r["system"]: r for r in await conn.fetch(SOURCE_RECOUNT)}
    finally:
        await conn.close()
    kpis = await _kpis(client)
    web = kpis["freshness_by_system"]["web"]
    assert (web["records"], web["not_updated"], web["not_updated_share"]) == (2, 1, 0.5)
    assert kpis["freshness_by_system"]["crm"]["not_updated"] == 0
    for system, row in recount.items():
        sliced = kpis["completeness_by_system"][system]["all"]
        assert sliced["records"] == row["records"]
        assert sliced["fields"]["corporate_number"]["filled"] == row["corporate"]
        assert kpis["error_rate"]["by_system"][system]["records_with_findings"] == row["flagged"]

    # The daily history keeps the slices; the gauges show them.
    taken = (await client.post("/v1/quality/kpis/snapshots")).json()
    assert taken["completeness_by_system"] == kpis["completeness_by_system"]
    history = (await client.get("/v1/quality/kpis/history")).json()["items"]
    assert history[-1]["kpis"]["freshness_by_system"]["web"]["not_updated"] == 1
    metrics = (await client.get("/metrics")).text.splitlines()
    assert any(
        line.startswith("mdm_quality_source_completeness_ratio{")
        and 'system="web"' in line
        and 'kind="all"' in line
        and 'field="phone"' in line
        and line.endswith(" 1.0")
        for line in metrics
    )
    assert any(
        line.startswith("mdm_quality_source_records_not_updated{") and 'system="web"' in line
        for line in metrics
    )
