"""The SQL of matching: key frequencies and candidates (one statement), the match keys of a
source record, distinct pairs and the review queue."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CursorResult, delete, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub import db
from mdm_hub.custom_fields.repository import FINGERPRINT_SQL
from mdm_hub.customers.models import SourceRecord
from mdm_hub.db import WritePart
from mdm_hub.matching.keys import BlockingKey, usable_keys
from mdm_hub.matching.models import DistinctPair, MatchCandidate, MatchKey
from mdm_hub.matching.scoring import MatchScore
from mdm_hub.settings import Settings


@dataclass(frozen=True, slots=True)
class Candidate:
    """An active customer found by a blocking key, as scoring and the explanation need it."""

    id: uuid.UUID
    customer_code: str
    name: str
    record: dict[str, Any]


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


async def insert_candidate(
    session: AsyncSession,
    customer_id: uuid.UUID,
    other: uuid.UUID,
    score: MatchScore,
    explanation: dict[str, Any],
    reason: str,
) -> int:
    """Queue the pair for review unless it is pending already; 1 if queued."""
    first, second = _pair(customer_id, other)
    statement = (
        insert(MatchCandidate)
        .values(
            customer_a_id=first,
            customer_b_id=second,
            probability=score.probability,
            match_weight=score.match_weight,
            explanation=explanation,
            reason=reason,
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
    assert isinstance(result, CursorResult)  # an INSERT's result
    return result.rowcount or 0
