"""SQL of the events feature: the outbox insert, the change feed's read, retention, the
dispatcher's fan-out, claims and completion, and the webhook endpoints' subscriptions."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from mdm_hub.db import Base, WritePart, arrays, equal_where_given, run
from mdm_hub.encryption import sealed_json
from mdm_hub.events.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, xid8_param

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
           type AS event_type, customer_id, customer_version, changed_fields, payload,
           occurred_at
    FROM customer_events
    WHERE (order_txid, seq) > ({xid8_param("t")}, :s)
      AND order_txid < pg_snapshot_xmin(pg_current_snapshot())
      AND type <> 'import.completed'  -- an import's summary is for webhooks only
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


# --------------------------------------------------------------------------------------------
# The dispatcher: fan-out, claims, completion (see ``dispatcher``)
# --------------------------------------------------------------------------------------------

# Rows with order_txid below the snapshot's xmin are final: their transaction, and every
# transaction with a lower id, has finished.
_XMIN = "pg_snapshot_xmin(pg_current_snapshot())"

ENDPOINT_MATCHES_SQL = """
    (w.event_types IS NULL OR e.type = ANY(w.event_types))
    AND (w.filter_kinds IS NULL OR (e.payload ->> 'kind') = ANY(w.filter_kinds))
    AND (
        w.filter_changed_fields IS NULL
        OR e.type <> 'customer.updated'
        OR EXISTS (
            SELECT 1
            FROM jsonb_array_elements_text(e.changed_fields) AS f(pointer),
                 unnest(w.filter_changed_fields) AS x(prefix)
            WHERE f.pointer = x.prefix OR starts_with(f.pointer, x.prefix || '/')
        )
    )
"""

QUEUE_UPSERT_SQL = """
    INSERT INTO webhook_queues (endpoint_id, customer_id, next_attempt_at, updated_at)
    SELECT DISTINCT endpoint_id, customer_id, now(), now() FROM inserted
    ORDER BY endpoint_id, customer_id
    ON CONFLICT (endpoint_id, customer_id) DO UPDATE
        SET next_attempt_at = COALESCE(webhook_queues.next_attempt_at, EXCLUDED.next_attempt_at),
            updated_at = now()
"""

_FAN_OUT = text(
    f"""
    WITH inserted AS (
        INSERT INTO webhook_deliveries (
            endpoint_id, kind, event_seq, event_id, event_type, customer_id, status, attempts,
            next_attempt_at, created_at
        )
        SELECT w.id, 'event', e.seq, e.event_id, e.type, e.customer_id, 'pending', 0,
               now(), now()
        FROM customer_events e
        JOIN webhook_endpoints w ON e.occurred_at >= w.created_at
        WHERE (e.order_txid, e.seq) > ({xid8_param("from_txid")}, :from_seq)
          AND (e.order_txid, e.seq) <= ({xid8_param("to_txid")}, :to_seq)
          AND e.webhook
          AND {ENDPOINT_MATCHES_SQL}
        ORDER BY e.order_txid, e.seq
        RETURNING endpoint_id, customer_id
    )
    {QUEUE_UPSERT_SQL}
    """
)

_CLAIM = text(
    """
    WITH due AS (
        SELECT q.endpoint_id, q.customer_id
        FROM webhook_queues q
        JOIN webhook_endpoints w ON w.id = q.endpoint_id AND w.enabled
        WHERE q.next_attempt_at <= now()
          AND (q.leased_until IS NULL OR q.leased_until < now())
        ORDER BY q.next_attempt_at
        LIMIT :limit
        FOR UPDATE OF q SKIP LOCKED
    ),
    claimed AS (
        UPDATE webhook_queues q
        SET leased_until = now() + make_interval(secs => :lease), lease_token = :token,
            updated_at = now()
        FROM due
        WHERE q.endpoint_id = due.endpoint_id AND q.customer_id = due.customer_id
        RETURNING q.endpoint_id, q.customer_id
    )
    SELECT c.endpoint_id, c.customer_id, h.id AS delivery_id, h.kind, h.attempts,
           h.event_id, e.type AS event_type, e.occurred_at, e.customer_version,
           CAST(e.changed_fields AS text) AS changed_fields_json,
           CAST(e.payload AS text) AS payload_json, w.url, w.secret, w.previous_secret,
           w.previous_secret_expires_at
    FROM claimed c
    JOIN webhook_endpoints w ON w.id = c.endpoint_id
    LEFT JOIN LATERAL (
        SELECT d.id, d.kind, d.attempts, d.event_id, d.event_seq
        FROM webhook_deliveries d
        WHERE d.endpoint_id = c.endpoint_id AND d.customer_id = c.customer_id
          AND d.status = 'pending'
        ORDER BY d.event_seq
        LIMIT 1
    ) h ON true
    LEFT JOIN customer_events e ON e.seq = h.event_seq
    """
)


_LOCK_FANOUT_CURSOR = text(
    "SELECT order_txid, seq FROM webhook_fanout_cursor WHERE id FOR UPDATE SKIP LOCKED"
)
_FINAL_EVENTS_AFTER = text(
    f"""
    SELECT CAST(CAST(order_txid AS text) AS bigint) AS order_txid, seq
    FROM customer_events
    WHERE (order_txid, seq) > ({xid8_param("from_txid")}, :from_seq)
      AND order_txid < {_XMIN}
    ORDER BY order_txid, seq
    LIMIT :limit
    """
)


async def lock_fanout_cursor(conn: AsyncConnection) -> tuple[int, int] | None:
    """The fan-out cursor (order_txid, seq), locked; None when another worker holds it."""
    row = (await conn.execute(_LOCK_FANOUT_CURSOR)).first()
    return None if row is None else (row.order_txid, row.seq)


async def ensure_fanout_cursor(conn: AsyncConnection) -> None:
    """Make the cursor's single row if it does not exist yet."""
    exists = await conn.scalar(text("SELECT count(*) FROM webhook_fanout_cursor"))
    if not exists:
        await conn.execute(
            text(
                "INSERT INTO webhook_fanout_cursor (id, order_txid, seq, updated_at) "
                "VALUES (true, 0, 0, now()) ON CONFLICT DO NOTHING"
            )
        )


