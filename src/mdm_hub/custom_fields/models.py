"""Custom fields an administrator defines, and the rank rules (取引額 → ランク)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mdm_hub.db import Base, Timestamps, one_of

CUSTOM_FIELD_TYPES = ("string", "integer", "number", "boolean", "date", "enum")


class CustomFieldDefinition(Timestamps, Base):
    """A field an administrator adds to customer records: its type, and what it allows."""

    __tablename__ = "custom_field_definitions"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    label: Mapped[str]
    type: Mapped[str]
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    allowed_values: Mapped[list[Any] | None] = mapped_column(JSONB, nullable=True)
    description: Mapped[str | None]

    __table_args__ = (one_of("type", CUSTOM_FIELD_TYPES),)


class RankRuleRow(Base):
    __tablename__ = "rank_rules"

    rank: Mapped[str] = mapped_column(Text, primary_key=True)
    min_amount: Mapped[int]
