"""The change feed (`GET /v1/changes`): every customer event, in an order that never skips.

Events are read in ``(order_txid, seq)`` order, and only those with
``order_txid < pg_snapshot_xmin(pg_current_snapshot())``: the writing transaction and every
transaction with a lower id have finished, so no event can later appear before the cursor.
An event whose transaction is still open is not skipped: it is simply not served yet, and
neither is anything after it in this order. One customer's events come in the order they were
committed (see mdm_hub.events.models).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.events import repository
from mdm_hub.events.signing import event_payload
from mdm_hub.pagination import decode_cursor, encode_cursor


@dataclass(frozen=True)
class Position:
    """Where a reader is: after the event at (order_txid, seq)."""

    order_txid: int = 0
    seq: int = 0

    def encode(self) -> str:
        return encode_cursor({"t": self.order_txid, "s": self.seq})

    @classmethod
    def decode(cls, cursor: str, parameter: str = "after") -> Position:
        value = decode_cursor(cursor, parameter, {"t": int, "s": int})
        return cls(value["t"], value["s"])


async def read_changes(
    session: AsyncSession, after: Position, limit: int
) -> tuple[list[dict[str, Any]], Position, bool]:
    """Up to ``limit`` changes after ``after``; the position after them; whether there is more."""
    rows = await repository.changes_after(session, after.order_txid, after.seq, limit + 1)
    has_more = len(rows) > limit
    rows = rows[:limit]
    items = [event_payload(r, r.changed_fields, r.payload) for r in rows]
    position = Position(rows[-1].order_txid, rows[-1].seq) if rows else after
    return items, position, has_more
