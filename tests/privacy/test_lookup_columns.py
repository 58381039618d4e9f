"""customers.phones/emails hold blind indexes (keyed hashes); the lookups hash the same way."""

from __future__ import annotations

import asyncpg
import httpx

from tests.conftest import _asyncpg_dsn
from tests.helpers import PERSON


async def test_lookup_columns_hold_keyed_hashes_and_lookups_still_find(
    client: httpx.AsyncClient, database_url: str
) -> None:
    created = await client.put("/v1/sources/crm/records/p1", json=PERSON)
    assert created.status_code == 201, created.text
    customer = created.json()["customer"]

    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        row = await conn.fetchrow(
            "SELECT phones, emails FROM customers WHERE id = $1::uuid", customer["id"]
        )
    finally:
        await conn.close()
    assert row is not None
    stored = [*row["phones"], *row["emails"]]
    assert len(row["phones"]) == 1 and len(row["emails"]) == 1
    assert all(v.startswith("h:") and len(v) == 2 + 64 for v in stored)
    for clear in ("+819012345678", "09012345678", "1234-5678", "taro.yamada", "example.jp"):
        assert not any(clear in v for v in stored)

    for params in ({"phone": "090-1234-5678"}, {"phone": "+81 90 1234 5678"}):
        found = await client.get("/v1/customers", params=params)
        assert [c["id"] for c in found.json()["items"]] == [customer["id"]], params
    by_email = await client.get("/v1/customers", params={"email": "taro.yamada@example.jp"})
    assert [c["id"] for c in by_email.json()["items"]] == [customer["id"]]
    # The answer itself is unchanged: the record keeps the numbers and addresses.
    assert by_email.json()["items"][0]["phones"][0]["e164"] == "+819012345678"
    nobody = await client.get("/v1/customers", params={"phone": "090-8765-4321"})
    assert nobody.json()["items"] == []


async def test_blocking_keys_are_keyed_hashes_and_still_match(
    client: httpx.AsyncClient, database_url: str
) -> None:
    first = await client.put("/v1/sources/crm/records/p1", json=PERSON)
    assert first.status_code == 201, first.text
    # The same person from another system, written differently: found through the keys.
    again = {
        **PERSON,
        "person_name": {"family_name": "山田", "given_name": "太郎"},
        "phones": [{"number": "+81 90-1234-5678"}],
        "emails": [{"address": "Taro.Yamada@example.jp"}],
    }
    second = await client.put("/v1/sources/shop/records/u9", json=again)
    assert second.status_code in (200, 201), second.text
    assert second.json()["customer"]["id"] == first.json()["customer"]["id"]

    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        values = [r["value"] for r in await conn.fetch("SELECT value FROM match_keys")]
    finally:
        await conn.close()
    assert values and all(v.startswith("h:") for v in values)
    for clear in ("9012345678", "1980-05-05", "19800505", "taro.yamada", "山田"):
        assert not any(clear in v for v in values)
