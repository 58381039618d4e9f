"""HTTP for customers (reads, a steward's edits, the crosswalk) and normalize.

Handlers parse, call the service, shape the answer.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import Enum
from typing import Annotated, Any

from fastapi import Body, Depends, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.auth.roles import ConfigManage, CustomersRead, CustomersWrite
from mdm_hub.context import settings_of
from mdm_hub.customers import repository, search, steward
from mdm_hub.customers.models import Customer, CustomerStatus
from mdm_hub.customers.prepare import normalize_payload
from mdm_hub.customers.schemas import (
    EXAMPLE_CORPORATION,
    CustomerOut,
    CustomerPage,
    NormalizationChange,
    NormalizeResult,
    SourceRecordOut,
)
from mdm_hub.customers.views import customer_out, source_out
from mdm_hub.db import DbSession
from mdm_hub.errors import FieldProblem, problem_responses, validation_problem
from mdm_hub.governance import service as governance
from mdm_hub.governance.schemas import ChangeRequestOut, DecisionIn
from mdm_hub.idempotency.route import api_router
from mdm_hub.normalize import (
    NormalizationError,
    corporate_number_lookup,
    normalize_email_address,
    phone_e164,
)
from mdm_hub.pagination import PageQuery, decode_cursor, encode_cursor
from mdm_hub.quality import service as quality
from mdm_hub.quality.schemas import CustomerFindingOut
from mdm_hub.record import CustomerIn, CustomerRecord
from mdm_hub.types import Id
from mdm_hub.web import Curating

router = api_router()
CUSTOMERS: list[str | Enum] = ["customers"]  # FastAPI's type for tags

IfMatch = Annotated[str | None, Header(description="ETag of the version being changed")]
CONFLICT_RESPONSES = problem_responses(409, 412, 428)


def _filter_problem(field: str, exc: NormalizationError) -> Exception:
    return validation_problem(
        [
            FieldProblem(field=field, location="query", code=e.code, message=e.message)
            for e in exc.errors
        ]
    )


@router.get("/customers", tags=CUSTOMERS)
async def list_customers(
    *,
    request: Request,
    session: DbSession,
    principal: CustomersRead,
    customer_code: str | None = None,
    name_prefix: Annotated[
        str | None, Query(max_length=200, description="Start of the name, body or フリガナ")
    ] = None,
    phone: Annotated[str | None, Query(description="Any phone form; matched as E.164")] = None,
    email: str | None = None,
    corporate_number: str | None = None,
    customer_status: Annotated[
        list[CustomerStatus] | None, Query(alias="status", description="Default: active")
    ] = None,
    updated_since: dt.datetime | None = None,
    quality_filters: Annotated[search.QualityQuery, Depends()],
    page: Annotated[PageQuery, Depends()],
) -> CustomerPage:
    """Customers in customer-code order, filtered; follow `next_cursor` for the next page.

    The quality filters (kind, missing, updated_before, not_updated_days,
    no_transaction_days, finding_rule, registry_status, invoice_status, source_system,
    source_missing, source_no_transaction_days, source_not_updated_days) list the customers
    behind a figure of
    `GET /v1/quality/kpis`; they apply to active customers with the KPIs' own definitions.
    source_missing, source_no_transaction_days and source_not_updated_days read the source
    record's own values, as the per-source-system figures count them, and need source_system."""
    settings = settings_of(request)
    filters = repository.CustomerFilters(
        customer_code=customer_code,
        name_prefix=name_prefix,
        updated_since=updated_since,
        statuses=tuple(s.value for s in customer_status or [CustomerStatus.active]),
    )
    problems = search.apply(quality_filters, filters)
    if problems:
        raise validation_problem(problems)
    try:
        if phone is not None:
            filters.phone = phone_e164(phone)
    except NormalizationError as exc:
        raise _filter_problem("phone", exc) from exc
    try:
        if email is not None:
            filters.email = normalize_email_address(email)
    except NormalizationError as exc:
        raise _filter_problem("email", exc) from exc
    try:
        if corporate_number is not None:
            # Not check-digit verified: a stored 法人番号 with a finding can be looked up too.
            filters.corporate_number = corporate_number_lookup(corporate_number)
    except NormalizationError as exc:
        raise _filter_problem("corporate_number", exc) from exc
    after = decode_cursor(page.cursor, "cursor", {"code": str})["code"] if page.cursor else None
    rows, last = await repository.list_customers(
        session, filters, after_code=after, limit=page.size(settings)
    )
    return CustomerPage(
        items=[customer_out(c) for c in rows],
        next_cursor=encode_cursor({"code": last}) if last else None,
    )


