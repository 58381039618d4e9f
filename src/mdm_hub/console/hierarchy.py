"""The hierarchy on the customer page: the tree (group parents above, group members and sites
below) with its roll-ups, and the steward's answer to matching's site proposals."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.auth.roles import CustomersCurate
from mdm_hub.console.i18n import translate
from mdm_hub.console.web import PREFIX, form_data, lang_of, message
from mdm_hub.db import DbSession
from mdm_hub.errors import ProblemError
from mdm_hub.hierarchy import service
from mdm_hub.idempotency.route import IdempotentRoute
from mdm_hub.types import Id

router = APIRouter(
    prefix=f"{PREFIX}/customers", include_in_schema=False, route_class=IdempotentRoute
)

# How far down the page draws the group; the roll-ups always cover all of it.
TREE_DEPTH = 3
TREE_LIMIT = 200


def yen(amount: Decimal | int) -> str:
    return f"¥{amount:,.0f}"


def _nest(children: list[dict[str, Any]], top: uuid.UUID) -> list[dict[str, Any]]:
    """The flat list of group members (each with its parent_id) as nested nodes under top."""
    below: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for child in children:
        below.setdefault(child["parent_id"], []).append({**child, "children": []})
    for nodes in below.values():
        for node in nodes:
            node["children"] = below.get(node["id"], [])
    return below.get(top, [])


async def hierarchy_context(session: AsyncSession, customer_id: uuid.UUID) -> dict[str, Any]:
    tree = await service.hierarchy(
        session,
        customer_id,
        ancestors_depth=20,
        descendants_depth=TREE_DEPTH,
        limit=TREE_LIMIT,
    )
    rollup = await service.rollup(session, customer_id)
    proposals = await service.site_proposals(session, customer_id)
    ancestors = tree["ancestors"]  # the direct parent first; each with the link below it
    chain = [
        {
            **a,
            "relation_type": ancestors[i + 1]["relation_type"] if i + 1 < len(ancestors) else None,
        }
        for i, a in enumerate(ancestors)
    ]
    return {
        "corporation": tree["corporation"],
        "chain": list(reversed(chain)),
        "self_relation": ancestors[0]["relation_type"] if ancestors else None,
        "customer": tree["customer"],
        "children": _nest(tree["children"], customer_id),
        "sites": tree["sites"],
        "truncated": tree["truncated"],
        "rollup": {
            "own": yen(rollup["own_annual_amount"]),
            "direct_sites": rollup["direct"]["sites"],
            "direct_amount": yen(rollup["direct"]["annual_amount"]),
            "companies": rollup["group"]["companies"],
            "group_sites": rollup["group"]["sites"],
            "group_amount": yen(rollup["group"]["annual_amount"]),
        },
        "proposals": proposals,
        "waiting": tree["waiting"],
        "empty": not (
            tree["corporation"] or tree["ancestors"] or tree["children"] or tree["sites"]
        ),
    }


@router.post("/{customer_id}/site-proposals/{proposal_id}")
async def decide_site_proposal(
    customer_id: uuid.UUID,
    proposal_id: Annotated[Id, Path()],
    request: Request,
    session: DbSession,
    actor: CustomersCurate,
) -> Response:
    """Accept or reject matching's proposal, as POST /v1/hierarchy/site-proposals/{id}/decision."""
    decision = (await form_data(request)).get("decision", "")
    lang = lang_of(request)
    if decision not in ("accept", "reject"):
        return message(request, "error", translate(lang, "hierarchy.bad_decision"))
    try:
        async with session.begin_nested():
            await service.decide_proposal(session, actor, proposal_id, decision)
    except ProblemError as exc:
        detail = "; ".join(f"{e.field}: {e.message}" for e in exc.errors or [])
        return message(request, "error", detail or exc.detail or "")
    return Response(
        status_code=204, headers={"HX-Redirect": f"{PREFIX}/customers/{customer_id}?saved=1"}
    )
