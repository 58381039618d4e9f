"""What the routers share (mdm_hub/web.py): a review queue's filter and the curating bundle."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx

from tests.helpers import other_corporation


async def _customer(client: httpx.AsyncClient, i: int) -> str:
    answer = await client.put(f"/v1/sources/crm/records/WEB-{i}", json=other_corporation(i))
    assert answer.status_code in (200, 201), answer.text
    customer_id: str = answer.json()["customer"]["id"]
    return customer_id


async def _refused(client: httpx.AsyncClient, path: str, **params: str) -> str:
    answer = await client.get(path, params=params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    (error,) = answer.json()["errors"]
    assert error["location"] == "query"
    field: str = error["field"]
    return field


async def test_each_queue_filters_on_its_own_statuses(client: httpx.AsyncClient) -> None:
    """One filter declaration, each listing with its queue's statuses: one queue's status is
    refused by the other, naming the parameter."""
    assert await _refused(client, "/v1/change-requests", status="superseded") == "status"
    assert await _refused(client, "/v1/hierarchy/site-proposals", status="withdrawn") == "status"
    assert await _refused(client, "/v1/change-requests", customer_id="nope") == "customer_id"
    for path, status in (
        ("/v1/change-requests", "withdrawn"),
        ("/v1/hierarchy/site-proposals", "superseded"),
    ):
        answer = await client.get(path, params={"status": status})
        assert answer.status_code == 200 and answer.json()["items"] == []


async def _held_edit(client: httpx.AsyncClient, customer_id: str) -> httpx.Response:
    current = await client.get(f"/v1/customers/{customer_id}")
    held = await client.patch(
        f"/v1/customers/{customer_id}",
        json={"classification": {"rank": "S"}},
        headers={"If-Match": current.headers["ETag"]},
    )
    assert held.status_code == 202, held.text
    return held


async def test_change_requests_listed_pending_first_and_by_customer(
    client: httpx.AsyncClient, client_as: Callable[..., httpx.AsyncClient]
) -> None:
    protected = {"fields": [{"pointer": "/classification"}]}
    assert (await client.put("/v1/protected-fields", json=protected)).status_code == 200
    waiting, rejected = await _customer(client, 1), await _customer(client, 2)
    await _held_edit(client, waiting)
    held = await _held_edit(client, rejected)
    async with client_as(roles=["administrator"], subject="second-pair-of-eyes") as other:
        decided = await other.post(
            f"/v1/change-requests/{held.json()['id']}/decision",
            json={"decision": "reject"},
            headers={"If-Match": held.headers["ETag"]},
        )
    assert decided.status_code == 200, decided.text

    async def listed(**params: str) -> list[str]:
        answer = await client.get("/v1/change-requests", params=params)
        assert answer.status_code == 200, answer.text
        return [item["customer_id"] for item in answer.json()["items"]]

    assert await listed() == [waiting]  # pending unless asked otherwise
    assert await listed(status="rejected") == [rejected]
    assert await listed(customer_id=waiting) == [waiting]
    assert await listed(customer_id=rejected) == []
    assert await listed(customer_id=rejected, status="rejected") == [rejected]
    assert await listed(status="approved") == []


async def test_a_curating_route_acts_as_the_steward(
    client: httpx.AsyncClient, client_as: Callable[..., httpx.AsyncClient]
) -> None:
    """``Curating`` checks customers:curate before anything, and its actor is the caller."""
    parent, child = await _customer(client, 3), await _customer(client, 4)
    link = {"parent": {"customer_id": parent}, "relation_type": "subsidiary"}
    path = f"/v1/customers/{child}/relations/parent"
    async with client_as(roles=["data_entry"]) as entry:
        refused = await entry.put(path, json=link)
    assert refused.status_code == 403
    assert refused.json()["required_permission"] == "customers:curate"
    assert (await client.get(f"/v1/customers/{child}/hierarchy")).json()["ancestors"] == []

    steward = f"steward-{uuid.uuid4().hex[:8]}"
    async with client_as(roles=["steward"], subject=steward) as curating:
        assert (await curating.put(path, json=link)).status_code == 200
    audit = await client.get("/v1/audit", params={"customer_id": child})
    actors = [entry["actor"] for entry in audit.json()["items"]]
    assert any(actor.startswith(steward) for actor in actors), actors
