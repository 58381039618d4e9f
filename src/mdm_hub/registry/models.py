"""The registry's tables: the NTA's 法人番号 and インボイス data as published, apart from customers.

``nta_corporations`` and ``invoice_registrations`` hold each number's latest published state;
the ``*_history`` tables keep every distinct published row (処理区分 and all), as read;
``registry_imports`` is the checkpoint of each file (and each CSV inside a zip) being imported.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
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
from mdm_hub.registry.layouts import (
    INVOICE_COLUMNS,
    INVOICE_DATES,
    INVOICE_FLAGS,
    NTA_COLUMNS,
    NTA_DATES,
    NTA_FLAGS,
    NTA_PROCESSES,
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


class PublishedState:
    """A mixin of the current tables: what every published row has (一連番号, 処理区分, 訂正区分,
    更新年月日), and the import that wrote the row."""

    sequence_number: Mapped[int]
    process: Mapped[str]
    correct: Mapped[bool | None]
    update_date: Mapped[dt.date]
    import_id: Mapped[int]
    updated_at: Mapped[TimestampNow]


def _published(
    columns: Sequence[str],
    *,
    key: str,
    omitted: Collection[str],
    dates: Collection[str],
    flags: Collection[str],
) -> tuple[Column[Any], ...]:
    """The other published columns a current table keeps, in the file's order (all but its key,
    ``PublishedState``'s and ``omitted``): nullable, typed as the layout's parser reads them."""
    declared = {key, *inspect.get_annotations(PublishedState), *omitted}
    return tuple(
        Column(name, Date if name in dates else Boolean if name in flags else Text)
        for name in columns
        if name not in declared
    )


class NtaCorporation(PublishedState, Base):
    """A 法人番号's latest published state (最新履歴 = 1), or its deletion (処理区分 99): every
    column of the published layout but the image ids and 最新履歴."""

    __tablename__ = "nta_corporations"

    corporate_number: Mapped[str] = mapped_column(Text, primary_key=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        # The published columns before the indexes that name them.
        *_published(
            NTA_COLUMNS,
            key="corporate_number",
            omitted=("name_image_id", "address_image_id", "address_outside_image_id", "latest"),
            dates=NTA_DATES,
            flags=NTA_FLAGS,
        ),
        Index("ix_nta_corporations_successor", "successor_corporate_number"),
        Index("ix_nta_corporations_post_code", "post_code"),
        # Proposals for customers without a postal code (enrichment).
        Index("ix_nta_corporations_place", "prefecture_name", "city_name"),
        Index("ix_nta_corporations_updated_at", "updated_at"),
    )


class PublishedHistory:
    """A mixin of the history tables: one distinct published row of a number (each 処理区分 it
    went through), as read: its fields, and their digest (``layouts.ParsedRow``)."""

    id: Mapped[SerialId]
    process: Mapped[str]
    update_date: Mapped[dt.date]
    fields: Mapped[list[str]] = mapped_column(ARRAY(Text))
    digest: Mapped[str]
    import_id: Mapped[int]
    row_number: Mapped[int]


class NtaCorporationHistory(PublishedHistory, Base):
    __tablename__ = "nta_corporation_history"

    corporate_number: Mapped[str]
    change_date: Mapped[dt.date | None]

    __table_args__ = (
        UniqueConstraint("corporate_number", "digest"),
        one_of("process", NTA_PROCESSES),
    )


class InvoiceRegistration(PublishedState, Base):
    """An インボイス registration number's latest published state: the published layout but the
    公表申出 address, the codes of the 国内事務所's address and 最新履歴; its 法人番号 and
    status are read from the row (``layouts.parse_invoice_row``)."""

    __tablename__ = "invoice_registrations"

    registration_number: Mapped[str] = mapped_column(Text, primary_key=True)
    corporate_number: Mapped[str | None] = mapped_column(Text, nullable=True, index=True)
    status: Mapped[str]

    __table_args__ = (
        *_published(
            INVOICE_COLUMNS,
            key="registration_number",
            omitted=(
                "address_request",
                "address_request_prefecture_code",
                "address_request_city_code",
                "address_inside_prefecture_code",
                "address_inside_city_code",
                "latest",
            ),
            dates=INVOICE_DATES,
            flags=INVOICE_FLAGS,
        ),
        one_of("status", INVOICE_STATUSES),
    )


class InvoiceRegistrationHistory(PublishedHistory, Base):
    __tablename__ = "invoice_registration_history"

    registration_number: Mapped[str]

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
