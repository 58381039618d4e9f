"""The SQL of the source write path: the stored source record with the configuration's
fingerprint, and the INSERT of a new one (with its customer's other source records)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub import db
from mdm_hub.custom_fields.repository import FINGERPRINT_SQL
from mdm_hub.customers.models import Customer, SourceRecord
from mdm_hub.customers.survivorship import SourceView
from mdm_hub.db import WritePart, attribute_arrays
from mdm_hub.encryption import sealed_json
from mdm_hub.matching.keys import BlockingKey
from mdm_hub.matching.repository import (
    BatchCandidates,
    batch_candidates_params,
    batch_candidates_sql,
    read_batch_candidates,
)
from mdm_hub.settings import Settings

# The stored record of (system, source_id), if any, and the configuration's fingerprint.
_EXISTING_SOURCE = f"""
    SELECT {FINGERPRINT_SQL} AS fingerprint, s.id, s.customer_id, s.raw_payload,
           s.payload_hash, s.normalized, s.changes, s.findings, s.decision, s.version,
           s.created_at, s.updated_at
    FROM (SELECT 1) AS one
    LEFT JOIN source_records AS s ON s.system = :system AND s.source_id = :source_id
"""


async def existing_source(
    session: AsyncSession, system: str, source_id: str
) -> tuple[SourceRecord | None, str]:
    """The stored record (as read: not added to the session), and the configuration's
    fingerprint, in one statement."""
    (row,) = await db.fetch(session, _EXISTING_SOURCE, {"system": system, "source_id": source_id})
    if row["id"] is None:
        return None, row["fingerprint"]
    return _stored(system, source_id, row), row["fingerprint"]


def _stored(system: str, source_id: str, row: db.Row) -> SourceRecord:
    """A stored source record as read (not added to the session)."""
    return SourceRecord(
        id=row["id"],
        system=system,
        source_id=source_id,
        customer_id=row["customer_id"],
        raw_payload=row["raw_payload"],
        payload_hash=row["payload_hash"],
        normalized=row["normalized"],
        changes=row["changes"],
        findings=row["findings"],
        decision=row["decision"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


# The stored records of a batch's source ids of one system, the configuration's fingerprint
# and whether governance protects fields of this system (one row of NULLs besides them when
# none is stored).
_EXISTING_SOURCES = f"""
    SELECT {FINGERPRINT_SQL} AS fingerprint,
           EXISTS (SELECT 1 FROM protected_fields WHERE :system = ANY(systems)) AS protected,
           s.id, s.source_id, s.customer_id, s.raw_payload,
           s.payload_hash, s.normalized, s.changes, s.findings, s.decision, s.version,
           s.created_at, s.updated_at
    FROM (SELECT 1) AS one
    LEFT JOIN source_records AS s
        ON s.system = :system AND s.source_id = ANY(CAST(:source_ids AS text[]))
"""


# The same, and the candidates of the batch's blocking keys (matching's batch statement) when
# none of its source records is stored: a batch of new records (a PUT of a new source record,
# an import) then reads both in one round trip. Its rows are the stored records' (``part``
# NULL) and the candidates' (``part`` set), side by side (a full join on false).
_NONE_STORED = """NOT EXISTS (
    SELECT 1 FROM source_records AS x
    WHERE x.system = :system AND x.source_id = ANY(CAST(:source_ids AS text[])))"""
_EXISTING_SOURCES_AND_CANDIDATES = f"""
    SELECT * FROM ({_EXISTING_SOURCES}) AS e
    FULL JOIN ({batch_candidates_sql(_NONE_STORED)}) AS c ON false
