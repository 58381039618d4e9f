"""Tables of privacy: erasure tombstones, suppressions, held writes and the access log."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, LargeBinary, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from mdm_hub.db import Base, CustomerId, Decided, SerialId, TimestampNow, partial_index


class Erasure(Base):
    """The tombstone of an erasure: who erased which customer, when and why; no personal data."""

    __tablename__ = "erasures"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[CustomerId] = mapped_column(index=True)
    customer_code: Mapped[str]
    erased_customer_ids: Mapped[list[str]] = mapped_column(JSONB)
    source_ids: Mapped[list[str]] = mapped_column(JSONB)
    reason: Mapped[str]
    erased_by: Mapped[str]
    request_id: Mapped[str | None]
    erased_at: Mapped[TimestampNow]


class Suppression(Base):
    """A keyed hash of one identifying value of an erased person: a later write that carries
    it is held for an administrator instead of silently re-creating the person."""

    __tablename__ = "suppressions"

    digest: Mapped[str] = mapped_column(Text, primary_key=True)
    erasure_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("erasures.id"), primary_key=True
    )
    kind: Mapped[str]  # phone | email | name_birth_date


class HeldWrite(Decided, Base):
    """A source write that matched a suppression, waiting for an administrator's decision."""

    __tablename__ = "held_writes"

    id: Mapped[SerialId]
    erasure_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("erasures.id"))
    system: Mapped[str]
    source_id: Mapped[str]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    matched: Mapped[list[str]] = mapped_column(JSONB)  # kinds of the values that matched
    status: Mapped[str] = mapped_column(Text, default="held")  # held | released | rejected
    held_by: Mapped[str]
    held_at: Mapped[TimestampNow]

    __table_args__ = (
        Index("ix_held_writes_status_id", "status", "id"),
        # One waiting write per source record: a source retrying updates it.
        partial_index(
            "uq_held_writes_waiting", "system", "source_id", where="status = 'held'", unique=True
        ),
    )


class AccessLogEntry(Base):
    """One answer that carried a person's unmasked personal data."""

    __tablename__ = "pii_access_log"

    id: Mapped[SerialId]
    accessed_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    subject: Mapped[str]
    client_id: Mapped[str | None]
    request_id: Mapped[str | None]
    customer_id: Mapped[uuid.UUID | None]
    fields: Mapped[list[str]] = mapped_column(JSONB)
    what: Mapped[str]
    endpoint: Mapped[str]

    __table_args__ = (
        Index("ix_pii_access_log_customer_id", "customer_id", "id"),
        Index("ix_pii_access_log_subject", "subject", "id"),
    )


class PrivacyKey(Base):
    """The key of the suppression hashes when none is configured (MDM_PRIVACY_HASH_KEY),
    stored wrapped (``encryption.wrap_privacy_key``; one an earlier version stored in clear is
    wrapped on first use and by ``mdm-hub keys rotate``)."""

    __tablename__ = "privacy_keys"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[bytes] = mapped_column(LargeBinary)


class DataKey(Base):
    """A data key of field encryption, wrapped by the KEK (MDM_FIELD_ENCRYPTION_KEY).

    Values carry the id of the key they were encrypted with; the newest active key encrypts new
    values, retired keys stay readable until nothing refers to them.
    """

    __tablename__ = "data_keys"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[TimestampNow]


class IndexKey(Base):
    """The key of the blind indexes (lookup columns, blocking keys), wrapped by the KEK like
    the data keys, so that replacing the KEK leaves every stored hash valid."""

    __tablename__ = "index_keys"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[TimestampNow]
