"""Quality API shapes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mdm_hub.quality.rules import Policy


class FindingOut(BaseModel):
    """One plausibility finding: the value is kept as written, marked with the rule it breaks."""

    rule: str = Field(examples=["phone_number_not_valid"])
    field: str = Field(examples=["/phones/0/number"], description="JSON pointer into the input")
    message: str
    value: Any = Field(default=None, description="The value as the source wrote it")


class CustomerFindingOut(FindingOut):
    system: str = Field(examples=["crm"])
    source_id: str


class FindingListItem(FindingOut):
    id: int
    system: str = Field(examples=["crm"])
    source_id: str
    customer_id: uuid.UUID
    created_at: dt.datetime


class FindingPage(BaseModel):
    items: list[FindingListItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end")


class RuleOut(BaseModel):
    rule: str
    description: str
    default_policy: Policy
    policy: Policy = Field(description="The policy in force")
    updated_at: dt.datetime | None = Field(
        default=None, description="When an administrator last set it; null: the default"
    )


class RulePolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: Policy = Field(
        description="reject: refuse the write (422); flag: store it as a finding; ignore: neither"
    )


def _added_later(description: str) -> Any:
    """A KPI figure added after the first snapshots: one stored without it reads as {}."""
    return Field(default_factory=dict, description=description)


class KpisOut(BaseModel):
    """The quality KPIs at one moment (see docs/quality.md for each figure)."""

    computed_at: dt.datetime
    day: dt.date = Field(description="The day (Japan time) the figures belong to")
    parameters: dict[str, int] = Field(
        description="stale_days, no_transaction_days, window_days (settings)"
    )
    customers: dict[str, dict[str, int]] = Field(
        description="all / corporation / person → status → customers"
    )
    completeness: dict[str, dict[str, dict[str, Any]]] = Field(
        description="all / corporation / person → field → filled, share of active customers"
    )
    error_rate: dict[str, Any] = Field(
        description="all, by_kind (corporation / person) and by_system (each with its by_kind): "
        "source records, records with findings, share, by_rule"
    )
    completeness_by_system: dict[str, dict[str, dict[str, Any]]] = _added_later(
        "source system → all / corporation / person → records, fields → filled, "
        "share of that system's source records"
    )
    freshness_by_system: dict[str, dict[str, Any]] = _added_later(
        "source system → records, not written again for stale_days, share; "
        "no_transaction (最終取引日 as the system sent it older than no_transaction_days), "
        "share, no_transaction_date (no 最終取引日), by_kind"
    )
    duplicates: dict[str, Any] = Field(
        description="candidates_waiting, merged_away, merges per 1,000 writes in the window"
    )
    freshness: dict[str, dict[str, Any]] = Field(
        description="all / corporation / person → not updated for stale_days, no transaction "
        "for no_transaction_days, no 最終取引日 at all"
    )
    update_frequency: dict[str, dict[str, Any]] = Field(
        description="source system → writes in the window, per day, new customers"
    )
    enrichment: dict[str, Any] = _added_later(
        "法人番号 coverage of the active corporations by the NTA registry: "
        "confirmed (linked), suggested (a pending proposal), withdrawn, unknown, with shares; "
        "closed_still_active (active customers whose registry link records a closure)"
    )
    enrichment_by_kind: dict[str, dict[str, Any]] = _added_later(
        "corporation / person → customers, confirmed, suggested, withdrawn, "
        "unknown (each with its share), closed_still_active"
    )
    enrichment_by_system: dict[str, dict[str, dict[str, Any]]] = _added_later(
        "source system → all / corporation / person → the same figures counted "
        "over that system's source records of active customers"
    )
    invoice_registration: dict[str, Any] = _added_later(
        "Active customers with a T-number: registered per the インボイス registry, "
        "not_confirmed (and by_status: not_registered, expired, revoked, deleted)"
    )
    invoice_registration_by_kind: dict[str, dict[str, Any]] = _added_later(
        "corporation / person → the same T-number figures over the active customers of that kind"
    )
    invoice_registration_by_system: dict[str, dict[str, dict[str, Any]]] = _added_later(
        "source system → all / corporation / person → the same T-number figures "
        "counted over that system's source records of active customers (each with its "
        "customer's T-number status)"
    )


class KpiHistoryItem(BaseModel):
    day: dt.date
    computed_at: dt.datetime
    kpis: KpisOut


class KpiHistory(BaseModel):
    items: list[KpiHistoryItem] = Field(
        description="One entry per day with a snapshot, oldest first"
    )
