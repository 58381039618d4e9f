"""HTTP for the hierarchy: links set by stewards and source systems, the tree and roll-ups."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import Path, Query, Response, status

from mdm_hub.auth.roles import CustomersRead
from mdm_hub.db import DbSession
from mdm_hub.hierarchy import repository, service
from mdm_hub.hierarchy.repository import Link
from mdm_hub.hierarchy.schemas import (
    GroupLinkIn,
    HierarchyOut,
    LinkOut,
    RollupOut,
    SiteLinkIn,
    SiteProposalDecisionIn,
    SiteProposalOut,
    SiteProposalPage,
    SiteProposalStatus,
)
from mdm_hub.idempotency.route import api_router
from mdm_hub.pagination import IdPaging
from mdm_hub.types import Id
from mdm_hub.web import Curating, ReviewFilter

router = api_router(tags=["hierarchy"])


def _out(link: Link) -> LinkOut:
    return LinkOut.model_validate(vars(link))


@router.put("/customers/{customer_id}/relations/corporation")
async def put_site_link(customer_id: uuid.UUID, body: SiteLinkIn, curating: Curating) -> LinkOut:
    """This customer is a site (事業所) of a corporation. 422 for a self-link, a corporation
    that is itself a site, or a customer that has sites of its own."""
    return _out(await service.set_site_link(curating.session, curating.actor, customer_id, body))


@router.put("/customers/{customer_id}/relations/parent")
async def put_group_link(customer_id: uuid.UUID, body: GroupLinkIn, curating: Curating) -> LinkOut:
    """This corporation's group parent (親会社), as a subsidiary (子会社) or an affiliate
    (関連会社). 422 for a self-link or a cycle."""
    return _out(await service.set_group_link(curating.session, curating.actor, customer_id, body))


@router.delete("/customers/{customer_id}/relations/{axis}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_link(
    customer_id: uuid.UUID, axis: Literal["corporation", "parent"], curating: Curating
) -> None:
    """Remove the customer's link to its corporation or to its group parent."""
    await service.remove_link(
        curating.session, curating.actor, customer_id, "site" if axis == "corporation" else "group"
    )


@router.get("/customers/{customer_id}/hierarchy", response_model=HierarchyOut)
async def get_hierarchy(
    customer_id: uuid.UUID,
    session: DbSession,
    principal: CustomersRead,
    ancestors_depth: Annotated[int, Query(ge=0, le=50)] = 20,
    descendants_depth: Annotated[int, Query(ge=0, le=20)] = 1,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Most children and sites")] = 1000,
) -> Response:
    """Group parents up to the top, group members below (to ``descendants_depth``), the
    corporation this customer is a site of, and its own sites. Links in effect today."""
    body = await service.hierarchy_json(
        session,
        customer_id,
        ancestors_depth=ancestors_depth,
        descendants_depth=descendants_depth,
        limit=limit,
    )
    return Response(content=body, media_type="application/json")


@router.get("/customers/{customer_id}/rollup")
async def get_rollup(
    customer_id: uuid.UUID, session: DbSession, principal: CustomersRead
) -> RollupOut:
    """取引金額 (transactions.annual_amount) and counts over the customer's own sites (direct)
    and over its whole group below it with their sites (group). Active customers only."""
    return RollupOut.model_validate(await service.rollup(session, customer_id))


@router.get("/hierarchy/site-proposals")
async def list_site_proposals(
    session: DbSession,
    principal: CustomersRead,
    filters: Annotated[ReviewFilter[SiteProposalStatus], Query()],
    page: IdPaging,
) -> SiteProposalPage:
    """Sites (事業所) matching proposed for a steward: a record that names a branch and carries
    a corporation's 法人番号, when the hub was not sure which corporation (or whether)."""
    rows = await repository.proposals(
        session,
        status=filters.status,
        customer_id=filters.customer_id,
        after_id=page.position or 0,
        limit=page.limit + 1,
    )
    return page.answer(SiteProposalPage, rows)


@router.post("/hierarchy/site-proposals/{proposal_id}/decision")
async def decide_site_proposal(
    proposal_id: Annotated[Id, Path(description="The site proposal's id")],
    body: SiteProposalDecisionIn,
    curating: Curating,
) -> SiteProposalOut:
    """Accept (link the site to the corporation) or reject a proposal."""
    return SiteProposalOut.model_validate(
        await service.decide_proposal(curating.session, curating.actor, proposal_id, body.decision)
    )
