"""Protected fields and the change requests that wait for a second 管理者."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Index, Integer, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mdm_hub.db import Base, CustomerId, Decided, SerialId, TimestampNow, one_of, partial_index

CHANGE_REQUEST_STATUSES = ("pending", "approved", "rejected", "withdrawn")


class ProtectedField(Base):
    """A field (JSON pointer into the customer record) whose changes need approval."""

    __tablename__ = "protected_fields"

    pointer: Mapped[str] = mapped_column(Text, primary_key=True)
    steward_edits: Mapped[bool] = mapped_column(Boolean, default=True)
    systems: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    updated_at: Mapped[TimestampNow]


class ChangeRequest(Decided, Base):
    """A change to protected fields, held until a second 管理者 approves it (or it is rejected
    or withdrawn)."""

    __tablename__ = "change_requests"

    id: Mapped[SerialId]
    customer_id: Mapped[CustomerId]
    status: Mapped[str] = mapped_column(Text, default="pending")
    version: Mapped[int] = mapped_column(Integer, default=1)
    patch: Mapped[dict[str, Any]] = mapped_column(JSONB)
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    reason: Mapped[str | None]
    requested_by: Mapped[str]
    requested_at: Mapped[dt.datetime]
    comment: Mapped[str | None]
    # A change held from a source system's write: the source record whose values wait (null
    # for a steward's edit). At most one pending request per source record.
    system: Mapped[str | None]
    source_id: Mapped[str | None]

    __table_args__ = (
        one_of("status", CHANGE_REQUEST_STATUSES),
        Index("ix_change_requests_status_id", "status", "id"),
        Index("ix_change_requests_customer_id", "customer_id"),
        partial_index(
            "ix_change_requests_source_pending",
            "system",
            "source_id",
            where="status = 'pending' AND system IS NOT NULL",
            unique=True,
        ),
    )
