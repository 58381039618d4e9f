"""The connection pool: a connection that died while idle is replaced, not handed out."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.exc import DBAPIError

from mdm_hub import db
from mdm_hub.encryption import Keyring
from mdm_hub.observability.statements import counted_statements
from mdm_hub.privacy.fields import open_keyring
from mdm_hub.settings import Settings
from tests.conftest import TEST_FIELD_KEY


async def test_a_dead_idle_connection_is_replaced(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.create_engine(database_url, Settings(database_url=database_url, db_pool_size=1))
    try:
        async with engine.connect() as conn:
            first = await conn.scalar(text("SELECT pg_backend_pid()"))
        async with engine.connect() as conn:  # used moments ago: the same connection, no check
            assert await conn.scalar(text("SELECT pg_backend_pid()")) == first
        other = await asyncpg.connect(db.sqlalchemy_url(database_url).replace("+asyncpg", ""))
        try:  # the server ends it while it sits in the pool (a restart, an idle timeout)
            await other.execute("SELECT pg_terminate_backend($1)", first)
        finally:
            await other.close()
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # "idle for long enough"
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT pg_backend_pid()")) != first
    finally:
        await engine.dispose()


async def test_statements_counted_while_the_keyring_reload_pings(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The idle ping runs inside SQLAlchemy's loop over the pool's checkout listeners, and
    asyncpg hands the event loop to other tasks until the server answers. The statement counter
    used to add and remove a listener of the pool; done while the keyring refresher's reload
    pinged, it ended that loop with "deque mutated during iteration" (a CI run: the refresher
    died, and the app's shutdown re-raised its error). Here the ping is held until the counter
    has started and stopped, so the interleaving is the same at every run."""
    engine = db.create_engine(database_url, Settings(database_url=database_url, db_pool_size=1))
    try:
        async with engine.connect() as conn:  # a pooled connection, to be pinged at checkout
            await conn.execute(text("SELECT 1"))
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
        pinging, answer = asyncio.Event(), asyncio.Event()
        ping = AsyncAdapt_asyncpg_connection._async_ping

        async def held_ping(self: Any) -> None:
            pinging.set()
            await answer.wait()
            await ping(self)

        monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "_async_ping", held_ping)
        reload = asyncio.create_task(open_keyring(engine, TEST_FIELD_KEY))  # the refresher's
        await asyncio.wait_for(pinging.wait(), 60)
        with counted_statements(engine) as seen:
            pass
        with counted_statements(engine) as seen:
            answer.set()
            keyring = await asyncio.wait_for(reload, 60)
        assert isinstance(keyring, Keyring)
        assert any("data_keys" in statement for statement in seen), seen
    finally:
        await engine.dispose()


async def test_a_connection_that_died_moments_after_use_fails_one_request_only(
    database_url: str,
) -> None:
    # Used moments ago, so the pool does not ping it: the write path's first statement (sent
    # to asyncpg directly, with the BEGIN it starts) finds it dead, and must invalidate it.
    engine = db.create_engine(database_url, Settings(database_url=database_url, db_pool_size=1))
    sessions = db.create_sessionmaker(engine)
    pid_sql = "SELECT pg_backend_pid() AS pid"
    try:
        async with sessions() as session:
            first = (await db.fetch(session, pid_sql, {}))[0]["pid"]
            await session.commit()
        other = await asyncpg.connect(db.sqlalchemy_url(database_url).replace("+asyncpg", ""))
        try:
            await other.execute("SELECT pg_terminate_backend($1)", first)
        finally:
            await other.close()
        with pytest.raises(DBAPIError) as failed:
            async with sessions() as session:
                await db.fetch(session, pid_sql, {})
        assert failed.value.connection_invalidated
        for _ in range(2):
            async with sessions() as session:
                assert (await db.fetch(session, pid_sql, {}))[0]["pid"] != first
                await session.commit()
    finally:
        await engine.dispose()


async def test_a_write_on_a_lost_connection_answers_503_and_the_retry_succeeds(
    client: httpx.AsyncClient, database_url: str
) -> None:
    body = {"kind": "person", "name": "山田太郎", "birth_date": "1980-05-05"}
    assert (await client.put("/v1/sources/crm/records/1", json=body)).status_code == 201
    other = await asyncpg.connect(db.sqlalchemy_url(database_url).replace("+asyncpg", ""))
    try:  # a server restart: every pooled connection of the app ends at once
        await other.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await other.close()
    lost = await client.put("/v1/sources/crm/records/2", json=body)
    assert lost.status_code == 503, lost.text
    assert lost.headers["retry-after"] == "1"
    assert lost.headers["content-type"].startswith("application/problem+json")
    retried = await client.put("/v1/sources/crm/records/2", json=body)
    assert retried.status_code == 201, retried.text
    assert retried.json()["decision"]["outcome"] == "merged"
