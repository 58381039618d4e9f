"""The customer search's quality filters, read from query parameters: the customers behind a
figure of the quality KPIs (a field missing, not updated, no transaction, a finding's rule, a
法人番号 coverage state, a T-number's インボイス status, a source system, and what a source
system's own record lacks or says of its last transaction). Shared by
``GET /v1/customers`` and the console's 顧客検索."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Query

from mdm_hub.customers.models import MISSING
from mdm_hub.customers.repository import CustomerFilters
from mdm_hub.errors import FieldProblem
from mdm_hub.quality.rules import RULES

JAPAN = ZoneInfo("Asia/Tokyo")
KINDS = ("corporation", "person")
REGISTRY_STATUSES = ("confirmed", "suggested", "withdrawn", "unknown")
INVOICE_STATUSES = (
    "registered",
    "not_confirmed",
    "not_registered",
    "expired",
    "revoked",
    "deleted",
)


@dataclass
class QualityQuery:
    """The parameters as sent (text lists split on commas); as a FastAPI dependency
    (``Depends()``), the query parameters of ``GET /v1/customers``."""

    kind: Annotated[str | None, Query(description="corporation or person")] = None
    missing: Annotated[
        list[str] | None,
        Query(
            max_length=20,
            description="Fields the customer lacks, comma-separated or repeated (as the "
            "completeness KPI counts them): " + ", ".join(MISSING),
        ),
    ] = None
    updated_before: Annotated[
        dt.datetime | None, Query(description="Not updated since this time")
    ] = None
    not_updated_days: Annotated[
        int | None, Query(ge=0, le=36500, description="Not updated for this many days")
    ] = None
    no_transaction_days: Annotated[
        int | None,
        Query(ge=0, le=36500, description="最終取引日 older than this many days (Japan time)"),
    ] = None
    finding_rule: Annotated[
        str | None,
        Query(max_length=100, description="A source record of the customer has this finding"),
    ] = None
    registry_status: Annotated[
        str | None,
        Query(description="法人番号 coverage: confirmed, suggested, withdrawn or unknown"),
    ] = None
    invoice_status: Annotated[
        str | None,
        Query(
            max_length=20,
            description="The T-number's インボイス status: registered, not_confirmed (any but "
            "registered), not_registered, expired, revoked or deleted",
        ),
    ] = None
    source_system: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="The customer has a source record of this system",
        ),
    ] = None
    source_missing: Annotated[
        list[str] | None,
        Query(
            max_length=20,
            description="With source_system: the customer has a record of that system whose "
            "own normalized record lacks these fields (comma-separated or repeated; as the "
            "per-system completeness counts them): " + ", ".join(MISSING),
        ),
    ] = None
    source_not_updated_days: Annotated[
        int | None,
        Query(
            ge=0,
            le=36500,
            description="With source_system: the customer has a record of that system not "
            "written for this many days (as the per-system 'not written' figure counts them)",
        ),
    ] = None
    source_no_transaction_days: Annotated[
        int | None,
        Query(
            ge=0,
            le=36500,
            description="With source_system: the customer has a record of that system whose "
            "own 最終取引日 is older than this many days (Japan time; as the per-system "
            "no-transaction figure counts them)",
        ),
    ] = None


def _problem(field: str, code: str, message: str) -> FieldProblem:
    return FieldProblem(field=field, location="query", code=code, message=message)


def _one_of(
    field: str, value: str | None, allowed: tuple[str, ...], problems: list[FieldProblem]
) -> str | None:
    """``value`` when it is one of ``allowed`` (or not given); otherwise None, and a problem
    naming the field."""
    if value is None or value in allowed:
        return value
    problems.append(_problem(field, "invalid", f"{field} is one of {', '.join(allowed)}"))
    return None


def apply(query: QualityQuery, filters: CustomerFilters) -> list[FieldProblem]:
    """Set the quality filters on ``filters``; the parameters that cannot be read, named.

    The day arithmetic is the KPIs' (quality.kpis): not updated since now − N days; no
    transaction before today (Japan time) − N days."""
    problems: list[FieldProblem] = []
    filters.kind = _one_of("kind", query.kind, KINDS, problems)
    fields = _fields(query.missing, "missing", problems)
    if fields is not None:
        filters.missing = fields
    cutoffs = []
    if query.updated_before is not None:
        before = query.updated_before
        cutoffs.append(before if before.tzinfo else before.replace(tzinfo=dt.UTC))
    if query.not_updated_days is not None:
        cutoffs.append(dt.datetime.now(dt.UTC) - dt.timedelta(days=query.not_updated_days))
    if cutoffs:
        filters.updated_before = min(cutoffs)
    if query.no_transaction_days is not None:
        today = dt.datetime.now(JAPAN).date()
        filters.transaction_before = today - dt.timedelta(days=query.no_transaction_days)
    if query.finding_rule is not None:
        if query.finding_rule in RULES:
            filters.finding_rule = query.finding_rule
        else:
            problems.append(_problem("finding_rule", "invalid", "Unknown rule"))
    filters.registry_status = _one_of(
        "registry_status", query.registry_status, REGISTRY_STATUSES, problems
    )
    filters.invoice_status = _one_of(
        "invoice_status", query.invoice_status, INVOICE_STATUSES, problems
    )
    if query.source_system is not None:
        filters.source_system = query.source_system
    # The per-system figures count a system's source records by their own values (migration
    # 0014's quality_source_facts, 0025's quality_source_transaction_day): these read the same.
    source_fields = _fields(query.source_missing, "source_missing", problems)
    if source_fields is not None:
        filters.source_missing = source_fields
    if query.source_not_updated_days is not None:
        filters.source_updated_before = dt.datetime.now(dt.UTC) - dt.timedelta(
            days=query.source_not_updated_days
        )
    if query.source_no_transaction_days is not None:
        today = dt.datetime.now(JAPAN).date()
        filters.source_transaction_before = today - dt.timedelta(
            days=query.source_no_transaction_days
        )
    per_record = query.source_no_transaction_days, query.source_not_updated_days
    if (source_fields or any(d is not None for d in per_record)) and not query.source_system:
        problems.append(
            _problem(
                "source_system",
                "required",
                "source_missing, source_no_transaction_days and source_not_updated_days "
                "read the records of one "
                "source system: give source_system",
            )
        )
    return problems


def _fields(
    items: list[str] | None, parameter: str, problems: list[FieldProblem]
) -> tuple[str, ...] | None:
    """The field names of ``missing`` / ``source_missing`` (comma-separated or repeated), or
    None with a problem when one is unknown."""
    fields = [f.strip() for item in items or [] for f in item.split(",") if f.strip()]
    unknown = [f for f in fields if f not in MISSING]
    if unknown:
        problems.append(
            _problem(
                parameter,
                "invalid",
                f"Unknown field {', '.join(f[:40] for f in unknown[:3])}; "
                f"one of {', '.join(MISSING)}",
            )
        )
        return None
    return tuple(dict.fromkeys(fields))