@router.get("/customers/{customer_id}", tags=CUSTOMERS)
async def get_customer(
    customer_id: uuid.UUID,
    response: Response,
    session: DbSession,
    principal: CustomersRead,
) -> CustomerOut:
    """The golden record, with an ETag for conditional updates."""
    customer = await repository.get_customer(session, customer_id)
    response.headers["ETag"] = steward.etag(customer)
    return await customer_detail(session, customer)


async def customer_detail(session: AsyncSession, customer: Customer) -> CustomerOut:
    """One customer with the quality findings of its source records."""
    out = customer_out(customer)
    rows = await quality.customer_findings(session, customer.id, customer.kind)
    out.findings = [CustomerFindingOut.model_validate(r) for r in rows]
    return out


@router.patch(
    "/customers/{customer_id}",
    response_model=CustomerOut,
    responses={
        **CONFLICT_RESPONSES,
        202: {"model": ChangeRequestOut, "description": "A change request waits for approval"},
    },
    tags=CUSTOMERS,
)
async def patch_customer(
    customer_id: uuid.UUID,
    patch: Annotated[
        dict[str, Any],
        Body(
            description="JSON merge patch (RFC 7396) in the shape of a source payload",
            openapi_examples={"rank": {"value": {"classification": {"rank": "S"}}}},
        ),
    ],
    request: Request,
    response: Response,
    session: DbSession,
    actor: CustomersWrite,
    if_match: IfMatch = None,
    reason: Annotated[
        str | None,
        Query(max_length=2000, description="Why: kept with the change request, if one is made"),
    ] = None,
) -> CustomerOut | JSONResponse:
    """A steward's edit. Needs If-Match; the edit wins over source values until changed.

    When the patch touches a protected field (GET /v1/protected-fields), nothing changes yet:
    the answer is 202 with the change request that waits for another 管理者's approval.
    """
    # governance (issue 18): a steward's edit of a protected field becomes a change request.
    edited = await steward.edit_customer(
        session, settings_of(request), actor, customer_id, patch, if_match, reason
    )
    if not isinstance(edited, Customer):
        return JSONResponse(
            governance.change_request_out(edited).model_dump(mode="json"),
            status_code=status.HTTP_202_ACCEPTED,
            headers={
                "Location": f"/v1/change-requests/{edited.id}",
                "ETag": governance.etag(edited),
            },
        )
    customer = edited
    response.headers["ETag"] = steward.etag(customer)
    return await customer_detail(session, customer)


@router.post(
    "/change-requests/{request_id}/decision", responses=CONFLICT_RESPONSES, tags=["governance"]
)
async def decide_change_request(
    request_id: Id,
    body: DecisionIn,
    request: Request,
    response: Response,
    session: DbSession,
    actor: ConfigManage,
    if_match: Annotated[str | None, Header()] = None,
) -> ChangeRequestOut:
    """Approve (the change applies as the approver's edit, audited, with its event) or reject
    (nothing changes) a change request. A source write's request sets the held values on its
    source record, and the golden record follows.

    Four eyes: the requester cannot decide. Needs If-Match (the request's ETag), so two
    approvers cannot both apply it; honours Idempotency-Key. (Here rather than in governance's
    router: approving applies a steward's edit, and governance imports no customers module.)
    """
    apply = steward.change_request_applier(session, settings_of(request), actor)
    change = await governance.decide(session, actor, request_id, body, if_match, apply)
    response.headers["ETag"] = governance.etag(change)
    return governance.change_request_out(change)


@router.delete(
    "/customers/{customer_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=CONFLICT_RESPONSES,
    tags=CUSTOMERS,
)
async def delete_customer(
    customer_id: uuid.UUID, curating: Curating, if_match: IfMatch = None
) -> None:
    """Soft delete: the customer stays readable with status `deleted`."""
    await steward.delete_customer(curating.session, curating.actor, customer_id, if_match)


@router.get("/customers/{customer_id}/sources", tags=CUSTOMERS)
async def list_customer_sources(
    customer_id: uuid.UUID,
    session: DbSession,
    principal: CustomersRead,
) -> list[SourceRecordOut]:
    """The crosswalk: every source record linked to this customer."""
    return [source_out(s) for s in await repository.list_customer_sources(session, customer_id)]


@router.post("/normalize", tags=["sources"])
async def normalize(
    payload: Annotated[
        CustomerIn, Body(openapi_examples={"corporation": {"value": EXAMPLE_CORPORATION}})
    ],
    session: DbSession,
    principal: CustomersRead,
) -> NormalizeResult:
    """How the hub would store this payload, and what it changed; nothing is stored."""
    done = await normalize_payload(session, payload)
    return NormalizeResult(
        record=CustomerRecord.model_validate(done.record),
        findings=quality.findings_out(done.findings, payload.kind.value),
        changes=[
            NormalizationChange(field=c.field, code=c.code, message=c.message, severity=c.severity)
            for c in done.result.changes
        ],
    )
