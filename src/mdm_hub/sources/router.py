"""Step 1 of the write path: the HTTP of source records (PUT, GET) and of the dry run (POST
/v1/match). Handlers parse, call the service, shape the answer."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Body, Path, Request, Response, status
from fastapi.responses import JSONResponse

from mdm_hub.auth.masking import disclose_explanation
from mdm_hub.auth.roles import CustomersRead, CustomersWrite, PrivacyManage
from mdm_hub.context import settings_of
from mdm_hub.customers.repository import get_source_record as read_source_record
from mdm_hub.customers.schemas import (
    EXAMPLE_CORPORATION,
    MatchDecision,
    SourceRecordOut,
    SourceWriteResult,
)
from mdm_hub.customers.steward import etag
from mdm_hub.customers.views import customer_out, source_out
from mdm_hub.db import DbSession
from mdm_hub.governance.service import held_for_approval
from mdm_hub.idempotency.route import api_router
from mdm_hub.matching.schemas import MatchResult
from mdm_hub.privacy.schemas import HeldWriteOut
from mdm_hub.privacy.service import WriteHeld, decide_held_write
from mdm_hub.record import CustomerIn
from mdm_hub.sources import service
from mdm_hub.types import SYSTEM_PATTERN, Id, SourceIdPath

# The source routes are tagged as they were when they lived with the customers' routes.
router = api_router()
match_router = api_router(tags=["matching"])

SystemPath = Annotated[
    str,
    Path(
        pattern=SYSTEM_PATTERN,
        description="Source system name (lower case), e.g. crm, sfa, billing",
        examples=["crm"],
    ),
]


@router.put(
    "/sources/{system}/records/{source_id}",
    tags=["sources"],
    response_model=SourceWriteResult,
    responses={
        201: {"model": SourceWriteResult, "description": "Created"},
        202: {
            "model": HeldWriteOut,
            "description": "Held: the record carries an erased person's identifying values; "
            "a 管理者 releases or rejects it (docs/privacy.md)",
        },
    },
)
async def put_source_record(
    system: SystemPath,
    source_id: SourceIdPath,
    payload: Annotated[
        CustomerIn, Body(openapi_examples={"corporation": {"value": EXAMPLE_CORPORATION}})
    ],
    request: Request,
    response: Response,
    session: DbSession,
    actor: CustomersWrite,
) -> SourceWriteResult | JSONResponse:
    """A source system hands the hub its record (idempotent).

    Validated, normalized, linked to a customer (new, or the one this record already belongs
    to) and the golden record recomputed, in one transaction. The same body again changes
    nothing and answers the same body (200; the first write answers 201).

    A change of a protected field (GET /v1/protected-fields, `systems`) is not applied: the
    record is stored, the golden values stay, and `held_for_approval` names the change request
    that waits for a 管理者.
    """
    try:
        write = await service.put_source_record(
            session, settings_of(request), actor, system, source_id, payload, generic_plans=True
        )
    except WriteHeld as held:  # stored as a held write; this transaction commits it
        return JSONResponse(  # the documented 202 answer
            HeldWriteOut.model_validate(held.held).model_dump(mode="json"),
            status_code=status.HTTP_202_ACCEPTED,
        )
    response.status_code = status.HTTP_201_CREATED if write.created_source else status.HTTP_200_OK
    response.headers["ETag"] = etag(write.customer)
    response.headers["Location"] = f"/v1/customers/{write.customer.id}"
    source = source_out(write.source)
    return SourceWriteResult(
        customer=customer_out(write.customer),
        source_record=source,
        decision=MatchDecision.model_validate(disclose_explanation(write.source.decision)),
        findings=source.findings,
        held_for_approval=held_for_approval(write.change_request),
    )


@router.get("/sources/{system}/records/{source_id}", tags=["sources"])
async def get_source_record(
    system: SystemPath,
    source_id: SourceIdPath,
    session: DbSession,
    principal: CustomersRead,
) -> SourceRecordOut:
    """One source record: as received, as normalized, and the customer it belongs to."""
    return source_out(await read_source_record(session, system, source_id))


@match_router.post("/match")
async def match(
    payload: Annotated[
        CustomerIn, Body(openapi_examples={"corporation": {"value": EXAMPLE_CORPORATION}})
    ],
    request: Request,
    session: DbSession,
    principal: CustomersRead,
) -> MatchResult:
    """Score a record against the master without writing ("possible duplicate" warnings)."""
    resolution = await service.match_payload(session, settings_of(request), payload)
    result = resolution.result
    return MatchResult(
        decision=result.decision.value,
        customer_id=uuid.UUID(result.customer_id) if result.customer_id else None,
        probability=result.score.probability if result.score else None,
        reason=result.reason,
        candidates=disclose_explanation(
            [resolution.candidate_view(cid, s) for cid, s in resolution.scored]
        ),
        related_sites=[uuid.UUID(cid) for cid, _ in result.related_sites],
    )


@router.post("/privacy/held-writes/{held_id}/release", tags=["privacy"])
async def release_held_write(
    held_id: Id,
    request: Request,
    session: DbSession,
    actor: PrivacyManage,
) -> SourceWriteResult:
    """Write a held record after all (a 管理者 confirmed it is not the erased person, or the
    person came back): it goes through the write path like the source's own PUT."""
    held = await decide_held_write(session, actor, held_id, "released")
    write = await service.put_source_record(
        session,
        settings_of(request),
        actor,
        held["system"],
        held["source_id"],
        CustomerIn.model_validate(held["payload"]),
        hold_erased=False,
    )
    return SourceWriteResult(
        customer=customer_out(write.customer),
        source_record=source_out(write.source),
        decision=MatchDecision.model_validate(write.source.decision),
        held_for_approval=held_for_approval(write.change_request),
    )
