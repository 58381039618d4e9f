"""/v1/webhooks/endpoints: subscriptions, secrets, validation, audit, the test ping."""

from __future__ import annotations

import httpx
from standardwebhooks.webhooks import Webhook

from tests.events.conftest import create_endpoint
from tests.events.receiver import Receiver
from tests.helpers import errors_by_field

MISSING = "/v1/webhooks/endpoints/00000000-0000-0000-0000-000000000000"


async def test_create_get_list_patch_delete(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/v1/webhooks/endpoints",
        json={
            "url": "https://billing.example.co.jp/hooks",
            "description": "請求システム",
            "event_types": ["customer.updated"],
            "filter": {"kinds": ["corporation"], "changed_fields": ["/billing"]},
        },
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert endpoint["secret"].startswith("whsec_")
    Webhook(endpoint["secret"])  # a secret the standard library accepts
    assert created.headers["location"] == f"/v1/webhooks/endpoints/{endpoint['id']}"
    assert endpoint["enabled"] is True
    assert endpoint["filter"] == {"kinds": ["corporation"], "changed_fields": ["/billing"]}

    got = await client.get(f"/v1/webhooks/endpoints/{endpoint['id']}")
    assert got.status_code == 200
    assert "secret" not in got.json()
    assert got.json()["pending_deliveries"] == 0

    patched = await client.patch(
        f"/v1/webhooks/endpoints/{endpoint['id']}",
        json={"enabled": False, "event_types": None, "filter": None, "description": None},
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["enabled"], body["event_types"], body["filter"], body["description"]) == (
        False,
        None,
        None,
        None,
    )

    for i in range(3):
        await client.post("/v1/webhooks/endpoints", json={"url": f"https://e{i}.example.jp/h"})
    page = (await client.get("/v1/webhooks/endpoints", params={"limit": 3})).json()
    assert len(page["items"]) == 3
    rest = (
        await client.get(
            "/v1/webhooks/endpoints", params={"limit": 3, "cursor": page["next_cursor"]}
        )
    ).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    ids = [e["id"] for e in page["items"] + rest["items"]]
    assert ids[0] == endpoint["id"] and len(set(ids)) == 4

    assert (await client.delete(f"/v1/webhooks/endpoints/{endpoint['id']}")).status_code == 204
    assert (await client.get(f"/v1/webhooks/endpoints/{endpoint['id']}")).status_code == 404

    audit = (await client.get("/v1/audit", params={"entity_id": endpoint["id"]})).json()["items"]
    assert [a["action"] for a in audit] == [
        "webhook_endpoint.created",
        "webhook_endpoint.updated",
        "webhook_endpoint.deleted",
    ]
    assert all("secret" not in str(a["after"]) for a in audit)


async def test_bad_input_is_problem_json(client: httpx.AsyncClient) -> None:
    bad = await client.post(
        "/v1/webhooks/endpoints",
        json={
            "url": "ftp://example.jp/x",
            "event_types": ["customer.exploded"],
            "filter": {"changed_fields": ["billing"], "kinds": ["robot"]},
        },
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    fields = errors_by_field(bad.json())
    assert {"/url", "/event_types/0", "/filter/changed_fields/0", "/filter/kinds/0"} <= set(
        fields
    ), fields

    creds = await client.post("/v1/webhooks/endpoints", json={"url": "https://u:p@example.jp/"})
    assert creds.status_code == 422

    assert (await client.get(MISSING)).status_code == 404
    assert (await client.patch(MISSING, json={"enabled": True})).status_code == 404
    assert (await client.delete(MISSING)).status_code == 404
    assert (await client.post(f"{MISSING}/rotate-secret")).status_code == 404
    assert (await client.get(f"{MISSING}/deliveries")).status_code == 404
    assert (await client.post(f"{MISSING}/replay", json={"delivery_id": 1})).status_code == 404

    ok = (await client.post("/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/h"})).json()
    both = await client.post(
        f"/v1/webhooks/endpoints/{ok['id']}/replay",
        json={"delivery_id": 1, "since": "2026-01-01T00:00:00Z"},
    )
    assert both.status_code == 422
    null_url = await client.patch(f"/v1/webhooks/endpoints/{ok['id']}", json={"url": None})
    assert null_url.status_code == 422
    cursor = await client.get(f"/v1/webhooks/endpoints/{ok['id']}/deliveries?cursor=nonsense")
    assert cursor.status_code == 422
    assert cursor.json()["errors"][0]["code"] == "invalid_cursor"


async def test_rotate_secret_answers_new_secret(client: httpx.AsyncClient) -> None:
    endpoint = (
        await client.post("/v1/webhooks/endpoints", json={"url": "https://e.example.jp/h"})
    ).json()
    rotated = await client.post(f"/v1/webhooks/endpoints/{endpoint['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != endpoint["secret"]
    got = (await client.get(f"/v1/webhooks/endpoints/{endpoint['id']}")).json()
    assert got["previous_secret_expires_at"] == rotated.json()["previous_secret_expires_at"]
    audit = (await client.get("/v1/audit", params={"entity_id": endpoint["id"]})).json()["items"]
    assert audit[-1]["action"] == "webhook_endpoint.secret_rotated"
    assert endpoint["secret"] not in str(audit)


async def test_test_ping_is_signed_and_logged(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    endpoint = await create_endpoint(client, receiver, "ping")
    response = await client.post(f"/v1/webhooks/endpoints/{endpoint['id']}/test")
    assert response.status_code == 200, response.text
    attempt = response.json()
    assert attempt["outcome"] == "delivered"
    assert attempt["response_status"] == 204
    [got] = receiver.got("ping")
    assert got.payload["type"] == "webhook.test"
    assert got.payload["data"]["endpoint_id"] == endpoint["id"]
    assert got.msg_id == attempt["event_id"]

    down = (
        await client.post("/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/nothing"})
    ).json()
    failed = (await client.post(f"/v1/webhooks/endpoints/{down['id']}/test")).json()
    assert failed["outcome"] == "failed"
    assert failed["response_status"] is None and failed["error"]

    log = (await client.get(f"/v1/webhooks/endpoints/{endpoint['id']}/deliveries")).json()
    assert [(a["delivery_kind"], a["outcome"]) for a in log["items"]] == [("test", "delivered")]
