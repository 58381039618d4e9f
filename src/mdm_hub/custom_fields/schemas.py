from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mdm_hub.types import KEY_PATTERN, SafeStr

FieldKey = Annotated[str, Field(pattern=KEY_PATTERN, examples=["credit_limit"])]
FieldType = Literal["string", "integer", "number", "boolean", "date", "enum"]


class CustomFieldCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: FieldKey
    label: SafeStr = Field(min_length=1, max_length=200, examples=["与信限度額"])
    type: FieldType
    required: bool = False
    allowed_values: list[SafeStr] | None = Field(
        default=None, min_length=1, max_length=500, description="Required for type enum"
    )
    description: SafeStr | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _enum_has_values(self) -> CustomFieldCreate:
        if self.type == "enum" and not self.allowed_values:
            raise ValueError("allowed_values is required for type enum")
        if self.type != "enum" and self.allowed_values is not None:
            raise ValueError("allowed_values is only for type enum")
        return self


class CustomFieldUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: SafeStr | None = Field(default=None, min_length=1, max_length=200)
    required: bool | None = None
    allowed_values: list[SafeStr] | None = Field(default=None, min_length=1, max_length=500)
    description: SafeStr | None = Field(default=None, max_length=2000)


class CustomFieldOut(BaseModel):
    key: str
    label: str
    type: FieldType
    required: bool
    allowed_values: list[Any] | None
    description: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class RankRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rank: SafeStr = Field(min_length=1, max_length=20, examples=["A"])
    min_amount: int = Field(
        ge=0, le=10**16, description="取引金額 (円) from which this rank applies"
    )


class RankRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[RankRuleIn] = Field(
        max_length=50,
        examples=[
            [{"rank": "S", "min_amount": 100_000_000}, {"rank": "A", "min_amount": 10_000_000}]
        ],
    )
