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

from sqlalchemy import delete, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub import db
from mdm_hub.custom_fields.service import FINGERPRINT_SQL
from mdm_hub.customers.models import SourceRecord
from mdm_hub.db import WritePart, advisory_xact_locks
from mdm_hub.matching.compare import prepare
from mdm_hub.matching.config import MatchConfig, load_config
from mdm_hub.matching.keys import BlockingKey, blocking_keys, usable_keys
from mdm_hub.matching.models import DistinctPair, MatchCandidate, MatchKey
from mdm_hub.matching.scoring import Decision, DecisionResult, MatchScore, decide, score_pair
from mdm_hub.record import CustomerRecord
from mdm_hub.settings import Settings


@lru_cache(maxsize=4)
def _config(path: Path | None) -> MatchConfig:
    return load_config(path)


def match_config(settings: Settings) -> MatchConfig:
    return _config(settings.match_config_path)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An active customer found by a blocking key, as scoring and the explanation need it."""

    id: uuid.UUID
    customer_code: str
    name: str
    record: dict[str, Any]


@dataclass
class Resolution:
    keys: list[BlockingKey]
    frequencies: dict[BlockingKey, int]
    result: DecisionResult
    candidates: dict[str, Candidate]
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


# One round trip for the key frequencies and the candidates: ``holders`` are the active
# customers holding each of the record's keys; a key fetches candidates when :func:`usable_keys`
# keeps it at frequency 0 (``fetches``: not a frequency-only kind) and no more than
# ``max_block_size`` customers hold it (usable_keys' block rule, applied here in SQL); the
# candidates are the first ``max_candidates`` such customers by customer code. Every row carries
# all frequencies; without candidates there is one row with NULL customer columns.
_FREQUENCIES_AND_CANDIDATES = """
    WITH wanted AS (
        SELECT * FROM unnest(
            CAST(:kinds AS text[]), CAST(:key_values AS text[]), CAST(:fetches AS boolean[])
        ) AS w(kind, value, fetches)
    ),
    holders AS (
        SELECT DISTINCT w.kind, w.value, w.fetches, k.customer_id
        FROM wanted AS w
        JOIN match_keys AS k ON k.kind = w.kind AND k.value = w.value
        JOIN customers AS c ON c.id = k.customer_id AND c.status = 'active'
    ),
    frequencies AS (
        SELECT kind, value, fetches, count(*) AS customers
        FROM holders GROUP BY kind, value, fetches
    )
    SELECT f.frequencies, c.id, c.customer_code, c.name, c.record{fingerprint}
    FROM (
        SELECT json_agg(json_build_array(kind, value, customers)) AS frequencies
        FROM frequencies
    ) AS f
    LEFT JOIN LATERAL (
        SELECT id, customer_code, name, record
        FROM customers
        WHERE id IN (
            SELECT h.customer_id
            FROM holders AS h
            JOIN frequencies AS q ON q.kind = h.kind AND q.value = h.value
            WHERE q.fetches AND q.customers <= :max_block_size
        )
        ORDER BY customer_code
        LIMIT :max_candidates
    ) AS c ON true
"""
_WITHOUT_FINGERPRINT = _FREQUENCIES_AND_CANDIDATES.format(fingerprint="")
# The dry run reads the configuration's fingerprint here too (see custom_fields.service).
_WITH_FINGERPRINT = _FREQUENCIES_AND_CANDIDATES.format(
    fingerprint=f", {FINGERPRINT_SQL} AS fingerprint"
)


def record_keys(record: CustomerRecord, settings: Settings) -> list[BlockingKey]:
    """The blocking keys of a normalized record (the one place the write path computes them),
    with the identifier custom fields the weights file declares."""
    return blocking_keys(record, match_config(settings))


def key_locks(keys: list[BlockingKey]) -> list[str]:
    """The advisory lock names of blocking keys (``db.advisory_xact_locks``)."""
    return [f"match:{k.kind}:{k.value}" for k in keys]


async def frequencies_and_candidates(
    session: AsyncSession,
    keys: list[BlockingKey],
    settings: Settings,
    *,
    fingerprint: bool = False,
) -> tuple[dict[BlockingKey, int], list[Candidate], str | None]:
    """How many active customers hold each key, and the candidates the usable keys find.

    ``fingerprint``: also read the custom-field configuration's fingerprint (else None).
    """
    if not keys:
        if not fingerprint:
            return {}, [], None
        return {}, [], await session.scalar(text(f"SELECT {FINGERPRINT_SQL}"))
    fetchable = set(usable_keys(keys, None, settings.match_max_block_size))
    rows = await db.fetch(
        session,
        _WITH_FINGERPRINT if fingerprint else _WITHOUT_FINGERPRINT,
        {
            "kinds": [k.kind for k in keys],
            "key_values": [k.value for k in keys],
            "fetches": [k in fetchable for k in keys],
            "max_block_size": settings.match_max_block_size,
            "max_candidates": settings.match_max_candidates,
        },
        # A dry run's one statement needs no BEGIN and COMMIT of its own.
        begin=not fingerprint,
    )
    frequencies = {
        BlockingKey(kind, value): count for kind, value, count in rows[0]["frequencies"] or ()
    }
    candidates = [
        Candidate(row["id"], row["customer_code"], row["name"], row["record"])
        for row in rows
        if row["id"] is not None
    ]
    return frequencies, candidates, rows[0]["fingerprint"] if fingerprint else None


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
    frequencies, customers, seen = await frequencies_and_candidates(
        session, keys, settings, fingerprint=fingerprint
    )
    config = match_config(settings)
    prepared = prepare(record, config)
    scored: list[tuple[str, MatchScore]] = []
    by_id: dict[str, Candidate] = {}
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


_INSERT_KEYS = """
    INSERT INTO match_keys (kind, value, source_record_id, customer_id)
    SELECT kind, value, CAST(:source_record_id AS bigint), CAST(:customer_id AS uuid)
    FROM unnest(CAST(:kinds AS text[]), CAST(:key_values AS text[])) AS k(kind, value)
    ON CONFLICT DO NOTHING
"""


def keys_insert(
    source_record_id: int, customer_id: uuid.UUID, keys: list[BlockingKey]
) -> WritePart | None:
    """The blocking keys of a *new* source record, for ``db.write_together`` (an existing
    record's keys are replaced with :func:`index_record`)."""
    if not keys:
        return None
    return WritePart(
        _INSERT_KEYS,
        {
            "source_record_id": source_record_id,
            "customer_id": customer_id,
            "kinds": [k.kind for k in keys],
            "key_values": [k.value for k in keys],
        },
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
