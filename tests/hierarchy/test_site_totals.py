"""Each corporation's site totals (customer_site_totals, migration 0027) against their
recomputation from the links, after every operation that moves, dates, values, ends or merges a
site link; the roll-ups that read them against the recursive walk they replaced; the backfill
of a hub that already has sites."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from mdm_hub.hierarchy.schemas import ChildOut, HierarchyOut, SiteOut
from mdm_hub.migrate import upgrade
from tests.conftest import _asyncpg_dsn, _recreate_database
from tests.hierarchy.test_group_paths import CTE_ROLLUP, SITE_TOTALS, SITE_TOTALS_RECOMPUTED, _check
from tests.hierarchy.test_hierarchy_api import company, parent, put

TODAY = dt.date.today()
PERSON = {
    "kind": "person",
    "person_name": {"family_name": "鈴木", "given_name": "花子"},
    "birth_date": "1971-03-14",
    "transactions": {"annual_amount": 70},
}


def shop(i: int, amount: int) -> dict[str, Any]:
    return company(600 + i, amount, relations={"site_type": "branch"})


async def totals(conn: asyncpg.Connection, *, folded: bool = True) -> list[tuple[Any, ...]]:
    """The totals (with the deltas) equal their recomputation; with ``folded``, every delta is
    folded in and no totals row outlives its last link."""
    stored = [tuple(r) for r in await conn.fetch(SITE_TOTALS)]
    assert stored == [tuple(r) for r in await conn.fetch(SITE_TOTALS_RECOMPUTED)]
    if folded:
        assert await conn.fetchval("SELECT count(*) FROM customer_site_total_deltas") == 0
        assert await conn.fetchval("SELECT count(*) FROM customer_site_totals WHERE links = 0") == 0
    return stored


async def link_site(
    client: httpx.AsyncClient,
    child: str,
    corporation: str,
    valid_from: dt.date | None = None,
    valid_to: dt.date | None = None,
) -> None:
    answer = await client.put(
        f"/v1/customers/{child}/relations/corporation",
        json={
            "corporation": {"customer_id": corporation},
            "valid_from": valid_from.isoformat() if valid_from else None,
            "valid_to": valid_to.isoformat() if valid_to else None,
        },
    )
    assert answer.status_code == 200, answer.text


async def rollups_agree(
    client: httpx.AsyncClient, conn: asyncpg.Connection, ids: list[str]
) -> None:
    for customer in ids:
        rollup = (await client.get(f"/v1/customers/{customer}/rollup")).json()
        old = await conn.fetchrow(CTE_ROLLUP, customer)
        assert old is not None
        assert rollup["direct"] == {
            "sites": old["direct_sites"],
            "annual_amount": str(old["own"] + old["direct_amount"]),
        }, customer
        assert rollup["group"] == {
            "companies": old["companies"],
            "sites": old["sites"],
            "annual_amount": str(old["company_amount"] + old["site_amount"]),
        }, customer


async def test_site_totals_follow_every_change_of_a_site_link(
    client: httpx.AsyncClient, database_url: str, app: FastAPI
) -> None:
    top, mid, low, other = [
        await put(client, f"k{i}", company(560 + i, 1000 * (i + 1))) for i in range(4)
    ]
    assert (await parent(client, mid, {"customer_id": top})).status_code == 200
    assert (await parent(client, low, {"customer_id": mid})).status_code == 200
    shops = [await put(client, f"s{i}", shop(i, 10 * (i + 1))) for i in range(7)]
    person = await put(client, "person", PERSON)
    companies = [top, mid, low, other]
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))

    async def check(merged: str | None = None) -> list[tuple[Any, ...]]:
        await rollups_agree(client, conn, [c for c in companies if c != merged])
        return await totals(conn)

    try:
        assert await check() == []
        # Links, some dated: in effect with an end, ended, not yet in effect.
        await link_site(client, shops[0], top)
        await link_site(client, shops[1], top)
        await link_site(client, shops[2], mid, None, TODAY + dt.timedelta(days=30))
        await link_site(client, shops[3], low, dt.date(2020, 4, 1), dt.date(2024, 3, 31))
        await link_site(client, shops[4], low, TODAY + dt.timedelta(days=100))
        await link_site(client, shops[5], low)
        await link_site(client, shops[6], other)
        await link_site(client, person, low)
        stored = await check()
        assert len(stored) == 6  # the two undated links of top, and of low, share a row
        group = (await client.get(f"/v1/customers/{top}/rollup")).json()["group"]
        assert group == {
            "companies": 3,
            "sites": 5,
            "annual_amount": str(6000 + 10 + 20 + 30 + 60 + 70),
        }

        # A site moves to another corporation, and another one's link gets other dates.
        await link_site(client, shops[0], low)
        await link_site(client, shops[5], low, dt.date(2019, 1, 1))
        await check()

        # The site's 取引金額 changes (its source record), then the site is deleted (inactive).
        await put(client, "s1", shop(1, 555))
        await check()
        assert (await client.get(f"/v1/customers/{top}/rollup")).json()["direct"] == {
            "sites": 1,
            "annual_amount": "1555",
        }
        assert (await client.delete(f"/v1/customers/{shops[1]}")).status_code == 204
        await check()
        assert (await client.get(f"/v1/customers/{top}/rollup")).json()["direct"]["sites"] == 0

        # The person linked as a site is erased: its status and 取引金額 leave the totals.
        erased = await client.post(f"/v1/customers/{person}/erase", json={"reason": "請求"})
        assert erased.status_code == 200, erased.text
        await check()

        # A site's link removed.
        removed = await client.delete(f"/v1/customers/{shops[6]}/relations/corporation")
        assert removed.status_code == 204
        assert not [r for r in await check() if str(r[0]) == other]

        # A corporation with sites merged into another: its sites follow the survivor; a site
        # merged into another site (the absorbed one's link goes); then both unmerged.
        merged = await client.post(f"/v1/customers/{other}/merge", json={"customer_ids": [low]})
        assert merged.status_code == 200, merged.text
        corporations = {str(r[0]) for r in await check(merged=low)}
        assert other in corporations and low not in corporations
        merged = await client.post(
            f"/v1/customers/{shops[2]}/merge", json={"customer_ids": [shops[4]]}
        )
        assert merged.status_code == 200, merged.text
        await check(merged=low)
        for survivor, source in ((shops[2], "s4"), (other, "k2")):
            unmerged = await client.post(
                f"/v1/customers/{survivor}/unmerge",
                json={"source_records": [{"system": "crm", "source_id": source}]},
            )
            assert unmerged.status_code == 200, unmerged.text
            await check(merged=low if source == "s4" else None)
        assert low in {str(r[0]) for r in await totals(conn)}

        # The group relinked (no site link changes) and the whole closure still agrees.
        assert (await parent(client, low, {"customer_id": top})).status_code == 200
        await check()
        assert await _check(client, conn, companies, app) >= 0
    finally:
        await conn.close()


async def test_the_migration_fills_the_totals_of_a_hub_with_sites(server_url: str) -> None:
    url = await _recreate_database(server_url, "mdm_hub_site_totals")
    await asyncio.to_thread(upgrade, url, "0025")
    corporations = [uuid.uuid4() for _ in range(3)]
    rows: list[tuple[uuid.UUID, str, dict[str, Any], str]] = []
    links = []
    for i, cid in enumerate(corporations):
        record = {"kind": "corporation", "transactions": {"annual_amount": 5}}
        rows.append((cid, f"T{i}", record, "active"))
        for s, (vf, vt, status) in enumerate(
            [
                (None, None, "active"),
                (None, None, "active"),
                (None, None, "deleted"),
                (dt.date(2020, 1, 1), None, "active"),
            ]
        ):
            sid = uuid.uuid4()
            record = {"kind": "corporation", "transactions": {"annual_amount": 100 * i + s}}
            rows.append((sid, f"T{i}-{s}", record, status))
            links.append((sid, cid, vf, vt))
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await conn.copy_records_to_table(
            "customers",
            records=[
                (cid, code, "corporation", status, 1, code, code, [], [], json.dumps(record), "{}")
                for cid, code, record, status in rows
            ],
            columns=[
                "id", "customer_code", "kind", "status", "version", "name", "name_key",
                "phones", "emails", "record", "lineage",
            ],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "customer_relations",
            records=[(c, p, "site", "site", vf, vt, "test") for c, p, vf, vt in links],
            columns=[
                "child_id", "parent_id", "axis", "relation_type", "valid_from", "valid_to",
                "set_by",
            ],
        )  # fmt: skip
        await asyncio.to_thread(upgrade, url)
        stored = await totals(conn)
        assert len(stored) == 6  # per corporation: the undated links, the dated one
        assert sorted(r[3:] for r in stored if r[0] == corporations[2]) == [
            (1, 1, Decimal(203)),
            (3, 2, Decimal(401)),
        ]
    finally:
        await conn.close()


async def test_the_tree_caps_sites_at_the_limit_and_keeps_the_schemas_order(
    client: httpx.AsyncClient,
) -> None:
    """The members and sites come as rows, one more than ``limit``: that one says
    ``truncated`` and is not shown; the answer's keys are HierarchyOut's, in its order."""
    corporation = await put(client, "k", company(580, 1))
    member = await put(client, "m", company(581, 1))
    assert (await parent(client, member, {"customer_id": corporation})).status_code == 200
    shops = [await put(client, f"s{i}", shop(20 + i, 1)) for i in range(3)]
    for s in shops:
        await link_site(client, s, corporation, dt.date(2020, 1, 1))
    codes = sorted(
        [(await client.get(f"/v1/customers/{s}")).json()["customer_code"] for s in shops]
    )
    url = f"/v1/customers/{corporation}/hierarchy"
    for limit, shown, truncated in ((1, 1, True), (2, 2, True), (3, 3, False)):
        answer = await client.get(f"{url}?limit={limit}")
        tree = answer.json()
        assert [s["customer_code"] for s in tree["sites"]] == codes[:shown]
        assert tree["truncated"] is truncated
        assert list(tree) == list(HierarchyOut.model_fields)
        assert list(tree["children"][0]) == list(ChildOut.model_fields)
        assert list(tree["sites"][0]) == list(SiteOut.model_fields)
        assert (
            tree["sites"][0]["valid_from"] == "2020-01-01" and tree["sites"][0]["valid_to"] is None
        )
        assert HierarchyOut.model_validate_json(answer.content).model_dump(mode="json") == tree
    missing = await client.get(f"/v1/customers/{uuid.uuid4()}/hierarchy")
    assert missing.status_code == 404


async def test_writers_of_one_corporations_sites_never_wait_for_each_other(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Two transactions change sites of the same corporation: the second does not wait for the
    first's totals row (it leaves its delta unfolded); readers count both; a later change folds
    everything in."""
    corporation = await put(client, "k", company(590, 1))
    shops = [await put(client, f"s{i}", shop(30 + i, 10)) for i in range(2)]
    for s in shops:
        await link_site(client, s, corporation)
    dsn = _asyncpg_dsn(database_url)
    first, second, reader = [await asyncpg.connect(dsn) for _ in range(3)]
    new_amount = (
        "UPDATE customers SET record = jsonb_set(record, '{transactions}',"
        " jsonb_build_object('annual_amount', $2::int)) WHERE id = $1"
    )
    try:
        transaction = first.transaction()
        await transaction.start()
        await first.execute(new_amount, uuid.UUID(shops[0]), 500)
        await second.execute("SET lock_timeout = '2s'")
        await second.execute(new_amount, uuid.UUID(shops[1]), 700)  # not waiting for first
        assert await reader.fetchval("SELECT count(*) FROM customer_site_total_deltas") == 1
        await transaction.commit()
        stored = await totals(reader, folded=False)
        assert [r[3:] for r in stored] == [(2, 2, Decimal(1200))]
        rollup = (await client.get(f"/v1/customers/{corporation}/rollup")).json()
        assert rollup["direct"] == {"sites": 2, "annual_amount": "1201"}
        await put(client, "s0", shop(30, 5))  # the next change folds every delta in
        assert [r[3:] for r in await totals(reader)] == [(2, 2, Decimal(705))]
    finally:
        for conn in (first, second, reader):
            await conn.close()