async def final_events_after(
    conn: AsyncConnection, from_txid: int, from_seq: int, limit: int
) -> list[tuple[int, int]]:
    """(order_txid, seq) of up to ``limit`` final events after the given position."""
    result = await conn.execute(
        _FINAL_EVENTS_AFTER, {"from_txid": from_txid, "from_seq": from_seq, "limit": limit}
    )
    return [(row.order_txid, row.seq) for row in result]


async def fan_out(conn: AsyncConnection, after: tuple[int, int], through: tuple[int, int]) -> None:
    """Deliveries (and due queue pairs) for the events after ``after`` up to ``through``."""
    await conn.execute(
        _FAN_OUT,
        {
            "from_txid": after[0],
            "from_seq": after[1],
            "to_txid": through[0],
            "to_seq": through[1],
        },
    )


_INSERT_EVENTS = """
    INSERT INTO customer_events
        (event_id, type, customer_id, customer_version, changed_fields, payload, occurred_at,
         webhook)
    SELECT e.event_id, e.type, e.customer_id, e.customer_version, CAST(e.changed AS jsonb),
           CAST(e.payload AS jsonb), e.occurred_at, CAST(:webhook AS boolean)
    FROM unnest(
        CAST(:event_ids AS uuid[]), CAST(:types AS text[]), CAST(:customer_ids AS uuid[]),
        CAST(:versions AS integer[]), CAST(:changed AS text[]), CAST(:payloads AS text[]),
        CAST(:occurred AS timestamptz[])
    ) WITH ORDINALITY AS e(event_id, type, customer_id, customer_version, changed, payload,
                           occurred_at, position)
    ORDER BY e.position
"""


def insert_events(events: Sequence[dict[str, Any]], *, webhook: bool = True) -> WritePart | None:
    """Change events in order (``insert_event``'s parameters each, JSON as Python values), as
    one multi-row insert for ``db.write_together``; their JSON is serialized here.
    ``webhook=False``: in the change feed, sent to no webhook."""
    if not events:
        return None
    return WritePart(
        _INSERT_EVENTS,
        {
            **arrays(events, event_ids="event_id", types="type", customer_ids="customer_id"),
            **arrays(events, versions="customer_version", occurred="occurred_at"),
            "changed": [json.dumps(e["changed_fields"], ensure_ascii=False) for e in events],
            "payloads": [sealed_json(e["payload"]) for e in events],
            "webhook": webhook,
        },
    )


