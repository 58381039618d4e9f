"""Sequence numbers are not commit order: the feed and the worker must not skip or reorder.

These tests hold a writer's transaction open (a direct insert into the outbox, as
``append_event`` does) while other changes commit through the API.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.events.conftest import Workers, by_customer, create_endpoint, put_person
from tests.events.receiver import Receiver


async def _append_raw_event(conn: AsyncConnection, customer_id: str, version: int) -> str:
    event_id = str(uuid.uuid4())
    await conn.execute(
        text(
            """
            INSERT INTO customer_events (event_id, type, customer_id, customer_version,
                                         changed_fields, payload, occurred_at)
            VALUES (:event_id, 'customer.updated', :customer_id, :version,
                    '["/emails"]', CAST(:payload AS jsonb), now())
            """
        ),
        {
            "event_id": event_id,
            "customer_id": customer_id,
            "version": version,
            "payload": f'{{"id": "{customer_id}", "kind": "person", "version": {version}}}',
        },
    )
    return event_id


async def _feed(client: httpx.AsyncClient, after: str | None = None) -> dict[str, Any]:
    params = {"after": after} if after else {}
    response = await client.get("/v1/changes", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_feed_never_skips_an_event_that_commits_after_a_later_one(
    client: httpx.AsyncClient, app: Any
) -> None:
    first = await put_person(client, 1)
    page = await _feed(client)
    assert [i["data"]["customer_id"] for i in page["items"]] == [first["id"]]
    cursor = page["next_cursor"]

    straggler_customer = str(uuid.uuid4())
    async with app.state.engine.connect() as slow:
        await slow.begin()
        straggler = await _append_raw_event(slow, straggler_customer, 7)  # lower seq, open
        later = await put_person(client, 2)  # higher seq, committed

        # A reader that trusted sequence numbers would now read the later event and move its
        # cursor past the straggler's number, skipping it for good once it commits:
        async with app.state.engine.connect() as naive:
            seqs = (await naive.execute(text("SELECT seq FROM customer_events"))).scalars()
            assert sorted(seqs.all()) == [1, 3]

        # The feed serves nothing past the open transaction yet.
        waiting = await _feed(client, cursor)
        assert waiting["items"] == [] and waiting["next_cursor"] == cursor
        await slow.commit()

    page = await _feed(client, cursor)
    assert page["items"][0]["data"]["event_id"] == straggler
    assert [i["data"]["customer_id"] for i in page["items"]] == [straggler_customer, later["id"]]
    assert (await _feed(client, page["next_cursor"]))["items"] == []


async def test_a_customers_events_keep_commit_order_when_transaction_ids_do_not(
    client: httpx.AsyncClient, app: Any, receiver: Receiver, workers: Workers
) -> None:
    """A transaction that got its id early and changed the customer last comes last."""
    await create_endpoint(client, receiver, "order")
    workers.start()
    customer = await put_person(client, 1)  # version 1
    async with app.state.engine.connect() as early:
        await early.begin()
        await early.execute(text("SELECT pg_current_xact_id()"))  # takes the lower id now
        await put_person(client, 1, emails=[{"address": "v2@mail1.example.jp"}])  # version 2
        await _append_raw_event(early, customer["id"], 3)  # version 3, lower transaction id
        await early.commit()

    items = (await _feed(client))["items"]
    assert [i["data"]["customer_version"] for i in items] == [1, 2, 3]
    got = await receiver.wait_for("order", lambda r: len(r) >= 3)
    assert by_customer(got)[customer["id"]] == [1, 2, 3]


async def test_worker_delivers_an_event_whose_transaction_was_open_during_fan_out(
    client: httpx.AsyncClient, app: Any, receiver: Receiver, workers: Workers
) -> None:
    await create_endpoint(client, receiver, "straggler")
    workers.start()
    straggler_customer = str(uuid.uuid4())
    async with app.state.engine.connect() as slow:
        await slow.begin()
        await _append_raw_event(slow, straggler_customer, 1)
        later = await put_person(client, 2)
        await asyncio.sleep(0.3)  # the worker polls meanwhile: the later event is held back
        assert receiver.got("straggler") == []
        await slow.commit()
    got = await receiver.wait_for("straggler", lambda r: len(r) == 2)
    assert {r.customer_id for r in got} == {straggler_customer, later["id"]}
