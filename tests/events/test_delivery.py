"""The worker against a real receiver: payloads, order, retries, 410, dead letters, replay."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from typing import Any

import httpx
from sqlalchemy import text

from mdm_hub.events.retention import prune
from tests.events.conftest import (
    Workers,
    by_customer,
    create_endpoint,
    in_order,
    put_person,
    worker_settings,
)
from tests.events.receiver import Received, Receiver


async def _log(client: httpx.AsyncClient, endpoint_id: str, **params: Any) -> list[dict]:
    response = await client.get(
        f"/v1/webhooks/endpoints/{endpoint_id}/deliveries", params={"limit": 500, **params}
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def _wait_log(
    client: httpx.AsyncClient, endpoint_id: str, predicate: Any, within: float = 20
) -> list[dict]:
    """The delivery log once ``predicate`` holds for it (completions are written after the
    receiver answered)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        log = await _log(client, endpoint_id)
        if predicate(log):
            return log
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"delivery log: condition not met; got {log}")
        await asyncio.sleep(0.02)


async def test_events_arrive_signed_with_the_standard_payload(
    client: httpx.AsyncClient, receiver: Receiver, workers: Workers
) -> None:
    endpoint = await create_endpoint(client, receiver, "all")
    workers.start()
    created = await put_person(client, 1)
    await put_person(client, 1, emails=[{"address": "new@mail1.example.jp"}])
    assert (await client.delete(f"/v1/customers/{created['id']}")).status_code == 204

    got = await receiver.wait_for("all", lambda r: len(r) >= 3)
    assert [r.payload["type"] for r in got] == [
        "customer.created",
        "customer.updated",
        "customer.deleted",
    ]
    first = got[0]
    assert set(first.payload) == {"type", "timestamp", "data"}
    assert set(first.payload["data"]) == {
        "event_id",
        "customer_id",
        "customer_version",
        "changed_fields",
        "customer",
    }
    assert first.msg_id == first.payload["data"]["event_id"]
    assert first.headers["webhook-signature"].startswith("v1,")
    assert first.customer_id == created["id"]
    assert first.payload["data"]["customer"]["id"] == created["id"]
    assert [r.version for r in got] == [1, 2, 3]
    assert got[1].payload["data"]["changed_fields"] == ["/emails"]
    assert got[2].payload["data"]["customer"]["status"] == "deleted"

    log = await _wait_log(client, endpoint["id"], lambda log: len(log) == 3)
    assert {(a["outcome"], a["response_status"]) for a in log} == {("delivered", 204)}
    assert all(a["latency_ms"] >= 0 and a["delivery_status"] == "delivered" for a in log)


async def test_filters_and_event_types(
    client: httpx.AsyncClient, receiver: Receiver, workers: Workers
) -> None:
    await create_endpoint(client, receiver, "created", event_types=["customer.created"])
    await create_endpoint(
        client, receiver, "emails", event_types=["customer.updated"],
        filter={"changed_fields": ["/emails"]},
    )  # fmt: skip
    await create_endpoint(client, receiver, "corporations", filter={"kinds": ["corporation"]})
    await create_endpoint(client, receiver, "everything")
    workers.start()
    await put_person(client, 1)
    await put_person(client, 1, phones=[{"number": "090-5555-0001"}])  # phones changed
    await put_person(client, 1, emails=[{"address": "x@mail1.example.jp"}])  # emails changed

    everything = await receiver.wait_for("everything", lambda r: len(r) >= 3)
    assert [r.version for r in everything] == [1, 2, 3]
    # Each endpoint has its own queue: wait for each one, not only for "everything".
    created = await receiver.wait_for("created", lambda r: len(r) >= 1)
    assert [r.payload["type"] for r in created] == ["customer.created"]
    emails = await receiver.wait_for("emails", lambda r: len(r) >= 1)
    assert [(r.payload["type"], r.version) for r in emails] == [("customer.updated", 3)]
    assert receiver.got("corporations") == []


async def test_endpoint_receives_events_from_its_creation_on(
    client: httpx.AsyncClient, receiver: Receiver, workers: Workers
) -> None:
    workers.start()
    await put_person(client, 1)
    await asyncio.sleep(0.2)  # let the worker fan the first event out (to nobody)
    await create_endpoint(client, receiver, "late")
    await put_person(client, 2)
    got = await receiver.wait_for("late", lambda r: len(r) >= 1)
    await asyncio.sleep(0.2)
    assert [r.payload["data"]["customer"]["person_name"]["given_name"] for r in got] == ["太郎"]
    assert len(receiver.got("late")) == 1


