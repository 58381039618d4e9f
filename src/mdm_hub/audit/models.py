"""The append-only audit log (監査ログ)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Index
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mdm_hub.db import Base, SerialId, TimestampNow


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[SerialId]
    occurred_at: Mapped[TimestampNow]
    actor: Mapped[str]
    action: Mapped[str]
    entity_type: Mapped[str]
    entity_id: Mapped[str]
    customer_id: Mapped[uuid.UUID | None]
    request_id: Mapped[str | None]
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)

    __table_args__ = (
        Index("ix_audit_log_customer_id_id", "customer_id", "id"),
        Index("ix_audit_log_entity", "entity_type", "entity_id", "id"),
    )
