"""The SQL of matching: key frequencies and candidates (one statement), the match keys of a
source record, distinct pairs, the review queue, merge logs, and the reads and writes of refit
and reindex."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CursorResult, Row, Select, delete, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from mdm_hub import db
from mdm_hub.custom_fields.repository import FINGERPRINT_SQL
from mdm_hub.customers.models import SourceRecord
from mdm_hub.db import WritePart
from mdm_hub.encryption import sealed_json
from mdm_hub.matching.keys import BlockingKey, sorted_keys, usable_keys
from mdm_hub.matching.models import DistinctPair, MatchCandidate, MatchKey, MergeLog
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
# The keys wanted (``:kinds``, ``:key_values``, ``:fetches``), the active customers holding
# each (``holders``) and how many they are (``frequencies``): the start of both statements below.
_KEY_HOLDERS = """
    WITH wanted AS (
        SELECT * FROM unnest(
            CAST(:kinds AS text[]), CAST(:key_values AS text[]), CAST(:fetches AS boolean[])
        ) AS w(kind, value, fetches)
        WHERE {only_if}
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
"""

_FREQUENCIES_AND_CANDIDATES = (
    _KEY_HOLDERS
    + """
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
)

_WITHOUT_FINGERPRINT = _FREQUENCIES_AND_CANDIDATES.format(fingerprint="", only_if="true")

