"""The review queue: pairs of customers waiting for a steward."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.customers.models import Customer
from mdm_hub.matching.models import MatchCandidate


@dataclass
class CandidateFilters:
    status: str = "pending"
    min_probability: float | None = None
    max_probability: float | None = None
    customer_id: uuid.UUID | None = None
    descending: bool = True


def _query(filters: CandidateFilters) -> Select[MatchCandidate]:
    query = select(MatchCandidate).where(MatchCandidate.status == filters.status)
    if filters.min_probability is not None:
        query = query.where(MatchCandidate.probability >= filters.min_probability)
    if filters.max_probability is not None:
        query = query.where(MatchCandidate.probability <= filters.max_probability)
    if filters.customer_id is not None:
        query = query.where(
            (MatchCandidate.customer_a_id == filters.customer_id)
            | (MatchCandidate.customer_b_id == filters.customer_id)
        )
    return query


async def list_candidates(
    session: AsyncSession,
    filters: CandidateFilters,
    *,
    after: tuple[float, int] | None,
    limit: int,
) -> tuple[list[MatchCandidate], dict[uuid.UUID, Customer], tuple[float, int] | None]:
    """A page ordered by probability (then id); returns the customers of both sides too."""
    query = _query(filters)
    position = tuple_(MatchCandidate.probability, MatchCandidate.id)
    if filters.descending:
        query = query.order_by(MatchCandidate.probability.desc(), MatchCandidate.id.desc())
        if after is not None:
            query = query.where(position < tuple_(*after))
    else:
        query = query.order_by(MatchCandidate.probability, MatchCandidate.id)
        if after is not None:
            query = query.where(position > tuple_(*after))
    rows = list((await session.scalars(query.limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    ids = {c.customer_a_id for c in rows} | {c.customer_b_id for c in rows}
    customers = {
        c.id: c for c in (await session.scalars(select(Customer).where(Customer.id.in_(ids)))).all()
    }
    last = (rows[-1].probability, rows[-1].id) if more else None
    return rows, customers, last
