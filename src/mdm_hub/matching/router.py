"""HTTP for matching: dry run, review queue, merge and unmerge."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Path, Query, Response

from mdm_hub.auth.masking import disclose_explanation
from mdm_hub.auth.roles import CustomersCurate
from mdm_hub.customers.models import Customer
from mdm_hub.customers.schemas import CustomerOut
from mdm_hub.customers.steward import etag
from mdm_hub.customers.views import customer_out
from mdm_hub.db import DbSession, attributes
from mdm_hub.errors import problem_responses
from mdm_hub.idempotency.route import api_router
from mdm_hub.matching import merge
from mdm_hub.matching.candidates import CandidateFilters, list_candidates, pair_customers
from mdm_hub.matching.models import MatchCandidate
from mdm_hub.matching.schemas import (
    CandidateDecision,
    MatchCandidateOut,
    MatchCandidatePage,
    MergeRequest,
    UnmergeRequest,
    UnmergeResult,
)
from mdm_hub.pagination import decode_cursor, encode_cursor
from mdm_hub.types import Id
from mdm_hub.web import Curating

router = api_router(tags=["matching"])
RESPONSES = problem_responses(409)


def _candidate_out(
    candidate: MatchCandidate, customers: dict[uuid.UUID, Customer]
) -> MatchCandidateOut:
    return MatchCandidateOut(
        **attributes(candidate, "id", "status", "probability", "match_weight", "reason"),
        **attributes(candidate, "created_at", "decided_at", "decided_by"),
        explanation=disclose_explanation(candidate.explanation),
        customer_a=customer_out(customers[candidate.customer_a_id]),
        customer_b=customer_out(customers[candidate.customer_b_id]),
    )


@router.get("/match-candidates")
async def list_match_candidates(
    session: DbSession,
    principal: CustomersCurate,
    status: Annotated[str, Query(pattern="^(pending|merged|distinct|superseded)$")] = "pending",
    min_probability: Annotated[float | None, Query(ge=0, le=1)] = None,
    max_probability: Annotated[float | None, Query(ge=0, le=1)] = None,
    customer_id: uuid.UUID | None = None,
    sort: Annotated[str, Query(pattern="^-?probability$")] = "-probability",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MatchCandidatePage:
    """The review queue: both customers side by side with the explanation, most likely first."""
    filters = CandidateFilters(
        status=status,
        min_probability=min_probability,
        max_probability=max_probability,
        customer_id=customer_id,
        descending=sort.startswith("-"),
    )
    after = None
    if cursor:
        position = decode_cursor(cursor, "cursor", {"p": float, "id": int})
        after = (position["p"], position["id"])
    rows, customers, last = await list_candidates(session, filters, after=after, limit=limit)
    return MatchCandidatePage(
        items=[_candidate_out(c, customers) for c in rows],
        next_cursor=encode_cursor({"p": last[0], "id": last[1]}) if last else None,
    )


@router.post("/match-candidates/{candidate_id}/decision", responses=RESPONSES)
async def decide_match_candidate(
    candidate_id: Annotated[Id, Path(description="The match candidate's id")],
    body: CandidateDecision,
    curating: Curating,
) -> MatchCandidateOut:
    """A steward decides: `merge` the pair (the older customer survives) or `distinct`."""
    candidate = await merge.decide_candidate(
        curating.session, curating.settings, curating.actor, candidate_id, body.decision
    )
    return _candidate_out(candidate, await pair_customers(curating.session, [candidate]))


@router.post("/customers/{customer_id}/merge", responses=RESPONSES)
async def merge_customers(
    customer_id: uuid.UUID, body: MergeRequest, response: Response, curating: Curating
) -> CustomerOut:
    """Merge other customers into this one. Their ids stay resolvable (status `merged`)."""
    survivor = await merge.merge_customers(
        curating.session, curating.settings, curating.actor, customer_id, body.customer_ids
    )
    response.headers["ETag"] = etag(survivor)
    return customer_out(survivor)


@router.post("/customers/{customer_id}/unmerge", responses=RESPONSES)
async def unmerge_customer(
    customer_id: uuid.UUID, body: UnmergeRequest, curating: Curating
) -> UnmergeResult:
    """Move source records out: back to the customer a merge took them from, or elsewhere."""
    remaining, target = await merge.unmerge(
        curating.session,
        curating.settings,
        curating.actor,
        customer_id,
        [(ref.system, ref.source_id) for ref in body.source_records],
        body.target_customer_id,
    )
    return UnmergeResult(customer=customer_out(remaining), target=customer_out(target))
