"""The registry's tables: the NTA's 法人番号 and インボイス data as published, apart from customers.

``nta_corporations`` and ``invoice_registrations`` hold each number's latest published state;
the ``*_history`` tables keep every distinct published row (処理区分 and all), as read;
``registry_imports`` is the checkpoint of each file (and each CSV inside a zip) being imported.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from mdm_hub.db import Base

IMPORT_KINDS = ("nta", "invoice")
IMPORT_STATUSES = ("running", "done")
INVOICE_STATUSES = ("registered", "expired", "revoked", "deleted")


class RegistryImport(Base):
    """One CSV (a file, or one member of a zip) being imported: the checkpoint by file + row."""

    __tablename__ = "registry_imports"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(Text)
    file_name: Mapped[str] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(Text)
    member: Mapped[str] = mapped_column(Text)
    encoding: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="running")
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)  # committed up to this row
    rows_imported: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    started_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        UniqueConstraint("kind", "file_sha256", "member"),
        CheckConstraint(f"kind IN {IMPORT_KINDS!r}", name="kind"),
        CheckConstraint(f"status IN {IMPORT_STATUSES!r}", name="status"),
    )


class RegistryImportReject(Base):
    """A row that was not imported, and why (wrong length, invalid number, unknown code, ...)."""

    __tablename__ = "registry_import_rejects"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    import_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("registry_imports.id", ondelete="CASCADE"), index=True
    )
    row_number: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    column_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    fields: Mapped[list[str]] = mapped_column(ARRAY(Text))


class NtaCorporation(Base):
    """A 法人番号's latest published state (最新履歴 = 1), or its deletion (処理区分 99)."""

    __tablename__ = "nta_corporations"

    corporate_number: Mapped[str] = mapped_column(Text, primary_key=True)
    sequence_number: Mapped[int] = mapped_column(BigInteger)
    process: Mapped[str] = mapped_column(Text)
    correct: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    update_date: Mapped[dt.date] = mapped_column(Date)
    change_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    kind: Mapped[str | None] = mapped_column(Text, nullable=True)
    prefecture_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    city_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    street_number: Mapped[str | None] = mapped_column(Text, nullable=True)
    prefecture_code: Mapped[str | None] = mapped_column(Text, nullable=True)
    city_code: Mapped[str | None] = mapped_column(Text, nullable=True)
    post_code: Mapped[str | None] = mapped_column(Text, nullable=True)
    address_outside: Mapped[str | None] = mapped_column(Text, nullable=True)
    close_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    close_cause: Mapped[str | None] = mapped_column(Text, nullable=True)
    successor_corporate_number: Mapped[str | None] = mapped_column(Text, nullable=True)
    change_cause: Mapped[str | None] = mapped_column(Text, nullable=True)
    assignment_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    en_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    en_prefecture_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    en_city_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    en_address_outside: Mapped[str | None] = mapped_column(Text, nullable=True)
    furigana: Mapped[str | None] = mapped_column(Text, nullable=True)
    hihyoji: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    import_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        Index("ix_nta_corporations_successor", "successor_corporate_number"),
        Index("ix_nta_corporations_post_code", "post_code"),
        # Proposals for customers without a postal code (enrichment).
        Index("ix_nta_corporations_place", "prefecture_name", "city_name"),
        Index("ix_nta_corporations_updated_at", "updated_at"),
    )


class NtaCorporationHistory(Base):
    """Every distinct published row of a 法人番号 (each 処理区分 it went through), as read."""

    __tablename__ = "nta_corporation_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    corporate_number: Mapped[str] = mapped_column(Text)
    process: Mapped[str] = mapped_column(Text)
    update_date: Mapped[dt.date] = mapped_column(Date)
    change_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    fields: Mapped[list[str]] = mapped_column(ARRAY(Text))
    digest: Mapped[str] = mapped_column(Text)
    import_id: Mapped[int] = mapped_column(BigInteger)
    row_number: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("corporate_number", "digest"),
        CheckConstraint(
            "process IN ('01', '11', '12', '13', '21', '22', '71', '72', '81', '99')",
            name="process",
        ),
    )


