"""The registry's SQL: the one place that talks to its tables.

Imports run outside any request, on a connection of their own: each batch is COPYed into a
temporary staging table and moved into the history and current tables by set statements, in
one transaction with the checkpoint, so a batch is either wholly imported and counted or not at
all.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from pydantic_core import to_jsonable_python
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.db import Base
from mdm_hub.registry.layouts import RowError
from mdm_hub.registry.models import (
    InvoiceRegistration,
    InvoiceRegistrationHistory,
    NtaCorporation,
    NtaCorporationHistory,
)


@dataclass(frozen=True)
class Layout:
    """What differs between the two registries' tables."""

    kind: str
    key: str  # the current table's key column
    current: str
    history: str
    stage_columns: tuple[tuple[str, str], ...]  # (column, SQL type) of the parsed values
    history_columns: tuple[str, ...]  # besides the key, fields, digest, import_id, row_number


# The current tables' columns that the import sets itself, not from a row's values; and the
# history tables' that every history has (``models.PublishedHistory``, but its key).
_BOOKKEEPING = ("deleted", "import_id", "updated_at")
_HISTORY_OWN = ("id", "fields", "digest", "import_id", "row_number")


def _layout(kind: str, current: type[Base], history: type[Base]) -> Layout:
    """A registry's layout, read from its tables: the staged values are the current table's
    published columns, typed as there, and 最新履歴 (which of a number's rows in a file is its
    latest)."""
    (key,) = current.__table__.primary_key
    published = [c for c in current.__table__.columns if c.name not in _BOOKKEEPING]
    return Layout(
        kind=kind,
        key=key.name,
        current=current.__tablename__,
        history=history.__tablename__,
        stage_columns=(
            *((c.name, c.type.compile()) for c in published),
            ("latest", "BOOLEAN"),
        ),
        history_columns=tuple(
            c.name for c in history.__table__.columns if c.name not in (key.name, *_HISTORY_OWN)
        ),
    )


NTA = _layout("nta", NtaCorporation, NtaCorporationHistory)
INVOICE = _layout("invoice", InvoiceRegistration, InvoiceRegistrationHistory)

LAYOUTS = {"nta": NTA, "invoice": INVOICE}


def _stage(layout: Layout) -> str:
    return f"{layout.kind}_stage"


def _current_columns(layout: Layout) -> list[str]:
    return [column for column, _ in layout.stage_columns if column != "latest"]


async def commit_without_waiting(conn: asyncpg.Connection) -> None:
    """This connection's commits do not wait for their WAL to reach the disk."""
    await conn.execute("SET synchronous_commit TO off")


async def prepare(conn: asyncpg.Connection, layout: Layout) -> None:
    """The connection's staging table (temporary: gone with the connection)."""
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type in layout.stage_columns)
    await conn.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {_stage(layout)} "
        f"(row_number bigint, {columns}, fields text[], digest text)"
    )


@dataclass(frozen=True)
class Checkpoint:
    import_id: int
    rows_read: int
    status: str


async def claim(
    conn: asyncpg.Connection,
    *,
    kind: str,
    file_name: str,
    file_sha256: str,
    member: str,
    encoding: str,
    restart: bool,
) -> Checkpoint | None:
    """The checkpoint of this file's member (created when new), locked for this connection;
    ``None`` when another process is importing it right now."""
    row = await conn.fetchrow(
        "INSERT INTO registry_imports (kind, file_name, file_sha256, member, encoding, status,"
        " rows_read, rows_imported, rows_rejected)"
        " VALUES ($1, $2, $3, $4, $5, 'running', 0, 0, 0)"
        " ON CONFLICT (kind, file_sha256, member) DO UPDATE SET updated_at = now()"
        " RETURNING id, rows_read, status",
        kind,
        file_name,
        file_sha256,
        member,
        encoding,
    )
    assert row is not None
    locked = await conn.fetchval(
        "SELECT pg_try_advisory_lock(hashtextextended('registry_import:' || $1::text, 0))",
        str(row["id"]),
    )
    if not locked:
        return None
    if restart:
        async with conn.transaction():
            await conn.execute(
                "DELETE FROM registry_import_rejects WHERE import_id = $1", row["id"]
            )
            await conn.execute(
                "UPDATE registry_imports SET status = 'running', rows_read = 0, rows_imported = 0,"
                " rows_rejected = 0, finished_at = NULL, updated_at = now() WHERE id = $1",
                row["id"],
            )
        return Checkpoint(row["id"], 0, "running")
    return Checkpoint(row["id"], row["rows_read"], row["status"])


