"""Audit entries: what a change records (written by :mod:`mdm_hub.audit.repository`, always in
the caller's transaction)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from mdm_hub.context import Actor


@dataclass(frozen=True)
class AuditRecord:
    """An audit entry to write together with the change it records (``repository.audit_insert``)."""

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


def source_record_audit(
    actor: Actor,
    action: str,
    system: str,
    source_id: str,
    customer_id: uuid.UUID | None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditRecord:
    """An audit entry about a source record: its entity id is ``system/source_id``."""
    return audit_record(
        actor,
        action=action,
        entity_type="source_record",
        entity_id=f"{system}/{source_id}",
        customer_id=customer_id,
        before=before,
        after=after,
    )


def replaced_audit(
    actor: Actor, entity: str, *, before: dict[str, Any], after: dict[str, Any]
) -> AuditRecord:
    """An audit entry for a configuration replaced as a whole (the rank rules, the protected
    fields): action ``<entity>.replaced``, the entity its own type and id."""
    return audit_record(
        actor,
        action=f"{entity}.replaced",
        entity_type=entity,
        entity_id=entity,
        before=before,
        after=after,
    )