class InvoiceRegistration(Base):
    """An インボイス registration number's latest published state."""

    __tablename__ = "invoice_registrations"

    registration_number: Mapped[str] = mapped_column(Text, primary_key=True)
    corporate_number: Mapped[str | None] = mapped_column(Text, nullable=True, index=True)
    sequence_number: Mapped[int] = mapped_column(BigInteger)
    process: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    correct: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    kind: Mapped[str | None] = mapped_column(Text, nullable=True)
    country: Mapped[str | None] = mapped_column(Text, nullable=True)
    registration_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    update_date: Mapped[dt.date] = mapped_column(Date)
    disposal_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    expire_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    kana: Mapped[str | None] = mapped_column(Text, nullable=True)
    address: Mapped[str | None] = mapped_column(Text, nullable=True)
    address_prefecture_code: Mapped[str | None] = mapped_column(Text, nullable=True)
    address_city_code: Mapped[str | None] = mapped_column(Text, nullable=True)
    address_inside: Mapped[str | None] = mapped_column(Text, nullable=True)
    trade_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    popular_name_previous_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    import_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (CheckConstraint(f"status IN {INVOICE_STATUSES!r}", name="status"),)


class InvoiceRegistrationHistory(Base):
    """Every distinct published row of a registration number, as read."""

    __tablename__ = "invoice_registration_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    registration_number: Mapped[str] = mapped_column(Text)
    process: Mapped[str] = mapped_column(Text)
    update_date: Mapped[dt.date] = mapped_column(Date)
    fields: Mapped[list[str]] = mapped_column(ARRAY(Text))
    digest: Mapped[str] = mapped_column(Text)
    import_id: Mapped[int] = mapped_column(BigInteger)
    row_number: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (UniqueConstraint("registration_number", "digest"),)


LINKED_BY = ("corporate_number", "match", "steward")
PROPOSAL_STATUSES = ("pending", "accepted", "rejected", "superseded")


class RegistryLink(Base):
    """A customer that is a corporation of the NTA registry (the registry is then one of its
    sources, system ``nta``), and the registry's last applied word on it: closed (閉鎖等年月日
    and 事由), merged into a successor (承継先法人番号, and that corporation's customer when the
    hub has it), or withdrawn (処理区分 99)."""

    __tablename__ = "registry_links"

    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("customers.id"), primary_key=True
    )
    corporate_number: Mapped[str] = mapped_column(Text, index=True)
    linked_by: Mapped[str] = mapped_column(Text)
    applied_update_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    applied_process: Mapped[str | None] = mapped_column(Text, nullable=True)
    closed_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    close_cause: Mapped[str | None] = mapped_column(Text, nullable=True)
    successor_corporate_number: Mapped[str | None] = mapped_column(Text, nullable=True)
    successor_customer_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("customers.id"), nullable=True
    )
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint(f"linked_by IN {LINKED_BY!r}", name="linked_by"),
        # Quality KPI (closed companies still active; migration 0019).
        Index(
            "ix_registry_links_closed",
            "customer_id",
            postgresql_where=text("closed_on IS NOT NULL"),
        ),
    )


class RegistryProposal(Base):
    """A corporation of the registry that name + address matching proposes for a customer
    without a 法人番号, for a steward to accept (link) or reject."""

    __tablename__ = "registry_proposals"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"))
    corporate_number: Mapped[str] = mapped_column(Text)
    probability: Mapped[float] = mapped_column(Float)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        UniqueConstraint("customer_id", "corporate_number"),
        Index("ix_registry_proposals_status", "status", "id"),
        CheckConstraint(f"status IN {PROPOSAL_STATUSES!r}", name="status"),
    )


class RegistryMatchCheck(Base):
    """When name + address matching last examined a customer without a 法人番号: it is examined
    again only once the customer changed (or with ``mdm-hub nta apply --recheck``)."""

    __tablename__ = "registry_match_checks"

    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("customers.id"), primary_key=True
    )
    checked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
