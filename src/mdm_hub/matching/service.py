"""Matching against the master (名寄せ): candidates by blocking key, scores, decisions.

The write path calls :func:`resolve` after the record is normalized and before anything is
stored. The SQL is in ``repository`` (candidates, match keys, the review queue). Nothing here
commits: the request's transaction does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.db import advisory_xact_locks
from mdm_hub.encryption import index_keys
from mdm_hub.matching import repository
from mdm_hub.matching.compare import prepare
from mdm_hub.matching.config import MatchConfig, load_config
from mdm_hub.matching.keys import BlockingKey, blocking_keys
from mdm_hub.matching.scoring import Decision, DecisionResult, MatchScore, decide, score_pair
from mdm_hub.record import CustomerRecord
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
    candidates: dict[str, repository.Candidate]
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


def record_keys(record: CustomerRecord, settings: Settings) -> list[BlockingKey]:
    """The blocking keys of a normalized record (the one place the write path computes them),
    with the identifier custom fields the weights file declares. Their values are blind indexes:
    a phone or a birth date never lies in ``match_keys`` in clear, and equal values still meet."""
    return index_keys(blocking_keys(record, match_config(settings)))


def key_locks(keys: list[BlockingKey]) -> list[str]:
    """The advisory lock names of blocking keys (``db.advisory_xact_locks``)."""
    return [f"match:{k.kind}:{k.value}" for k in keys]


async def resolve(
    session: AsyncSession,
    settings: Settings,
    record: CustomerRecord,
    *,
    lock: bool,
    keys: list[BlockingKey] | None = None,
    exclude: set[uuid.UUID] | None = None,
) -> Resolution:
    """Score ``record`` against the master and decide merge / review / new.

    With ``lock`` the record's blocking keys are locked first (sorted, transaction-scoped), so
    two writers of the same new customer serialize and the second one sees the first. A
    writer that locked them itself passes them as ``keys`` (without ``lock``).
    """
    resolution, _ = await resolve_with_fingerprint(
        session, settings, record, lock=lock, keys=keys, exclude=exclude
    )
    return resolution


async def resolve_with_fingerprint(
    session: AsyncSession,
    settings: Settings,
    record: CustomerRecord,
    *,
    lock: bool = False,
    keys: list[BlockingKey] | None = None,
    exclude: set[uuid.UUID] | None = None,
    fingerprint: bool = False,
) -> tuple[Resolution, str | None]:
    """:func:`resolve`; with ``fingerprint`` also the configuration fingerprint, read in the
    same statement as the candidates."""
    if keys is None:
        keys = record_keys(record, settings)
    if lock:
        await advisory_xact_locks(session, key_locks(keys))
    frequencies, customers, seen = await repository.frequencies_and_candidates(
        session, keys, settings, fingerprint=fingerprint
    )
    config = match_config(settings)
    prepared = prepare(record, config)
    scored: list[tuple[str, MatchScore]] = []
    by_id: dict[str, repository.Candidate] = {}
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
    return Resolution(keys, frequencies, result, by_id, scored), seen


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
        if other == customer_id or await repository.are_distinct(session, customer_id, other):
            continue
        explanation = {
            "record": resolution.candidate_view(candidate_id, score),
            "decided_for": str(customer_id),
        }
        queued += await repository.insert_candidate(
            session, customer_id, other, score, explanation, resolution.result.reason
        )
    return queued


def outcome_of(decision: Decision) -> str:
    return {Decision.merge: "merged", Decision.review: "review", Decision.new: "new_customer"}[
        decision
    ]