async def test_order_per_customer_under_concurrent_writes_and_a_flaky_receiver(
    client: httpx.AsyncClient, receiver: Receiver, workers: Workers
) -> None:
    """Half of all calls fail; two workers; every customer's versions still arrive in order."""
    endpoint = await create_endpoint(client, receiver, "flaky")
    coin = random.Random(6)

    def half_fail(_: list[Received], __: Received) -> tuple[int, dict[str, str]]:
        return (500 if coin.random() < 0.5 else 200), {}

    receiver.responders["/hooks/flaky"] = half_fail
    # 20 attempts: a message dies only after 20 failures in a row (one chance in a million).
    workers.start(count=2, webhook_retry_schedule_seconds=[0] + [0.01] * 19)

    customers = 6
    updates = 5
    ids = [(await put_person(client, i))["id"] for i in range(customers)]

    async def update(i: int, n: int) -> None:
        await put_person(client, i, emails=[{"address": f"v{n}@mail{i}.example.jp"}])

    # Concurrent writes: every customer at once, and each customer's updates racing each other.
    await asyncio.gather(*(update(i, n) for i in range(customers) for n in range(updates)))
    expected = {}
    for customer_id in ids:
        current = (await client.get(f"/v1/customers/{customer_id}")).json()
        expected[customer_id] = current["version"]

    def complete(got: list[Received]) -> bool:
        seen = by_customer(got)
        return all(seen.get(c, [0])[-1] >= v for c, v in expected.items())

    got = await receiver.wait_for("flaky", complete, within=60)
    for customer_id, versions in by_customer(got).items():
        assert in_order(versions), (customer_id, versions)
        assert sorted(set(versions)) == list(range(1, expected[customer_id] + 1))
    log = await _log(client, endpoint["id"])
    assert any(a["outcome"] == "retrying" and a["response_status"] == 500 for a in log)
    assert not any(a["outcome"] == "dead" for a in log)


async def test_a_retrying_event_holds_back_its_customer_only(
    client: httpx.AsyncClient, receiver: Receiver, workers: Workers
) -> None:
    await create_endpoint(client, receiver, "hold")
    blocked = await put_person(client, 1)
    other = await put_person(client, 2)
    block = {"on": True}

    def refuse_customer_one(_: list[Received], item: Received) -> tuple[int, dict[str, str]]:
        return (503 if block["on"] and item.customer_id == blocked["id"] else 200), {}

    receiver.responders["/hooks/hold"] = refuse_customer_one
    # Retries every 0.05 s for up to 20 s: the event must not go dead on a slow machine.
    workers.start(webhook_retry_schedule_seconds=[0] + [0.05] * 400)
    for n in range(3):
        await put_person(client, 1, emails=[{"address": f"{n}@mail1.example.jp"}])
        await put_person(client, 2, emails=[{"address": f"{n}@mail2.example.jp"}])

    def blocked_attempts() -> list[Received]:
        return [r for r in receiver.got("hold", ok_only=False) if r.customer_id == blocked["id"]]

    await receiver.wait_for("hold", lambda r: [x.version for x in r] == [1, 2, 3, 4])
    # The writes can all be done before the first retry (0.05 s): wait for one.
    await receiver.wait_for("hold", lambda _: len(blocked_attempts()) >= 2)
    # Customer 1's first event keeps failing (retrying); its later events were never attempted.
    attempts = blocked_attempts()
    assert len(attempts) >= 2 and {r.version for r in attempts} == {1}
    assert all(r.customer_id == other["id"] for r in receiver.got("hold"))

    block["on"] = False
    got = await receiver.wait_for("hold", lambda r: len(r) == 8)
    assert by_customer(got) == {blocked["id"]: [1, 2, 3, 4], other["id"]: [1, 2, 3, 4]}


