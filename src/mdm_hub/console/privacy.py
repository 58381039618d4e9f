"""個人情報 (管理者 only): erase a person with a reason, download the disclosure, the access log.

Each route needs ``privacy:manage`` like its API twin (POST /v1/customers/{id}/erase,
GET /v1/customers/{id}/disclosure, GET /v1/access-log) and calls the same service.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from mdm_hub.auth.masking import disclose
from mdm_hub.auth.roles import PrivacyManage
from mdm_hub.console import repository
from mdm_hub.console.i18n import translate
from mdm_hub.console.paging import next_page, page_after
from mdm_hub.console.web import PREFIX, PostedForm, lang_of, query_string, render
from mdm_hub.db import DbSession
from mdm_hub.errors import FieldProblem, validation_problem
from mdm_hub.idempotency.route import IdempotentRoute
from mdm_hub.privacy import repository as privacy
from mdm_hub.privacy import service
from mdm_hub.privacy.schemas import DisclosureOut

router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=IdempotentRoute)
LOG_PAGE_SIZE = 50
MAX_REASON = 1000  # as ErasureIn.reason


@router.post("/customers/{customer_id}/erase")
async def erase(
    customer_id: uuid.UUID, session: DbSession, actor: PrivacyManage, posted: PostedForm
) -> Response:
    """The confirmed erase form: a reason (required) and the confirmation box ticked."""
    form, lang = posted.form, posted.lang
    reason = form.get("reason", "").strip()
    problems = []
    if not reason:
        problems.append(("reason", translate(lang, "erase.reason_missing")))
    elif len(reason) > MAX_REASON:
        problems.append(("reason", translate(lang, "erase.reason_long", n=MAX_REASON)))
    if form.get("confirm") != "yes":
        problems.append(("confirm", translate(lang, "erase.confirm_missing")))
    if problems:
        # Raised, not answered: nothing is stored under the form's Idempotency-Key, so the
        # corrected form can be sent again; the console shows the detail in the message area.
        raise validation_problem(
            [FieldProblem(field=f, code="invalid", message=m) for f, m in problems],
            detail=" ".join(m for _, m in problems),
        )
    async with session.begin_nested():
        await service.erase_customer(
            session, posted.request.app.state.settings, actor, customer_id, reason
        )
    return Response(
        status_code=204, headers={"HX-Redirect": f"{PREFIX}/customers/{customer_id}?erased=1"}
    )


@router.get("/customers/{customer_id}/disclosure")
async def disclosure(
    customer_id: uuid.UUID, session: DbSession, principal: PrivacyManage
) -> Response:
    """The disclosure document of GET /v1/customers/{id}/disclosure, as a file to hand over.
    Reading it is recorded in the access log like the API's."""
    document = await service.disclosure(session, customer_id)
    document["customer"] = disclose(document["customer"], customer_id, what="disclosure")
    body = DisclosureOut.model_validate(document).model_dump(mode="json")
    code = str(document["customer"].get("customer_code") or customer_id)
    filename = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in code)
    return Response(
        json.dumps(body, ensure_ascii=False, indent=2),
        media_type="application/json; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}-disclosure.json"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/access-log")
async def access_log(
    request: Request,
    session: DbSession,
    principal: PrivacyManage,
    customer: Annotated[str | None, Query(max_length=60)] = None,
    subject: Annotated[str | None, Query(max_length=300)] = None,
    cursor: str | None = None,
) -> Response:
    """Who saw a person's unmasked data, newest first; by customer (code or id) or by user."""
    values = {"customer": (customer or "").strip(), "subject": (subject or "").strip()}
    problems: dict[str, str] = {}
    customer_id: uuid.UUID | None = None
    if values["customer"]:
        try:
            customer_id = uuid.UUID(values["customer"])
        except ValueError:
            found = await repository.customer_by_code(session, values["customer"])
            if found is None:
                problems["customer"] = translate(lang_of(request), "access.no_customer")
            else:
                customer_id = found.id
    rows: list[dict[str, Any]] = []
    next_query = None
    if not problems:
        before = page_after(cursor)
        rows = await privacy.access_entries(
            session,
            customer_id=customer_id,
            subject=values["subject"] or None,
            since=None,
            before_id=before,
            limit=LOG_PAGE_SIZE + 1,
        )
        if len(rows) > LOG_PAGE_SIZE:
            rows = rows[:LOG_PAGE_SIZE]
            next_query = next_page(values, rows[-1]["id"])
    ids = {r["customer_id"] for r in rows if r["customer_id"] is not None}
    codes = await repository.customer_codes(session, ids)
    return render(
        request,
        "access_log.html",
        {
            "values": values,
            "problems": problems,
            "rows": rows,
            "codes": codes,
            "next_query": next_query,
            "first_query": query_string(values) if cursor else None,
        },
    )
