"""The change-event outbox: every change to a customer, written in the change's transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

from mdm_hub.db import Base

EVENT_TYPES = (
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "customer.merged",
    "customer.unmerged",
    "customer.erased",
)


class Xid8(UserDefinedType[int]):
    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "xid8"


class CustomerEvent(Base):
    """``seq`` orders events but is not commit order; ``txid`` lets readers wait for the gaps."""

    __tablename__ = "customer_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True, default=uuid.uuid4)
    type: Mapped[str] = mapped_column(Text)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    customer_version: Mapped[int] = mapped_column(Integer)
    changed_fields: Mapped[list[str]] = mapped_column(JSONB, default=list)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    occurred_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    txid: Mapped[int] = mapped_column(
        Xid8(), server_default=text("pg_current_xact_id()"), nullable=False
    )

    __table_args__ = (
        Index("ix_customer_events_customer_id_seq", "customer_id", "seq"),
        Index("ix_customer_events_occurred_at", "occurred_at"),
    )
