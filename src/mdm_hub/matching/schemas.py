"""Request and answer models of matching: dry run, review queue, merge and unmerge."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mdm_hub.customers.schemas import CustomerOut
from mdm_hub.matching.models import CandidateStatus
from mdm_hub.types import SOURCE_ID_PATTERN, SafeStr


class MatchResult(BaseModel):
    """What the hub would do with this record, and why; nothing is stored."""

    decision: Literal["merge", "review", "new"]
    customer_id: uuid.UUID | None = Field(description="For merge: the customer it would join")
    probability: float | None = Field(description="The best candidate's match probability")
    reason: str
    candidates: list[dict[str, Any]] = Field(
        description="Scored candidates, best first, each with its per-field explanation"
    )
    related_sites: list[uuid.UUID] = Field(
        default_factory=list, description="Other sites (事業所) of the same corporation"
    )


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_ids: list[uuid.UUID] = Field(
        min_length=1, max_length=20, description="Customers to merge into this one"
    )


class SourceRecordRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system: SafeStr = Field(max_length=63, examples=["crm"])
    source_id: str = Field(
        min_length=1, max_length=200, pattern=SOURCE_ID_PATTERN, examples=["ACC-0001"]
    )


class UnmergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_records: list[SourceRecordRef] = Field(min_length=1, max_length=100)
    target_customer_id: uuid.UUID | None = Field(
        default=None,
        description="Move them to this customer. Default: back to the customer they came from "
        "when they are exactly what a merge brought, else a new customer",
    )


class UnmergeResult(BaseModel):
    customer: CustomerOut = Field(description="The customer the records left")
    target: CustomerOut = Field(description="Where they went (revived, named or new)")


class CandidateDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["merge", "distinct"]


class MatchCandidateOut(BaseModel):
    id: int
    status: CandidateStatus
    probability: float
    match_weight: float
    reason: str
    explanation: dict[str, Any] = Field(description="Per-field comparisons: field, level, weight")
    created_at: dt.datetime
    decided_at: dt.datetime | None
    decided_by: str | None
    customer_a: CustomerOut
    customer_b: CustomerOut


class MatchCandidatePage(BaseModel):
    items: list[MatchCandidateOut]
    next_cursor: str | None
