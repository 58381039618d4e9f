"""SQL of the events feature: the outbox insert, the change feed's read, retention.

The dispatcher's and the subscriptions' statements are still in their own modules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from mdm_hub.db import WritePart
from mdm_hub.events.models import xid8_param

_INSERT_EVENT = """
    INSERT INTO customer_events
        (event_id, type, customer_id, customer_version, changed_fields, payload, occurred_at)
    VALUES (
        CAST(:event_id AS uuid), CAST(:type AS text), CAST(:customer_id AS uuid),
        CAST(:customer_version AS integer), CAST(:changed_fields AS jsonb),
        CAST(:payload AS jsonb), CAST(:occurred_at AS timestamptz)
    )
"""


def insert_event(params: dict[str, Any]) -> WritePart:
    """One change event (JSON columns as text), for ``db.write_together``."""
    return WritePart(_INSERT_EVENT, params)


_CHANGES_AFTER = text(
    f"""
    SELECT CAST(CAST(order_txid AS text) AS bigint) AS order_txid, seq, event_id,
           type, customer_id, customer_version, changed_fields, payload,
           occurred_at
    FROM customer_events
    WHERE (order_txid, seq) > ({xid8_param("t")}, :s)
      AND order_txid < pg_snapshot_xmin(pg_current_snapshot())
    ORDER BY order_txid, seq
    LIMIT :limit
    """
)


async def changes_after(
    session: AsyncSession, order_txid: int, seq: int, limit: int
) -> Sequence[Row[Any]]:
    """Up to ``limit`` final events after (order_txid, seq), in that order (see ``feed``)."""
    result = await session.execute(_CHANGES_AFTER, {"t": order_txid, "s": seq, "limit": limit})
    return result.all()


_PRUNE_DELIVERIES = text(
    """
    DELETE FROM webhook_deliveries WHERE id IN (
        SELECT id FROM webhook_deliveries
        WHERE status <> 'pending' AND status = ANY(CAST(:statuses AS text[]))
          AND finished_at < now() - make_interval(secs => :seconds)
        LIMIT 10000)
    """
)
_PRUNE_IDLE_QUEUES = text(
    """
    DELETE FROM webhook_queues
    WHERE next_attempt_at IS NULL AND leased_until IS NULL
      AND updated_at < now() - make_interval(secs => :seconds)
    """
)


async def prune_deliveries(conn: AsyncConnection, statuses: list[str], seconds: float) -> int:
    """Delete finished deliveries in ``statuses`` older than ``seconds`` (at most 10,000)."""
    result = await conn.execute(_PRUNE_DELIVERIES, {"statuses": statuses, "seconds": seconds})
    return result.rowcount


async def prune_idle_queues(conn: AsyncConnection, seconds: float) -> None:
    """Delete queue rows with nothing to send that were last used ``seconds`` ago."""
    await conn.execute(_PRUNE_IDLE_QUEUES, {"seconds": seconds})
