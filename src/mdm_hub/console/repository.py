"""The console's own reads: the counts and filters its pages show that no API answers."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, exists, func, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from mdm_hub.audit.models import AuditEntry
from mdm_hub.customers.models import Customer, SourceRecord
from mdm_hub.events.models import CustomerEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from mdm_hub.imports.models import ImportJob
from mdm_hub.matching.models import MatchCandidate

_Entry = TypeVar("_Entry", AuditEntry, CustomerEvent)

BANDS: dict[str, tuple[float, float]] = {
    "high": (0.8, 1.0),
    "mid": (0.5, 0.8),
    "low": (0.0, 0.5),
}
AGES: dict[str, dt.timedelta] = {"day": dt.timedelta(days=1), "week": dt.timedelta(days=7)}


@dataclass
class QueueFilters:
    """The review queue's filters, as the console's query string gives them (empty: any):
    the customers' kind, a source system either customer has a record of, a probability band
    (``BANDS``) and an age (``AGES``: pairs waiting at least that long)."""

    kind: str | None = None
    source: str | None = None
    band: str | None = None
    age: str | None = None


def _queue_query(filters: QueueFilters) -> Select[MatchCandidate]:
    query = select(MatchCandidate).where(MatchCandidate.status == "pending")
    if filters.kind:
        query = query.where(
            exists().where(
                Customer.id == MatchCandidate.customer_a_id, Customer.kind == filters.kind
            )
        )
    if filters.source:
        query = query.where(
            exists().where(
                SourceRecord.system == filters.source,
                or_(
                    SourceRecord.customer_id == MatchCandidate.customer_a_id,
                    SourceRecord.customer_id == MatchCandidate.customer_b_id,
                ),
            )
        )
    if filters.band in BANDS:
        low, high = BANDS[filters.band]
        query = query.where(MatchCandidate.probability >= low)
        if high < 1.0:
            query = query.where(MatchCandidate.probability < high)
    if filters.age in AGES:
        query = query.where(
            MatchCandidate.created_at <= dt.datetime.now(dt.UTC) - AGES[filters.age]
        )
    return query


async def queue_page(
    session: AsyncSession, filters: QueueFilters, after: tuple[float, int] | None, limit: int
) -> tuple[list[MatchCandidate], tuple[float, int] | None]:
    """Waiting pairs, most probable first (then newest id), keyset-paged."""
    query = _queue_query(filters).order_by(
        MatchCandidate.probability.desc(), MatchCandidate.id.desc()
    )
    if after is not None:
        query = query.where(tuple_(MatchCandidate.probability, MatchCandidate.id) < tuple_(*after))
    rows = list((await session.scalars(query.limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, ((rows[-1].probability, rows[-1].id) if more else None)


async def queue_counts(session: AsyncSession) -> dict[str, int]:
    """How many pairs wait and how many were decided (merged, distinct, superseded)."""
    rows = await session.execute(
        select(MatchCandidate.status, func.count()).group_by(MatchCandidate.status)
    )
    counts = {status: count for status, count in rows.all()}
    waiting = counts.pop("pending", 0)
    return {"waiting": waiting, "decided": sum(counts.values())}


async def customers_by_id(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, Customer]:
    if not ids:
        return {}
    rows = await session.scalars(select(Customer).where(Customer.id.in_(ids)))
    return {c.id: c for c in rows.all()}


async def customer_codes(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The customer codes of these customers (what a list links a customer by)."""
    if not ids:
        return {}
    rows = await session.execute(
        select(Customer.id, Customer.customer_code).where(Customer.id.in_(ids))
    )
    return {i: code for i, code in rows.all()}


async def source_systems(session: AsyncSession) -> list[str]:
    rows = await session.scalars(
        select(SourceRecord.system).where(SourceRecord.system != "_steward").distinct().limit(50)
    )
    return sorted(rows.all())


