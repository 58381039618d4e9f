"""PUT /v1/sources/{system}/records/{source_id}: create, idempotent replay, update."""

from __future__ import annotations

import asyncio

import httpx

from tests.helpers import PERSON, corporation


async def test_put_creates_customer_and_crosswalk(client: httpx.AsyncClient) -> None:
    response = await client.put("/v1/sources/crm/records/ACC-1", json=corporation())
    assert response.status_code == 201, response.text
    body = response.json()
    customer = body["customer"]
    assert customer["customer_code"] == "C00000001"
    assert customer["status"] == "active"
    assert customer["version"] == 1
    assert customer["corporate_number"] == "7000012050002"
    assert customer["phones"][0]["e164"] == "+81312345678"
    assert response.headers["etag"] == '"1"'
    assert body["decision"]["outcome"] == "new_customer"
    assert body["source_record"]["raw_payload"]["name"] == "株式会社ABC商事"

    crosswalk = await client.get(f"/v1/customers/{customer['id']}/sources")
    assert [(s["system"], s["source_id"]) for s in crosswalk.json()] == [("crm", "ACC-1")]
    source = await client.get("/v1/sources/crm/records/ACC-1")
    assert source.status_code == 200
    assert source.json()["customer_id"] == customer["id"]


async def test_same_body_twice_changes_nothing(client: httpx.AsyncClient) -> None:
    first = await client.put("/v1/sources/crm/records/ACC-1", json=corporation())
    audit_before = (await client.get("/v1/audit")).json()["items"]
    second = await client.put("/v1/sources/crm/records/ACC-1", json=corporation())
    assert second.status_code == 200
    assert second.json() == first.json()
    assert (await client.get("/v1/audit")).json()["items"] == audit_before


async def test_changed_body_updates_customer_and_audits(client: httpx.AsyncClient) -> None:
    first = (await client.put("/v1/sources/crm/records/ACC-1", json=corporation())).json()
    customer_id = first["customer"]["id"]
    changed = corporation(phones=[{"number": "03-9999-0000"}])
    response = await client.put("/v1/sources/crm/records/ACC-1", json=changed)
    assert response.status_code == 200
    customer = response.json()["customer"]
    assert customer["id"] == customer_id
    assert customer["version"] == 2
    assert [p["e164"] for p in customer["phones"]] == ["+81399990000"]

    audit = (await client.get("/v1/audit", params={"customer_id": customer_id})).json()["items"]
    actions = [entry["action"] for entry in audit]
    assert actions == [
        "source_record.created",
        "customer.created",
        "source_record.updated",
        "customer.updated",
    ]
    update = audit[-1]
    assert update["before"]["record"]["phones"][0]["e164"] == "+81312345678"
    assert update["after"]["record"]["phones"][0]["e164"] == "+81399990000"
    assert update["request_id"]


async def test_equivalent_spelling_does_not_bump_version(client: httpx.AsyncClient) -> None:
    await client.put("/v1/sources/crm/records/ACC-1", json=corporation())
    respelled = corporation(phones=[{"number": "0312345678"}])
    response = await client.put("/v1/sources/crm/records/ACC-1", json=respelled)
    assert response.status_code == 200
    assert response.json()["customer"]["version"] == 1
    assert response.json()["source_record"]["version"] == 2


async def test_person_record(client: httpx.AsyncClient) -> None:
    response = await client.put("/v1/sources/sfa/records/P-1", json=PERSON)
    assert response.status_code == 201, response.text
    customer = response.json()["customer"]
    assert customer["kind"] == "person"
    assert customer["person_name"]["family_name"] == "山田"
    assert customer["birth_date"] == "1980-05-05"


async def test_same_customer_from_two_sources_is_merged(client: httpx.AsyncClient) -> None:
    a = (await client.put("/v1/sources/crm/records/1", json=corporation())).json()
    b = (await client.put("/v1/sources/billing/records/1", json=corporation())).json()
    assert b["customer"]["customer_code"] == a["customer"]["customer_code"]
    assert b["decision"]["outcome"] == "merged"


async def test_ten_concurrent_puts_make_one_customer(client: httpx.AsyncClient) -> None:
    payload = corporation()
    responses = await asyncio.gather(
        *(client.put("/v1/sources/crm/records/RACE-1", json=payload) for _ in range(10))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 9 + [201]
    ids = {r.json()["customer"]["id"] for r in responses}
    assert len(ids) == 1
    listing = (await client.get("/v1/customers")).json()["items"]
    assert len(listing) == 1
    sources = (await client.get(f"/v1/customers/{ids.pop()}/sources")).json()
    assert len(sources) == 1
