"""Customer API answers: the golden record with its identity, source records, match decisions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mdm_hub.customers.models import CustomerStatus
from mdm_hub.governance.schemas import HeldForApproval
from mdm_hub.quality.schemas import CustomerFindingOut, FindingOut
from mdm_hub.record import CustomerRecord


class FieldOrigin(BaseModel):
    rule: str = Field(examples=["most_recent"])
    system: str | None = Field(default=None, examples=["crm"])
    source_id: str | None = None
    sources: list[dict[str, str]] | None = Field(
        default=None, description="For lists: every source that contributed items"
    )


class CustomerOut(CustomerRecord):
    """The golden record with its identity, status and where each field came from."""

    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID = Field(description="Stable customer id")
    customer_code: str = Field(examples=["C00000001"], description="顧客コード")
    status: CustomerStatus
    version: int = Field(description="Increases on every change; the ETag is its quoted form")
    merged_into_id: uuid.UUID | None = Field(
        default=None, description="For a merged-away customer: the customer it now lives in"
    )
    created_at: dt.datetime
    updated_at: dt.datetime
    lineage: dict[str, FieldOrigin] = Field(
        default_factory=dict, description="Field pointer → the source its value came from"
    )
    findings: list[CustomerFindingOut] | None = Field(
        default=None,
        description="Plausibility findings of the customer's source records (in the answers "
        "about one customer; null in lists)",
    )


class NormalizationChange(BaseModel):
    """What normalization changed or flagged in one field."""

    field: str = Field(examples=["/addresses/0/prefecture"])
    code: str = Field(examples=["postal_code_filled"])
    message: str
    severity: Literal["info", "warning"]


class SourceRecordOut(BaseModel):
    system: str = Field(examples=["crm"])
    source_id: str = Field(examples=["ACC-0001"])
    customer_id: uuid.UUID
    version: int
    raw_payload: dict[str, Any] = Field(description="The record exactly as the source sent it")
    normalized: dict[str, Any] = Field(description="The record as the hub normalized it")
    changes: list[NormalizationChange] = Field(description="What normalization changed or flagged")
    findings: list[FindingOut] = Field(
        default_factory=list,
        description="Plausibility findings of this version: values kept as written, marked",
    )
    created_at: dt.datetime
    updated_at: dt.datetime


class MatchDecision(BaseModel):
    outcome: Literal["new_customer", "merged", "review", "unchanged_link"] = Field(
        description="new_customer: no existing customer matched; merged: joined an existing "
        "customer; review: joined nothing yet, a steward must decide; unchanged_link: an "
        "update of a source record keeps its customer"
    )
    customer_id: uuid.UUID
    probability: float | None = None
    reason: str = Field(examples=["no_candidates"])
    candidates: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Every scored candidate, best first: probability, match weight, hard rule "
        "and the per-field comparisons (field, level, weight, detail)",
    )
    related_sites: list[str] = Field(
        default_factory=list,
        description="Customers that are other sites (事業所) of the same corporation",
    )


class SourceWriteResult(BaseModel):
    customer: CustomerOut
    source_record: SourceRecordOut
    decision: MatchDecision
    findings: list[FindingOut] = Field(
        default_factory=list,
        description="What the hub doubts in this record: stored and flagged, not refused",
    )
    held_for_approval: HeldForApproval | None = Field(
        default=None,
        description="Protected fields this write would change: the source record is stored, "
        "the golden values stay until a 管理者 approves the change request",
    )


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end")


class NormalizeResult(BaseModel):
    record: CustomerRecord
    changes: list[NormalizationChange]
    findings: list[FindingOut] = Field(
        default_factory=list, description="The findings a write would store"
    )


# The example payload of the API documentation (PUT of a source record, the dry run, normalize).
EXAMPLE_CORPORATION = {
    "kind": "corporation",
    "name": "(株)ＡＢＣ商事 大阪支店",
    "name_kana": "ｴｰﾋﾞｰｼｰｼｮｳｼﾞ",
    "corporate_number": "7000012050002",
    "addresses": [
        {
            "purpose": "head_office",
            "postal_code": "〒530-0001",
            "city": "大阪市北区",
            "town": "梅田",
            "street": "一丁目2番3号",
            "building": "梅田ビル5F",
        }
    ],
    "phones": [{"number": "06-1234-5678", "purpose": "main"}],
    "emails": [{"address": "info@ABC-shoji.example.jp"}],
    "billing": {"closing_day": "end_of_month", "payment_month_offset": 1, "payment_day": 25},
    "transactions": {"started_on": "令和2年4月1日", "annual_amount": 12000000},
}
