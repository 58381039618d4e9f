"""Disclosure (開示請求) and the access log of unmasked reads."""

from __future__ import annotations

from typing import Any

import httpx

from mdm_hub.events.dispatcher import Dispatcher
from mdm_hub.housekeeping import PERIODIC_JOBS
from tests.helpers import PERSON, corporation


async def test_disclosure_hands_over_everything_held_about_the_person(
    client: httpx.AsyncClient,
) -> None:
    put = (await client.put("/v1/sources/crm/records/P-1", json=PERSON)).json()
    customer_id = put["customer"]["id"]
    await client.put("/v1/sources/sfa/records/S-1", json=PERSON)
    etag = (await client.get(f"/v1/customers/{customer_id}")).headers["ETag"]
    patched = await client.patch(
        f"/v1/customers/{customer_id}",
        json={"classification": {"rank": "A"}},
        headers={"If-Match": etag},
    )
    assert patched.status_code == 200, patched.text
    disclosure = await client.get(f"/v1/customers/{customer_id}/disclosure")
    assert disclosure.status_code == 200, disclosure.text
    body = disclosure.json()
    assert body["customer"]["birth_date"] == "1980-05-05"
    assert body["customer"]["emails"][0]["address"] == "taro.yamada@example.jp"
    assert {(s["system"], s["source_id"]) for s in body["source_records"]} >= {
        ("crm", "P-1"),
        ("sfa", "S-1"),
    }
    crm = next(s for s in body["source_records"] if s["system"] == "crm")
    assert crm["raw_payload"]["person_name"]["family_name"] == "山田"
    assert "customer.updated" in [e["type"] for e in body["events"]]
    actions = {h["action"] for h in body["history"]}
    assert {"customer.created", "source_record.created", "customer.overridden"} <= actions
    assert body["recipients"] == []
    missing = await client.get("/v1/customers/00000000-0000-0000-0000-000000000000/disclosure")
    assert missing.status_code == 404


async def test_unmasked_reads_are_logged_masked_reads_are_not(
    client: httpx.AsyncClient, client_as: Any
) -> None:
    person_id = (await client.put("/v1/sources/crm/records/P-1", json=PERSON)).json()["customer"][
        "id"
    ]
    company_id = (await client.put("/v1/sources/crm/records/C-1", json=corporation())).json()[
        "customer"
    ]["id"]
    async with client_as(roles=["viewer"], subject="viewer-1") as viewer:
        seen = (await viewer.get(f"/v1/customers/{person_id}")).json()
        assert seen["birth_date"] is None
    async with client_as(roles=["steward"], subject="steward-1") as steward:
        assert (await steward.get(f"/v1/customers/{person_id}")).status_code == 200
        assert (await steward.get(f"/v1/customers/{company_id}")).status_code == 200

    log = (await client.get("/v1/access-log", params={"subject": "steward-1"})).json()["items"]
    assert len(log) >= 1
    entry = log[0]
    assert entry["customer_id"] == person_id
    assert entry["endpoint"] == "GET /v1/customers/{customer_id}"
    assert "/birth_date" in entry["fields"] and "/phones" in entry["fields"]
    assert entry["request_id"]
    assert all(e["customer_id"] == person_id for e in log), "a corporation carries no PII"
    assert (await client.get("/v1/access-log", params={"subject": "viewer-1"})).json()[
        "items"
    ] == []
    by_person = (await client.get("/v1/access-log", params={"customer_id": person_id})).json()
    assert {e["subject"] for e in by_person["items"]} >= {"steward-1", "test-admin"}
    page = (await client.get("/v1/access-log", params={"limit": "1"})).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    older = await client.get("/v1/access-log", params={"limit": "1", "cursor": page["next_cursor"]})
    assert older.json()["items"][0]["id"] < page["items"][0]["id"]


async def test_retention_prunes_the_access_log_and_old_payloads(
    app: Any, client: httpx.AsyncClient
) -> None:
    person_id = (await client.put("/v1/sources/crm/records/P-1", json=PERSON)).json()["customer"][
        "id"
    ]
    await client.get(f"/v1/customers/{person_id}")
    assert (await client.get("/v1/access-log")).json()["items"]
    settings = app.state.settings.model_copy(
        update={
            "access_log_retention_days": -1,
            "audit_payload_retention_days": -1,
            "event_payload_retention_days": -1,
        }
    )
    # The worker's periodic pruning runs the privacy retention with its own.
    await Dispatcher(app.state.engine, settings, housekeeping=PERIODIC_JOBS).prune()
    assert (await client.get("/v1/access-log")).json()["items"] == []
    audit = (await client.get("/v1/audit", params={"customer_id": person_id})).json()["items"]
    assert audit and all(e["before"] is None and e["after"] is None for e in audit)
    changes = (await client.get("/v1/changes")).json()["items"]
    assert changes[0]["data"]["customer"] == {"id": person_id, "payload_removed": True}
