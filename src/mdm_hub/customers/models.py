"""Tables of the customers feature: golden records and the source records behind them."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Computed,
    DateTime,
    Index,
    Integer,
    Sequence,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from mdm_hub.db import Base, CustomerId, SerialId, TimestampNow, Timestamps, one_of, partial_index


class CustomerStatus(StrEnum):
    active = "active"
    merged = "merged"
    deleted = "deleted"
    erased = "erased"
    # The NTA registry says the corporation is closed (閉鎖, 吸収合併); lifted by 復活 (22) and
    # 合併無効 (72). Set and lifted only by the registry (enrichment).
    closed = "closed"


STEWARD_SYSTEM = "_steward"

customer_code_seq = Sequence("customer_code_seq", metadata=Base.metadata)


# A field missing from an active customer, as the completeness KPI counts it (migration 0008's
# quality_customer_facts) and the customer search filters it (``missing=``): one partial index
# by customer code per field (migration 0016), so a page of them is an index range.
MISSING: dict[str, str] = {
    "corporate_number": "corporate_number IS NULL",
    "invoice_registration_number": "invoice_registration_number IS NULL",
    "phone": "cardinality(phones) = 0",
    "email": "cardinality(emails) = 0",
    "address": "jsonb_array_length(COALESCE(record -> 'addresses', '[]'::jsonb)) = 0",
    "address_with_postal_code": (
        "NOT jsonb_path_exists(record, '$.addresses[*].postal_code ? (@ != null)'::jsonpath)"
    ),
    "name_kana": "name_kana IS NULL",
    "industry": "(record #>> '{classification,industry}'::text[]) IS NULL",
    "rank": "(record #>> '{classification,rank}'::text[]) IS NULL",
    "last_transaction_on": "last_transaction_on IS NULL",
    "birth_date": "(record ->> 'birth_date') IS NULL",
}


class Customer(Base):
    """The golden record: one row per real-world customer."""

    __tablename__ = "customers"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    customer_code: Mapped[str] = mapped_column(Text, unique=True)
    kind: Mapped[str]
    status: Mapped[str] = mapped_column(Text, default="active")
    version: Mapped[int] = mapped_column(Integer, default=1)
    merged_into_id: Mapped[CustomerId | None]
    name: Mapped[str]
    name_key: Mapped[str]
    name_kana: Mapped[str | None]
    corporate_number: Mapped[str | None] = mapped_column(Text, nullable=True, index=True)
    phones: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    emails: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    record: Mapped[dict[str, Any]] = mapped_column(JSONB)
    lineage: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # 最終取引日, kept by PostgreSQL for the quality KPIs (an index-only range count; an index
    # on the expression itself cannot be read without the table). Never written by the hub.
    last_transaction_on: Mapped[str | None] = mapped_column(
        Text,
        Computed("record #>> '{transactions,last_transaction_on}'", persisted=True),
        nullable=True,
    )
    # The T-number, kept by PostgreSQL for the quality KPI of T-numbers the インボイス registry
    # does not confirm (an index-only anti-join). Never written by the hub.
    invoice_registration_number: Mapped[str | None] = mapped_column(
        Text, Computed("record ->> 'invoice_registration_number'", persisted=True), nullable=True
    )
    created_at: Mapped[TimestampNow]
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )

    __table_args__ = (
        one_of("status", CustomerStatus),
        one_of("kind", ("corporation", "person")),
        Index("ix_customers_phones", "phones", postgresql_using="gin"),
        Index("ix_customers_emails", "emails", postgresql_using="gin"),
        Index("ix_customers_name_key", "name_key", postgresql_ops={"name_key": "text_pattern_ops"}),
        Index("ix_customers_name", "name", postgresql_ops={"name": "text_pattern_ops"}),
        Index("ix_customers_status_code", "status", "customer_code"),
        # Quality KPIs (freshness; migration 0008): counted by index-only range scans.
        partial_index(
            "ix_customers_active_kind_updated_at", "kind", "updated_at", where="status = 'active'"
        ),
        partial_index(
            "ix_customers_active_kind_last_transaction",
            "kind",
            "last_transaction_on",
            where="status = 'active'",
        ),
        partial_index(
            "ix_customers_active_invoice_registration_number",
            "invoice_registration_number",
            where="status = 'active' AND invoice_registration_number IS NOT NULL",
        ),
        *(
            partial_index(
                f"ix_customers_missing_{field}",
                "customer_code",
                where=f"status = 'active' AND {condition}",
            )
            for field, condition in MISSING.items()
        ),
    )

    def identity(self) -> dict[str, Any]:
        """The fields that stand beside the golden record in every customer document."""
        return {
            "id": self.id,
            "customer_code": self.customer_code,
            "status": self.status,
            "version": self.version,
            "merged_into_id": self.merged_into_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class SourceRecord(Timestamps, Base):
    """A record as one source system holds it (the crosswalk: system + source id → customer)."""

    __tablename__ = "source_records"

    id: Mapped[SerialId]
    system: Mapped[str]
    source_id: Mapped[str]
    customer_id: Mapped[CustomerId] = mapped_column(index=True)
    raw_payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    payload_hash: Mapped[str]
    normalized: Mapped[dict[str, Any]] = mapped_column(JSONB)
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    # Plausibility findings of this version (see quality/rules.py); listed in quality_findings.
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    decision: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        UniqueConstraint("system", "source_id"),
        # quality (issue 18): freshness per source system, an index-only range count.
        Index("ix_source_records_system_updated_at", "system", "updated_at"),
        # The customers behind a per-system no-transaction figure (migration 0025).
        Index(
            "ix_source_records_system_transaction_day",
            "system",
            text("quality_source_transaction_day(system, normalized)"),
        ),
    )
