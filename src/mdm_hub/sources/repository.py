"""The SQL of the source write path: the stored source record with the configuration's
fingerprint, and the INSERT of a new one (with its customer's other source records)."""

from __future__ import annotations

import json

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub import db
from mdm_hub.custom_fields.repository import FINGERPRINT_SQL
from mdm_hub.customers.models import SourceRecord
from mdm_hub.customers.survivorship import SourceView

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
    stored = SourceRecord(
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
    return stored, row["fingerprint"]


# A new source record and, read in the same statement (so after the caller locked the
# customer), the customer's other source records in id order. Without any, one row of NULLs.
_INSERT_SOURCE = """
    WITH new_source AS (
        INSERT INTO source_records (
            system, source_id, customer_id, raw_payload, payload_hash, normalized, changes,
            findings, decision, version, created_at, updated_at
        ) VALUES (
            :system, :source_id, :customer_id, CAST(:raw_payload AS jsonb), :payload_hash,
            CAST(:normalized AS jsonb), CAST(:changes AS jsonb), CAST(:findings AS jsonb),
            CAST(:decision AS jsonb), 1, :now, :now
        )
        RETURNING id
    )
    SELECT new_source.id, other.system, other.source_id, other.updated_at, other.normalized
    FROM new_source
    LEFT JOIN source_records AS other ON other.customer_id = :customer_id
    ORDER BY other.id
"""


async def insert_source(
    session: AsyncSession, source: SourceRecord
) -> tuple[int, list[SourceView]]:
    """Insert ``source`` (not added to the session); its id and its customer's other sources."""
    rows = await db.fetch(
        session,
        _INSERT_SOURCE,
        {
            "system": source.system,
            "source_id": source.source_id,
            "customer_id": source.customer_id,
            "raw_payload": json.dumps(source.raw_payload, ensure_ascii=False),
            "payload_hash": source.payload_hash,
            "normalized": json.dumps(source.normalized, ensure_ascii=False),
            "changes": json.dumps(source.changes, ensure_ascii=False),
            "findings": json.dumps(source.findings, ensure_ascii=False),
            "decision": json.dumps(source.decision, ensure_ascii=False),
            "now": source.created_at,
        },
    )
    others = [
        SourceView(r["system"], r["source_id"], r["updated_at"], r["normalized"])
        for r in rows
        if r["system"] is not None
    ]
    return rows[0]["id"], others