async def neighbours(
    session: AsyncSession, candidate: MatchCandidate
) -> tuple[int | None, int | None, int, int]:
    """The waiting pairs before and after this one in queue order, its position and the total.

    One statement: the candidate's own position need not be pending (it may just have been
    decided), the neighbours are."""
    row = (
        await session.execute(
            text(
                """
                SELECT
                  (SELECT id FROM match_candidates
                   WHERE status = 'pending' AND (probability, id) > (:p, :id)
                   ORDER BY probability, id LIMIT 1) AS previous,
                  (SELECT id FROM match_candidates
                   WHERE status = 'pending' AND (probability, id) < (:p, :id)
                   ORDER BY probability DESC, id DESC LIMIT 1) AS next,
                  (SELECT count(*) FROM match_candidates
                   WHERE status = 'pending' AND (probability, id) > (:p, :id)) AS ahead,
                  (SELECT count(*) FROM match_candidates WHERE status = 'pending') AS total
                """
            ),
            {"p": candidate.probability, "id": candidate.id},
        )
    ).one()
    return row.previous, row.next, row.ahead + 1, row.total


async def first_pending(session: AsyncSession) -> int | None:
    return await session.scalar(
        select(MatchCandidate.id)
        .where(MatchCandidate.status == "pending")
        .order_by(MatchCandidate.probability.desc(), MatchCandidate.id.desc())
        .limit(1)
    )


async def customer_history(
    session: AsyncSession, customer_id: uuid.UUID, limit: int = 50
) -> list[AuditEntry]:
    """The audit entries of a customer, newest first."""
    return await _newest_of_customer(session, AuditEntry, AuditEntry.id, customer_id, limit)


async def candidate_group(
    session: AsyncSession, candidate: MatchCandidate, limit: int = 20
) -> tuple[list[uuid.UUID], list[MatchCandidate]]:
    """The customers tied to the candidate's pair by waiting candidates (at most ``limit``,
    as many as one merge takes), in the order found, and the waiting candidates among them."""
    order = [candidate.customer_a_id, candidate.customer_b_id]
    seen = set(order)
    edges: dict[int, MatchCandidate] = {candidate.id: candidate}
    frontier = set(order)
    while frontier and len(order) < limit:
        rows = await session.scalars(
            select(MatchCandidate)
            .where(
                MatchCandidate.status == "pending",
                or_(
                    MatchCandidate.customer_a_id.in_(frontier),
                    MatchCandidate.customer_b_id.in_(frontier),
                ),
            )
            .order_by(MatchCandidate.probability.desc(), MatchCandidate.id)
            .limit(200)
        )
        frontier = set()
        for edge in rows.all():
            edges.setdefault(edge.id, edge)
            for customer_id in (edge.customer_a_id, edge.customer_b_id):
                if customer_id not in seen and len(order) < limit:
                    seen.add(customer_id)
                    order.append(customer_id)
                    frontier.add(customer_id)
    inside = [e for e in edges.values() if e.customer_a_id in seen and e.customer_b_id in seen]
    return order, sorted(inside, key=lambda e: (-e.probability, e.id))


async def customer_events(
    session: AsyncSession, customer_id: uuid.UUID, limit: int = 50
) -> list[CustomerEvent]:
    """The change events (the change feed's entries) of a customer, newest first."""
    return await _newest_of_customer(session, CustomerEvent, CustomerEvent.seq, customer_id, limit)


async def _newest_of_customer(
    session: AsyncSession,
    entity: type[_Entry],
    newest: InstrumentedAttribute[int],
    customer_id: uuid.UUID,
    limit: int,
) -> list[_Entry]:
    """The ``limit`` rows of ``entity`` about a customer, highest ``newest`` first."""
    rows = await session.scalars(
        select(entity).where(entity.customer_id == customer_id).order_by(newest.desc()).limit(limit)
    )
    return list(rows.all())


async def recent_imports(session: AsyncSession, limit: int = 20) -> list[ImportJob]:
    """The latest import jobs (previews too), newest first."""
    rows = await session.scalars(
        select(ImportJob).order_by(ImportJob.created_at.desc(), ImportJob.id).limit(limit)
    )
    return list(rows.all())


