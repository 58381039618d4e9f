"""法人番号の候補: registry proposals (name + address matching of customers without a 法人番号)
with the customer and the registry's corporation side by side, accepted or rejected.

Anyone who may read customers sees the list; deciding needs customers:curate, as
POST /v1/registry/proposals/{id}/decision, and runs the same service (enrichment.proposals).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mdm_hub.auth.roles import CustomersCurate, CustomersRead
from mdm_hub.console import repository
from mdm_hub.console.i18n import translate
from mdm_hub.console.paging import StatusPage, next_page, status_page
from mdm_hub.console.web import PREFIX, PostedForm, go, message, render
from mdm_hub.context import settings_of
from mdm_hub.db import DbSession
from mdm_hub.enrichment import proposals
from mdm_hub.enrichment import repository as enrichment
from mdm_hub.errors import ProblemError
from mdm_hub.idempotency.route import IdempotentRoute

router = APIRouter(
    prefix=f"{PREFIX}/registry/proposals", include_in_schema=False, route_class=IdempotentRoute
)
PAGE_SIZE = 20
STATUSES = ("pending", "accepted", "rejected", "superseded")
ProposalsQuery = Annotated[StatusPage, status_page(STATUSES, ("accepted", "rejected"))]


def _address(record: dict[str, Any]) -> str:
    """The customer's first address as one line (what the registry's head office is matched
    against)."""
    for a in record.get("addresses") or []:
        parts = [a.get(k) for k in ("prefecture", "city", "town", "street", "building")]
        text = "".join(p for p in parts if p) or a.get("full_text") or ""
        code = a.get("postal_code")
        return f"〒{code} {text}" if code else text
    return ""


@router.get("")
async def proposals_page(
    request: Request, session: DbSession, principal: CustomersRead, page: ProposalsQuery
) -> Response:
    status = page.status
    rows = await enrichment.proposals(session, status, page.after or 0, PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    customers = await repository.customers_by_id(session, {r["customer_id"] for r in rows})
    return render(
        request,
        "registry_proposals.html",
        {
            "proposals": rows,
            "addresses": {i: _address(c.record) for i, c in customers.items()},
            "status": status,
            "statuses": STATUSES,
            "done": page.done,
            "next_query": next_page({"status": status}, rows[-1]["id"] if more else None),
        },
    )


@router.post("/{proposal_id}/decision")
async def decide(
    proposal_id: int, session: DbSession, actor: CustomersCurate, posted: PostedForm
) -> Response:
    """承認 (link the customer to the corporation) or 却下, through the API's service."""
    decision, lang = posted.choice("decision", ("accept", "reject")), posted.lang
    try:
        async with session.begin_nested():
            await proposals.decide_proposal(
                session, settings_of(posted.request), actor, proposal_id, decision
            )
    except ProblemError as exc:
        if exc.problem_type.slug not in ("conflict", "not-found"):
            raise
        return message(
            posted.request, "warning", translate(lang, "proposals.changed"), detail=exc.detail
        )
    done = "accepted" if decision == "accept" else "rejected"
    target = f"{PREFIX}/registry/proposals?done={done}"
    return go(posted.request, translate(lang, f"proposals.done.{done}"), target)
