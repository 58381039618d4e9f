"""What the hierarchy endpoints read and answer."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mdm_hub.normalize.corporate_number import is_valid_corporate_number

SiteProposalStatus = Literal["pending", "accepted", "rejected", "superseded"]


class SourceRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system: str = Field(min_length=1, max_length=63, examples=["crm"])
    source_id: str = Field(min_length=1, max_length=200, examples=["C-001"])


class CustomerRef(BaseModel):
    """The other customer of a link, named in exactly one way: its id, its customer code, a
    source system's record of it, or (for a corporation) its 法人番号."""

    model_config = ConfigDict(extra="forbid")

    customer_id: uuid.UUID | None = None
    customer_code: str | None = Field(default=None, min_length=1, max_length=100)
    source: SourceRef | None = None
    corporate_number: str | None = Field(default=None, examples=["7000012050002"])

    @model_validator(mode="after")
    def _exactly_one(self) -> CustomerRef:
        given = [
            v
            for v in (self.customer_id, self.customer_code, self.source, self.corporate_number)
            if v is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "name the customer in exactly one way: customer_id, customer_code, source or "
                "corporate_number"
            )
        if self.corporate_number is not None and not is_valid_corporate_number(
            self.corporate_number
        ):
            raise ValueError("corporate_number is not a valid 法人番号 (13 digits, check digit)")
        return self


class SiteLinkIn(BaseModel):
    """This customer is a site (事業所) of ``corporation``."""

    model_config = ConfigDict(extra="forbid")

    corporation: CustomerRef
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None


class GroupLinkIn(BaseModel):
    """This corporation's group parent (親会社) and how it is related to it."""

    model_config = ConfigDict(extra="forbid")

    parent: CustomerRef
    relation_type: Literal["subsidiary", "affiliate"] = Field(
        description="subsidiary (子会社) or affiliate (関連会社)"
    )
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None


class LinkOut(BaseModel):
    child_id: uuid.UUID
    parent_id: uuid.UUID
    axis: Literal["site", "group"]
    relation_type: Literal["site", "subsidiary", "affiliate"]
    valid_from: dt.date | None
    valid_to: dt.date | None
    set_by: str


class Node(BaseModel):
    id: uuid.UUID
    customer_code: str
    name: str
    status: str


class AncestorOut(Node):
    relation_type: str
    valid_from: dt.date | None
    valid_to: dt.date | None
    depth: int = Field(description="1 for the direct parent, 2 for its parent, ...")


class ChildOut(AncestorOut):
    parent_id: uuid.UUID


class SiteOut(Node):
    site_type: str | None
    valid_from: dt.date | None
    valid_to: dt.date | None


class WaitingOut(BaseModel):
    """A link this customer's source record names whose target the hub does not hold yet."""

    axis: Literal["site", "group"]
    relation_type: Literal["site", "subsidiary", "affiliate"]
    target_kind: Literal["customer_code", "source", "corporate_number"]
    target: str = Field(description="The code, SYSTEM/SOURCE_ID, or 法人番号 it waits for")
    valid_from: dt.date | None
    valid_to: dt.date | None
    set_by: str


class HierarchyOut(BaseModel):
    customer: Node
    corporation: Node | None = Field(description="The corporation this customer is a site of")
    ancestors: list[AncestorOut] = Field(description="Group parents, from the direct one up")
    children: list[ChildOut] = Field(description="Group members below, by depth")
    sites: list[SiteOut] = Field(description="This customer's own sites (事業所)")
    truncated: bool = Field(description="More children or sites exist than the limit returned")
    waiting: list[WaitingOut] = Field(
        description="Links named by this customer's source records, waiting for their target"
    )


class Totals(BaseModel):
    sites: int
    annual_amount: Decimal = Field(description="Sum of transactions.annual_amount (取引金額)")


class GroupTotals(Totals):
    companies: int = Field(description="The customer and every group member below it")


class RollupOut(BaseModel):
    customer_id: uuid.UUID
    own_annual_amount: Decimal
    direct: Totals = Field(description="The customer and its own sites (related)")
    group: GroupTotals = Field(description="The whole group below it and their sites (extended)")


class SiteProposalOut(BaseModel):
    """Matching's proposal: ``child`` is a site (事業所) of the corporation ``parent``."""

    id: int
    child_id: uuid.UUID
    child_code: str
    child_name: str
    parent_id: uuid.UUID
    parent_code: str
    parent_name: str
    reason: str = Field(examples=["法人番号 7000012050002; site 本町支店"])
    status: SiteProposalStatus
    created_at: dt.datetime
    decided_at: dt.datetime | None
    decided_by: str | None


class SiteProposalPage(BaseModel):
    items: list[SiteProposalOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class SiteProposalDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["accept", "reject"]
