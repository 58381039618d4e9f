"""Pydantic schemas of the privacy API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field


class ErasureIn(BaseModel):
    reason: str = Field(
        min_length=1,
        max_length=1000,
        examples=["本人からの利用停止・消去請求 (2026-12-01 受付 No.123)"],
        description="Why the person's data is erased (kept in the tombstone and the audit log)",
    )


class ErasureOut(BaseModel):
    """The tombstone of an erasure: no personal data, only who, when, why and what."""

    id: uuid.UUID
    customer_id: uuid.UUID
    customer_code: str
    erased_customer_ids: list[uuid.UUID] = Field(
        description="The customer and every customer merged into it"
    )
    source_ids: list[str] = Field(description="`system/source_id` of every erased source record")
    reason: str
    erased_by: str
    request_id: str | None
    erased_at: dt.datetime


class HeldWriteOut(BaseModel):
    """A source write that carried an erased person's identifying values, held for a 管理者."""

    id: int
    erasure_id: uuid.UUID
    system: str
    source_id: str
    payload: dict[str, Any] = Field(description="The record as sent (emptied on rejection)")
    matched: list[str] = Field(description="Which identifying values matched the erasure")
    status: str = Field(examples=["held"], description="held, released or rejected")
    held_by: str
    held_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None


class HeldWritePage(BaseModel):
    items: list[HeldWriteOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class AccessLogEntryOut(BaseModel):
    id: int
    accessed_at: dt.datetime
    subject: str
    client_id: str | None
    request_id: str | None
    customer_id: uuid.UUID | None
    fields: list[str] = Field(description="JSON pointers of the personal fields shown unmasked")
    what: str = Field(examples=["customer"], description="customer, source_record, audit, ...")
    endpoint: str = Field(examples=["GET /v1/customers/{customer_id}"])


class AccessLogPage(BaseModel):
    items: list[AccessLogEntryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page (older)")


class DisclosureEvent(BaseModel):
    seq: int
    event_id: uuid.UUID
    type: str
    customer_version: int
    changed_fields: list[str]
    occurred_at: dt.datetime


class DisclosureHistoryEntry(BaseModel):
    id: int
    occurred_at: dt.datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    request_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class DisclosureRecipient(BaseModel):
    endpoint_id: uuid.UUID
    url: str
    delivered: int = Field(description="Events about this person the endpoint received")
    first_delivered_at: dt.datetime | None
    last_delivered_at: dt.datetime | None


class DisclosureOut(BaseModel):
    """Everything the hub holds about a person (開示請求), ready to hand over."""

    generated_at: dt.datetime
    customer: dict[str, Any] = Field(description="The golden record, unmasked")
    merged_customer_ids: list[uuid.UUID]
    source_records: list[dict[str, Any]] = Field(
        description="Every source record: system, source id, as received and as normalized"
    )
    history: list[DisclosureHistoryEntry] = Field(description="The audit log of the customer")
    events: list[DisclosureEvent] = Field(description="Its change events")
    recipients: list[DisclosureRecipient] = Field(
        description="Which downstream systems (webhook endpoints) received its data"
    )
