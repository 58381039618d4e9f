"""What the import endpoints take and answer."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from mdm_hub.customers.schemas import CustomerOut, MatchDecision, SourceRecordOut
from mdm_hub.errors import FieldProblem, Problem
from mdm_hub.governance.schemas import HeldForApproval


class ImportCounts(BaseModel):
    new_customer: int = 0
    merged: int = 0
    review: int = 0
    updated: int = 0
    unchanged: int = Field(default=0, description="Already stored with the same content")
    held: int = Field(
        default=0, description="Held as an erased person's record, for a 管理者 to release"
    )
    rejected: int = 0


class ImportJobOut(BaseModel):
    id: uuid.UUID
    system: str
    filename: str
    status: Literal["queued", "staging", "running", "done", "failed", "cancelled"]
    dry_run: bool
    rows_total: int | None = Field(description="Data rows in the file (known once read)")
    rows_done: int
    rows_per_second: float | None
    eta_seconds: float | None
    counts: ImportCounts
    detected: dict[str, Any] | None = Field(
        description="Format, encoding, and which column was mapped to which field (and by "
        "what: label, mapping or custom_field); unknown_columns lists the ignored ones"
    )
    error: dict[str, Any] | None
    created_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class BatchItem(BaseModel):
    source_id: str = Field(description="The record's id in the source system")
    record: dict[str, Any] = Field(description="The body of a PUT /v1/sources/{system}/records/…")


class BatchIn(BaseModel):
    items: list[BatchItem] = Field(min_length=1, max_length=1000)


class BatchItemResult(BaseModel):
    source_id: str
    status: int = Field(description="What a PUT of this item answers: 201, 200, 202 or 422")
    customer: CustomerOut | None = None
    source_record: SourceRecordOut | None = None
    decision: MatchDecision | None = None
    problem: Problem | None = None
    held: dict[str, Any] | None = Field(
        default=None, description="202: held as an erased person's record (as a PUT answers)"
    )
    held_for_approval: HeldForApproval | None = Field(
        default=None, description="Protected fields waiting for approval (as a PUT answers)"
    )
    refused_links: list[FieldProblem] = Field(
        default_factory=list,
        description="Hierarchy links this item names that were refused (cycle, self-link, "
        "...): the item is stored without them, where its own PUT would have answered 422",
    )


class RefusedWaitingLink(BaseModel):
    system: str
    source_id: str = Field(description="The source record that named the link")
    errors: list[FieldProblem]


class BatchOut(BaseModel):
    items: list[BatchItemResult]
    refused_waiting_links: list[RefusedWaitingLink] = Field(
        default_factory=list,
        description="Links named earlier by records outside this batch, waiting for a record "
        "of this batch, and refused when it arrived (the naming record stays stored)",
    )
