"""Errors the worker cannot act on are logged with what they concern, never dropped silently
(issue 14, item 7)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from mdm_hub.app import create_app
from mdm_hub.events.dispatcher import Dispatcher
from mdm_hub.settings import Settings
from tests.conftest import _asyncpg_dsn
from tests.events.conftest import Workers, create_endpoint, put_person
from tests.events.receiver import Receiver


@asynccontextmanager
async def _trigger(database_url: str, table: str, event: str, when: str) -> AsyncIterator[None]:
    """A trigger that makes PostgreSQL refuse these writes: a real database failure."""
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    await conn.execute(
        f"""
        CREATE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'refused'; END $$;
        CREATE TRIGGER refuse_write BEFORE {event} ON {table}
          FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION refuse_write();
        """
    )
    try:
        yield
    finally:
        await conn.execute(f"DROP TRIGGER refuse_write ON {table}; DROP FUNCTION refuse_write()")
        await conn.close()


@contextmanager
def _errors() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                records.append(record)

    handler = Keep()
    logging.getLogger().addHandler(handler)
    try:
        yield records
    finally:
        logging.getLogger().removeHandler(handler)


async def _pending_delivery_ids(database_url: str) -> set[int]:
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch("SELECT id FROM webhook_deliveries WHERE status = 'pending'")
    finally:
        await conn.close()
    return {r["id"] for r in rows}


async def _wait(predicate: Any, within: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met"
        await asyncio.sleep(0.05)


async def test_an_attempt_that_cannot_be_recorded_is_logged_with_its_delivery(
    client: httpx.AsyncClient, receiver: Receiver, workers: Workers, database_url: str
) -> None:
    await create_endpoint(client, receiver, "a")
    await put_person(client, 1)
    await put_person(client, 2)
    async with _trigger(database_url, "webhook_attempts", "INSERT", "true"):
        with _errors() as errors:
            workers.start()
            await receiver.wait_for("a", lambda got: len(got) >= 2)

            def logged(ids: set[int]) -> bool:
                text = " ".join(r.getMessage() for r in errors)
                return bool(ids) and all(f"delivery {i} " in text for i in ids)

            ids = await _pending_delivery_ids(database_url)
            await _wait(lambda: logged(ids))
            await workers.stop()
    assert all(r.exc_info for r in errors if "could not record" in r.getMessage())


async def test_leases_that_cannot_be_released_at_shutdown_are_logged(
    client: httpx.AsyncClient, receiver: Receiver, workers: Workers, database_url: str
) -> None:
    await create_endpoint(client, receiver, "a")
    await put_person(client, 1)
    receiver.delay_seconds = 5  # still in flight when the worker stops
    releasing = "OLD.lease_token IS NOT NULL AND NEW.lease_token IS NULL"
    async with _trigger(database_url, "webhook_queues", "UPDATE", releasing):
        with _errors() as errors:
            workers.start(shutdown_grace_seconds=0)
            for _ in range(400):
                if await _leased(database_url):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # the request is on its way
            (delivery_id,) = await _pending_delivery_ids(database_url)
            await workers.stop()
    messages = [r.getMessage() for r in errors]
    assert any("release" in m and str(delivery_id) in m for m in messages), messages


async def _leased(database_url: str) -> bool:
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        return bool(
            await conn.fetchval("SELECT count(*) FROM webhook_queues WHERE lease_token IS NOT NULL")
        )
    finally:
        await conn.close()


async def test_the_in_process_worker_failing_is_logged_at_shutdown(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fails_on_stop(self: Dispatcher, stop: asyncio.Event) -> None:
        await stop.wait()
        raise RuntimeError("the worker broke while stopping")

    monkeypatch.setattr(Dispatcher, "run", fails_on_stop)
    app = create_app(Settings(database_url=database_url), run_worker=True)
    with _errors() as errors:
        async with app.router.lifespan_context(app):
            pass
    (record,) = [r for r in errors if "in-process webhook worker" in r.getMessage()]
    assert record.exc_info and "the worker broke" in str(record.exc_info[1])