"""


async def existing_sources(
    session: AsyncSession,
    system: str,
    source_ids: list[str],
    keys: Collection[BlockingKey] | None = None,
    settings: Settings | None = None,
) -> tuple[dict[str, SourceRecord], str, bool, BatchCandidates | None]:
    """The stored records of ``source_ids`` (as read: not added to the session) by source id,
    the configuration's fingerprint, and whether any field is protected for writes of
    ``system`` (governance: ``sources.protect``), in one statement.

    With ``keys`` (and ``settings``), the same statement reads the candidates of those keys
    (``matching.repository.batch_candidates``) when no record of ``source_ids`` is stored: then
    returned, else None."""
    params: dict[str, Any] = {"system": system, "source_ids": source_ids}
    ahead = None if keys is None or settings is None else batch_candidates_params(keys, settings)
    if ahead is not None:
        rows = [*await db.fetch(session, _EXISTING_SOURCES_AND_CANDIDATES, {**params, **ahead})]
        stored = [row for row in rows if row["part"] is None]
    else:
        rows = stored = [*await db.fetch(session, _EXISTING_SOURCES, params)]
    found = {
        row["source_id"]: _stored(system, row["source_id"], row)
        for row in stored
        if row["id"] is not None
    }
    candidates = None
    if keys is not None and not found:  # no key at all: no candidate (as batch_candidates)
        candidates = BatchCandidates({}, {}, {}) if ahead is None else read_batch_candidates(rows)
    return found, stored[0]["fingerprint"], stored[0]["protected"], candidates


_CUSTOMER_NAMES = tuple(c.name for c in Customer.__table__.columns if not c.computed)
_CUSTOMER_COLUMNS = ", ".join(_CUSTOMER_NAMES)

# Customers a batch links new source records to, row-locked in id order (the order merges use),
# each with its source records in id order.
_LOCK_CUSTOMERS = f"""
    SELECT {_CUSTOMER_COLUMNS},
           (SELECT json_agg(json_build_array(s.system, s.source_id, s.updated_at, s.normalized)
                            ORDER BY s.id)
            FROM source_records AS s WHERE s.customer_id = customers.id) AS sources
    FROM customers
    WHERE id = ANY(CAST(:ids AS uuid[]))
    ORDER BY id
    FOR UPDATE OF customers
"""


async def lock_customers(
    session: AsyncSession, ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[Customer, list[SourceView]]]:
    """The customers (row-locked, in id order, not added to the session) and their sources."""
    if not ids:
        return {}
    rows = await db.fetch(session, _LOCK_CUSTOMERS, {"ids": sorted(ids)})
    found: dict[uuid.UUID, tuple[Customer, list[SourceView]]] = {}
    for row in rows:
        values = {name: row[name] for name in _CUSTOMER_NAMES}
        sources = [
            SourceView(system, source_id, dt.datetime.fromisoformat(at), normalized)
            for system, source_id, at, normalized in row["sources"] or ()
        ]
        found[row["id"]] = (Customer(**values), sources)
    return found


# Source records about to change, row-locked in id order (their customers locked first by the
# caller: the order merges use).
_LOCK_SOURCES = """
    SELECT id, system, source_id, customer_id, raw_payload, payload_hash, normalized, changes,
           findings, decision, version, created_at, updated_at
    FROM source_records
    WHERE id = ANY(CAST(:ids AS bigint[]))
    ORDER BY id
    FOR UPDATE
"""


async def lock_sources(session: AsyncSession, ids: list[int]) -> dict[int, SourceRecord]:
    """The source records (row-locked, read afresh, not added to the session) by id."""
    if not ids:
        return {}
    rows = await db.fetch(session, _LOCK_SOURCES, {"ids": sorted(ids)})
    return {row["id"]: _stored(row["system"], row["source_id"], row) for row in rows}


_UPDATE_SOURCES = """
    UPDATE source_records AS t SET
        raw_payload = CAST(s.raw_payload AS jsonb), payload_hash = s.payload_hash,
        normalized = CAST(s.normalized AS jsonb), changes = CAST(s.changes AS jsonb),
        findings = CAST(s.findings AS jsonb), decision = CAST(s.decision AS jsonb),
        version = s.version, updated_at = s.updated_at
    FROM unnest(
        CAST(:ids AS bigint[]), CAST(:raw AS text[]), CAST(:hashes AS text[]),
        CAST(:normalized AS text[]), CAST(:changes AS text[]), CAST(:findings AS text[]),
        CAST(:decisions AS text[]), CAST(:versions AS integer[]), CAST(:at AS timestamptz[])
    ) AS s(id, raw_payload, payload_hash, normalized, changes, findings, decision, version,
           updated_at)
    WHERE t.id = s.id
