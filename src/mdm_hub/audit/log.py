"""Appending to the audit log, always inside the caller's transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.audit.models import AuditEntry
from mdm_hub.context import Actor


async def record_audit(
    session: AsyncSession,
    actor: Actor,
    *,
    action: str,
    entity_type: str,
    entity_id: str,
    customer_id: uuid.UUID | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            actor=actor.subject
            if actor.client_id is None
            else f"{actor.subject} ({actor.client_id})",
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            customer_id=customer_id,
            request_id=actor.request_id,
            before=before,
            after=after,
        )
    )
