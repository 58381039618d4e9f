"""データ品質: the quality KPIs with their trends (the daily history), completeness per field,
error rate per rule and per source system, and the findings behind them with filters.

Reads what GET /v1/quality/kpis, /kpis/history and /findings read, with the same permission
(customers:read) and the same masking of personal values.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from mdm_hub.auth.roles import CustomersRead
from mdm_hub.console import repository
from mdm_hub.console.charts import line_chart
from mdm_hub.console.i18n import translate
from mdm_hub.console.paging import next_page, page_after
from mdm_hub.console.web import PREFIX, lang_of, query_string, render
from mdm_hub.context import settings_of
from mdm_hub.db import DbSession
from mdm_hub.quality import kpis, service
from mdm_hub.quality.repository import FindingFilters
from mdm_hub.quality.rules import RULES

router = APIRouter(prefix=f"{PREFIX}/quality", include_in_schema=False)
FINDINGS_PAGE = 50
HISTORY_DAYS = 90
KINDS = ("all", "corporation", "person")
# The completeness fields drawn as trend lines (the bars show them all).
TREND_FIELDS = ("corporate_number", "phone", "email", "address_with_postal_code")


def _trends(history: list[dict[str, Any]], figures: dict[str, Any]) -> dict[str, Any]:
    """The trend charts: the kept daily snapshots, and today's figures as the last day."""
    days = {r["day"].isoformat(): r["figures"] for r in history}
    days[figures["day"]] = figures  # now, whether or not today has a snapshot yet
    ordered = sorted(days)

    def share(figure: dict[str, Any], *path: str) -> float | None:
        value: Any = figure
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        return value if isinstance(value, (int, float)) else None

    rates = line_chart(
        ordered,
        [
            (
                "quality.trend.error_rate",
                [share(days[d], "error_rate", "all", "share") for d in ordered],
            ),
            *(
                (
                    f"kfield.{f}",
                    [share(days[d], "completeness", "all", f, "share") for d in ordered],
                )
                for f in TREND_FIELDS
            ),
        ],
        percent=True,
    )
    counts = line_chart(
        ordered,
        [
            (
                "quality.trend.waiting",
                [share(days[d], "duplicates", "candidates_waiting") for d in ordered],
            ),
            (
                "quality.trend.not_updated",
                [share(days[d], "freshness", "all", "not_updated") for d in ordered],
            ),
            (
                "quality.closed_still_active",
                [share(days[d], "enrichment", "closed_still_active") for d in ordered],
            ),
        ],
        percent=False,
    )
    return {"rates": rates, "counts": counts, "kept_days": len(history)}


def customers_link(**params: Any) -> str:
    """The 顧客検索 page listing the customers behind a figure (GET /v1/customers' quality
    filters, the same definitions as the KPIs)."""
    return f"{PREFIX}/customers?" + query_string(params)


def _enrichment_bars(
    lang: str, enrichment: dict[str, Any]
) -> list[tuple[str, float | None, str, str | None]]:
    """法人番号 coverage as bars; the suggested ones link to the proposals waiting, the others
    to the corporations in that state."""
    links = {
        "suggested": f"{PREFIX}/registry/proposals",
        "confirmed": customers_link(registry_status="confirmed", kind="corporation"),
        "unknown": customers_link(registry_status="unknown", kind="corporation"),
    }
    return [
        (
            translate(lang, f"quality.enrichment.{state}"),
            enrichment.get(f"{state}_share"),
            f"{enrichment.get(state, 0):,}",
            links.get(state),
        )
        for state in ("confirmed", "suggested", "unknown")
    ]


@router.get("")
async def quality_page(
    request: Request,
    session: DbSession,
    principal: CustomersRead,
    kind: Annotated[str, Query(pattern="^(all|corporation|person)$")] = "all",
    rule: Annotated[str | None, Query(max_length=100)] = None,
    field: Annotated[str | None, Query(max_length=200)] = None,
    system: Annotated[str | None, Query(max_length=63)] = None,
    cursor: str | None = None,
) -> Response:
    settings = settings_of(request)
    figures = await kpis.compute(session, settings)
    today = dt.date.fromisoformat(figures["day"])
    history = await kpis.history(session, today - dt.timedelta(days=HISTORY_DAYS - 1), today)
    after = page_after(cursor)
    rule = rule or None
    field = field.strip() if field and field.strip() else None
    system = system or None
    findings, last = await service.list_findings(
        session,
        FindingFilters(rule=rule, field=field, system=system),
        after_id=after,
        limit=FINDINGS_PAGE,
    )
    ids: set[uuid.UUID] = {f.customer_id for f in findings}
    codes = await repository.customer_codes(session, ids)
    filters = {"kind": kind, "rule": rule, "field": field, "system": system}
    lang = lang_of(request)
    completeness = figures["completeness"][kind]
    active = figures["customers"][kind].get("active", 0)
    of_kind = {} if kind == "all" else {"kind": kind}
    by_rule = figures["error_rate"]["all"]["by_rule"]
    return render(
        request,
        "quality.html",
        {
            "k": figures,
            "computed_at": dt.datetime.fromisoformat(figures["computed_at"]),
            # Bars: (label, share, count, link to the records behind it or None).
            # Each completeness bar links to the active customers without the field.
            "completeness_bars": [
                (
                    translate(lang, f"kfield.{f}"),
                    completeness[f]["share"],
                    f"{completeness[f]['filled']:,} · "
                    + translate(
                        lang, "quality.missing_n", n=f"{active - completeness[f]['filled']:,}"
                    ),
                    customers_link(missing=f, **of_kind),
                )
                for f in kpis.FIELDS
            ],
            # The freshness tile shows every kind's figures.
            "stale_link": customers_link(not_updated_days=figures["parameters"]["stale_days"]),
            "no_transaction_link": customers_link(
                no_transaction_days=figures["parameters"]["no_transaction_days"]
            ),
            "rule_bars": [
                (
                    translate(lang, f"qrule.{r}"),
                    v["share"],
                    f"{v['records']:,}",
                    "?" + query_string({"kind": kind, "rule": r}) + "#findings",
                )
                for r, v in sorted(by_rule.items(), key=lambda item: -item[1]["records"])
            ],
            "enrichment_bars": _enrichment_bars(lang, figures.get("enrichment") or {}),
            # The per-system and per-kind figures link to their customers (source_system,
            # registry_status, invoice_status: GET /v1/customers' filters).
            "customers_link": customers_link,
            "kind": kind,
            "kinds": KINDS,
            "rules": list(RULES),
            "systems": sorted(
                set(figures["error_rate"]["by_system"]) | set(figures["update_frequency"])
            ),
            "trends": _trends(history, figures),
            "findings": findings,
            "codes": codes,
            "filters": filters,
            "filtered": any(v for k, v in filters.items() if k != "kind"),
            "next_query": next_page(filters, last),
        },
    )
