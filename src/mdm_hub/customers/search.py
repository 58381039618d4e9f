"""The customer search's quality filters, read from query parameters: the customers behind a
figure of the quality KPIs (a field missing, not updated, no transaction, a finding's rule, a
法人番号 coverage state, a T-number's インボイス status, a source system). Shared by
``GET /v1/customers`` and the console's 顧客検索."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

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
    """The parameters as sent (text lists split on commas)."""

    kind: str | None = None
    missing: list[str] | None = None
    updated_before: dt.datetime | None = None
    not_updated_days: int | None = None
    no_transaction_days: int | None = None
    finding_rule: str | None = None
    registry_status: str | None = None
    invoice_status: str | None = None
    source_system: str | None = None


def _problem(field: str, code: str, message: str) -> FieldProblem:
    return FieldProblem(field=field, location="query", code=code, message=message)


def apply(query: QualityQuery, filters: CustomerFilters) -> list[FieldProblem]:
    """Set the quality filters on ``filters``; the parameters that cannot be read, named.

    The day arithmetic is the KPIs' (quality.kpis): not updated since now − N days; no
    transaction before today (Japan time) − N days."""
    problems: list[FieldProblem] = []
    if query.kind is not None:
        if query.kind in KINDS:
            filters.kind = query.kind
        else:
            problems.append(_problem("kind", "invalid", f"kind is one of {', '.join(KINDS)}"))
    fields = [f.strip() for item in query.missing or [] for f in item.split(",") if f.strip()]
    unknown = [f for f in fields if f not in MISSING]
    if unknown:
        problems.append(
            _problem(
                "missing",
                "invalid",
                f"Unknown field {', '.join(f[:40] for f in unknown[:3])}; "
                f"one of {', '.join(MISSING)}",
            )
        )
    else:
        filters.missing = tuple(dict.fromkeys(fields))
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
    if query.registry_status is not None:
        if query.registry_status in REGISTRY_STATUSES:
            filters.registry_status = query.registry_status
        else:
            problems.append(
                _problem(
                    "registry_status",
                    "invalid",
                    f"registry_status is one of {', '.join(REGISTRY_STATUSES)}",
                )
            )
    if query.invoice_status is not None:
        if query.invoice_status in INVOICE_STATUSES:
            filters.invoice_status = query.invoice_status
        else:
            problems.append(
                _problem(
                    "invoice_status",
                    "invalid",
                    f"invoice_status is one of {', '.join(INVOICE_STATUSES)}",
                )
            )
    if query.source_system is not None:
        filters.source_system = query.source_system
    return problems
