"""The stored answers of idempotent POSTs: read, store (replacing an expired one), prune."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from mdm_hub.encryption import seal_bytes, unseal_bytes

from .models import IdempotencyRecord


async def stored_answer(
    session: AsyncSession, principal: str, key: str
) -> IdempotencyRecord | None:
    stored = await session.get(IdempotencyRecord, (principal, key))
    if stored is not None:
        set_committed_value(stored, "body", unseal_bytes(stored.body))
    return stored


async def store_answer(session: AsyncSession, values: dict[str, Any]) -> None:
    """Insert the answer; one stored under the same principal and key is replaced."""
    statement = insert(IdempotencyRecord).values({**values, "body": seal_bytes(values["body"])})
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["principal", "key"],
            set_={k: statement.excluded[k] for k in values if k not in ("principal", "key")},
        )
    )


async def prune(conn: AsyncConnection, ttl: dt.timedelta) -> int:
    """Delete stored answers older than ``ttl`` (at most 10,000 per call)."""
    result = await conn.execute(
        text(
            """
            DELETE FROM idempotency_keys WHERE ctid IN (
                SELECT ctid FROM idempotency_keys
                WHERE created_at < now() - make_interval(secs => :seconds) LIMIT 10000)
            """
        ),
        {"seconds": ttl.total_seconds()},
    )
    return result.rowcount
