"""Reading, filtering, paging, steward edits (PATCH + If-Match) and soft delete."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx

from tests.helpers import PERSON, corporation, other_corporation


async def _create(client: httpx.AsyncClient, source_id: str, payload: dict) -> dict:
    response = await client.put(f"/v1/sources/crm/records/{source_id}", json=payload)
    assert response.status_code == 201, response.text
    return response.json()["customer"]


async def test_get_customer_with_etag_and_404(client: httpx.AsyncClient) -> None:
    created = await _create(client, "1", corporation())
    response = await client.get(f"/v1/customers/{created['id']}")
    assert response.status_code == 200
    assert response.headers["etag"] == '"1"'
    assert response.json()["lineage"]["/name"]["system"] == "crm"

    missing = await client.get("/v1/customers/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["type"] == "/problems/not-found"


async def test_list_filters(client: httpx.AsyncClient) -> None:
    abc = await _create(client, "1", corporation())
    other = await _create(
        client,
        "2",
        corporation(
            name="有限会社ヤマダ工務店",
            name_kana="ヤマダコウムテン",
            corporate_number=None,
            phones=[{"number": "06-6123-4567"}],
            emails=[{"address": "office@yamada.example.jp"}],
        ),
    )
    person = await _create(client, "3", PERSON)

    async def codes(**params: str) -> list[str]:
        response = await client.get("/v1/customers", params=params)
        assert response.status_code == 200, response.text
        return [c["customer_code"] for c in response.json()["items"]]

    assert await codes() == [abc["customer_code"], other["customer_code"], person["customer_code"]]
    assert await codes(customer_code=other["customer_code"]) == [other["customer_code"]]
    assert await codes(name_prefix="ABC") == [abc["customer_code"]]
    assert await codes(name_prefix="ヤマダ") == [other["customer_code"]]
    assert await codes(phone="+81 6 6123 4567") == [other["customer_code"]]
    assert await codes(phone="0661234567") == [other["customer_code"]]
    assert await codes(email="OFFICE@YAMADA.EXAMPLE.JP".lower()) == [other["customer_code"]]
    assert await codes(corporate_number="7000012050002") == [abc["customer_code"]]
    since = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    assert await codes(updated_since=since) == []

    bad = await client.get("/v1/customers", params={"phone": "12"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "phone"
    assert bad.json()["errors"][0]["location"] == "query"


async def test_pagination_is_stable_under_inserts(client: httpx.AsyncClient) -> None:
    for i in range(7):
        await _create(client, f"p{i}", other_corporation(i))
    seen: list[str] = []
    cursor = None
    inserted = 0
    while True:
        params = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/customers", params=params)).json()
        seen.extend(c["customer_code"] for c in page["items"])
        if inserted < 2:  # new customers arrive while a client pages through
            await _create(client, f"new{inserted}", other_corporation(100 + inserted))
            inserted += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "no customer twice"
    assert [f"C{i:08d}" for i in range(1, 8)] == seen[:7], "none of the first seven skipped"
    assert len(seen) == 9

    garbage = await client.get("/v1/customers", params={"cursor": "not-a-cursor"})
    assert garbage.status_code == 422
    assert garbage.json()["errors"][0]["code"] == "invalid_cursor"


async def test_patch_needs_if_match_and_rejects_stale(client: httpx.AsyncClient) -> None:
    created = await _create(client, "1", corporation())
    url = f"/v1/customers/{created['id']}"
    patch = {"classification": {"rank": "S"}}

    missing = await client.patch(url, json=patch)
    assert missing.status_code == 428
    assert missing.json()["type"] == "/problems/precondition-required"

    stale = await client.patch(url, json=patch, headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    assert stale.headers["etag"] == '"1"'

    ok = await client.patch(url, json=patch, headers={"If-Match": '"1"'})
    assert ok.status_code == 200, ok.text
    assert ok.headers["etag"] == '"2"'
    assert ok.json()["classification"]["rank"] == "S"
    assert ok.json()["classification"]["industry"] == "卸売業"
    assert ok.json()["lineage"]["/classification/rank"]["rule"] == "steward_override"

    again = await client.patch(url, json=patch, headers={"If-Match": '"1"'})
    assert again.status_code == 412


async def test_steward_edit_survives_later_source_updates(client: httpx.AsyncClient) -> None:
    created = await _create(client, "1", corporation())
    url = f"/v1/customers/{created['id']}"
    patched = await client.patch(
        url,
        json={"name": "株式会社エービーシー商事", "billing": {"payment_day": 10}},
        headers={"If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.text
    changed = corporation(name="株式会社ABC商事ホールディングス", billing={"payment_day": 20})
    await client.put("/v1/sources/crm/records/1", json=changed)
    customer = (await client.get(url)).json()
    assert customer["name"] == "株式会社エービーシー商事"
    assert customer["billing"]["payment_day"] == 10
    sources = (await client.get(f"{url}/sources")).json()
    assert {s["system"] for s in sources} == {"crm", "_steward"}


async def test_patch_rejects_bad_values_without_changing_anything(
    client: httpx.AsyncClient,
) -> None:
    created = await _create(client, "1", corporation())
    url = f"/v1/customers/{created['id']}"
    bad = await client.patch(
        url,
        json={"corporate_number": "12345", "phones": [{"number": "abc"}]},
        headers={"If-Match": '"1"'},
    )
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"/corporate_number", "/phones/0/number"} <= fields
    readonly = await client.patch(url, json={"status": "merged"}, headers={"If-Match": '"1"'})
    assert readonly.status_code == 422
    assert (await client.get(url)).json()["version"] == 1


async def test_concurrent_patches_one_wins(client: httpx.AsyncClient) -> None:
    created = await _create(client, "1", corporation())
    url = f"/v1/customers/{created['id']}"
    results = await asyncio.gather(
        *(
            client.patch(url, json={"classification": {"rank": r}}, headers={"If-Match": '"1"'})
            for r in ("A", "B", "C")
        )
    )
    assert sorted(r.status_code for r in results) == [200, 412, 412]


async def test_soft_delete(client: httpx.AsyncClient) -> None:
    created = await _create(client, "1", corporation())
    url = f"/v1/customers/{created['id']}"
    stale = await client.delete(url, headers={"If-Match": '"9"'})
    assert stale.status_code == 412
    assert (await client.delete(url)).status_code == 204
    assert (await client.delete(url)).status_code == 204
    customer = (await client.get(url)).json()
    assert customer["status"] == "deleted"
    assert customer["version"] == 2
    assert (await client.get("/v1/customers")).json()["items"] == []
    deleted = (await client.get("/v1/customers", params={"status": "deleted"})).json()["items"]
    assert [c["id"] for c in deleted] == [created["id"]]
    patch = await client.patch(url, json={"name": "x"}, headers={"If-Match": '"2"'})
    assert patch.status_code == 409
    actions = [
        e["action"]
        for e in (await client.get("/v1/audit", params={"customer_id": created["id"]})).json()[
            "items"
        ]
    ]
    assert actions.count("customer.deleted") == 1
