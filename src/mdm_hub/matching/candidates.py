"""The review queue: pairs of customers waiting for a steward."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.customers.models import Customer
from mdm_hub.customers.repository import customers_by_id
from mdm_hub.matching import repository
from mdm_hub.matching.models import MatchCandidate
from mdm_hub.matching.repository import CandidateFilters as CandidateFilters


async def list_candidates(
    session: AsyncSession,
    filters: CandidateFilters,
    *,
    after: tuple[float, int] | None,
    limit: int,
) -> tuple[list[MatchCandidate], dict[uuid.UUID, Customer], tuple[float, int] | None]:
    """A page ordered by probability (then id); returns the customers of both sides too."""
    rows = await repository.candidates_after(session, filters, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    customers = await pair_customers(session, rows)
    last = (rows[-1].probability, rows[-1].id) if more else None
    return rows, customers, last


async def pair_customers(
    session: AsyncSession, candidates: list[MatchCandidate]
) -> dict[uuid.UUID, Customer]:
    """The customers both sides of these candidates name, by id."""
    ids = {c.customer_a_id for c in candidates} | {c.customer_b_id for c in candidates}
    return await customers_by_id(session, ids)