async def release(conn: asyncpg.Connection, import_id: int) -> None:
    await conn.execute(
        "SELECT pg_advisory_unlock(hashtextextended('registry_import:' || $1::text, 0))",
        str(import_id),
    )


def stage_columns(layout: Layout) -> list[str]:
    """The parsed columns of a staging line, in order (``staging.encode``)."""
    return [column for column, _ in layout.stage_columns]


async def write_batch(
    conn: asyncpg.Connection,
    layout: Layout,
    *,
    import_id: int,
    staged: bytes,
    staged_rows: int,
    rejects: Sequence[tuple[RowError, Sequence[str]]],
    rows_read: int,
) -> None:
    """Move one batch (``staged``: the CSV of its good rows, ``staging.stage_batch``) into the
    registry and advance the checkpoint, in one transaction."""
    stage = _stage(layout)
    columns = ["row_number", *stage_columns(layout), "fields", "digest"]
    current = _current_columns(layout)
    async with conn.transaction():
        if staged_rows:
            await conn.execute(f"TRUNCATE {stage}")
            await conn.copy_to_table(
                stage, source=io.BytesIO(staged), columns=columns, format="csv"
            )
            await conn.execute(_history_sql(layout), import_id)
            if layout is INVOICE:
                ended = await conn.fetch(_invoice_ended_sql(current), import_id)
                if ended:
                    await _registrations_ended(conn, ended)
            else:
                await conn.execute(_current_sql(layout, current), import_id)
            await conn.execute(_deleted_sql(layout), import_id)
        if rejects:
            await conn.copy_records_to_table(
                "registry_import_rejects",
                records=[
                    (
                        import_id,
                        error.row_number,
                        error.reason,
                        error.column,
                        [] if error.personal else list(fields),
                    )
                    for error, fields in rejects
                ],
                columns=["import_id", "row_number", "reason", "column_name", "fields"],
            )
        await conn.execute(
            "UPDATE registry_imports SET rows_read = $2, rows_imported = rows_imported + $3,"
            " rows_rejected = rows_rejected + $4, updated_at = now() WHERE id = $1",
            import_id,
            rows_read,
            staged_rows,
            len(rejects),
        )


def _history_sql(layout: Layout) -> str:
    columns = ", ".join((layout.key, *layout.history_columns))
    return (
        f"INSERT INTO {layout.history} ({columns}, fields, digest, import_id, row_number)"
        f" SELECT {columns}, fields, digest, $1, row_number FROM {_stage(layout)}"
        f" ON CONFLICT ({layout.key}, digest) DO NOTHING"
    )


def _current_sql(layout: Layout, current: list[str]) -> str:
    """The latest published state wins; an older file read late changes nothing."""
    columns = ", ".join(current)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in current if c != layout.key)
    deleted = ", deleted" if layout is NTA else ""
    not_deleted = ", false" if layout is NTA else ""
    deleted_update = ", deleted = false" if layout is NTA else ""
    return (
        f"INSERT INTO {layout.current} ({columns}{deleted}, import_id, updated_at)"
        f" SELECT DISTINCT ON ({layout.key}) {columns}{not_deleted}, $1, now()"
        f" FROM {_stage(layout)} WHERE latest AND process <> '99'"
        f" ORDER BY {layout.key}, update_date DESC, row_number DESC"
        f" ON CONFLICT ({layout.key}) DO UPDATE SET {updates}{deleted_update},"
        f" import_id = EXCLUDED.import_id, updated_at = now()"
        f" WHERE EXCLUDED.update_date >= {layout.current}.update_date"
    )


