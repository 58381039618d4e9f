"""Governance API shapes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ProtectedFieldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pointer: str = Field(
        pattern=r"^(/[a-z_]+)+$",
        examples=["/corporate_number"],
        description="A field of the customer record; /billing protects every billing field",
    )
    steward_edits: bool = Field(default=True, description="Steward edits (PATCH) need approval")
    systems: list[str] = Field(
        default_factory=list,
        description="Source systems whose writes need approval (not enforced yet: see "
        "docs/quality.md)",
    )


class ProtectedFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: list[ProtectedFieldIn] = Field(max_length=100)


class FieldChange(BaseModel):
    field: str = Field(examples=["/corporate_number"])
    before: Any = Field(description="The golden value when the change was requested")
    after: Any = Field(description="The value the change sets (as written; null removes)")


class ChangeRequestOut(BaseModel):
    id: int
    customer_id: uuid.UUID
    status: Literal["pending", "approved", "rejected"]
    version: int = Field(description="The ETag is its quoted form; decide with If-Match")
    patch: dict[str, Any] = Field(description="The steward's JSON merge patch")
    changes: list[FieldChange]
    reason: str | None
    requested_by: str
    requested_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    comment: str | None


class ChangeRequestPage(BaseModel):
    items: list[ChangeRequestOut]
    next_cursor: str | None


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    comment: str | None = Field(default=None, max_length=2000)
