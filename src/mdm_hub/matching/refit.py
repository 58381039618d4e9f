"""Refit the matching weights on the hub's own data (EM, as Splink does), for an administrator.

Training pairs are source records that share a blocking key (the pairs the hub actually
scores); random pairs estimate how often fields agree by chance; the number of records and of
candidate pairs per kind give the prior λ; the pairs stewards decided (merged / distinct) are
the known pairs the new weights are checked against before anyone adopts them. The result is a
new weights file; the running hub changes only when an administrator points
``MDM_MATCH_CONFIG_PATH`` at it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.customers.schemas import CustomerRecord
from mdm_hub.matching.config import MatchConfig, save_config
from mdm_hub.matching.em import EstimationResult, estimate
from mdm_hub.matching.keys import FREQUENCY_ONLY_KINDS

Pair = tuple[CustomerRecord, CustomerRecord]


@dataclass
class RefitData:
    training: list[Pair]
    random: list[Pair]
    labelled: list[tuple[CustomerRecord, CustomerRecord, bool]]
    records: dict[str, int] = field(default_factory=dict)
    """Source records per kind (the population λ is a share of)."""
    candidate_pairs: dict[str, int] = field(default_factory=dict)
    """Candidate pairs per kind in the whole hub (``training`` may be a sample of them)."""


async def collect_pairs(session: AsyncSession, *, max_pairs: int, seed: float = 0.42) -> RefitData:
    await session.execute(text("SELECT setseed(:seed)"), {"seed": seed})
    training_rows = await session.execute(
        text(
            """
            SELECT DISTINCT ON (a.source_record_id, b.source_record_id)
                   ra.normalized AS a, rb.normalized AS b
            FROM match_keys a
            JOIN match_keys b
              ON a.kind = b.kind AND a.value = b.value AND a.source_record_id < b.source_record_id
            JOIN source_records ra ON ra.id = a.source_record_id
            JOIN source_records rb ON rb.id = b.source_record_id
            WHERE a.kind <> ALL(:frequency_only)
            LIMIT :limit
            """
        ),
        {"frequency_only": sorted(FREQUENCY_ONLY_KINDS), "limit": max_pairs},
    )
    training = [
        (CustomerRecord.model_validate(row.a), CustomerRecord.model_validate(row.b))
        for row in training_rows
    ]
    sample = await session.execute(
        text(
            "SELECT normalized FROM source_records WHERE system <> '_steward' "
            "ORDER BY random() LIMIT :limit"
        ),
        {"limit": 2 * max_pairs},
    )
    records = [CustomerRecord.model_validate(row.normalized) for row in sample]
    random_pairs = _random_pairs(records, max_pairs, random.Random(seed))
    decided = await session.execute(
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
    labelled = [
        (CustomerRecord.model_validate(row.a), CustomerRecord.model_validate(row.b), row.same)
        for row in decided
    ]
    counts = await session.execute(
        text(
            "SELECT normalized->>'kind' AS kind, count(*) AS n FROM source_records "
            "WHERE system <> '_steward' GROUP BY 1"
        )
    )
    records = {row.kind: row.n for row in counts}
    pair_counts = await session.execute(
        text(
            """
            SELECT ra.normalized->>'kind' AS kind, count(*) AS n
            FROM (
                SELECT DISTINCT a.source_record_id AS a_id, b.source_record_id AS b_id
                FROM match_keys a
                JOIN match_keys b
                  ON a.kind = b.kind AND a.value = b.value
                 AND a.source_record_id < b.source_record_id
                WHERE a.kind <> ALL(:frequency_only)
            ) pairs
            JOIN source_records ra ON ra.id = pairs.a_id
            JOIN source_records rb ON rb.id = pairs.b_id
            WHERE ra.normalized->>'kind' = rb.normalized->>'kind'
            GROUP BY 1
            """
        ),
        {"frequency_only": sorted(FREQUENCY_ONLY_KINDS)},
    )
    candidate_pairs = {row.kind: row.n for row in pair_counts}
    return RefitData(training, random_pairs, labelled, records, candidate_pairs)


def _random_pairs(records: list[CustomerRecord], count: int, rng: random.Random) -> list[Pair]:
    """``count`` pairs of two different records: a small hub still gives a full sample (its
    N records make N·(N−1)/2 pairs, not N/2)."""
    if len(records) < 2:
        return []
    pairs = []
    for _ in range(count):
        i, j = rng.sample(range(len(records)), 2)
        pairs.append((records[i], records[j]))
    return pairs


def refit(data: RefitData, config: MatchConfig, version: str) -> EstimationResult:
    return estimate(
        data.training,
        config,
        random_pairs=data.random or None,
        labelled=data.labelled or None,
        version=version,
        records=data.records,
        candidate_pairs=data.candidate_pairs,
    )


def write_weights(result: EstimationResult, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    save_config(result.config, output)
