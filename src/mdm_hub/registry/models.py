"""The registry's tables: the NTA's 法人番号 and インボイス data as published, apart from customers.

``nta_corporations`` and ``invoice_registrations`` hold each number's latest published state;
the ``*_history`` tables keep every distinct published row (処理区分 and all), as read;
``registry_imports`` is the checkpoint of each file (and each CSV inside a zip) being imported.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mdm_hub.db import (
    Base,
    CustomerId,
    Decided,
    SerialId,
    TimestampNow,
    Timestamps,
    one_of,
    partial_index,
)

IMPORT_KINDS = ("nta", "invoice")
IMPORT_STATUSES = ("running", "done")
INVOICE_STATUSES = ("registered", "expired", "revoked", "deleted")


class RegistryImport(Base):
    """One CSV (a file, or one member of a zip) being imported: the checkpoint by file + row."""

    __tablename__ = "registry_imports"

    id: Mapped[SerialId]
    kind: Mapped[str]
    file_name: Mapped[str]
    file_sha256: Mapped[str]
    member: Mapped[str]
    encoding: Mapped[str]
    status: Mapped[str] = mapped_column(Text, default="running")
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)  # committed up to this row
    rows_imported: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    started_at: Mapped[TimestampNow]
    updated_at: Mapped[TimestampNow]
    finished_at: Mapped[dt.datetime | None]

    __table_args__ = (
        UniqueConstraint("kind", "file_sha256", "member"),
        one_of("kind", IMPORT_KINDS),
        one_of("status", IMPORT_STATUSES),
    )


class RegistryImportReject(Base):
    """A row that was not imported, and why (wrong length, invalid number, unknown code, ...)."""

    __tablename__ = "registry_import_rejects"

    id: Mapped[SerialId]
    import_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("registry_imports.id", ondelete="CASCADE"), index=True
    )
    row_number: Mapped[int]
    reason: Mapped[str]
    column_name: Mapped[str | None]
    fields: Mapped[list[str]] = mapped_column(ARRAY(Text))


class NtaCorporation(Base):
    """A 法人番号's latest published state (最新履歴 = 1), or its deletion (処理区分 99)."""

    __tablename__ = "nta_corporations"

    corporate_number: Mapped[str] = mapped_column(Text, primary_key=True)
    sequence_number: Mapped[int]
    process: Mapped[str]
    correct: Mapped[bool | None]
    update_date: Mapped[dt.date]
    change_date: Mapped[dt.date | None]
    name: Mapped[str | None]
    kind: Mapped[str | None]
    prefecture_name: Mapped[str | None]
    city_name: Mapped[str | None]
    street_number: Mapped[str | None]
    prefecture_code: Mapped[str | None]
    city_code: Mapped[str | None]
    post_code: Mapped[str | None]
    address_outside: Mapped[str | None]
    close_date: Mapped[dt.date | None]
    close_cause: Mapped[str | None]
    successor_corporate_number: Mapped[str | None]
    change_cause: Mapped[str | None]
    assignment_date: Mapped[dt.date | None]
    en_name: Mapped[str | None]
    en_prefecture_name: Mapped[str | None]
    en_city_name: Mapped[str | None]
    en_address_outside: Mapped[str | None]
    furigana: Mapped[str | None]
    hihyoji: Mapped[bool | None]
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    import_id: Mapped[int]
    updated_at: Mapped[TimestampNow]

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

    id: Mapped[SerialId]
    corporate_number: Mapped[str]
    process: Mapped[str]
    update_date: Mapped[dt.date]
    change_date: Mapped[dt.date | None]
    fields: Mapped[list[str]] = mapped_column(ARRAY(Text))
    digest: Mapped[str]
    import_id: Mapped[int]
    row_number: Mapped[int]

    __table_args__ = (
        UniqueConstraint("corporate_number", "digest"),
        one_of("process", ("01", "11", "12", "13", "21", "22", "71", "72", "81", "99")),
    )


