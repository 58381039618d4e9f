"""Appending to the audit log, always inside the caller's transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.audit.models import AuditEntry
from mdm_hub.context import Actor
from mdm_hub.db import WritePart


@dataclass(frozen=True)
class AuditRecord:
    """An audit entry to write together with the change it records (:func:`audit_insert`)."""

    actor: str
    action: str
    entity_type: str
    entity_id: str
    customer_id: uuid.UUID | None = None
    request_id: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


def audit_record(
    actor: Actor,
    *,
    action: str,
    entity_type: str,
    entity_id: str,
    customer_id: uuid.UUID | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditRecord:
    return AuditRecord(
        actor=actor.subject if actor.client_id is None else f"{actor.subject} ({actor.client_id})",
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        customer_id=customer_id,
        request_id=actor.request_id,
        before=before,
        after=after,
    )


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
    return None if value is None else json.dumps(value, ensure_ascii=False)


def audit_insert(entries: Sequence[AuditRecord]) -> WritePart | None:
    """The entries as one multi-row insert (in their order), for ``db.write_together``."""
    if not entries:
        return None
    return WritePart(
        _INSERT_AUDIT,
        {
            "actor": [e.actor for e in entries],
            "action": [e.action for e in entries],
            "entity_type": [e.entity_type for e in entries],
            "entity_id": [e.entity_id for e in entries],
            "customer_id": [e.customer_id for e in entries],
            "request_id": [e.request_id for e in entries],
            "before": [_json(e.before) for e in entries],
            "after": [_json(e.after) for e in entries],
        },
    )
