"""The SQL of privacy: erasure across every table that holds a person's data, disclosure reads,
held writes and the access log. Set-based statements on the tables by name, so that this
feature needs no other feature's code."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CursorResult, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from mdm_hub.db import run
from mdm_hub.encryption import sealed_json

ERASED_NAME = "（消去済み）"

_ABSORBED = """
    WITH RECURSIVE absorbed(id) AS (
        SELECT CAST(:id AS uuid)
        UNION
        SELECT c.id FROM customers c JOIN absorbed a ON c.merged_into_id = a.id
    )
    SELECT id FROM absorbed
"""


async def _rows(session: AsyncSession, sql: str, params: dict[str, Any]) -> list[Any]:
    return list((await session.execute(text(sql), params)).mappings().all())


async def _row(session: AsyncSession, sql: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The first row of the statement (None: it has none)."""
    rows = await _rows(session, sql, params)
    return dict(rows[0]) if rows else None


async def lock_customer(session: AsyncSession, customer_id: uuid.UUID) -> dict[str, Any] | None:
    return await _row(
        session,
        "SELECT id, customer_code, kind, status, version, record FROM customers "
        "WHERE id = :id FOR UPDATE",
        {"id": customer_id},
    )


async def customers_behind(session: AsyncSession, customer_id: uuid.UUID) -> list[uuid.UUID]:
    """The customer and every customer merged into it (directly or through others), locked."""
    ids = [r["id"] for r in await _rows(session, _ABSORBED, {"id": customer_id})]
    await session.execute(
        text("SELECT id FROM customers WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"), {"ids": ids}
    )
    return ids


async def source_records_of(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Any]:
    return await _rows(
        session,
        "SELECT id, system, source_id, customer_id, raw_payload, normalized, version, "
        "created_at, updated_at FROM source_records WHERE customer_id = ANY(:ids) "
        "ORDER BY system, source_id FOR UPDATE",
        {"ids": list(ids)},
    )


async def customer_records(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Any]:
    return await _rows(
        session, "SELECT id, record FROM customers WHERE id = ANY(:ids)", {"ids": list(ids)}
    )


async def insert_erasure(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID,
    customer_code: str,
    erased_ids: Sequence[uuid.UUID],
    source_ids: Sequence[str],
    reason: str,
    erased_by: str,
    request_id: str | None,
) -> dict[str, Any]:
    rows = await _rows(
        session,
        "INSERT INTO erasures (id, customer_id, customer_code, erased_customer_ids, source_ids, "
        "reason, erased_by, request_id) VALUES (:id, :customer_id, :code, "
        "CAST(:erased AS jsonb), CAST(:sources AS jsonb), :reason, :by, :request_id) "
        "RETURNING id, customer_id, customer_code, erased_customer_ids, source_ids, reason, "
        "erased_by, request_id, erased_at",
        {
            "id": uuid.uuid4(),
            "customer_id": customer_id,
            "code": customer_code,
            "erased": json.dumps([str(i) for i in erased_ids]),
            "sources": json.dumps(list(source_ids), ensure_ascii=False),
            "reason": reason,
            "by": erased_by,
            "request_id": request_id,
        },
    )
    return dict(rows[0])


async def insert_suppressions(
    session: AsyncSession, erasure_id: uuid.UUID, hashed: Sequence[tuple[str, str]]
) -> None:
    if not hashed:
        return
    sql = (
        "INSERT INTO suppressions (digest, erasure_id, kind) "
        "SELECT d, :erasure_id, k FROM unnest(CAST(:digests AS text[]), "
        "CAST(:kinds AS text[])) AS s(d, k) ON CONFLICT DO NOTHING"
    )
    digests, kinds = [d for _, d in hashed], [k for k, _ in hashed]
    await run(session, sql, erasure_id=erasure_id, digests=digests, kinds=kinds)