async def move_fanout_cursor(conn: AsyncConnection, order_txid: int, seq: int) -> None:
    sql = "UPDATE webhook_fanout_cursor SET order_txid = :t, seq = :s, updated_at = now() WHERE id"
    await run(conn, sql, t=order_txid, s=seq)


async def claim_due(
    conn: AsyncConnection, limit: int, lease_seconds: float, token: uuid.UUID
) -> Sequence[Row[Any]]:
    """Lease up to ``limit`` due (endpoint, customer) pairs with ``token``; each with its head."""
    result = await conn.execute(_CLAIM, {"limit": limit, "lease": lease_seconds, "token": token})
    return result.all()


async def lock_queues(
    conn: AsyncConnection, endpoint_ids: list[uuid.UUID], customer_ids: list[uuid.UUID]
) -> None:
    """Lock the queue rows of these pairs, in (endpoint, customer) order."""
    await conn.execute(
        text(
            """
            SELECT 1 FROM webhook_queues
            WHERE (endpoint_id, customer_id) IN (
                SELECT * FROM unnest(CAST(:e AS uuid[]), CAST(:c AS uuid[])))
            ORDER BY endpoint_id, customer_id
            FOR UPDATE
            """
        ),
        {"e": endpoint_ids, "c": customer_ids},
    )


async def disable_endpoint(conn: AsyncConnection, endpoint_id: uuid.UUID, reason: str) -> None:
    sql = (
        "UPDATE webhook_endpoints SET enabled = false, updated_at = now(), "
        "disabled_reason = :reason WHERE id = :id AND enabled"
    )
    await run(conn, sql, id=endpoint_id, reason=reason)


async def release_queues(
    conn: AsyncConnection,
    endpoint_ids: list[uuid.UUID],
    customer_ids: list[uuid.UUID],
    tokens: list[uuid.UUID],
    delays: list[float | None],
) -> None:
    """Release the leases held with ``tokens``; each pair is due after its delay, or at once
    when it has more pending deliveries (no delay), or not at all."""
    await conn.execute(
        text(
            """
            UPDATE webhook_queues q
            SET leased_until = NULL, lease_token = NULL, updated_at = now(),
                next_attempt_at = CASE
                    WHEN r.delay IS NOT NULL
                        THEN now() + make_interval(secs => r.delay)
                    WHEN EXISTS (
                        SELECT 1 FROM webhook_deliveries d
                        WHERE d.endpoint_id = q.endpoint_id
                          AND d.customer_id = q.customer_id AND d.status = 'pending')
                        THEN now()
                    ELSE NULL
                END
            FROM unnest(CAST(:e AS uuid[]), CAST(:c AS uuid[]), CAST(:t AS uuid[]),
                        CAST(:delay AS float8[])) AS r(e, c, t, delay)
            WHERE q.endpoint_id = r.e AND q.customer_id = r.c AND q.lease_token = r.t
            """
        ),
        {"e": endpoint_ids, "c": customer_ids, "t": tokens, "delay": delays},
    )


async def finish_deliveries(
    conn: AsyncConnection,
    ids: list[int | None],
    statuses: list[str],
    delays: list[float | None],
    attempted_at: list[dt.datetime | None],
) -> None:
    """Count one more attempt on each pending delivery and set its status."""
    await conn.execute(
        text(
            """
            WITH r AS (
                SELECT * FROM unnest(
                    CAST(:id AS bigint[]), CAST(:status AS text[]),
                    CAST(:delay AS float8[]), CAST(:at AS timestamptz[])
                ) AS r(id, status, delay, at)
            )
            UPDATE webhook_deliveries d
            SET status = r.status,
                attempts = d.attempts + 1,
                last_attempt_at = r.at,
                next_attempt_at = CASE WHEN r.status = 'pending'
                    THEN now() + make_interval(secs => COALESCE(r.delay, 0)) END,
                finished_at = CASE WHEN r.status <> 'pending' THEN now() END
            FROM r
            WHERE d.id = r.id AND d.status = 'pending'
            """
        ),
        {"id": ids, "status": statuses, "delay": delays, "at": attempted_at},
    )