async def hub_is_empty(session: AsyncSession) -> bool:
    """No customer and no import yet: the home page offers the sample data."""
    customer = await session.scalar(select(Customer.id).limit(1))
    job = await session.scalar(select(ImportJob.id).limit(1))
    return customer is None and job is None


async def merged_away(session: AsyncSession, customer_id: uuid.UUID) -> list[Customer]:
    rows = await session.scalars(
        select(Customer)
        .where(Customer.merged_into_id == customer_id)
        .order_by(Customer.customer_code)
        .limit(200)
    )
    return list(rows.all())


@dataclass
class EndpointHealth:
    attempts: int = 0
    succeeded: int = 0
    last_error: str | None = None
    last_error_at: dt.datetime | None = None
    oldest_pending: dt.datetime | None = None

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.attempts if self.attempts else None

    @property
    def failing(self) -> bool:
        rate = self.success_rate
        return rate is not None and rate < 0.5


async def endpoint_health(
    session: AsyncSession, ids: list[uuid.UUID]
) -> dict[uuid.UUID, EndpointHealth]:
    """Per endpoint: the success rate of its last 100 attempts, its last error and its oldest
    pending delivery."""
    health = {i: EndpointHealth() for i in ids}
    if not ids:
        return health
    recent = (
        select(
            WebhookAttempt.endpoint_id,
            WebhookAttempt.outcome,
            WebhookAttempt.error,
            WebhookAttempt.response_status,
            WebhookAttempt.attempted_at,
            func.row_number()
            .over(partition_by=WebhookAttempt.endpoint_id, order_by=WebhookAttempt.id.desc())
            .label("n"),
        )
        .where(WebhookAttempt.endpoint_id.in_(ids))
        .subquery()
    )
    rows = await session.execute(
        select(recent).where(recent.c.n <= 100).order_by(recent.c.endpoint_id, recent.c.n)
    )
    for row in rows.all():
        item = health[row.endpoint_id]
        item.attempts += 1
        if row.outcome == "delivered":
            item.succeeded += 1
        elif item.last_error is None:
            item.last_error = row.error or (
                f"HTTP {row.response_status}" if row.response_status else row.outcome
            )
            item.last_error_at = row.attempted_at
    pending = await session.execute(
        select(WebhookDelivery.endpoint_id, func.min(WebhookDelivery.created_at))
        .where(WebhookDelivery.endpoint_id.in_(ids), WebhookDelivery.status == "pending")
        .group_by(WebhookDelivery.endpoint_id)
    )
    for endpoint_id, oldest in pending.all():
        health[endpoint_id].oldest_pending = oldest
    return health


async def attention(session: AsyncSession) -> dict[str, Any]:
    """What the home page lists: the queue, dead letters, and endpoints that fail."""
    waiting = await session.scalar(
        select(func.count()).select_from(MatchCandidate).where(MatchCandidate.status == "pending")
    )
    dead = await session.scalar(
        select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "dead")
    )
    endpoints = list((await session.scalars(select(WebhookEndpoint).limit(200))).all())
    health = await endpoint_health(session, [e.id for e in endpoints])
    failing = [e for e in endpoints if not e.enabled or health[e.id].failing]
    return {"waiting": waiting or 0, "dead": dead or 0, "failing": failing, "health": health}


async def customer_by_code(session: AsyncSession, code: str) -> Customer | None:
    """A customer of any status (erased ones too) by its customer code."""
    found: Customer | None = await session.scalar(
        select(Customer).where(Customer.customer_code == code)
    )
    return found


async def candidate(
    session: AsyncSession, candidate_id: int, *, reread: bool = False
) -> MatchCandidate | None:
    """The pair shown; ``reread`` when another transaction may have decided it meanwhile."""
    return await session.get(MatchCandidate, candidate_id, populate_existing=reread)


async def reread_customer(session: AsyncSession, customer_id: uuid.UUID) -> Customer:
    """The customer as stored (after a savepoint rolled back the edit that failed)."""
    customer = await session.get_one(Customer, customer_id)
    await session.refresh(customer)
    return customer
