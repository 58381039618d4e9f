"""/v1/quality: the plausibility rules and their policies, the findings, the KPIs."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import Query, Request

from mdm_hub.auth.roles import ConfigManage, ConfigRead, CustomersRead
from mdm_hub.db import DbSession
from mdm_hub.errors import FieldProblem, validation_problem
from mdm_hub.idempotency.route import api_router
from mdm_hub.pagination import ConfiguredIdPaging, id_cursor
from mdm_hub.quality import kpis, service
from mdm_hub.quality.repository import FindingFilters
from mdm_hub.quality.schemas import (
    FindingPage,
    KpiHistory,
    KpiHistoryItem,
    KpisOut,
    RuleOut,
    RulePolicyIn,
)
from mdm_hub.types import KeyPath

router = api_router(tags=["quality"], prefix="/v1/quality")


@router.get("/rules")
async def list_rules(session: DbSession, principal: ConfigRead) -> list[RuleOut]:
    """Every plausibility rule with its default and the policy in force."""
    return await service.list_rules(session)


@router.put("/rules/{rule}")
async def set_rule_policy(
    rule: KeyPath,
    body: RulePolicyIn,
    session: DbSession,
    actor: ConfigManage,
) -> RuleOut:
    """Set a rule's policy (reject | flag | ignore) for every later write; audited.

    Stored records keep the findings they were written with until they are written again.
    """
    return await service.set_rule_policy(session, actor, rule, body.policy)


@router.get("/findings")
async def list_findings(
    session: DbSession,
    principal: CustomersRead,
    page: ConfiguredIdPaging,
    rule: Annotated[str | None, Query(max_length=100)] = None,
    field: Annotated[
        str | None,
        Query(max_length=200, description="JSON pointer; /phones also matches /phones/0/number"),
    ] = None,
    system: Annotated[str | None, Query(max_length=100, description="Source system")] = None,
    customer_id: uuid.UUID | None = None,
) -> FindingPage:
    """The findings of the source records as they are now, oldest first; follow `next_cursor`."""
    filters = FindingFilters(rule=rule, field=field, system=system, customer_id=customer_id)
    items, last = await service.list_findings(
        session, filters, after_id=page.position, limit=page.limit
    )
    return FindingPage(items=items, next_cursor=id_cursor(last))


@router.get("/kpis")
async def get_kpis(request: Request, session: DbSession, principal: CustomersRead) -> KpisOut:
    """The quality KPIs now, per kind and per source system."""
    return KpisOut.model_validate(await kpis.compute(session, request.app.state.settings))


@router.get("/kpis/history")
async def get_kpi_history(
    session: DbSession,
    principal: CustomersRead,
    since: Annotated[dt.date | None, Query(description="First day; default: 90 days ago")] = None,
    until: Annotated[dt.date | None, Query(description="Last day; default: today")] = None,
) -> KpiHistory:
    """The daily KPI snapshots the worker keeps (and those taken on demand), oldest first."""
    last = until or kpis.today()
    first = since or last - dt.timedelta(days=89)
    if first > last:
        raise validation_problem(
            [
                FieldProblem(
                    field="since", location="query", code="after_until", message="since > until"
                )
            ]
        )
    rows = await kpis.history(session, first, min(last, first + dt.timedelta(days=3660)))
    return KpiHistory(
        items=[
            KpiHistoryItem(day=r["day"], computed_at=r["computed_at"], kpis=r["figures"])
            for r in rows
        ]
    )


@router.post("/kpis/snapshots")
async def take_kpi_snapshot(
    request: Request, session: DbSession, principal: ConfigManage
) -> KpisOut:
    """Compute the KPIs now and keep them as today's entry of the history (the worker does
    this once a day by itself)."""
    return KpisOut.model_validate(await kpis.snapshot(session, request.app.state.settings))