async def remove_person_data(
    session: AsyncSession, ids: Sequence[uuid.UUID], stub: dict[str, Any]
) -> None:
    """Remove the data of these customers from every table that holds it; ``stub`` becomes
    their golden record and the payload of their past change events."""
    params: dict[str, Any] = {"ids": list(ids)}
    for sql in (
        "DELETE FROM match_keys WHERE customer_id = ANY(:ids)",
        "DELETE FROM match_candidates WHERE customer_a_id = ANY(:ids) OR customer_b_id = ANY(:ids)",
        "DELETE FROM merge_log WHERE survivor_id = ANY(:ids) OR absorbed_id = ANY(:ids)",
        "DELETE FROM source_records WHERE customer_id = ANY(:ids)",
        # Change requests keep who asked and decided, when; their values and words go, and a
        # request still waiting is withdrawn.
        "UPDATE change_requests SET patch = '{}', changes = '[]', reason = NULL, "
        "comment = 'erased', version = version + 1, status = CASE status WHEN 'pending' "
        "THEN 'withdrawn' ELSE status END, decided_at = coalesce(decided_at, now()) "
        "WHERE customer_id = ANY(:ids)",
        "UPDATE audit_log SET before = NULL, after = NULL "
        "WHERE customer_id = ANY(:ids) AND (before IS NOT NULL OR after IS NOT NULL)",
        # Stored answers of POSTs (a dry-run match, a merge) may quote the person.
        "DELETE FROM idempotency_keys k WHERE EXISTS (SELECT 1 FROM unnest(CAST(:texts AS "
        "text[])) AS t(id) WHERE position(convert_to(t.id, 'UTF8') IN k.body) > 0)",
    ):
        await session.execute(text(sql), {**params, "texts": [str(i) for i in ids]})
    await session.execute(
        text(
            "UPDATE customer_events SET payload = jsonb_build_object('id', customer_id, "
            "'status', 'erased') || CAST(:stub AS jsonb) WHERE customer_id = ANY(:ids)"
        ),
        {**params, "stub": json.dumps(stub, ensure_ascii=False)},
    )
    await session.execute(
        text(
            "UPDATE customers SET record = CAST(:stub AS jsonb), name = :name, name_key = '', "
            "name_kana = NULL, corporate_number = NULL, phones = '{}', emails = '{}', "
            "lineage = '{}', status = 'erased', version = version + 1, updated_at = now() "
            "WHERE id = ANY(:ids)"
        ),
        {**params, "stub": json.dumps(stub, ensure_ascii=False), "name": ERASED_NAME},
    )


async def erasure_of(session: AsyncSession, customer_id: uuid.UUID) -> dict[str, Any] | None:
    return await _row(
        session,
        "SELECT id, customer_id, customer_code, erased_customer_ids, source_ids, reason, "
        "erased_by, request_id, erased_at FROM erasures WHERE customer_id = :id "
        "OR erased_customer_ids ? CAST(:id AS text) ORDER BY erased_at DESC LIMIT 1",
        {"id": customer_id},
    )


# --- disclosure ------------------------------------------------------------------------------


_DISCLOSED = {
    "history": "SELECT id, occurred_at, actor, action, entity_type, entity_id, request_id, "
    "before, after FROM audit_log WHERE customer_id = ANY(:ids) ORDER BY id",
    "events": "SELECT seq, event_id, type, customer_version, changed_fields, occurred_at "
    "FROM customer_events WHERE customer_id = ANY(:ids) ORDER BY seq",
    # Per webhook endpoint: how many of the customers' events it received, first and last.
    "recipients": "SELECT e.id AS endpoint_id, e.url, count(*) AS delivered, "
    "min(d.finished_at) AS first_delivered_at, max(d.finished_at) AS last_delivered_at "
    "FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id "
    "WHERE d.customer_id = ANY(:ids) AND d.status = 'delivered' "
    "GROUP BY e.id, e.url ORDER BY e.url",
}


