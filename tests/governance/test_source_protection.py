"""承認フロー for source-system writes: a write that would change a protected golden field is
stored, the golden value stays, and a change request waits (PUT, the batch endpoint, imports)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from mdm_hub.imports.service import Runner
from tests.helpers import corporation
from tests.imports.files import rows, text_file

PROTECTED = {
    "fields": [
        {"pointer": "/corporate_number", "steward_edits": False, "systems": ["billing"]},
        {"pointer": "/billing", "steward_edits": False, "systems": ["billing"]},
        {"pointer": "/invoice_registration_number", "systems": ["billing", "sfa"]},
    ]
}


async def _setup(client: httpx.AsyncClient) -> dict[str, Any]:
    assert (await client.put("/v1/protected-fields", json=PROTECTED)).status_code == 200
    created = await client.put("/v1/sources/crm/records/C-1", json=corporation())
    assert created.status_code == 201
    # The billing system's record of the same company joins the customer: nothing changes.
    joined = await client.put("/v1/sources/billing/records/B-1", json=corporation())
    assert joined.status_code == 201, joined.text
    assert joined.json()["customer"]["id"] == created.json()["customer"]["id"]
    assert joined.json()["held_for_approval"] is None
    return created.json()["customer"]


async def _events(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await client.get("/v1/changes")).json()["items"]
    return items


async def test_a_protected_change_from_a_source_waits_and_applies_on_approval(
    client: httpx.AsyncClient, client_as: Callable[..., httpx.AsyncClient]
) -> None:
    customer = await _setup(client)
    url = f"/v1/customers/{customer['id']}"
    events_before = len(await _events(client))
    body = corporation(
        billing={"closing_day": 20, "payment_month_offset": 1, "payment_day": 10},
        classification={"industry": "小売業", "region": "関東"},
    )
    written = await client.put("/v1/sources/billing/records/B-1", json=body)
    assert written.status_code == 200, written.text
    held = written.json()["held_for_approval"]
    assert held["fields"] == ["/billing"]
    # The rest of the record is written; the protected golden value stays.
    golden = (await client.get(url)).json()
    assert golden["classification"]["industry"] == "小売業"
    assert golden["billing"]["closing_day"] == "end_of_month"
    assert written.json()["customer"]["billing"]["closing_day"] == "end_of_month"
    # The source record is stored as sent; its normalized record keeps the approved value.
    source = (await client.get("/v1/sources/billing/records/B-1")).json()
    assert source["raw_payload"]["billing"]["closing_day"] == 20
    assert source["normalized"]["billing"]["closing_day"] == "end_of_month"
    # The change event names only what changed.
    events = (await _events(client))[events_before:]
    assert len(events) == 1
    assert not any(f.startswith("/billing") for f in events[0]["data"]["changed_fields"])

    change = (await client.get(f"/v1/change-requests/{held['change_request_id']}")).json()
    assert change["status"] == "pending"
    assert (change["system"], change["source_id"]) == ("billing", "B-1")
    assert change["customer_id"] == customer["id"]
    (only,) = change["changes"]
    assert only["field"] == "/billing"
    assert only["before"]["closing_day"] == "end_of_month"
    assert only["after"]["closing_day"] == 20
    # A replay answers the same, and asks nothing new.
    replay = await client.put("/v1/sources/billing/records/B-1", json=body)
    assert replay.status_code == 200
    assert replay.json()["held_for_approval"] == held
    assert len((await client.get("/v1/change-requests")).json()["items"]) == 1

    decision = f"/v1/change-requests/{held['change_request_id']}/decision"
    # Four eyes: the principal whose write made the request cannot approve it.
    own = await client.post(decision, json={"decision": "approve"}, headers={"If-Match": '"1"'})
    assert own.status_code == 403
    async with client_as(roles=["administrator"], subject="bob") as bob:
        approved = await bob.post(
            decision, json={"decision": "approve"}, headers={"If-Match": '"1"'}
        )
    assert approved.status_code == 200, approved.text
    golden = (await client.get(url)).json()
    assert golden["billing"]["closing_day"] == 20
    assert golden["billing"]["payment_day"] == 10
    assert golden["lineage"]["/billing/closing_day"]["system"] == "billing"
    source = (await client.get("/v1/sources/billing/records/B-1")).json()
    assert source["normalized"]["billing"]["closing_day"] == 20
    events = (await _events(client))[events_before + 1 :]
    assert [e["type"] for e in events] == ["customer.updated"]
    assert "/billing/closing_day" in events[0]["data"]["changed_fields"]
    actions = [e["action"] for e in (await client.get("/v1/audit")).json()["items"]]
    assert {"change_request.created", "source_record.approved", "change_request.approved"} <= set(
        actions
    )


async def test_a_rejected_source_change_is_dropped(
    client: httpx.AsyncClient, client_as: Callable[..., httpx.AsyncClient]
) -> None:
    customer = await _setup(client)
    url = f"/v1/customers/{customer['id']}"
    written = await client.put(
        "/v1/sources/billing/records/B-1", json=corporation(corporate_number="2021001052596")
    )
    held = written.json()["held_for_approval"]
    assert held["fields"] == ["/corporate_number"]
    change = (await client.get(f"/v1/change-requests/{held['change_request_id']}")).json()
    assert change["changes"] == [
        {"field": "/corporate_number", "before": "7000012050002", "after": "2021001052596"}
    ]
    async with client_as(roles=["administrator"], subject="bob") as bob:
        rejected = await bob.post(
            f"/v1/change-requests/{held['change_request_id']}/decision",
            json={"decision": "reject", "comment": "登記と違う"},
            headers={"If-Match": '"1"'},
        )
    assert rejected.status_code == 200
    assert (await client.get(url)).json()["corporate_number"] == "7000012050002"
    source = (await client.get("/v1/sources/billing/records/B-1")).json()
    assert source["normalized"]["corporate_number"] == "7000012050002"
    # An unprotected system changes the same field at once.
    other = await client.put(
        "/v1/sources/crm/records/C-1", json=corporation(corporate_number="2021001052596")
    )
    assert other.json()["held_for_approval"] is None
    assert (await client.get(url)).json()["corporate_number"] == "2021001052596"


async def test_a_later_write_replaces_or_withdraws_the_request(
    client: httpx.AsyncClient,
) -> None:
    await _setup(client)
    first = await client.put(
        "/v1/sources/billing/records/B-1", json=corporation(corporate_number="2021001052596")
    )
    request_id = first.json()["held_for_approval"]["change_request_id"]
    second = await client.put(
        "/v1/sources/billing/records/B-1",
        json=corporation(
            corporate_number="2021001052596", invoice_registration_number="T2021001052596"
        ),
    )
    held = second.json()["held_for_approval"]
    assert held == {
        "change_request_id": request_id,
        "fields": ["/corporate_number", "/invoice_registration_number"],
    }
    replaced = await client.get(f"/v1/change-requests/{request_id}")
    assert replaced.headers["ETag"] == '"2"'
    # The source goes back to the approved values: nothing waits any more.
    back = await client.put(
        "/v1/sources/billing/records/B-1", json=corporation(name="株式会社ABC商事 ")
    )
    assert back.json()["held_for_approval"] is None
    withdrawn = (await client.get(f"/v1/change-requests/{request_id}")).json()
    assert withdrawn["status"] == "withdrawn"
    assert (await client.get("/v1/change-requests")).json()["items"] == []
    actions = [e["action"] for e in (await client.get("/v1/audit")).json()["items"]]
    assert {"change_request.replaced", "change_request.withdrawn"} <= set(actions)


async def test_the_batch_endpoint_holds_protected_changes(client: httpx.AsyncClient) -> None:
    customer = await _setup(client)
    answer = await client.post(
        "/v1/sources/billing/records/batch",
        json={
            "items": [
                {"source_id": "B-1", "record": corporation(corporate_number="2021001052596")},
                {
                    "source_id": "B-2",
                    "record": corporation(name="株式会社別会社", corporate_number=None),
                },
            ]
        },
    )
    assert answer.status_code == 200, answer.text
    first, second = answer.json()["items"]
    assert first["status"] == 200
    assert first["held_for_approval"]["fields"] == ["/corporate_number"]
    assert second["held_for_approval"] is None
    golden = (await client.get(f"/v1/customers/{customer['id']}")).json()
    assert golden["corporate_number"] == "7000012050002"


async def test_a_new_customer_from_a_protected_system_is_not_held(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.put("/v1/protected-fields", json=PROTECTED)).status_code == 200
    created = await client.put("/v1/sources/billing/records/N-1", json=corporation())
    assert created.status_code == 201
    assert created.json()["held_for_approval"] is None
    assert created.json()["customer"]["corporate_number"] == "7000012050002"


async def test_a_stewards_request_shows_normalized_values(
    client: httpx.AsyncClient, client_as: Callable[..., httpx.AsyncClient]
) -> None:
    fields = {"fields": [{"pointer": "/corporate_number"}, {"pointer": "/billing"}]}
    assert (await client.put("/v1/protected-fields", json=fields)).status_code == 200
    customer = (await client.put("/v1/sources/crm/records/C-1", json=corporation())).json()
    asked = await client.patch(
        f"/v1/customers/{customer['customer']['id']}",
        json={"corporate_number": "２０２１００１０５２５９６", "billing": {"closing_day": 20}},
        headers={"If-Match": '"1"'},
    )
    assert asked.status_code == 202, asked.text
    changes = {c["field"]: c["after"] for c in asked.json()["changes"]}
    assert changes["/corporate_number"] == "2021001052596"
    # The whole billing terms as the edit would store them, not only the patched leaf.
    assert changes["/billing"]["closing_day"] == 20
    assert changes["/billing"]["payment_day"] == 25
    # A patch the edit would refuse is refused when asked, not when approved.
    bad = await client.patch(
        f"/v1/customers/{customer['customer']['id']}",
        json={"corporate_number": "12"},
        headers={"If-Match": '"1"'},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "/corporate_number"


async def test_an_import_holds_protected_changes(
    client: httpx.AsyncClient, app: Any, tmp_path: Path
) -> None:
    protected = {"fields": [{"pointer": "/name", "steward_edits": False, "systems": ["billing"]}]}
    assert (await client.put("/v1/protected-fields", json=protected)).status_code == 200
    data = rows(3)

    async def run(name: str) -> str:
        path = text_file(tmp_path / name, "utf-8", data)
        with path.open("rb") as f:
            job = await client.post(
                "/v1/imports", files={"file": (name, f)}, data={"system": "billing"}
            )
        assert job.status_code == 202, job.text
        runner = Runner(app.state.sessionmaker, app.state.settings, batch_size=10)
        await runner.run_until_idle()
        report = await client.get(f"/v1/imports/{job.json()['id']}/report")
        return report.content.decode("utf-8-sig")

    await run("first.csv")  # new customers: nothing to protect yet
    data[1][2] = "㈱能登ソフト表計算本舗"
    report = list(csv.DictReader(io.StringIO(await run("second.csv"))))
    assert report[1]["outcome"] == "updated"
    assert report[1]["problems"] == "/name:held_for_approval"
    assert [r["problems"] for r in (report[0], report[2])] == ["", ""]
    (waiting,) = (await client.get("/v1/change-requests")).json()["items"]
    assert (waiting["system"], waiting["source_id"]) == ("billing", "T0001")
    assert waiting["changes"][0]["after"] == "株式会社能登ソフト表計算本舗"
    customer = (await client.get(f"/v1/customers/{waiting['customer_id']}")).json()
    assert customer["name"] == "株式会社能登ソフト表計算1"


async def test_a_held_write_does_not_bring_back_an_older_value(
    client: httpx.AsyncClient,
) -> None:
    """The held source becomes the most recent: its last approved value must not win over the
    newer golden value another system gave (survivorship by recency)."""
    customer = await _setup(client)
    url = f"/v1/customers/{customer['id']}"
    newer = await client.put(
        "/v1/sources/crm/records/C-1", json=corporation(corporate_number="2021001052596")
    )
    assert newer.json()["customer"]["corporate_number"] == "2021001052596"
    held = await client.put(
        "/v1/sources/billing/records/B-1", json=corporation(corporate_number="7010001008860")
    )
    assert held.json()["held_for_approval"]["fields"] == ["/corporate_number"]
    assert (await client.get(url)).json()["corporate_number"] == "2021001052596"
    change = (await client.get("/v1/change-requests")).json()["items"][0]["changes"][0]
    assert (change["before"], change["after"]) == ("2021001052596", "7010001008860")
