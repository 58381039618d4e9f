"""Matching against the master (名寄せ): candidates by blocking key, scores, decisions.

The write path calls :func:`resolve` after the record is normalized and before anything is
stored; :func:`index_record` keeps ``match_keys`` in step with a source record. Nothing here
commits: the request's transaction does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.customers.models import Customer, SourceRecord
from mdm_hub.customers.schemas import CustomerRecord
from mdm_hub.db import advisory_xact_locks
from mdm_hub.matching.compare import prepare
from mdm_hub.matching.config import MatchConfig, load_config
from mdm_hub.matching.keys import BlockingKey, blocking_keys, usable_keys
from mdm_hub.matching.model import Decision, DecisionResult, MatchScore, decide, score_pair
from mdm_hub.matching.models import DistinctPair, MatchCandidate, MatchKey
from mdm_hub.settings import Settings


@lru_cache(maxsize=4)
def _config(path: Path | None) -> MatchConfig:
    return load_config(path)


def match_config(settings: Settings) -> MatchConfig:
    return _config(settings.match_config_path)


@dataclass
class Resolution:
    keys: list[BlockingKey]
    frequencies: dict[BlockingKey, int]
    result: DecisionResult
    candidates: dict[str, Customer]
    scored: list[tuple[str, MatchScore]]  # best first

    def candidate_view(self, customer_id: str, score: MatchScore) -> dict[str, Any]:
        customer = self.candidates[customer_id]
        return {
            "customer_id": customer_id,
            "customer_code": customer.customer_code,
            "name": customer.name,
            **score.to_dict(),
        }

    def decision_json(self, outcome: str, customer_id: uuid.UUID) -> dict[str, Any]:
        """What the write answers: the decision, every scored candidate, and why."""
        return {
            "outcome": outcome,
            "customer_id": str(customer_id),
            "probability": self.result.score.probability if self.result.score else None,
            "reason": self.result.reason or "no_candidates",
            "candidates": [self.candidate_view(cid, s) for cid, s in self.scored],
            "related_sites": [cid for cid, _ in self.result.related_sites],
        }


def _pair(a: uuid.UUID, b: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    return (a, b) if a < b else (b, a)


async def key_frequencies(session: AsyncSession, keys: list[BlockingKey]) -> dict[BlockingKey, int]:
    """How many active customers hold each key value."""
    if not keys:
        return {}
    rows = await session.execute(
        select(MatchKey.kind, MatchKey.value, func.count(func.distinct(MatchKey.customer_id)))
        .join(Customer, Customer.id == MatchKey.customer_id)
        .where(
            tuple_(MatchKey.kind, MatchKey.value).in_([(k.kind, k.value) for k in keys]),
            Customer.status == "active",
        )
        .group_by(MatchKey.kind, MatchKey.value)
    )
    return {BlockingKey(kind, value): count for kind, value, count in rows.all()}


async def candidate_customers(
    session: AsyncSession, keys: list[BlockingKey], limit: int
) -> list[Customer]:
    if not keys:
        return []
    ids = (
        select(MatchKey.customer_id)
        .where(tuple_(MatchKey.kind, MatchKey.value).in_([(k.kind, k.value) for k in keys]))
        .distinct()
        .subquery()
    )
    rows = await session.scalars(
        select(Customer)
        .where(Customer.id.in_(select(ids.c.customer_id)), Customer.status == "active")
        .order_by(Customer.customer_code)
        .limit(limit)
    )
    return list(rows.all())


async def resolve(
    session: AsyncSession,
    settings: Settings,
    record: CustomerRecord,
    *,
    lock: bool,
    exclude: set[uuid.UUID] | None = None,
) -> Resolution:
    """Score ``record`` against the master and decide merge / review / new.

    With ``lock`` the record's blocking keys are locked first (sorted, transaction-scoped), so
    two writers of the same new customer serialize and the second one sees the first.
    """
    keys = blocking_keys(record)
    if lock:
        await advisory_xact_locks(session, [f"match:{k.kind}:{k.value}" for k in keys])
    frequencies = await key_frequencies(session, keys)
    fetch_by = usable_keys(keys, frequencies, settings.match_max_block_size)
    customers = await candidate_customers(session, fetch_by, settings.match_max_candidates)
    config = match_config(settings)
    prepared = prepare(record, config)
    scored: list[tuple[str, MatchScore]] = []
    by_id: dict[str, Customer] = {}
    for customer in customers:
        if exclude and customer.id in exclude:
            continue
        other = CustomerRecord.model_validate(customer.record)
        score = score_pair(prepared, other, config=config, key_frequencies=frequencies)
        scored.append((str(customer.id), score))
        by_id[str(customer.id)] = customer
    result = decide(
        scored,
        merge_threshold=settings.match_merge_threshold or config.merge_threshold,
        review_threshold=settings.match_review_threshold or config.review_threshold,
    )
    scored.sort(key=lambda item: -item[1].probability)
    return Resolution(keys, frequencies, result, by_id, scored)


async def index_record(
    session: AsyncSession, source: SourceRecord, keys: list[BlockingKey]
) -> None:
    """Replace the source record's blocking keys."""
    await session.execute(delete(MatchKey).where(MatchKey.source_record_id == source.id))
    if keys:
        await session.execute(
            insert(MatchKey)
            .values(
                [
                    {
                        "kind": k.kind,
                        "value": k.value,
                        "source_record_id": source.id,
                        "customer_id": source.customer_id,
                    }
                    for k in keys
                ]
            )
            .on_conflict_do_nothing()
        )


async def move_keys(session: AsyncSession, source_ids: list[int], customer_id: uuid.UUID) -> None:
    await session.execute(
        update(MatchKey)
        .where(MatchKey.source_record_id.in_(source_ids))
        .values(customer_id=customer_id)
    )


async def are_distinct(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> bool:
    first, second = _pair(a, b)
    found = await session.get(DistinctPair, (first, second))
    return found is not None


async def queue_candidates(
    session: AsyncSession,
    customer_id: uuid.UUID,
    resolution: Resolution,
    pairs: list[tuple[str, MatchScore]],
) -> int:
    """Put pairs (customer_id, candidate) on the review queue, unless already decided."""
    queued = 0
    for candidate_id, score in pairs:
        other = uuid.UUID(candidate_id)
        if other == customer_id or await are_distinct(session, customer_id, other):
            continue
        first, second = _pair(customer_id, other)
        explanation = {
            "record": resolution.candidate_view(candidate_id, score),
            "decided_for": str(customer_id),
        }
        statement = (
            insert(MatchCandidate)
            .values(
                customer_a_id=first,
                customer_b_id=second,
                probability=score.probability,
                match_weight=score.match_weight,
                explanation=explanation,
                reason=resolution.result.reason,
                status="pending",
            )
            .on_conflict_do_nothing(
                index_elements=["customer_a_id", "customer_b_id"],
                # Literal SQL: a bound parameter stops matching the partial unique index once
                # PostgreSQL switches the prepared statement to a generic plan (6th execution).
                index_where=text("status = 'pending'"),
            )
        )
        result = await session.execute(statement)
        queued += result.rowcount or 0  # type: ignore[attr-defined]
    return queued


def outcome_of(decision: Decision) -> str:
    return {Decision.merge: "merged", Decision.review: "review", Decision.new: "new_customer"}[
        decision
    ]