# The dry run reads the configuration's fingerprint here too (see custom_fields.service).
_WITH_FINGERPRINT = _FREQUENCIES_AND_CANDIDATES.format(
    fingerprint=f", {FINGERPRINT_SQL} AS fingerprint", only_if="true"
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


async def close_candidates(
    session: AsyncSession,
    a: uuid.UUID,
    b: uuid.UUID,
    status: str,
    decided_at: dt.datetime,
    decided_by: str,
) -> None:
    """The pair's pending candidate, decided with ``status``."""
    first, second = _pair(a, b)
    await session.execute(
        update(MatchCandidate)
        .where(
            MatchCandidate.customer_a_id == first,
            MatchCandidate.customer_b_id == second,
            MatchCandidate.status == "pending",
        )
        .values(status=status, decided_at=decided_at, decided_by=decided_by)
    )


async def supersede_candidates_of(
    session: AsyncSession, customer_id: uuid.UUID, decided_at: dt.datetime, decided_by: str
) -> None:
    """Pending pairs that name a customer which no longer stands on its own."""
    await session.execute(
        update(MatchCandidate)
        .where(
            (MatchCandidate.customer_a_id == customer_id)
            | (MatchCandidate.customer_b_id == customer_id),
            MatchCandidate.status == "pending",
        )
        .values(status="superseded", decided_at=decided_at, decided_by=decided_by)
    )


async def get_candidate(session: AsyncSession, candidate_id: int) -> MatchCandidate | None:
    return await session.get(MatchCandidate, candidate_id)


async def lock_candidate(session: AsyncSession, candidate_id: int) -> MatchCandidate:
    return await session.get_one(
        MatchCandidate, candidate_id, with_for_update=True, populate_existing=True
    )


async def remember_distinct(
    session: AsyncSession, a: uuid.UUID, b: uuid.UUID, decided_by: str
) -> None:
    """Record that a steward decided (a, b) are different customers (once)."""
    if await session.get(DistinctPair, (a, b)) is None:
        session.add(DistinctPair(customer_a_id=a, customer_b_id=b, decided_by=decided_by))


def add_merge_log(session: AsyncSession, log: MergeLog) -> None:
    """The merge's log row (written with the transaction's next flush)."""
    session.add(log)


async def open_merge_logs(session: AsyncSession, survivor_id: uuid.UUID) -> Sequence[MergeLog]:
    """The merges into ``survivor_id`` that no unmerge has undone."""
    result = await session.scalars(
        select(MergeLog).where(MergeLog.survivor_id == survivor_id, MergeLog.undone_at.is_(None))
    )
    return result.all()


@dataclass
class CandidateFilters:
    status: str = "pending"
    min_probability: float | None = None
    max_probability: float | None = None
    customer_id: uuid.UUID | None = None
    descending: bool = True


def _candidate_query(filters: CandidateFilters) -> Select[MatchCandidate]:
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


async def candidates_after(
    session: AsyncSession,
    filters: CandidateFilters,
    after: tuple[float, int] | None,
    limit: int,
) -> list[MatchCandidate]:
    """Up to ``limit`` candidates after (probability, id) in the filters' order."""
    query = _candidate_query(filters)
    position = tuple_(MatchCandidate.probability, MatchCandidate.id)
    if filters.descending:
        query = query.order_by(MatchCandidate.probability.desc(), MatchCandidate.id.desc())
        if after is not None:
            query = query.where(position < tuple_(*after))
    else:
        query = query.order_by(MatchCandidate.probability, MatchCandidate.id)
        if after is not None:
            query = query.where(position > tuple_(*after))
    return list((await session.scalars(query.limit(limit))).all())


# --------------------------------------------------------------------------------------------
# Refit (see ``refit``): the pairs and records the weights are estimated from
# --------------------------------------------------------------------------------------------

# The pairs the hub scores: two source records (not the steward's) of one kind that share a
# fetchable blocking key held by no more than ``max_block_size`` records (the write path's block
# rule; a 代表番号 with 1,000 holders makes no candidates, so its ~500,000 pairs are no training
# pairs either). Made once per refit, in its own transaction's temporary table.
#
# Samples are taken in the order of a hash of the records' identities (system and source id)
# and the seed, never of ``random()``: ``random()`` after ``setseed`` numbers the rows in the
# order the plan happens to read them (hash joins, heap order, statistics), so the same data
# gave another sample, and other weights, from one run to the next. ``refit.record_rank`` and
# ``refit.pair_rank`` compute the same ranks in Python.
_RECORD_RANK = "md5(CAST(:seed AS text) || chr(31) || {r}.system || chr(31) || {r}.source_id)"

_CANDIDATE_PAIRS = f"""
    CREATE TEMPORARY TABLE refit_pairs ON COMMIT DROP AS
    WITH blocks AS (
        SELECT k.kind, k.value
        FROM match_keys AS k
        WHERE k.kind <> ALL(CAST(:frequency_only AS text[]))
        GROUP BY k.kind, k.value
        HAVING count(*) BETWEEN 2 AND :max_block_size
    ),
    pairs AS (
        SELECT DISTINCT a.source_record_id AS a_id, b.source_record_id AS b_id,
               ra.normalized->>'kind' AS record_kind,
               {_RECORD_RANK.format(r="ra")} COLLATE "C" AS a_rank,
               {_RECORD_RANK.format(r="rb")} COLLATE "C" AS b_rank
        FROM blocks
        JOIN match_keys AS a ON a.kind = blocks.kind AND a.value = blocks.value
        JOIN match_keys AS b ON b.kind = blocks.kind AND b.value = blocks.value
                            AND a.source_record_id < b.source_record_id
        JOIN source_records AS ra ON ra.id = a.source_record_id AND ra.system <> '_steward'
        JOIN source_records AS rb ON rb.id = b.source_record_id AND rb.system <> '_steward'
        WHERE ra.normalized->>'kind' = rb.normalized->>'kind'
    )
    SELECT CASE WHEN a_rank < b_rank THEN a_id ELSE b_id END AS first_id,
           CASE WHEN a_rank < b_rank THEN b_id ELSE a_id END AS second_id,
           record_kind,
           md5(least(a_rank, b_rank) || greatest(a_rank, b_rank)) COLLATE "C" AS pair_rank
    FROM pairs
"""


async def make_refit_pairs(
    session: AsyncSession, *, seed: float, frequency_only: list[str], max_block_size: int
) -> dict[str, int]:
    """Make this transaction's ``refit_pairs`` (ranked by ``seed`` for the samples that
    follow); returns the candidate pairs per record kind."""
    await session.execute(text("DROP TABLE IF EXISTS refit_pairs"))
    await session.execute(
        text(_CANDIDATE_PAIRS),
        {
            "frequency_only": frequency_only,
            "max_block_size": max_block_size,
            "seed": repr(seed),
        },
    )
    pair_counts = await session.execute(
        text("SELECT record_kind, count(*) AS n FROM refit_pairs GROUP BY record_kind")
    )
    return {row.record_kind: row.n for row in pair_counts}


async def refit_pair_sample(
    session: AsyncSession, limit: int
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The normalized payloads of at most ``limit`` of ``refit_pairs``: those of the lowest
    ranks, in rank order, each pair's record of the lower rank first."""
    rows = await session.execute(
        text(
            """
            SELECT ra.normalized AS a, rb.normalized AS b
            FROM (
                SELECT first_id, second_id, pair_rank FROM refit_pairs
                ORDER BY pair_rank LIMIT :limit
            ) AS p
            JOIN source_records AS ra ON ra.id = p.first_id
            JOIN source_records AS rb ON rb.id = p.second_id
            ORDER BY p.pair_rank
            """
        ),
        {"limit": limit},
    )
    return [(row.a, row.b) for row in rows]


async def source_record_sample(
    session: AsyncSession, limit: int, *, seed: float
) -> list[dict[str, Any]]:
    """The normalized payloads of at most ``limit`` source records (not the steward's): those
    of the lowest ranks under ``seed``, in rank order."""
    rank = _RECORD_RANK.format(r="r")
    rows = await session.execute(
        text(
            f"SELECT r.normalized FROM source_records AS r WHERE r.system <> '_steward' "
            f'ORDER BY {rank} COLLATE "C" LIMIT :limit'
        ),
        {"limit": limit, "seed": repr(seed)},
    )
    return [row.normalized for row in rows]


async def decided_pairs(session: AsyncSession) -> list[tuple[dict[str, Any], dict[str, Any], bool]]:
    """The golden records of the pairs stewards decided, and whether they were merged."""
    rows = await session.execute(
        text(
            """
            SELECT ca.record AS a, cb.record AS b, mc.status = 'merged' AS same
            FROM match_candidates mc
            JOIN customers ca ON ca.id = mc.customer_a_id
            JOIN customers cb ON cb.id = mc.customer_b_id
            WHERE mc.status IN ('merged', 'distinct')
            """
        )
    )
    return [(row.a, row.b, row.same) for row in rows]


async def source_records_per_kind(session: AsyncSession) -> dict[str, int]:
    """Source records (not the steward's) per record kind."""
    rows = await session.execute(
        text(
            "SELECT normalized->>'kind' AS kind, count(*) AS n FROM source_records "
            "WHERE system <> '_steward' GROUP BY 1"
        )
    )
    return {row.kind: row.n for row in rows}


# --------------------------------------------------------------------------------------------
# Re-index (see ``reindex``): every source record's blocking keys, in locked batches
# --------------------------------------------------------------------------------------------

_BATCH = text(
    "SELECT id, customer_id, normalized FROM source_records "
    "WHERE id > :after ORDER BY id LIMIT :size FOR UPDATE"
)
_OLD_KEYS = text(
    "DELETE FROM match_keys WHERE source_record_id = ANY(CAST(:ids AS bigint[])) RETURNING 1"
)
_NEW_KEYS = text(
    """
    INSERT INTO match_keys (kind, value, source_record_id, customer_id)
    SELECT kind, value, source_record_id, customer_id
    FROM unnest(CAST(:kinds AS text[]), CAST(:key_values AS text[]),
                CAST(:source_ids AS bigint[]), CAST(:customer_ids AS uuid[]))
         AS k(kind, value, source_record_id, customer_id)
    ON CONFLICT DO NOTHING
    """
)


async def lock_source_batch(conn: AsyncConnection, after: int, size: int) -> Sequence[Row[Any]]:
    """The next ``size`` source records (id, customer_id, normalized) after id ``after``,
    locked."""
    return (await conn.execute(_BATCH, {"after": after, "size": size})).all()


async def delete_keys_of(conn: AsyncConnection, source_ids: list[int]) -> int:
    """Delete the blocking keys of these source records; returns how many."""
    return len((await conn.execute(_OLD_KEYS, {"ids": source_ids})).all())


async def insert_keys(
    conn: AsyncConnection,
    kinds: list[str],
    values: list[str],
    source_ids: list[int],
    customer_ids: list[str],
) -> None:
    """Blocking keys, one per position of the four lists."""
    await conn.execute(
        _NEW_KEYS,
        {
            "kinds": kinds,
            "key_values": values,
            "source_ids": source_ids,
            "customer_ids": customer_ids,
        },
    )


# A batch's keys at once (the batch path of :func:`frequencies_and_candidates`): how many
# active customers hold each key (``f`` rows); the customers that some key of the batch fetches
# (a fetching key held by at most ``max_block_size`` customers: ``c`` rows, with their golden
# record), and every key of the batch each of those customers holds (``h`` rows), so that the
# caller can follow the batch's own changes to keys, frequencies and candidates in memory.
# ``{only_if}``: a condition (no column) without which no key is read (see
# ``batch_candidates_sql``).
_BATCH_CANDIDATES_IF = (
    _KEY_HOLDERS
    + """,
    picked AS (
        SELECT DISTINCT h.customer_id
        FROM holders AS h
        JOIN frequencies AS q ON q.kind = h.kind AND q.value = h.value
        WHERE q.fetches AND q.customers <= :max_block_size
    )
    SELECT 'f' AS part, kind, value, customers, NULL::uuid AS candidate,
           NULL::text AS customer_code, NULL::text AS name, NULL::jsonb AS record
    FROM frequencies
    UNION ALL
    SELECT 'h', h.kind, h.value, NULL, h.customer_id, NULL, NULL, NULL
    FROM holders AS h WHERE h.customer_id IN (SELECT customer_id FROM picked)
    UNION ALL
    SELECT 'c', NULL, NULL, NULL, c.id, c.customer_code, c.name, c.record
    FROM customers AS c WHERE c.id IN (SELECT customer_id FROM picked)
"""
)
_BATCH_CANDIDATES = _BATCH_CANDIDATES_IF.format(only_if="true")


def batch_candidates_sql(only_if: str) -> str:
    """The batch candidates' statement (rows ``part``, ``kind``, ``value``, ``customers``,
    ``candidate``, ``customer_code``, ``name``, ``record``; parameters ``kinds``,
    ``key_values``, ``fetches``, ``max_block_size``: :func:`batch_candidates_params`) reading
    nothing unless ``only_if`` (SQL with no column of its own) holds: for a statement that
    reads the candidates together with what decides whether they are needed."""
    return _BATCH_CANDIDATES_IF.format(only_if=only_if)


@dataclass
class BatchCandidates:
    """What :func:`batch_candidates` read: frequencies of the batch's keys, the customers the
    batch's keys fetch, and which of the batch's keys each of them holds."""

    frequencies: dict[BlockingKey, int]
    customers: dict[uuid.UUID, Candidate]
    holdings: dict[uuid.UUID, set[BlockingKey]]


async def batch_candidates(
    session: AsyncSession, keys: list[BlockingKey], settings: Settings
) -> BatchCandidates:
    """One statement for the keys of a whole batch (see ``_BATCH_CANDIDATES``)."""
    params = batch_candidates_params(keys, settings)
    if params is None:
        return BatchCandidates({}, {}, {})
    return read_batch_candidates(await db.fetch(session, _BATCH_CANDIDATES, params))


def batch_candidates_params(
    keys: Iterable[BlockingKey], settings: Settings
) -> dict[str, Any] | None:
    """The parameters of :func:`batch_candidates_sql` for ``keys`` (None: no key)."""
    wanted = sorted_keys(set(keys))
    if not wanted:
        return None
    fetchable = set(usable_keys(wanted, None, settings.match_max_block_size))
    return {
        "kinds": [k.kind for k in wanted],
        "key_values": [k.value for k in wanted],
        "fetches": [k in fetchable for k in wanted],
        "max_block_size": settings.match_max_block_size,
    }


def read_batch_candidates(rows: Iterable[db.Row]) -> BatchCandidates:
    """The rows of :func:`batch_candidates_sql` (other rows, whose ``part`` is NULL, skipped)."""
    found = BatchCandidates({}, {}, {})
    for row in rows:
        part = row["part"]
        if part == "f":
            found.frequencies[BlockingKey(row["kind"], row["value"])] = row["customers"]
        elif part == "h":
            key = BlockingKey(row["kind"], row["value"])
            found.holdings.setdefault(row["candidate"], set()).add(key)
        elif part == "c":
            found.customers[row["candidate"]] = Candidate(
                row["candidate"], row["customer_code"], row["name"], row["record"]
            )
    return found


# Review pairs of a batch, each unless a steward said the two are distinct or the pair is
# pending already (the first of a pair in the batch wins, as when written one by one).
_INSERT_CANDIDATES = """
    INSERT INTO match_candidates
        (customer_a_id, customer_b_id, probability, match_weight, explanation, reason, status)
    SELECT p.a, p.b, p.probability, p.match_weight, CAST(p.explanation AS jsonb), p.reason,
           'pending'
    FROM unnest(
        CAST(:a AS uuid[]), CAST(:b AS uuid[]), CAST(:probability AS float8[]),
        CAST(:match_weight AS float8[]), CAST(:explanation AS text[]), CAST(:reason AS text[])
    ) WITH ORDINALITY AS p(a, b, probability, match_weight, explanation, reason, position)
    WHERE NOT EXISTS (
        SELECT 1 FROM distinct_pairs AS d WHERE d.customer_a_id = p.a AND d.customer_b_id = p.b
    )
    ORDER BY p.position
    ON CONFLICT (customer_a_id, customer_b_id) WHERE status = 'pending' DO NOTHING
"""


def candidates_insert(
    pairs: list[tuple[uuid.UUID, uuid.UUID, MatchScore, dict[str, Any], str]],
) -> WritePart | None:
    """Review pairs (customer, candidate, score, explanation, reason) as one multi-row insert,
    for ``db.write_together``."""
    rows: dict[tuple[uuid.UUID, uuid.UUID], tuple[MatchScore, dict[str, Any], str]] = {}
    for customer_id, other, score, explanation, reason in pairs:
        if customer_id != other:
            rows.setdefault(_pair(customer_id, other), (score, explanation, reason))
    if not rows:
        return None
    return WritePart(
        _INSERT_CANDIDATES,
        {
            "a": [a for a, _ in rows],
            "b": [b for _, b in rows],
            "probability": [s.probability for s, _, _ in rows.values()],
            "match_weight": [s.match_weight for s, _, _ in rows.values()],
            "explanation": [sealed_json(e) for _, e, _ in rows.values()],
            "reason": [r for _, _, r in rows.values()],
        },
    )


_INSERT_BATCH_KEYS = """
    INSERT INTO match_keys (kind, value, source_record_id, customer_id)
    SELECT k.kind, k.value, s.id, s.customer_id
    FROM unnest(
        CAST(:key_sources AS text[]), CAST(:kinds AS text[]), CAST(:key_values AS text[])
    ) AS k(source_id, kind, value)
    JOIN new_sources AS s ON s.source_id = k.source_id
    ON CONFLICT DO NOTHING
"""


def batch_keys_insert(keys: list[tuple[str, BlockingKey]]) -> WritePart | None:
    """The blocking keys of a batch's new source records ((source id, key)): a part for the
    statement that inserts them (``sources.repository.store_batch``), joined to its
    ``new_sources`` CTE."""
    if not keys:
        return None
    return WritePart(
        _INSERT_BATCH_KEYS,
        {
            "key_sources": [s for s, _ in keys],
            "kinds": [k.kind for _, k in keys],
            "key_values": [k.value for _, k in keys],
        },
    )


# The blocking keys of changed source records replaced: the keys a record no longer has
# deleted, its new ones inserted (those it keeps are left as they are: both parts run against
# one snapshot, so a key deleted and inserted again in the same statement would conflict).
_DELETE_REPLACED_KEYS = """
    DELETE FROM match_keys AS k
    WHERE k.source_record_id = ANY(CAST(:ids AS bigint[]))
      AND NOT EXISTS (
        SELECT 1 FROM unnest(
            CAST(:key_sources AS bigint[]), CAST(:kinds AS text[]), CAST(:key_values AS text[])
        ) AS n(source_record_id, kind, value)
        WHERE n.source_record_id = k.source_record_id AND n.kind = k.kind AND n.value = k.value)
"""
_INSERT_REPLACED_KEYS = """
    INSERT INTO match_keys (kind, value, source_record_id, customer_id)
    SELECT n.kind, n.value, n.source_record_id, n.customer_id
    FROM unnest(
        CAST(:key_sources AS bigint[]), CAST(:kinds AS text[]), CAST(:key_values AS text[]),
        CAST(:key_customers AS uuid[])
    ) AS n(source_record_id, kind, value, customer_id)
    ON CONFLICT DO NOTHING
"""


def keys_replace(
    sources: Sequence[tuple[int, uuid.UUID, Sequence[BlockingKey]]],
) -> list[WritePart]:
    """Parts for ``db.write_together`` that make the blocking keys of each source record
    ((id, customer id, keys)) exactly ``keys`` (``index_record`` for many records at once)."""
    if not sources:
        return []
    rows = [(i, c, k) for i, c, keys in sources for k in keys]
    new = {
        "key_sources": [i for i, _, _ in rows],
        "kinds": [k.kind for _, _, k in rows],
        "key_values": [k.value for _, _, k in rows],
    }
    parts = [WritePart(_DELETE_REPLACED_KEYS, {"ids": [i for i, _, _ in sources], **new})]
    if rows:
        parts.append(
            WritePart(_INSERT_REPLACED_KEYS, {**new, "key_customers": [c for _, c, _ in rows]})
        )
    return parts


# The active customers that hold each key, for keys held by at most ``max_block_size`` of them
# (the keys that fetch candidates).
_KEY_HOLDERS = """
    WITH wanted AS (
        SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:key_values AS text[]))
            AS w(kind, value)
    ),
    holders AS (
        SELECT DISTINCT w.kind, w.value, k.customer_id
        FROM wanted AS w
        JOIN match_keys AS k ON k.kind = w.kind AND k.value = w.value
        JOIN customers AS c ON c.id = k.customer_id AND c.status = 'active'
    ),
    small AS (
        SELECT kind, value FROM holders GROUP BY kind, value HAVING count(*) <= :max_block_size
    )
    SELECT h.kind, h.value, h.customer_id FROM holders AS h JOIN small USING (kind, value)
"""


async def key_holders(
    session: AsyncSession, keys: list[BlockingKey], settings: Settings
) -> dict[BlockingKey, list[uuid.UUID]]:
    """The customers each fetching key finds (see ``usable_keys``), in one statement."""
    wanted = usable_keys(set(keys), None, settings.match_max_block_size)
    if not wanted:
        return {}
    rows = await db.fetch(
        session,
        _KEY_HOLDERS,
        {
            "kinds": [k.kind for k in wanted],
            "key_values": [k.value for k in wanted],
            "max_block_size": settings.match_max_block_size,
        },
    )
    found: dict[BlockingKey, list[uuid.UUID]] = {}
    for row in rows:
        found.setdefault(BlockingKey(row["kind"], row["value"]), []).append(row["customer_id"])
    return found