def _invoice_ended_sql(current: list[str]) -> str:
    """The インボイス upsert, answering the registrations it moved from registered to expired
    or revoked (``old`` reads the table as it was before the statement)."""
    return (
        "WITH old AS (SELECT registration_number, status FROM invoice_registrations"
        f" WHERE registration_number IN (SELECT registration_number FROM {_stage(INVOICE)})),"
        f" up AS ({_current_sql(INVOICE, current)}"
        " RETURNING registration_number, status, corporate_number)"
        " SELECT up.registration_number, up.status, up.corporate_number"
        " FROM up JOIN old USING (registration_number)"
        " WHERE old.status = 'registered' AND up.status IN ('expired', 'revoked')"
    )


ENDED_EVENT = "customer.invoice_registration_ended"

_ENDED_CUSTOMERS = """
UPDATE customers c SET version = c.version + 1, updated_at = now()
FROM unnest($1::text[], $2::text[], $3::text[]) AS e(registration_number, status, corporate_number)
WHERE c.status = 'active' AND c.corporate_number = e.corporate_number
  AND COALESCE(c.record ->> 'invoice_registration_number', 'T' || c.corporate_number)
      = e.registration_number
RETURNING c.id, c.customer_code, c.status, c.version, c.merged_into_id, c.created_at,
          c.updated_at, c.record::text AS record, e.registration_number, e.status AS ended_as
"""

_ENDED_EVENTS = """
INSERT INTO customer_events
    (event_id, type, customer_id, customer_version, changed_fields, payload, occurred_at)
SELECT gen_random_uuid(), $1, id, version, '["/invoice_registration"]'::jsonb, payload::jsonb,
       now()
FROM unnest($2::uuid[], $3::int[], $4::text[]) AS e(id, version, payload)
"""

_ENDED_AUDIT = """
INSERT INTO audit_log (actor, action, entity_type, entity_id, customer_id, before, after)
SELECT 'mdm-hub invoice import', $1, 'customer', id::text, id, NULL, after::jsonb
FROM unnest($2::uuid[], $3::text[]) AS e(id, after)
"""


