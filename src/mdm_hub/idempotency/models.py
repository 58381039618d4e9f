"""Stored answers to POST requests that carried an ``Idempotency-Key``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Index, Integer, LargeBinary, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mdm_hub.db import Base, TimestampNow


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    # Keys are per caller: two clients choosing the same key never see each other's answers.
    principal: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    method: Mapped[str]
    path: Mapped[str]
    fingerprint: Mapped[str]  # sha256 of method, path, query and body
    status_code: Mapped[int] = mapped_column(Integer)
    headers: Mapped[list[Any]] = mapped_column(JSONB)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[TimestampNow]

    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)