async def insert_attempts(conn: AsyncConnection, columns: dict[str, list[Any]]) -> None:
    """The attempt log rows, one per delivery: ``columns`` holds one list per column (id,
    endpoint, attempt, at, outcome, status, latency, error, delay)."""
    await conn.execute(
        text(
            """
            INSERT INTO webhook_attempts (
                delivery_id, endpoint_id, attempt, attempted_at, outcome, response_status,
                latency_ms, error, next_attempt_at
            )
            SELECT r.id, r.endpoint_id, r.attempt, COALESCE(r.at, now()), r.outcome,
                   r.status, r.latency, r.error,
                   CASE WHEN r.outcome = 'retrying'
                        THEN now() + make_interval(secs => COALESCE(r.delay, 0)) END
            FROM unnest(
                CAST(:id AS bigint[]), CAST(:endpoint AS uuid[]), CAST(:attempt AS int[]),
                CAST(:at AS timestamptz[]), CAST(:outcome AS text[]),
                CAST(:status AS int[]), CAST(:latency AS int[]), CAST(:error AS text[]),
                CAST(:delay AS float8[])
            ) AS r(id, endpoint_id, attempt, at, outcome, status, latency, error, delay)
            JOIN webhook_deliveries d ON d.id = r.id
            """
        ),
        columns,
    )


async def release_leases(
    conn: AsyncConnection,
    endpoint_ids: list[uuid.UUID],
    customer_ids: list[uuid.UUID],
    tokens: list[uuid.UUID],
) -> None:
    """Give leases back without an attempt; the pairs stay due."""
    await conn.execute(
        text(
            """
            UPDATE webhook_queues q
            SET leased_until = NULL, lease_token = NULL, updated_at = now()
            FROM unnest(CAST(:e AS uuid[]), CAST(:c AS uuid[]), CAST(:t AS uuid[]))
                 AS r(e, c, t)
            WHERE q.endpoint_id = r.e AND q.customer_id = r.c AND q.lease_token = r.t
            """
        ),
        {"e": endpoint_ids, "c": customer_ids, "t": tokens},
    )


# --------------------------------------------------------------------------------------------
# Webhook endpoints: subscriptions, the delivery log, replay (see ``subscriptions``)
# --------------------------------------------------------------------------------------------


async def notify(session: AsyncSession, channel: str, what: str) -> None:
    """NOTIFY ``channel`` when this transaction commits."""
    await session.execute(text("SELECT pg_notify(:c, :w)"), {"c": channel, "w": what})


async def insert_rows(session: AsyncSession, *rows: Base) -> None:
    """Insert new rows (ORM objects) now, so that their generated ids are known."""
    session.add_all(rows)
    await session.flush()


async def delivery_counts(
    session: AsyncSession, endpoint_ids: list[uuid.UUID]
) -> Sequence[Row[uuid.UUID, str, int]]:
    """(endpoint_id, status, count) of the pending and dead deliveries of these endpoints."""
    rows = await session.execute(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count())
        .where(
            WebhookDelivery.endpoint_id.in_(endpoint_ids),
            WebhookDelivery.status.in_(("pending", "dead")),
        )
        .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.status)
    )
    return rows.all()


