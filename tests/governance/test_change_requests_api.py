"""承認フロー through the API: protected fields, change requests, four eyes, If-Match."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from tests.helpers import corporation

PROTECTED = {
    "fields": [
        {"pointer": "/corporate_number"},
        {"pointer": "/billing"},
        {"pointer": "/name", "steward_edits": False, "systems": ["billing"]},
    ]
}


async def _setup(client: httpx.AsyncClient) -> dict[str, Any]:
    assert (await client.put("/v1/protected-fields", json=PROTECTED)).status_code == 200
    return (await client.put("/v1/sources/crm/records/G-1", json=corporation())).json()["customer"]


def _as(client_as: Callable[..., httpx.AsyncClient], subject: str) -> httpx.AsyncClient:
    return client_as(roles=["administrator"], subject=subject)


async def test_protected_fields_are_set_by_an_administrator(
    client: httpx.AsyncClient, client_as: Callable[..., httpx.AsyncClient]
) -> None:
    async with client_as(roles=["steward"]) as steward:
        assert (await steward.put("/v1/protected-fields", json=PROTECTED)).status_code == 403
    bad = await client.put("/v1/protected-fields", json={"fields": [{"pointer": "name"}]})
    assert bad.status_code == 422
    # A system is named as in /v1/sources/{system}: a NUL reached PostgreSQL and answered 500
    for system in ["cr\u0000m", "CRM", ""]:
        bad = await client.put(
            "/v1/protected-fields",
            json={"fields": [{"pointer": "/name", "systems": [system]}]},
        )
        assert bad.status_code == 422, system
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in bad.json()["errors"]] == ["/fields/0/systems/0"]
    saved = (await client.put("/v1/protected-fields", json=PROTECTED)).json()
    assert [f["pointer"] for f in saved] == ["/billing", "/corporate_number", "/name"]
    assert saved[2] == {"pointer": "/name", "steward_edits": False, "systems": ["billing"]}
    assert (await client.get("/v1/protected-fields")).json() == saved
    audit = (await client.get("/v1/audit")).json()["items"]
    assert any(e["action"] == "protected_fields.replaced" for e in audit)


async def test_a_protected_change_waits_for_a_second_administrator(
    client: httpx.AsyncClient, client_as: Callable[..., httpx.AsyncClient]
) -> None:
    customer = await _setup(client)
    url = f"/v1/customers/{customer['id']}"
    async with _as(client_as, "alice") as alice, _as(client_as, "bob") as bob:
        asked = await alice.patch(
            url,
            json={"corporate_number": "2021001052596", "billing": {"closing_day": 20}},
            params={"reason": "登記簿で確認"},
            headers={"If-Match": '"1"'},
        )
        assert asked.status_code == 202, asked.text
        change = asked.json()
        assert change["status"] == "pending"
        assert change["requested_by"].startswith("alice")
        assert change["reason"] == "登記簿で確認"
        changes = {c["field"]: (c["before"], c["after"]) for c in change["changes"]}
        assert changes["/corporate_number"] == ("7000012050002", "2021001052596")
        assert changes["/billing"][1]["closing_day"] == 20  # normalized, whole terms
        assert asked.headers["Location"] == f"/v1/change-requests/{change['id']}"
        # Nothing changed yet.
        assert (await client.get(url)).json()["corporate_number"] == "7000012050002"
        assert (await client.get(url)).json()["version"] == 1
        waiting = (await client.get("/v1/change-requests")).json()["items"]
        assert [w["id"] for w in waiting] == [change["id"]]

        decision_url = f"/v1/change-requests/{change['id']}/decision"
        # Four eyes: the requester cannot approve.
        own = await alice.post(
            decision_url, json={"decision": "approve"}, headers={"If-Match": '"1"'}
        )
        assert own.status_code == 403
        assert (await bob.post(decision_url, json={"decision": "approve"})).status_code == 428
        stale = await bob.post(
            decision_url, json={"decision": "approve"}, headers={"If-Match": '"7"'}
        )
        assert stale.status_code == 412
        approved = await bob.post(
            decision_url,
            json={"decision": "approve", "comment": "OK"},
            headers={"If-Match": '"1"', "Idempotency-Key": "approve-1"},
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved"
        assert approved.json()["decided_by"].startswith("bob")
        # The same Idempotency-Key answers the same, and applies nothing twice.
        replay = await bob.post(
            decision_url,
            json={"decision": "approve", "comment": "OK"},
            headers={"If-Match": '"1"', "Idempotency-Key": "approve-1"},
        )
        assert replay.status_code == 200
        assert replay.json() == approved.json()

    after = (await client.get(url)).json()
    assert after["corporate_number"] == "2021001052596"
    assert after["billing"]["closing_day"] == 20
    assert after["version"] == 2
    assert (await client.get("/v1/change-requests")).json()["items"] == []
    actions = [e["action"] for e in (await client.get("/v1/audit")).json()["items"]]
    assert {"change_request.created", "change_request.approved", "customer.overridden"} <= set(
        actions
    )
    events = (await client.get("/v1/changes")).json()["items"]
    assert [e["type"] for e in events][-1] == "customer.updated"


async def test_a_rejected_change_changes_nothing(
    client: httpx.AsyncClient, client_as: Callable[..., httpx.AsyncClient]
) -> None:
    customer = await _setup(client)
    url = f"/v1/customers/{customer['id']}"
    async with _as(client_as, "alice") as alice, _as(client_as, "bob") as bob:
        change = (
            await alice.patch(
                url, json={"corporate_number": "2021001052596"}, headers={"If-Match": '"1"'}
            )
        ).json()
        rejected = await bob.post(
            f"/v1/change-requests/{change['id']}/decision",
            json={"decision": "reject", "comment": "根拠なし"},
            headers={"If-Match": '"1"'},
        )
        assert rejected.status_code == 200
        assert rejected.json()["status"] == "rejected"
        assert rejected.headers["ETag"] == '"2"'
        again = await bob.post(
            f"/v1/change-requests/{change['id']}/decision",
            json={"decision": "approve"},
            headers={"If-Match": '"2"'},
        )
        assert again.status_code == 409
    assert (await client.get(url)).json()["corporate_number"] == "7000012050002"
    assert (await client.get(url)).json()["version"] == 1
    listed = await client.get("/v1/change-requests", params={"status": "rejected"})
    assert [c["comment"] for c in listed.json()["items"]] == ["根拠なし"]


async def test_unprotected_edits_apply_at_once(client: httpx.AsyncClient) -> None:
    customer = await _setup(client)
    # /name protects only source writes from billing, not steward edits.
    edited = await client.patch(
        f"/v1/customers/{customer['id']}",
        json={"name": "株式会社ABC商事ホールディングス", "classification": {"rank": "S"}},
        headers={"If-Match": '"1"'},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == 2


async def test_two_approvers_cannot_both_apply(
    client: httpx.AsyncClient, client_as: Callable[..., httpx.AsyncClient]
) -> None:
    customer = await _setup(client)
    url = f"/v1/customers/{customer['id']}"
    async with (
        _as(client_as, "alice") as alice,
        _as(client_as, "bob") as bob,
        _as(client_as, "carol") as carol,
    ):
        change = (
            await alice.patch(
                url, json={"corporate_number": "2021001052596"}, headers={"If-Match": '"1"'}
            )
        ).json()
        decision_url = f"/v1/change-requests/{change['id']}/decision"
        answers = await asyncio.gather(
            bob.post(decision_url, json={"decision": "approve"}, headers={"If-Match": '"1"'}),
            carol.post(decision_url, json={"decision": "approve"}, headers={"If-Match": '"1"'}),
        )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 412], [a.text for a in answers]
    after = (await client.get(url)).json()
    assert after["version"] == 2
    approvals = [
        e
        for e in (await client.get("/v1/audit")).json()["items"]
        if e["action"] == "change_request.approved"
    ]
    assert len(approvals) == 1


async def test_four_eyes_compare_the_person_not_the_client(
    client: httpx.AsyncClient, client_as: Callable[..., httpx.AsyncClient]
) -> None:
    """The requester through another client (the console, another app) is still the
    requester."""
    customer = await _setup(client)
    async with (
        client_as(roles=["administrator"], subject="alice", client_id="app-one") as one,
        client_as(roles=["administrator"], subject="alice", client_id="app-two") as two,
    ):
        change = (
            await one.patch(
                f"/v1/customers/{customer['id']}",
                json={"corporate_number": "2021001052596"},
                headers={"If-Match": '"1"'},
            )
        ).json()
        own = await two.post(
            f"/v1/change-requests/{change['id']}/decision",
            json={"decision": "approve"},
            headers={"If-Match": '"1"'},
        )
    assert own.status_code == 403, own.text


async def test_a_protected_fields_system_must_be_a_system_name(client: httpx.AsyncClient) -> None:
    # Found by the fuzzer: a NUL in a system name reached PostgreSQL and answered 500.
    for bad in ("]\u0000", "CRM", " crm", ""):
        answer = await client.put(
            "/v1/protected-fields",
            json={"fields": [{"pointer": "/name", "systems": [bad]}]},
        )
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.json()["errors"][0]["field"] == "/fields/0/systems/0"
