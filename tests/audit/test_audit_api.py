"""GET /v1/audit: filters, paging, permissions, and the before/after each change records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.helpers import corporation, errors_by_field, other_corporation


async def _audit(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/audit", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _history(client: httpx.AsyncClient) -> tuple[str, str]:
    """Two customers, one steward edit, one custom field: the ids of the two customers."""
    first = await client.put("/v1/sources/crm/records/1", json=corporation())
    assert first.status_code == 201, first.text
    a = first.json()["customer"]["id"]
    patched = await client.patch(
        f"/v1/customers/{a}", json={"classification": {"rank": "S"}}, headers={"If-Match": '"1"'}
    )
    assert patched.status_code == 200, patched.text
    second = await client.put("/v1/sources/sfa/records/9", json=other_corporation(1))
    assert second.status_code == 201, second.text
    created = await client.post(
        "/v1/custom-fields", json={"key": "owner", "label": "担当", "type": "string"}
    )
    assert created.status_code == 201, created.text
    return a, second.json()["customer"]["id"]


async def test_entries_oldest_first_with_actor_and_request(client: httpx.AsyncClient) -> None:
    a, b = await _history(client)
    items = (await _audit(client))["items"]
    assert [(e["action"], e["entity_id"]) for e in items] == [
        ("source_record.created", "crm/1"),
        ("customer.created", a),
        ("customer.overridden", f"_steward/{a}"),
        ("customer.updated", a),
        ("source_record.created", "sfa/9"),
        ("customer.created", b),
        ("custom_field.created", "owner"),
    ]
    assert [e["id"] for e in items] == sorted(e["id"] for e in items)
    assert {e["actor"] for e in items} == {"test-admin (test-client)"}
    # one request, one request id: the source record and the customer it created
    assert items[0]["request_id"] == items[1]["request_id"] != items[2]["request_id"]
    assert items[6]["customer_id"] is None


async def test_before_and_after(client: httpx.AsyncClient) -> None:
    a, _ = await _history(client)
    created, updated = (await _audit(client, customer_id=a, entity_type="customer"))["items"]
    assert created["before"] is None
    assert created["after"]["record"]["name"] == "株式会社ABC商事"
    assert created["after"]["version"] == 1
    assert updated["before"] == created["after"]
    assert updated["after"]["version"] == 2
    assert updated["before"]["record"]["classification"]["rank"] is None
    assert updated["after"]["record"]["classification"]["rank"] == "S"
    # what the API shows now is what the last entry recorded
    now = (await client.get(f"/v1/customers/{a}")).json()
    assert now["classification"] == updated["after"]["record"]["classification"]

    relabel = await client.patch("/v1/custom-fields/owner", json={"label": "営業担当"})
    assert relabel.status_code == 200
    entry = (await _audit(client, action="custom_field.updated"))["items"][0]
    assert (entry["before"]["label"], entry["after"]["label"]) == ("担当", "営業担当")
    assert (await client.delete("/v1/custom-fields/owner")).status_code == 204
    deleted = (await _audit(client, action="custom_field.deleted"))["items"][0]
    assert deleted["before"]["label"] == "営業担当" and deleted["after"] is None


async def test_filters(client: httpx.AsyncClient) -> None:
    a, b = await _history(client)
    by_customer = (await _audit(client, customer_id=b))["items"]
    assert [e["action"] for e in by_customer] == ["source_record.created", "customer.created"]
    assert all(e["customer_id"] == b for e in by_customer)
    by_type = (await _audit(client, entity_type="source_record"))["items"]
    assert [e["entity_id"] for e in by_type] == ["crm/1", f"_steward/{a}", "sfa/9"]
    by_id = (await _audit(client, entity_id="sfa/9"))["items"]
    assert [e["action"] for e in by_id] == ["source_record.created"]
    by_action = (await _audit(client, action="customer.created"))["items"]
    assert [e["customer_id"] for e in by_action] == [a, b]
    both = (await _audit(client, action="customer.created", customer_id=a))["items"]
    assert [e["entity_id"] for e in both] == [a]
    assert (await _audit(client, action="customer.deleted"))["items"] == []
    unknown_customer = "00000000-0000-4000-8000-000000000000"
    assert (await _audit(client, customer_id=unknown_customer))["items"] == []


async def test_paging_walks_every_entry_once(client: httpx.AsyncClient) -> None:
    await _history(client)
    everything = [e["id"] for e in (await _audit(client))["items"]]
    assert len(everything) == 7
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = await _audit(client, **params)
        assert len(page["items"]) <= 3
        seen += [e["id"] for e in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything and pages == 3
    # a filter holds across pages
    first = await _audit(client, entity_type="customer", limit=1)
    rest = await _audit(client, entity_type="customer", limit=10, cursor=first["next_cursor"])
    assert [e["entity_type"] for e in first["items"] + rest["items"]] == ["customer"] * 3
    assert rest["next_cursor"] is None
    # an exact fit: no next page announced
    exact = await _audit(client, limit=7)
    assert len(exact["items"]) == 7 and exact["next_cursor"] is None
    # an empty cursor is no cursor, as on every listing in id order (mdm_hub.pagination)
    assert [e["id"] for e in (await _audit(client, cursor=""))["items"]] == everything


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"limit": 0}, "limit", "greater_than_equal"),
        ({"limit": 501}, "limit", "less_than_equal"),
        ({"limit": "many"}, "limit", "int_parsing"),
        ({"cursor": "not-a-cursor"}, "cursor", "invalid_cursor"),
        ({"cursor": "eyJwIjoxfQ"}, "cursor", "invalid_cursor"),  # {"p":1}: another list's
        ({"customer_id": "C00000001"}, "customer_id", "uuid_parsing"),
    ],
)
async def test_bad_queries_name_the_parameter(
    client: httpx.AsyncClient, params: dict[str, Any], field: str, code: str
) -> None:
    response = await client.get("/v1/audit", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert errors_by_field(response.json()) == {field: code}


@pytest.mark.parametrize(
    ("roles", "scopes", "status"),
    [
        (["administrator"], [], 200),
        (["steward"], [], 200),
        (["data_entry"], [], 403),
        (["viewer"], [], 403),
        ([], ["customers:read", "customers:write", "pii:read"], 403),  # integrations never
        (None, [], 401),
    ],
)
async def test_who_may_read_the_audit_log(
    client: httpx.AsyncClient,
    client_as: Callable[..., httpx.AsyncClient],
    roles: list[str] | None,
    scopes: list[str],
    status: int,
) -> None:
    await _history(client)
    async with client_as(roles, scopes=scopes) if roles is not None else client_as(None) as c:
        response = await c.get("/v1/audit")
    assert response.status_code == status, response.text
    if status == 200:
        assert len(response.json()["items"]) == 7
    else:
        assert response.headers["content-type"].startswith("application/problem+json")