async def find_endpoint(
    session: AsyncSession, endpoint_id: uuid.UUID, *, lock: bool = False
) -> WebhookEndpoint | None:
    query = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def endpoints_after(
    session: AsyncSession, after: tuple[dt.datetime, uuid.UUID] | None, limit: int
) -> list[WebhookEndpoint]:
    """Up to ``limit`` endpoints after (created_at, id), in that order."""
    query = (
        select(WebhookEndpoint)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(
            func.row(WebhookEndpoint.created_at, WebhookEndpoint.id) > func.row(*after)
        )
    return list((await session.scalars(query)).all())


async def delete_endpoint(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    """Delete the endpoint (its deliveries and attempts go with it)."""
    await session.delete(endpoint)
    await session.flush()


@dataclass
class AttemptFilters:
    outcome: str | None = None
    delivery_status: str | None = None
    event_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    delivery_id: int | None = None


async def attempts_before(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    filters: AttemptFilters,
    before_id: int | None,
    limit: int,
) -> list[tuple[WebhookAttempt, WebhookDelivery]]:
    """Up to ``limit`` attempts of one endpoint before ``before_id``, newest first."""
    query = (
        select(WebhookAttempt, WebhookDelivery)
        .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
        .where(
            WebhookAttempt.endpoint_id == endpoint_id,
            *equal_where_given(
                (WebhookAttempt.outcome, filters.outcome),
                (WebhookDelivery.status, filters.delivery_status),
                (WebhookDelivery.event_id, filters.event_id),
                (WebhookDelivery.customer_id, filters.customer_id),
                (WebhookDelivery.id, filters.delivery_id),
            ),
        )
        .order_by(WebhookAttempt.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(WebhookAttempt.id < before_id)
    return [(a, d) for a, d in (await session.execute(query)).all()]


async def lock_delivery(
    session: AsyncSession, endpoint_id: uuid.UUID, delivery_id: int
) -> WebhookDelivery | None:
    return await session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint_id)
        .with_for_update()
    )


async def requeue_delivery(session: AsyncSession, delivery_id: int) -> None:
    """A dead letter back to pending with a fresh retry schedule; its pair is due."""
    await session.execute(
        text(
            """
            WITH inserted AS (
                UPDATE webhook_deliveries
                SET status = 'pending', attempts = 0, next_attempt_at = now(),
                    finished_at = NULL
                WHERE id = :id
                RETURNING endpoint_id, customer_id
            )
            """
            + QUEUE_UPSERT_SQL
        ),
        {"id": delivery_id},
    )


async def event_exists(session: AsyncSession, event_id: uuid.UUID | None) -> bool:
    known = await session.scalar(
        text("SELECT 1 FROM customer_events WHERE event_id = :id"), {"id": event_id}
    )
    return known is not None


_REPLAY_SELECT = f"""
    FROM customer_events e
    JOIN webhook_endpoints w ON w.id = :endpoint_id
    JOIN webhook_fanout_cursor cur ON cur.id
    WHERE (e.order_txid, e.seq) <= (CAST(CAST(cur.order_txid AS text) AS xid8), cur.seq)
      AND {{start}}
      AND {ENDPOINT_MATCHES_SQL}
"""
_START_SINCE = "e.occurred_at >= :since"
_START_EVENT = """(e.order_txid, e.seq) >= (
    SELECT s.order_txid, s.seq FROM customer_events s WHERE s.event_id = :event_id)"""


@dataclass(frozen=True)
class ReplaySelection:
    """The events a replay queues (``FROM`` onwards, and its parameters): see
    ``replay_selection``."""

    sql: str
    params: dict[str, Any]


def replay_selection(
    endpoint_id: uuid.UUID, since: dt.datetime | None, from_event_id: uuid.UUID | None
) -> ReplaySelection:
    """The events a replay queues: from ``since`` if given, else from ``from_event_id``."""
    params: dict[str, Any]
    if since is not None:
        start, params = _START_SINCE, {"since": since}
    else:
        start, params = _START_EVENT, {"event_id": from_event_id}
    params["endpoint_id"] = endpoint_id
    return ReplaySelection(_REPLAY_SELECT.format(start=start), params)


async def count_replay(session: AsyncSession, selection: ReplaySelection) -> int:
    """How many events a replay would queue (see ``queue_replay``)."""
    return int(
        await session.scalar(text(f"SELECT count(*) {selection.sql}"), selection.params) or 0
    )


async def queue_replay(session: AsyncSession, selection: ReplaySelection) -> None:
    """Deliveries of kind ``replay`` for the matching events fanned out so far; pairs due."""
    await session.execute(
        text(
            f"""
            WITH inserted AS (
                INSERT INTO webhook_deliveries (
                    endpoint_id, kind, event_seq, event_id, event_type, customer_id, status,
                    attempts, next_attempt_at, created_at
                )
                SELECT w.id, 'replay', e.seq, e.event_id, e.type, e.customer_id, 'pending', 0,
                       now(), now()
                {selection.sql}
                ORDER BY e.order_txid, e.seq
                RETURNING endpoint_id, customer_id
            )
            {QUEUE_UPSERT_SQL}
            """
        ),
        selection.params,
    )


_INSERT_SUMMARY = """
    INSERT INTO customer_events
        (event_id, type, customer_id, customer_version, changed_fields, payload, occurred_at)
    VALUES (
        gen_random_uuid(), 'import.completed', CAST(:job_id AS uuid), 1, '[]',
        CAST(:payload AS jsonb), now()
    )
"""


async def insert_summary_event(session: AsyncSession, job_id: Any, payload: dict[str, Any]) -> None:
    """The one webhook event of an import that asked for a summary (its ``customer_id`` is the
    import's id: the key its deliveries are ordered by)."""
    await session.execute(
        text(_INSERT_SUMMARY),
        {"job_id": job_id, "payload": json.dumps(payload, ensure_ascii=False, default=str)},
    )
