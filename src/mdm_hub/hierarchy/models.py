"""The links between customers: a site to its corporation, a corporation to its group parent."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from mdm_hub.db import Base

# axis "site": a site (事業所) → its corporation; axis "group": a corporation → its parent.
AXES = ("site", "group")
RELATION_TYPES = ("site", "subsidiary", "affiliate")


class CustomerRelation(Base):
    """One link, child → parent; a customer has at most one link on each axis."""

    __tablename__ = "customer_relations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    child_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"))
    parent_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"))
    axis: Mapped[str] = mapped_column(Text)
    relation_type: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    valid_to: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    set_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        UniqueConstraint("child_id", "axis"),
        Index("ix_customer_relations_parent", "parent_id", "axis"),
        CheckConstraint(f"axis IN {AXES!r}", name="axis"),
        CheckConstraint(f"relation_type IN {RELATION_TYPES!r}", name="relation_type"),
        CheckConstraint("(axis = 'site') = (relation_type = 'site')", name="type_fits_axis"),
        CheckConstraint("child_id <> parent_id", name="not_self"),
        CheckConstraint(
            "valid_to IS NULL OR valid_from IS NULL OR valid_from <= valid_to", name="dates"
        ),
    )