async def test_410_disables_the_endpoint_and_enabling_resumes(
    client: httpx.AsyncClient, receiver: Receiver, workers: Workers
) -> None:
    endpoint = await create_endpoint(client, receiver, "gone")
    gone = {"on": True}
    receiver.responders["/hooks/gone"] = lambda _, __: ((410 if gone["on"] else 200), {})
    workers.start()
    await put_person(client, 1)
    await put_person(client, 2)

    async def disabled_with_both_pending() -> dict:
        for _ in range(500):
            current = (await client.get(f"/v1/webhooks/endpoints/{endpoint['id']}")).json()
            if not current["enabled"] and current["pending_deliveries"] == 2:
                return current
            await asyncio.sleep(0.02)
        raise AssertionError("endpoint was not disabled")

    current = await disabled_with_both_pending()
    assert current["disabled_reason"].startswith("410 Gone")
    log = await _wait_log(client, endpoint["id"], lambda log: len(log) >= 1)
    assert {a["outcome"] for a in log} == {"disabled"}
    calls = len(receiver.got("gone", ok_only=False))
    await asyncio.sleep(0.3)
    assert len(receiver.got("gone", ok_only=False)) == calls  # nothing more is sent

    gone["on"] = False
    enabled = await client.patch(f"/v1/webhooks/endpoints/{endpoint['id']}", json={"enabled": True})
    assert enabled.json()["disabled_reason"] is None
    got = await receiver.wait_for("gone", lambda r: len(r) >= 2)
    assert [r.payload["type"] for r in got] == ["customer.created", "customer.created"]


async def test_throttling_honours_retry_after(
    client: httpx.AsyncClient, receiver: Receiver, workers: Workers
) -> None:
    endpoint = await create_endpoint(client, receiver, "busy")
    receiver.responders["/hooks/busy"] = lambda before, _: (
        (429, {"Retry-After": "1"}) if not before else (200, {})
    )
    workers.start()
    await put_person(client, 1)
    await receiver.wait_for("busy", lambda r: len(r) == 1)
    log = await _wait_log(client, endpoint["id"], lambda log: len(log) == 2)
    [retry, delivered] = sorted(log, key=lambda a: a["id"])
    assert (retry["outcome"], retry["response_status"]) == ("retrying", 429)
    wait = dt.datetime.fromisoformat(retry["next_attempt_at"]) - dt.datetime.fromisoformat(
        retry["attempted_at"]
    )
    assert wait >= dt.timedelta(seconds=0.9)  # the schedule said 50 ms; the receiver said 1 s
    assert delivered["outcome"] == "delivered"


async def test_dead_letter_after_the_schedule_then_replay(
    client: httpx.AsyncClient, receiver: Receiver, workers: Workers
) -> None:
    endpoint = await create_endpoint(client, receiver, "dead")
    down = {"on": True}
    receiver.responders["/hooks/dead"] = lambda _, __: ((500 if down["on"] else 200), {})
    workers.start()
    first = await put_person(client, 1)
    await put_person(client, 1, emails=[{"address": "later@mail1.example.jp"}])

    async def dead_letters() -> list[dict]:
        for _ in range(500):
            dead = await _log(client, endpoint["id"], delivery_status="dead")
            if len({a["delivery_id"] for a in dead}) == 2:
                return dead
            await asyncio.sleep(0.02)
        raise AssertionError("not dead-lettered")

    dead = await dead_letters()
    attempts = [
        a for a in dead if a["customer_id"] == first["id"] and a["event_type"].endswith("created")
    ]
    assert sorted(a["attempt"] for a in attempts) == [1, 2, 3, 4]  # the whole schedule
    assert max(attempts, key=lambda a: a["attempt"])["outcome"] == "dead"
    assert (await client.get(f"/v1/webhooks/endpoints/{endpoint['id']}")).json()[
        "dead_deliveries"
    ] == 2

    down["on"] = False
    created_delivery = attempts[0]["delivery_id"]
    replayed = await client.post(
        f"/v1/webhooks/endpoints/{endpoint['id']}/replay", json={"delivery_id": created_delivery}
    )
    assert replayed.status_code == 202, replayed.text
    assert replayed.json() == {"queued": 1}
    got = await receiver.wait_for("dead", lambda r: len(r) >= 1)
    assert [r.payload["type"] for r in got] == ["customer.created"]
    assert got[0].msg_id == attempts[0]["event_id"]  # same webhook-id as the first time

    again = await client.post(
        f"/v1/webhooks/endpoints/{endpoint['id']}/replay", json={"delivery_id": created_delivery}
    )
    assert again.status_code == 409  # delivered now, not a dead letter
    audit = (await client.get("/v1/audit", params={"entity_id": endpoint["id"]})).json()["items"]
    assert audit[-1]["action"] == "webhook_endpoint.replayed"


