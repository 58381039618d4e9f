"""The audit log's SQL: appending entries (through the session, or as one statement written
together with the change) and reading them back."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.audit.log import AuditRecord
from mdm_hub.audit.models import AuditEntry
from mdm_hub.db import IdOrderedPages, WritePart, attribute_arrays
from mdm_hub.encryption import sealed_json


def record_audit(session: AsyncSession, entry: AuditRecord) -> None:
    """Add an entry to the session (written with its next flush)."""
    session.add(AuditEntry(**vars(entry)))


_INSERT_AUDIT = """
    INSERT INTO audit_log
        (actor, action, entity_type, entity_id, customer_id, request_id, before, after)
    SELECT actor, action, entity_type, entity_id, customer_id, request_id,
           CAST(before AS jsonb), CAST(after AS jsonb)
    FROM unnest(
        CAST(:actor AS text[]), CAST(:action AS text[]), CAST(:entity_type AS text[]),
        CAST(:entity_id AS text[]), CAST(:customer_id AS uuid[]), CAST(:request_id AS text[]),
        CAST(:before AS text[]), CAST(:after AS text[])
    ) AS entry(actor, action, entity_type, entity_id, customer_id, request_id, before, after)
"""


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else sealed_json(value)


def audit_insert(entries: Sequence[AuditRecord]) -> WritePart | None:
    """The entries as one multi-row insert (in their order), for ``db.write_together``."""
    if not entries:
        return None
    return WritePart(
        _INSERT_AUDIT,
        {
            **attribute_arrays(
                entries, "actor", "action", "entity_type", "entity_id", "customer_id", "request_id"
            ),
            "before": [_json(e.before) for e in entries],
            "after": [_json(e.after) for e in entries],
        },
    )


@dataclass
class AuditFilters:
    customer_id: uuid.UUID | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    action: str | None = None


# Entries in id order after ``after_id``: at most ``limit``.
list_entries = IdOrderedPages(AuditEntry)