"""


def sources_update(
    sources: list[SourceRecord], seal: Callable[[Any], Any] = lambda d: d
) -> WritePart | None:
    """Changed source records (each once, as it is now), as one multi-row update for
    ``db.write_together``; JSON serialized (and sealed) here, as in ``sources_insert``."""
    if not sources:
        return None
    return WritePart(
        _UPDATE_SOURCES,
        {
            **attribute_arrays(sources, ids="id", versions="version", at="updated_at"),
            **_documents(sources, seal),
        },
    )


def _documents(sources: list[SourceRecord], seal: Callable[[Any], Any]) -> dict[str, list[Any]]:
    """The array parameters of source records' payloads and documents, JSON serialized (the
    personal ones sealed), as the insert and the update of a batch both send them."""
    return {
        "raw": [sealed_json(seal(s.raw_payload)) for s in sources],
        "hashes": [s.payload_hash for s in sources],
        "normalized": [sealed_json(seal(s.normalized)) for s in sources],
        "changes": [sealed_json(s.changes) for s in sources],
        "findings": [sealed_json(s.findings) for s in sources],
        "decisions": [sealed_json(seal(s.decision)) for s in sources],
    }


_INSERT_SOURCES = """
    INSERT INTO source_records (
        system, source_id, customer_id, raw_payload, payload_hash, normalized, changes,
        findings, decision, version, created_at, updated_at
    )
    SELECT CAST(:system AS text), s.source_id, s.customer_id, CAST(s.raw_payload AS jsonb),
           s.payload_hash, CAST(s.normalized AS jsonb), CAST(s.changes AS jsonb),
           CAST(s.findings AS jsonb), CAST(s.decision AS jsonb), 1, s.at, s.at
    FROM unnest(
        CAST(:source_ids AS text[]), CAST(:customer_ids AS uuid[]), CAST(:raw AS text[]),
        CAST(:hashes AS text[]), CAST(:normalized AS text[]), CAST(:changes AS text[]),
        CAST(:findings AS text[]), CAST(:decisions AS text[]), CAST(:at AS timestamptz[])
    ) WITH ORDINALITY AS s(source_id, customer_id, raw_payload, payload_hash, normalized,
                           changes, findings, decision, at, position)
    ORDER BY s.position
    RETURNING id, source_id, customer_id
"""


def sources_insert(
    system: str, sources: list[SourceRecord], seal: Callable[[Any], Any] = lambda d: d
) -> WritePart:
    """New source records of one system, as one multi-row insert returning (id, source_id);
    their JSON payloads are serialized (and sealed) here (the one place a batch writes them).
    ``seal``: the batch's own sealing of documents other rows also hold (``store``)."""
    return WritePart(
        _INSERT_SOURCES,
        {
            "system": system,
            **attribute_arrays(
                sources, source_ids="source_id", customer_ids="customer_id", at="created_at"
            ),
            **_documents(sources, seal),
        },
    )


async def store_batch(
    session: AsyncSession,
    system: str,
    sources: list[SourceRecord],
    parts: list[tuple[str, WritePart | None]],
    *,
    seal: Callable[[Any], Any] = lambda d: d,
) -> dict[str, int]:
    """Write a batch in one statement: ``parts`` (the customers, audit entries, events, review
    pairs; parts named ``keys`` and ``findings`` may join ``new_sources``) and the new source
    records; the ids the source records got, by source id. ``seal``: see ``sources_insert``."""
    rows = await db.write_named(
        session,
        [("new_sources", sources_insert(system, sources, seal) if sources else None), *parts],
        "SELECT id, source_id FROM new_sources"
        if sources
        else "SELECT NULL AS id, NULL AS source_id WHERE false",
    )
    return {row["source_id"]: row["id"] for row in rows}


async def stored_customer(session: AsyncSession, customer_id: uuid.UUID) -> Customer:
    """The customer of a source record sent again unchanged, as stored now."""
    return await session.get_one(Customer, customer_id, populate_existing=True)