async def test_replay_since_a_time_and_from_an_event(
    client: httpx.AsyncClient, receiver: Receiver, workers: Workers
) -> None:
    workers.start()
    before = dt.datetime.now(dt.UTC)
    await put_person(client, 1)  # before the endpoint exists: reached only by replay
    await put_person(client, 2)
    await asyncio.sleep(0.3)  # let the worker fan these out (to nobody)
    endpoint = await create_endpoint(client, receiver, "replay")
    await put_person(client, 1, emails=[{"address": "new@mail1.example.jp"}])
    await receiver.wait_for("replay", lambda r: len(r) == 1)

    since = await client.post(
        f"/v1/webhooks/endpoints/{endpoint['id']}/replay", json={"since": before.isoformat()}
    )
    assert since.json() == {"queued": 3}
    got = await receiver.wait_for("replay", lambda r: len(r) == 4)
    replayed = got[1:]
    assert sorted((r.payload["type"], r.version) for r in replayed) == [
        ("customer.created", 1),
        ("customer.created", 1),
        ("customer.updated", 2),
    ]
    for versions in by_customer(replayed).values():
        assert in_order(versions)

    changes = (await client.get("/v1/changes")).json()["items"]
    second = changes[1]["data"]["event_id"]
    from_event = await client.post(
        f"/v1/webhooks/endpoints/{endpoint['id']}/replay", json={"from_event_id": second}
    )
    assert from_event.json() == {"queued": 2}
    got = await receiver.wait_for("replay", lambda r: len(r) == 6)
    assert {r.msg_id for r in got[4:]} == {second, changes[2]["data"]["event_id"]}

    unknown = await client.post(
        f"/v1/webhooks/endpoints/{endpoint['id']}/replay",
        json={"from_event_id": "00000000-0000-0000-0000-000000000000"},
    )
    assert unknown.status_code == 404
    naive = await client.post(
        f"/v1/webhooks/endpoints/{endpoint['id']}/replay", json={"since": "2026-01-01T00:00:00"}
    )
    assert naive.status_code == 422


async def test_secret_rotation_signs_with_both_during_the_overlap(
    client: httpx.AsyncClient, receiver: Receiver, workers: Workers, app: Any
) -> None:
    endpoint = await create_endpoint(client, receiver, "rotate")
    workers.start()
    await put_person(client, 1)
    [before] = await receiver.wait_for("rotate", lambda r: len(r) == 1)
    assert before.verified_with == [0]

    rotated = (await client.post(f"/v1/webhooks/endpoints/{endpoint['id']}/rotate-secret")).json()
    receiver.add_secret("rotate", rotated["secret"])
    await put_person(client, 1, emails=[{"address": "r@mail1.example.jp"}])
    got = await receiver.wait_for("rotate", lambda r: len(r) == 2)
    # During the overlap both the old (0) and the new (1) secret verify the same message.
    assert got[1].verified_with == [0, 1]
    assert len(got[1].headers["webhook-signature"].split(" ")) == 2

    async with app.state.engine.begin() as conn:  # the overlap ends
        await conn.execute(
            text("UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1s'")
        )
    await put_person(client, 1, emails=[{"address": "s@mail1.example.jp"}])
    got = await receiver.wait_for("rotate", lambda r: len(r) == 3)
    assert got[2].verified_with == [1]


async def test_retention_prunes_old_delivered_rows(
    client: httpx.AsyncClient, receiver: Receiver, workers: Workers, app: Any, database_url: str
) -> None:
    endpoint = await create_endpoint(client, receiver, "prune")
    workers.start()
    await put_person(client, 1)
    await put_person(client, 2)
    await receiver.wait_for("prune", lambda r: len(r) == 2)
    await _wait_log(client, endpoint["id"], lambda log: len(log) == 2)
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE webhook_deliveries SET finished_at = now() - interval '8 days' "
                "WHERE id = (SELECT min(id) FROM webhook_deliveries)"
            )
        )
    deleted = await prune(app.state.engine, worker_settings(database_url))
    assert deleted == 1
    assert len(await _log(client, endpoint["id"])) == 1


async def test_change_feed_pages_in_order(client: httpx.AsyncClient) -> None:
    for i in range(3):
        await put_person(client, i)
    await put_person(client, 0, emails=[{"address": "z@mail0.example.jp"}])
    first = (await client.get("/v1/changes", params={"limit": 3})).json()
    assert first["has_more"] is True
    second = (await client.get("/v1/changes", params={"after": first["next_cursor"]})).json()
    assert second["has_more"] is False
    items = first["items"] + second["items"]
    assert [i["type"] for i in items] == ["customer.created"] * 3 + ["customer.updated"]
    assert items[3]["data"]["customer_version"] == 2
    empty = (await client.get("/v1/changes", params={"after": second["next_cursor"]})).json()
    assert empty["items"] == [] and empty["next_cursor"] == second["next_cursor"]
    bad = await client.get("/v1/changes", params={"after": "garbage"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "after"