async def _registrations_ended(conn: asyncpg.Connection, ended: Sequence[asyncpg.Record]) -> None:
    """Customers whose インボイス registration (their T-number, else T + their 法人番号) the
    hub saw registered and now sees expired or revoked: a version, an audit entry and a
    ``customer.invoice_registration_ended`` event each, in the batch's transaction (the UPDATE
    holds their row locks, as the outbox's writers must)."""
    rows = await conn.fetch(
        _ENDED_CUSTOMERS,
        [e["registration_number"] for e in ended],
        [e["status"] for e in ended],
        [e["corporate_number"] for e in ended],
    )
    if not rows:
        return
    payloads = []
    for row in rows:
        identity = {
            "id": row["id"],
            "customer_code": row["customer_code"],
            "status": row["status"],
            "version": row["version"],
            "merged_into_id": row["merged_into_id"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }
        payload = {**json.loads(row["record"]), **to_jsonable_python(identity)}
        payloads.append(json.dumps(payload, ensure_ascii=False))
    ids: list[uuid.UUID] = [row["id"] for row in rows]
    await conn.execute(_ENDED_EVENTS, ENDED_EVENT, ids, [row["version"] for row in rows], payloads)
    await conn.execute(
        _ENDED_AUDIT,
        ENDED_EVENT,
        ids,
        [
            json.dumps(
                {"registration_number": row["registration_number"], "status": row["ended_as"]}
            )
            for row in rows
        ],
    )


def _deleted_sql(layout: Layout) -> str:
    """処理区分 99: the number's publication was withdrawn. The last published values stay (the
    history has them all); the row says it is deleted, and an older file cannot revive it."""
    if layout is NTA:
        marker, insert_marker, update_marker = "deleted", "true", "deleted = true"
    else:
        marker, insert_marker, update_marker = "status", "'deleted'", "status = 'deleted'"
    return (
        f"INSERT INTO {layout.current}"
        f" ({layout.key}, sequence_number, process, update_date, {marker}, import_id, updated_at)"
        f" SELECT DISTINCT ON ({layout.key}) {layout.key}, sequence_number, process, update_date,"
        f" {insert_marker}, $1, now() FROM {_stage(layout)} WHERE process = '99'"
        f" ORDER BY {layout.key}, update_date DESC, row_number DESC"
        f" ON CONFLICT ({layout.key}) DO UPDATE SET process = '99', {update_marker},"
        f" sequence_number = EXCLUDED.sequence_number, update_date = EXCLUDED.update_date,"
        f" import_id = EXCLUDED.import_id, updated_at = now()"
        f" WHERE EXCLUDED.update_date >= {layout.current}.update_date"
    )


async def finish(conn: asyncpg.Connection, import_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(
        "UPDATE registry_imports SET status = 'done', finished_at = now(), updated_at = now()"
        " WHERE id = $1 RETURNING rows_read, rows_imported, rows_rejected",
        import_id,
    )
    assert row is not None
    return row


async def totals(conn: asyncpg.Connection, import_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT rows_read, rows_imported, rows_rejected FROM registry_imports WHERE id = $1",
        import_id,
    )
    assert row is not None
    return row


# --------------------------------------------------------------------------------------------
# Reading the registry for a customer (API, request session)
# --------------------------------------------------------------------------------------------

_NTA_ROW = (
    "SELECT corporate_number, process, update_date, change_date, name, furigana, kind,"
    " prefecture_name, city_name, street_number, post_code, address_outside, close_date,"
    " close_cause, successor_corporate_number, en_name, deleted"
    " FROM nta_corporations WHERE corporate_number = :n"
)
_INVOICE_ROW = (
    "SELECT registration_number, status, process, registration_date, update_date,"
    " expire_date, disposal_date, name FROM invoice_registrations"
    " WHERE registration_number = :n"
)


async def nta_row(session: AsyncSession, corporate_number: str) -> dict[str, Any] | None:
    row = (await session.execute(text(_NTA_ROW), {"n": corporate_number})).first()
    return dict(row._mapping) if row is not None else None


async def invoice_row(session: AsyncSession, registration_number: str) -> dict[str, Any] | None:
    row = (await session.execute(text(_INVOICE_ROW), {"n": registration_number})).first()
    return dict(row._mapping) if row is not None else None


_LINK_ROW = (
    "SELECT corporate_number, linked_by, closed_on, close_cause, successor_corporate_number,"
    " successor_customer_id, withdrawn, updated_at FROM registry_links WHERE customer_id = :id"
)


async def link_row(session: AsyncSession, customer_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await session.execute(text(_LINK_ROW), {"id": customer_id})).first()
    return dict(row._mapping) if row is not None else None


async def lock_link(session: AsyncSession, customer_id: uuid.UUID) -> dict[str, Any] | None:
    """The customer's link (row locked), if it has one."""
    row = (await session.execute(text(_LINK_ROW + " FOR UPDATE"), {"id": customer_id})).first()
    return dict(row._mapping) if row is not None else None


async def move_link(session: AsyncSession, from_id: uuid.UUID, to_id: uuid.UUID) -> None:
    """The link of ``from_id`` becomes ``to_id``'s; that customer's pending proposals (name +
    address matching for a customer now linked) are superseded."""
    await session.execute(
        text(
            "UPDATE registry_links SET customer_id = :to, updated_at = now()"
            " WHERE customer_id = :from"
        ),
        {"from": from_id, "to": to_id},
    )
    await session.execute(
        text(
            "UPDATE registry_proposals SET status = 'superseded', decided_at = now()"
            " WHERE customer_id = ANY(CAST(:ids AS uuid[])) AND status = 'pending'"
        ),
        {"ids": [from_id, to_id]},
    )


async def redirect_successor(
    session: AsyncSession, from_id: uuid.UUID, to_id: uuid.UUID, number: str | None = None
) -> None:
    """Links whose successor's customer was ``from_id`` (of ``number`` only, when given) now
    name ``to_id``."""
    await session.execute(
        text(
            "UPDATE registry_links SET successor_customer_id = :to, updated_at = now()"
            " WHERE successor_customer_id = :from"
            " AND (CAST(:n AS text) IS NULL OR successor_corporate_number = :n)"
        ),
        {"from": from_id, "to": to_id, "n": number},
    )
