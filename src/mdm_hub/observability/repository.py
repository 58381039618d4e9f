"""The SQL behind the gauges of ``/metrics``: counts read across features' tables."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def pending_candidates(conn: AsyncConnection) -> int:
    """The review queue's length."""
    count = await conn.scalar(
        text("SELECT count(*) FROM match_candidates WHERE status = 'pending'")
    )
    return int(count or 0)


# The oldest event not yet handed to every endpoint: one the fan-out has not reached (no
# worker running, or behind), or one with a delivery still pending.
_OUTBOX_LAG = text(
    """
    SELECT EXTRACT(EPOCH FROM now() - LEAST(
        (SELECT e.occurred_at FROM customer_events e
         WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled)
           AND (e.order_txid, e.seq) > (
               COALESCE((SELECT CAST(CAST(order_txid AS text) AS xid8)
                         FROM webhook_fanout_cursor), CAST('0' AS xid8)),
               COALESCE((SELECT seq FROM webhook_fanout_cursor), 0))
         ORDER BY e.order_txid, e.seq LIMIT 1),
        (SELECT min(e.occurred_at)
         FROM webhook_deliveries d JOIN customer_events e ON e.seq = d.event_seq
         WHERE d.status = 'pending')))
    """
)


async def outbox_lag_seconds(conn: AsyncConnection) -> float:
    """Seconds since the oldest event not yet handed to every endpoint occurred (0: none)."""
    return float(await conn.scalar(_OUTBOX_LAG) or 0)


async def deliveries_by_status(conn: AsyncConnection) -> list[tuple[uuid.UUID, str, int]]:
    """(endpoint_id, status, count) of every endpoint's deliveries."""
    rows = await conn.execute(
        text("SELECT endpoint_id, status, count(*) FROM webhook_deliveries GROUP BY 1, 2")
    )
    return [(endpoint_id, status, count) for endpoint_id, status, count in rows]