async def disclosed_history(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[str, list[Any]]:
    """The customers' audit entries (history), change events and webhook recipients."""
    return {part: await _rows(session, sql, {"ids": list(ids)}) for part, sql in _DISCLOSED.items()}


# --- held writes -----------------------------------------------------------------------------


async def insert_held_write(
    session: AsyncSession,
    *,
    erasure_id: str,
    system: str,
    source_id: str,
    payload: dict[str, Any],
    matched: list[str],
    held_by: str,
) -> dict[str, Any]:
    rows = await _rows(
        session,
        "INSERT INTO held_writes (erasure_id, system, source_id, payload, matched, status, "
        "held_by) VALUES (CAST(:erasure_id AS uuid), :system, :source_id, "
        "CAST(:payload AS jsonb), CAST(:matched AS jsonb), 'held', :held_by) "
        "ON CONFLICT (system, source_id) WHERE status = 'held' DO UPDATE SET "
        "erasure_id = EXCLUDED.erasure_id, payload = EXCLUDED.payload, "
        "matched = EXCLUDED.matched, held_by = EXCLUDED.held_by, held_at = now() RETURNING *",
        {
            "erasure_id": erasure_id,
            "system": system,
            "source_id": source_id,
            "payload": sealed_json(payload),
            "matched": json.dumps(matched),
            "held_by": held_by,
        },
    )
    return dict(rows[0])


async def held_writes(
    session: AsyncSession, *, status: str | None, after_id: int, limit: int
) -> list[dict[str, Any]]:
    rows = await _rows(
        session,
        "SELECT * FROM held_writes WHERE (CAST(:status AS text) IS NULL OR status = :status) "
        "AND id > :after ORDER BY id LIMIT :limit",
        {"status": status, "after": after_id, "limit": limit},
    )
    return [dict(r) for r in rows]


async def lock_held_write(session: AsyncSession, held_id: int) -> dict[str, Any] | None:
    sql = "SELECT * FROM held_writes WHERE id = :id FOR UPDATE"
    return await _row(session, sql, {"id": held_id})


async def decide_held_write(
    session: AsyncSession, held_id: int, status: str, decided_by: str
) -> dict[str, Any]:
    rows = await _rows(
        session,
        "UPDATE held_writes SET status = :status, decided_by = :by, decided_at = now(), "
        "payload = CASE WHEN :status = 'rejected' THEN '{}'::jsonb ELSE payload END "
        "WHERE id = :id RETURNING *",
        {"id": held_id, "status": status, "by": decided_by},
    )
    return dict(rows[0])


# --- access log and retention ----------------------------------------------------------------


async def insert_access_entries(session: AsyncSession, entries: Sequence[dict[str, Any]]) -> None:
    if not entries:
        return
    await session.execute(
        text(
            "INSERT INTO pii_access_log (subject, client_id, request_id, customer_id, fields, "
            "what, endpoint) SELECT * FROM unnest(CAST(:subject AS text[]), "
            "CAST(:client_id AS text[]), CAST(:request_id AS text[]), "
            "CAST(:customer_id AS uuid[]), CAST(:fields AS jsonb[]), CAST(:what AS text[]), "
            "CAST(:endpoint AS text[]))"
        ),
        {
            "subject": [e["subject"] for e in entries],
            "client_id": [e["client_id"] for e in entries],
            "request_id": [e["request_id"] for e in entries],
            "customer_id": [e["customer_id"] for e in entries],
            "fields": [json.dumps(e["fields"]) for e in entries],
            "what": [e["what"] for e in entries],
            "endpoint": [e["endpoint"] for e in entries],
        },
    )


async def access_entries(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID | None,
    subject: str | None,
    since: dt.datetime | None,
    before_id: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    rows = await _rows(
        session,
        "SELECT id, accessed_at, subject, client_id, request_id, customer_id, fields, what, "
        "endpoint FROM pii_access_log WHERE (CAST(:customer_id AS uuid) IS NULL OR "
        "customer_id = :customer_id) AND (CAST(:subject AS text) IS NULL OR subject = :subject) "
        "AND (CAST(:since AS timestamptz) IS NULL OR accessed_at >= :since) "
        "AND (CAST(:before AS bigint) IS NULL OR id < :before) ORDER BY id DESC LIMIT :limit",
        {
            "customer_id": customer_id,
            "subject": subject,
            "since": since,
            "before": before_id,
            "limit": limit,
        },
    )
    return [dict(r) for r in rows]


async def _changed(session: AsyncSession, sql: str, params: dict[str, Any]) -> int:
    """How many rows a DELETE or UPDATE changed."""
    result = await session.execute(text(sql), params)
    assert isinstance(result, CursorResult)  # a DELETE's or UPDATE's result
    return int(result.rowcount or 0)


async def prune(session: AsyncSession, *, older_than: dt.datetime) -> int:
    return await _changed(
        session, "DELETE FROM pii_access_log WHERE accessed_at < :cutoff", {"cutoff": older_than}
    )


async def clear_audit_payloads(session: AsyncSession, *, older_than: dt.datetime) -> int:
    return await _changed(
        session,
        "UPDATE audit_log SET before = NULL, after = NULL WHERE occurred_at < :cutoff "
        "AND (before IS NOT NULL OR after IS NOT NULL)",
        {"cutoff": older_than},
    )


async def clear_event_payloads(session: AsyncSession, *, older_than: dt.datetime) -> int:
    """Stub the payload of events every endpoint has been handed and that are old enough."""
    return await _changed(
        session,
        "UPDATE customer_events ev SET payload = jsonb_build_object('id', ev.customer_id, "
        "'payload_removed', true) WHERE ev.occurred_at < :cutoff "
        "AND NOT (ev.payload ? 'payload_removed') "
        "AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_seq = ev.seq "
        "AND d.status NOT IN ('delivered', 'dead'))",
        {"cutoff": older_than},
    )


async def customer_document(session: AsyncSession, customer_id: uuid.UUID) -> dict[str, Any] | None:
    """The customer as GET /v1/customers/{id} shows it (record, identity, lineage)."""
    row = await _row(
        session,
        "SELECT id, customer_code, status, version, merged_into_id, created_at, updated_at, "
        "record, lineage FROM customers WHERE id = :id",
        {"id": customer_id},
    )
    return None if row is None else {**row.pop("record"), **row}


async def source_documents(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    rows = await _rows(
        session,
        "SELECT system, source_id, customer_id, version, raw_payload, normalized, created_at, "
        "updated_at FROM source_records WHERE customer_id = ANY(:ids) ORDER BY system, source_id",
        {"ids": list(ids)},
    )
    return [dict(r) for r in rows]


async def suppressed(session: AsyncSession, digests: list[str]) -> dict[str, list[tuple[str, str]]]:
    """The suppression entries (erasure id, kind) of each digest found."""
    if not digests:
        return {}
    rows = await _rows(
        session,
        "SELECT digest, erasure_id::text AS erasure_id, kind FROM suppressions "
        "WHERE digest = ANY(CAST(:digests AS text[]))",
        {"digests": digests},
    )
    found: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        found.setdefault(row["digest"], []).append((row["erasure_id"], row["kind"]))
    return found


# --------------------------------------------------------------------------------------------
# The suppression key (privacy_keys) and the data keys of field encryption (data_keys)
# --------------------------------------------------------------------------------------------


async def privacy_key(session: AsyncSession, name: str, candidate: bytes) -> bytes:
    """The hub's key ``name`` as stored (wrapped): ``candidate`` stored when there is none
    yet, else the stored one (two processes making the first one agree on the one stored
    first)."""
    await session.execute(
        text("INSERT INTO privacy_keys (name, key) VALUES (:name, :key) ON CONFLICT DO NOTHING"),
        {"name": name, "key": candidate},
    )
    found = await session.execute(
        text("SELECT key FROM privacy_keys WHERE name = :name"), {"name": name}
    )
    return bytes(found.scalar_one())


async def privacy_keys(session: AsyncSession) -> list[tuple[str, bytes]]:
    """(name, stored key) of every key in ``privacy_keys``."""
    rows = (await session.execute(text("SELECT name, key FROM privacy_keys ORDER BY name"))).all()
    return [(r.name, bytes(r.key)) for r in rows]


async def replace_privacy_key(session: AsyncSession, name: str, old: bytes, new: bytes) -> None:
    """The stored key ``name`` replaced by ``new`` if it still is ``old`` (a concurrent
    replacement of the same key is then a no-op)."""
    await session.execute(
        text("UPDATE privacy_keys SET key = :new WHERE name = :name AND key = :old"),
        {"name": name, "old": old, "new": new},
    )


# One lock id for creating and rotating data keys, so two processes never both make the first.
_DATA_KEYS_LOCK = 0x6D646D6B  # "mdmk"


async def lock_data_keys(session: AsyncSession) -> None:
    """Until the transaction ends, no other process creates or activates a data key."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _DATA_KEYS_LOCK})


async def data_keys(session: AsyncSession) -> list[Any]:
    """Every data key (id, wrapped_key, active), oldest first."""
    return list(
        (
            await session.execute(
                text("SELECT id, wrapped_key, active FROM data_keys ORDER BY created_at, id")
            )
        ).all()
    )


async def insert_active_key(session: AsyncSession, key_id: str, wrapped: bytes) -> None:
    """A new data key, the active one (the others stay, retired)."""
    await session.execute(text("UPDATE data_keys SET active = false WHERE active"))
    await session.execute(
        text("INSERT INTO data_keys (id, wrapped_key, active) VALUES (:id, :key, true)"),
        {"id": key_id, "key": wrapped},
    )


async def insert_pending_key(session: AsyncSession, key_id: str, wrapped: bytes) -> None:
    """A new data key, not active; ``clock_timestamp`` orders it after the active one."""
    sql = (
        "INSERT INTO data_keys (id, wrapped_key, active, created_at) "
        "VALUES (:id, :key, false, clock_timestamp())"
    )
    await run(session, sql, id=key_id, key=wrapped)


async def set_active_key(session: AsyncSession, key_id: str) -> None:
    await session.execute(text("UPDATE data_keys SET active = (id = :id)"), {"id": key_id})


async def retired_key_ids(session: AsyncSession) -> list[str]:
    rows = (await session.execute(text("SELECT id FROM data_keys WHERE NOT active"))).all()
    return [r.id for r in rows]


async def delete_data_keys(session: AsyncSession, key_ids: list[str]) -> None:
    await session.execute(
        text("DELETE FROM data_keys WHERE id = ANY(CAST(:ids AS text[]))"), {"ids": key_ids}
    )


async def wrapped_index_key(session: AsyncSession, key_id: str) -> bytes | None:
    found = await session.execute(
        text("SELECT wrapped_key FROM index_keys WHERE id = :id"), {"id": key_id}
    )
    blob = found.scalar_one_or_none()
    return None if blob is None else bytes(blob)


async def insert_index_key(session: AsyncSession, key_id: str, wrapped: bytes) -> None:
    await session.execute(
        text("INSERT INTO index_keys (id, wrapped_key) VALUES (:id, :key)"),
        {"id": key_id, "key": wrapped},
    )


# One key-management operation at a time (`mdm-hub keys rotate`, `mdm-hub keys rewrap`): a
# session-level advisory lock, held on one connection for the whole run and released when the
# process ends however it ends (PostgreSQL drops a closed connection's locks).
_KEY_OPERATION_LOCK = 0x6D646D6F  # "mdmo"


async def try_key_operation_lock(conn: AsyncConnection, holder: str) -> bool:
    """Take the key-operation lock on ``conn`` if nobody holds it; the connection is named
    ``holder`` (its ``application_name``) so that another run can say who holds it."""
    await conn.execute(
        text("SELECT set_config('application_name', :name, false)"), {"name": holder}
    )
    got = await conn.execute(text(f"SELECT pg_try_advisory_lock({_KEY_OPERATION_LOCK})"))
    taken = bool(got.scalar_one())
    if not taken:
        await conn.execute(text("RESET application_name"))
    await conn.commit()
    return taken


async def key_operation_holder(conn: AsyncConnection) -> str | None:
    """Who holds the key-operation lock (its connection's name and server process), if anyone."""
    found = await conn.execute(
        text(
            f"""
            SELECT a.application_name, a.pid, a.backend_start
            FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0
              AND l.objid = {_KEY_OPERATION_LOCK} AND l.objsubid = 1
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """
        )
    )
    row = found.first()
    await conn.commit()
    if row is None:
        return None
    started = row.backend_start.isoformat(timespec="seconds") if row.backend_start else "?"
    name = row.application_name or "a session without a name"
    return f"{name}, PostgreSQL server process {row.pid}, connected since {started}"


async def release_key_operation_lock(conn: AsyncConnection) -> None:
    await conn.execute(text(f"SELECT pg_advisory_unlock({_KEY_OPERATION_LOCK})"))
    await conn.execute(text("RESET application_name"))
    await conn.commit()


# The tables of wrapped keys (`mdm-hub keys rewrap` re-wraps their rows under a new KEK).
WRAPPED_KEY_TABLES = ("data_keys", "index_keys")


async def wrapped_key_ids(session: AsyncSession) -> list[tuple[str, str]]:
    """(table, id) of every wrapped key, data keys first, oldest first."""
    return [
        (table, key_id)
        for table in WRAPPED_KEY_TABLES
        for key_id in (
            await session.execute(text(f"SELECT id FROM {table} ORDER BY created_at, id"))
        ).scalars()
    ]


async def wrapped_key_for_update(session: AsyncSession, table: str, key_id: str) -> bytes | None:
    """The wrapped key, locked until the transaction ends (None: dropped meanwhile)."""
    assert table in WRAPPED_KEY_TABLES
    found = await session.execute(
        text(f"SELECT wrapped_key FROM {table} WHERE id = :id FOR UPDATE"), {"id": key_id}
    )
    blob = found.scalar_one_or_none()
    return None if blob is None else bytes(blob)


async def set_wrapped_key(session: AsyncSession, table: str, key_id: str, wrapped: bytes) -> None:
    assert table in WRAPPED_KEY_TABLES
    await session.execute(
        text(f"UPDATE {table} SET wrapped_key = :key WHERE id = :id"),
        {"id": key_id, "key": wrapped},
    )


async def data_key_states(session: AsyncSession) -> list[Any]:
    """(id, active) of every data key, oldest first."""
    return list(
        (
            await session.execute(text("SELECT id, active FROM data_keys ORDER BY created_at, id"))
        ).all()
    )


# --------------------------------------------------------------------------------------------
# Re-encryption (`mdm-hub keys rotate`): the tables that hold sealed documents, read and
# written back in primary-key order
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SealedTable:
    """A table whose documents are sealed: its primary key and its sealed columns."""

    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    binary: bool = False  # a stored answer's body (bytea): "sealed:" + JSON
    text_columns: tuple[str, ...] = ()  # text columns that may hold one encrypted value
    # jsonb columns holding a list of problems ({"column", "code", "message"}) whose messages
    # are sealed whole (they may quote a value); ones stored before that are sealed by rotation
    message_columns: tuple[str, ...] = ()


SEALED_TABLES = (
    SealedTable("customers", ("id",), ("record", "lineage")),
    SealedTable(
        "source_records", ("id",), ("raw_payload", "normalized", "changes", "findings", "decision")
    ),
    SealedTable("audit_log", ("id",), ("before", "after")),
    SealedTable("customer_events", ("seq",), ("payload",)),
    SealedTable("change_requests", ("id",), ("patch", "changes")),
    SealedTable("match_candidates", ("id",), ("explanation",)),
    SealedTable("held_writes", ("id",), ("payload",)),
    SealedTable(
        "import_rows",
        ("job_id", "line"),
        ("payload", "prepared", "problems"),
        message_columns=("problems",),
    ),
    SealedTable("quality_findings", ("id",), ("value", "message"), text_columns=("message",)),
    SealedTable("idempotency_keys", ("principal", "key"), ("body",), binary=True),
)


def _sealed_select(table: SealedTable, *, after: bool, lock: bool) -> str:
    keys = ", ".join(table.key)
    columns = ", ".join(
        f"convert_from({c}, 'UTF8') AS {c}"
        if table.binary
        else f"to_jsonb({c})::text AS {c}"
        if c in table.text_columns
        else f"{c}::text AS {c}"
        for c in table.columns
    )
    where = (
        f"WHERE ({keys}) > ({', '.join(f':k{i}' for i in range(len(table.key)))})" if after else ""
    )
    locking = "FOR UPDATE SKIP LOCKED" if lock else ""
    return f"SELECT {keys}, {columns} FROM {table.name} {where} ORDER BY {keys} LIMIT :n {locking}"


def _sealed_update(table: SealedTable, column: str) -> str:
    cast = (
        "convert_to(:v, 'UTF8')"
        if table.binary
        else "CAST(:v AS jsonb) #>> '{}'"
        if column in table.text_columns
        else "CAST(:v AS jsonb)"
    )
    match = " AND ".join(f"{k} = :k{i}" for i, k in enumerate(table.key))
    return f"UPDATE {table.name} SET {column} = {cast} WHERE {match}"


async def sealed_batch(
    session: AsyncSession,
    table: SealedTable,
    after: tuple[Any, ...] | None,
    size: int,
    *,
    lock: bool,
) -> list[Any]:
    """The next ``size`` rows after the key ``after`` (the first ones when None): the key
    columns and each sealed column as text; with ``lock``, the rows nobody holds, locked."""
    if table.name == "audit_log":
        # The append-only trigger lets re-encryption through (0011), nothing else.
        await session.execute(text("SET LOCAL mdm_hub.reencrypting = 'on'"))
    params: dict[str, Any] = {"n": size}
    if after is not None:
        params.update({f"k{i}": v for i, v in enumerate(after)})
    sql = _sealed_select(table, after=after is not None, lock=lock)
    return list((await session.execute(text(sql), params)).mappings().all())


async def rewrite_sealed(
    session: AsyncSession, table: SealedTable, row: Any, column: str, value: str
) -> None:
    """One sealed column of the row (read by :func:`sealed_batch`) written back."""
    match = {f"k{i}": row[k] for i, k in enumerate(table.key)}
    await session.execute(text(_sealed_update(table, column)), {**match, "v": value})


_PIECE_HEAD = 64


async def file_piece_heads(
    session: AsyncSession, after: tuple[Any, Any] | None, size: int, *, lock: bool
) -> list[Any]:
    """(job_id, seq, head) of the next ``size`` pieces of uploaded files after ``after``: the
    first bytes only (a sealed piece's key id), so a batch stays small."""
    where = "WHERE (job_id, seq) > (:k0, :k1)" if after is not None else ""
    locking = "FOR UPDATE SKIP LOCKED" if lock else ""
    sql = (
        f"SELECT job_id, seq, substring(data from 1 for {_PIECE_HEAD}) AS head "
        f"FROM import_file_chunks {where} ORDER BY job_id, seq LIMIT :n {locking}"
    )
    params: dict[str, Any] = {"n": size}
    if after is not None:
        params.update(k0=after[0], k1=after[1])
    return list((await session.execute(text(sql), params)).all())


async def file_piece(session: AsyncSession, job_id: Any, seq: int) -> bytes:
    found = await session.execute(
        text("SELECT data FROM import_file_chunks WHERE job_id = :job AND seq = :seq"),
        {"job": job_id, "seq": seq},
    )
    return bytes(found.scalar_one())


async def rewrite_file_piece(session: AsyncSession, job_id: Any, seq: int, data: bytes) -> None:
    await session.execute(
        text("UPDATE import_file_chunks SET data = :data WHERE job_id = :job AND seq = :seq"),
        {"job": job_id, "seq": seq, "data": data},
    )
