"""Each process keeps the custom field definitions and rank rules; a change made elsewhere (another
uvicorn worker, another pod, plain SQL) must still apply to the very next write and dry run."""

from __future__ import annotations

import asyncpg
import httpx

from mdm_hub.db import sqlalchemy_url
from tests.helpers import PERSON, corporation, errors_by_field


async def _as_another_process(database_url: str, sql: str) -> None:
    """A change committed outside this app (and its caches)."""
    conn = await asyncpg.connect(sqlalchemy_url(database_url).replace("+asyncpg", ""))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def test_definitions_changed_elsewhere_apply_to_the_next_write(
    client: httpx.AsyncClient, database_url: str
) -> None:
    member = corporation(custom_fields={"member_no": "M-1"})
    unknown = await client.put("/v1/sources/crm/records/1", json=member)  # configuration kept
    assert errors_by_field(unknown.json()) == {"/custom_fields/member_no": "unknown_custom_field"}
    assert (await client.post("/v1/match", json=member)).status_code == 422

    await _as_another_process(
        database_url,
        "INSERT INTO custom_field_definitions (key, label, type, required) "
        "VALUES ('member_no', '会員番号', 'string', true)",
    )
    assert (await client.post("/v1/match", json=member)).status_code == 200
    assert (await client.put("/v1/sources/crm/records/1", json=member)).status_code == 201
    missing = await client.put("/v1/sources/crm/records/2", json=PERSON)  # a new customer
    assert errors_by_field(missing.json()) == {"/custom_fields/member_no": "missing"}

    await _as_another_process(database_url, "DELETE FROM custom_field_definitions")
    assert (await client.post("/v1/match", json=member)).status_code == 422
    again = await client.put("/v1/sources/crm/records/3", json=member)
    assert errors_by_field(again.json()) == {"/custom_fields/member_no": "unknown_custom_field"}


async def test_rank_rules_changed_elsewhere_apply_to_the_next_write(
    client: httpx.AsyncClient, database_url: str
) -> None:
    rules = {"rules": [{"rank": "A", "min_amount": 1_000_000}]}
    assert (await client.put("/v1/rank-rules", json=rules)).status_code == 200
    first = await client.put("/v1/sources/crm/records/1", json=corporation())
    assert first.json()["customer"]["classification"]["rank"] == "A"

    await _as_another_process(database_url, "UPDATE rank_rules SET rank = 'B'")
    changed = corporation(classification={"industry": "小売業"})  # not a replay
    second = await client.put("/v1/sources/crm/records/1", json=changed)
    assert second.status_code == 200, second.text
    assert second.json()["customer"]["classification"]["rank"] == "B"
