"""Governance API shapes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mdm_hub.types import SYSTEM_PATTERN

ChangeRequestStatus = Literal["pending", "approved", "rejected", "withdrawn"]


class ProtectedFieldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pointer: str = Field(
        pattern=r"^(/[a-z_]+)+$",
        examples=["/corporate_number"],
        description="A field of the customer record; /billing protects every billing field",
    )
    steward_edits: bool = Field(default=True, description="Steward edits (PATCH) need approval")
    systems: list[Annotated[str, Field(pattern=SYSTEM_PATTERN)]] = Field(
        default_factory=list,
        max_length=100,
        description="Source systems whose writes need approval: such a write is stored, but the "
        "golden value stays until a 管理者 approves the change request it makes",
    )


class ProtectedFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: list[ProtectedFieldIn] = Field(max_length=100)


class FieldChange(BaseModel):
    field: str = Field(examples=["/corporate_number"])
    before: Any = Field(description="The golden value when the change was requested")
    after: Any = Field(description="The value the change sets, normalized as a write stores it")


class ChangeRequestOut(BaseModel):
    id: int
    customer_id: uuid.UUID
    status: ChangeRequestStatus = Field(
        description="withdrawn: a later write of the same source record no longer asks for it"
    )
    version: int = Field(description="The ETag is its quoted form; decide with If-Match")
    patch: dict[str, Any] = Field(
        description="A steward's edit: its JSON merge patch. A source write: the values held "
        "(JSON pointer → normalized value) that approval sets on the source record"
    )
    system: str | None = Field(
        default=None, description="A source write's system (null for a steward's edit)"
    )
    source_id: str | None = Field(default=None, description="A source write's source record id")
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


class HeldForApproval(BaseModel):
    """A source write's protected values that wait for a 管理者 (the rest of it is written)."""

    change_request_id: int = Field(description="GET /v1/change-requests/{id}")
    fields: list[str] = Field(description="The protected fields whose golden values stay")
