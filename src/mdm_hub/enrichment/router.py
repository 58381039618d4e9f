"""HTTP for registry proposals: corporations of the NTA registry that name + address matching
proposes for customers without a 法人番号, and the steward's decision."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from mdm_hub.auth.roles import CustomersCurate
from mdm_hub.context import CurrentActor, settings_of
from mdm_hub.db import DbSession
from mdm_hub.enrichment import proposals, repository
from mdm_hub.enrichment.schemas import ProposalDecision, ProposalOut, ProposalPage
from mdm_hub.errors import PROBLEM_RESPONSES
from mdm_hub.idempotency.route import IdempotentRoute
from mdm_hub.pagination import decode_cursor, encode_cursor
from mdm_hub.types import Id

router = APIRouter(prefix="/v1/registry", tags=["registry"], route_class=IdempotentRoute)


@router.get("/proposals", response_model=ProposalPage, responses=PROBLEM_RESPONSES)
async def list_registry_proposals(
    session: DbSession,
    principal: CustomersCurate,
    status: Annotated[str, Query(pattern="^(pending|accepted|rejected|superseded)$")] = "pending",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ProposalPage:
    """Proposals of `mdm-hub nta apply` (name + address matching), oldest first."""
    after = decode_cursor(cursor, "cursor", {"id": int})["id"] if cursor else 0
    rows = await repository.proposals(session, status, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return ProposalPage(
        items=[ProposalOut.model_validate(r) for r in rows],
        next_cursor=encode_cursor({"id": rows[-1]["id"]}) if more else None,
    )


@router.post(
    "/proposals/{proposal_id}/decision", response_model=ProposalOut, responses=PROBLEM_RESPONSES
)
async def decide_registry_proposal(
    proposal_id: Annotated[Id, Path(description="The proposal's id")],
    body: ProposalDecision,
    request: Request,
    session: DbSession,
    principal: CustomersCurate,
    actor: CurrentActor,
) -> ProposalOut:
    """Accept (link the customer: the registry becomes its source `nta`, applied at once) or
    reject a pending proposal; 409 when it is decided already or either side is linked."""
    decided = await proposals.decide_proposal(
        session, settings_of(request), actor, proposal_id, body.decision
    )
    return ProposalOut.model_validate(decided)