class InvoiceRegistration(Base):
    """An インボイス registration number's latest published state."""

    __tablename__ = "invoice_registrations"

    registration_number: Mapped[str] = mapped_column(Text, primary_key=True)
    corporate_number: Mapped[str | None] = mapped_column(Text, nullable=True, index=True)
    sequence_number: Mapped[int]
    process: Mapped[str]
    status: Mapped[str]
    correct: Mapped[bool | None]
    kind: Mapped[str | None]
    country: Mapped[str | None]
    registration_date: Mapped[dt.date | None]
    update_date: Mapped[dt.date]
    disposal_date: Mapped[dt.date | None]
    expire_date: Mapped[dt.date | None]
    name: Mapped[str | None]
    kana: Mapped[str | None]
    address: Mapped[str | None]
    address_prefecture_code: Mapped[str | None]
    address_city_code: Mapped[str | None]
    address_inside: Mapped[str | None]
    trade_name: Mapped[str | None]
    popular_name_previous_name: Mapped[str | None]
    import_id: Mapped[int]
    updated_at: Mapped[TimestampNow]

    __table_args__ = (one_of("status", INVOICE_STATUSES),)


class InvoiceRegistrationHistory(Base):
    """Every distinct published row of a registration number, as read."""

    __tablename__ = "invoice_registration_history"

    id: Mapped[SerialId]
    registration_number: Mapped[str]
    process: Mapped[str]
    update_date: Mapped[dt.date]
    fields: Mapped[list[str]] = mapped_column(ARRAY(Text))
    digest: Mapped[str]
    import_id: Mapped[int]
    row_number: Mapped[int]

    __table_args__ = (UniqueConstraint("registration_number", "digest"),)


LINKED_BY = ("corporate_number", "match", "steward")
PROPOSAL_STATUSES = ("pending", "accepted", "rejected", "superseded")


class RegistryLink(Timestamps, Base):
    """A customer that is a corporation of the NTA registry (the registry is then one of its
    sources, system ``nta``), and the registry's last applied word on it: closed (閉鎖等年月日
    and 事由), merged into a successor (承継先法人番号, and that corporation's customer when the
    hub has it), or withdrawn (処理区分 99)."""

    __tablename__ = "registry_links"

    customer_id: Mapped[CustomerId] = mapped_column(primary_key=True)
    corporate_number: Mapped[str] = mapped_column(Text, index=True)
    linked_by: Mapped[str]
    applied_update_date: Mapped[dt.date | None]
    applied_process: Mapped[str | None]
    closed_on: Mapped[dt.date | None]
    close_cause: Mapped[str | None]
    successor_corporate_number: Mapped[str | None]
    successor_customer_id: Mapped[CustomerId | None]
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        one_of("linked_by", LINKED_BY),
        # Quality KPI (closed companies still active; migration 0019).
        partial_index("ix_registry_links_closed", "customer_id", where="closed_on IS NOT NULL"),
    )


class RegistryProposal(Decided, Base):
    """A corporation of the registry that name + address matching proposes for a customer
    without a 法人番号, for a steward to accept (link) or reject."""

    __tablename__ = "registry_proposals"

    id: Mapped[SerialId]
    customer_id: Mapped[CustomerId]
    corporate_number: Mapped[str]
    probability: Mapped[float] = mapped_column(Float)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str]
    created_at: Mapped[TimestampNow]

    __table_args__ = (
        UniqueConstraint("customer_id", "corporate_number"),
        Index("ix_registry_proposals_status", "status", "id"),
        one_of("status", PROPOSAL_STATUSES),
    )


class RegistryMatchCheck(Base):
    """When name + address matching last examined a customer without a 法人番号: it is examined
    again only once the customer changed (or with ``mdm-hub nta apply --recheck``)."""

    __tablename__ = "registry_match_checks"

    customer_id: Mapped[CustomerId] = mapped_column(primary_key=True)
    checked_at: Mapped[dt.datetime]
