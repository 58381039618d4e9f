"""The connection pool: a connection that died while idle is replaced, not handed out."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text

from mdm_hub import db
from mdm_hub.settings import Settings


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
