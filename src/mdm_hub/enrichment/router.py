"""HTTP for registry proposals: corporations of the NTA registry that name + address matching
proposes for customers without a 法人番号, and the steward's decision."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Path, Query, status

from mdm_hub.auth.roles import CustomersCurate
from mdm_hub.db import DbSession
from mdm_hub.enrichment import proposals, repository, service
from mdm_hub.enrichment.schemas import (
    ProposalDecision,
    ProposalOut,
    ProposalPage,
    RegistryLinkIn,
)
from mdm_hub.idempotency.route import api_router
from mdm_hub.pagination import IdPage
from mdm_hub.registry import service as registry
from mdm_hub.registry.schemas import RegistryOut
from mdm_hub.types import Id
from mdm_hub.web import Curating

router = api_router(tags=["registry"])


@router.get("/registry/proposals")
async def list_registry_proposals(
    session: DbSession,
    principal: CustomersCurate,
    status: Annotated[str, Query(pattern="^(pending|accepted|rejected|superseded)$")] = "pending",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ProposalPage:
    """Proposals of `mdm-hub nta apply` (name + address matching), oldest first."""
    page = IdPage(cursor, limit)
    rows = await repository.proposals(session, status, page.position or 0, limit + 1)
    return page.answer(ProposalPage, rows)


@router.post("/registry/proposals/{proposal_id}/decision")
async def decide_registry_proposal(
    proposal_id: Annotated[Id, Path(description="The proposal's id")],
    body: ProposalDecision,
    curating: Curating,
) -> ProposalOut:
    """Accept (link the customer: the registry becomes its source `nta`, applied at once) or
    reject a pending proposal; 409 when it is decided already or either side is linked."""
    decided = await proposals.decide_proposal(
        curating.session, curating.settings, curating.actor, proposal_id, body.decision
    )
    return ProposalOut.model_validate(decided)


@router.put("/customers/{customer_id}/registry")
async def link_customer_registry(
    customer_id: uuid.UUID, body: RegistryLinkIn, curating: Curating
) -> RegistryOut:
    """Link the customer to the registry's corporation of this 法人番号, as accepting a
    proposal does (the registry becomes its source `nta`, applied at once; its pending
    proposals are superseded). 422 when the number is not a valid 法人番号 or the registry does
    not publish it; 409 when the customer is not an active corporation or either side is
    linked otherwise; the same number again changes nothing."""
    await proposals.link_by_number(
        curating.session, curating.settings, curating.actor, customer_id, body.corporate_number
    )
    return RegistryOut.model_validate(
        await registry.customer_registry(curating.session, customer_id)
    )


@router.delete("/customers/{customer_id}/registry", status_code=status.HTTP_204_NO_CONTENT)
async def unlink_customer_registry(customer_id: uuid.UUID, curating: Curating) -> None:
    """Remove the customer's registry link (a wrong link): the link and its source record
    `nta/<法人番号>` go and the golden record is recomputed without it (audited,
    `customer.registry_changed`). The customer is then neither linked to that number again by
    its 法人番号 nor proposed it (a steward can still link it with PUT). 204 also when the
    customer had no link; 404 for no customer."""
    await service.unlink(curating.session, curating.settings, curating.actor, customer_id)
