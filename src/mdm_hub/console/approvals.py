"""承認待ち: change requests of protected fields (steward edits and source writes) with their
before/after, approved or rejected with a comment by a 管理者 other than the requester.

Listing needs customers:curate and deciding config:manage, as GET /v1/change-requests and
POST /v1/change-requests/{id}/decision; deciding runs the same service (four eyes, the
request's version as If-Match) and applies the change the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mdm_hub.auth.roles import ConfigManage, CustomersCurate
from mdm_hub.console import repository
from mdm_hub.console.customer_view import show
from mdm_hub.console.i18n import translate
from mdm_hub.console.paging import StatusPage, next_page, status_page
from mdm_hub.console.web import PREFIX, PostedForm, go, message, render
from mdm_hub.context import settings_of
from mdm_hub.customers.steward import change_request_applier
from mdm_hub.db import DbSession
from mdm_hub.errors import ProblemError
from mdm_hub.governance import service as governance
from mdm_hub.governance.repository import RequestFilters
from mdm_hub.governance.schemas import ChangeRequestOut, DecisionIn
from mdm_hub.idempotency.route import IdempotentRoute

router = APIRouter(
    prefix=f"{PREFIX}/approvals", include_in_schema=False, route_class=IdempotentRoute
)
PAGE_SIZE = 20
STATUSES = ("pending", "approved", "rejected", "withdrawn")
ApprovalsQuery = Annotated[StatusPage, status_page(STATUSES, ("approved", "rejected"))]


@dataclass(frozen=True)
class DiffRow:
    field: str  # JSON pointer
    before: str
    after: str
    changed: bool


def diff_rows(change: ChangeRequestOut) -> list[DiffRow]:
    """Each requested field as rows of text; an object (請求条件) leaf by leaf."""
    rows: list[DiffRow] = []
    for item in change.changes:
        before, after = item.before, item.after
        if isinstance(before, dict) or isinstance(after, dict):
            old = before if isinstance(before, dict) else {}
            new = after if isinstance(after, dict) else {}
            for leaf in sorted(old.keys() | new.keys()):
                a, b = show(old.get(leaf)), show(new.get(leaf))
                if a or b:
                    rows.append(DiffRow(f"{item.field}/{leaf}", a, b, a != b))
            continue
        a, b = show(before), show(after)
        rows.append(DiffRow(item.field, a, b, a != b))
    return rows


@router.get("")
async def approvals_page(
    request: Request, session: DbSession, actor: CustomersCurate, page: ApprovalsQuery
) -> Response:
    status = page.status
    rows, last = await governance.list_requests(
        session, RequestFilters(status=status), after_id=page.after, limit=PAGE_SIZE
    )
    changes = [governance.change_request_out(r) for r in rows]
    mine = {r.id for r in rows if governance.is_requester(actor, r)}
    customers = await repository.customers_by_id(session, {c.customer_id for c in changes})
    return render(
        request,
        "approvals.html",
        {
            "changes": changes,
            "diffs": {c.id: diff_rows(c) for c in changes},
            "customers": customers,
            "status": status,
            "statuses": STATUSES,
            "mine": mine,
            "done": page.done,
            "next_query": next_page({"status": status}, last),
        },
    )


@router.post("/{request_id}/decision")
async def decide(
    request_id: int, session: DbSession, actor: ConfigManage, posted: PostedForm
) -> Response:
    """承認 or 却下 with a comment; the version the page showed is the If-Match."""
    form, lang = posted.form, posted.lang
    decision = posted.choice("decision", ("approve", "reject"))
    body = DecisionIn(decision="approve" if decision == "approve" else "reject")
    body.comment = form.get("comment", "").strip()[:2000] or None
    apply = change_request_applier(session, settings_of(posted.request), actor)
    try:
        async with session.begin_nested():
            await governance.decide(
                session, actor, request_id, body, f'"{form.get("version", "")}"', apply
            )
    except ProblemError as exc:
        key = {
            "forbidden": "approvals.own",
            "precondition-failed": "approvals.changed",
            "conflict": "approvals.changed",
        }.get(exc.problem_type.slug)
        if key is None:
            raise
        return message(posted.request, "warning", translate(lang, key), detail=exc.detail)
    done = "approved" if decision == "approve" else "rejected"
    return go(
        posted.request, translate(lang, f"approvals.done.{done}"), f"{PREFIX}/approvals?done={done}"
    )
