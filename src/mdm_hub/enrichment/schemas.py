"""What the registry proposals endpoints read and answer."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ProposalDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["accept", "reject"] = Field(
        description="accept: link the customer to this corporation (the registry becomes its "
        "source nta); reject: not this corporation"
    )


class ProposalOut(BaseModel):
    id: int
    status: Literal["pending", "accepted", "rejected", "superseded"]
    customer_id: uuid.UUID
    customer_code: str
    customer_name: str
    corporate_number: str
    registry_name: str | None = Field(description="商号又は名称 in the registry")
    prefecture_name: str | None
    city_name: str | None
    street_number: str | None
    post_code: str | None
    probability: float
    explanation: dict[str, Any] = Field(
        description="The comparisons that fired, as the match review queue shows them"
    )
    decided_by: str | None
    decided_at: dt.datetime | None
    created_at: dt.datetime


class ProposalPage(BaseModel):
    items: list[ProposalOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page")


class RegistryLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    corporate_number: str = Field(
        max_length=40,
        description="The 法人番号 (13 digits; full-width digits, spaces and hyphens are accepted) "
        "of a corporation in the imported registry",
        examples=["1010001008663"],
    )
