"""Refit the matching weights on the hub's own data (EM, as Splink does), for an administrator.

Training pairs are source records that share a blocking key (the pairs the hub actually
scores); random pairs estimate how often fields agree by chance; the number of records and of
candidate pairs per kind give the prior λ; the pairs stewards decided (merged / distinct) are
the known pairs the new weights are checked against before anyone adopts them. The result is a
new weights file; the running hub changes only when an administrator points
``MDM_MATCH_CONFIG_PATH`` at it.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.matching.config import MatchConfig, save_config
from mdm_hub.matching.em import EstimationResult, estimate
from mdm_hub.matching.keys import FREQUENCY_ONLY_KINDS
from mdm_hub.record import CustomerRecord

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


# The pairs the hub scores: two source records (not the steward's) of one kind that share a
# fetchable blocking key held by no more than ``max_block_size`` records (the write path's block
# rule; a 代表番号 with 1,000 holders makes no candidates, so its ~500,000 pairs are no training
# pairs either). Made once per refit, in its own transaction's temporary table.
_CANDIDATE_PAIRS = """
    CREATE TEMPORARY TABLE refit_pairs ON COMMIT DROP AS
    WITH blocks AS (
        SELECT k.kind, k.value
        FROM match_keys AS k
        WHERE k.kind <> ALL(CAST(:frequency_only AS text[]))
        GROUP BY k.kind, k.value
        HAVING count(*) BETWEEN 2 AND :max_block_size
    )
    SELECT DISTINCT a.source_record_id AS a_id, b.source_record_id AS b_id,
           ra.normalized->>'kind' AS record_kind
    FROM blocks
    JOIN match_keys AS a ON a.kind = blocks.kind AND a.value = blocks.value
    JOIN match_keys AS b ON b.kind = blocks.kind AND b.value = blocks.value
                        AND a.source_record_id < b.source_record_id
    JOIN source_records AS ra ON ra.id = a.source_record_id AND ra.system <> '_steward'
    JOIN source_records AS rb ON rb.id = b.source_record_id AND rb.system <> '_steward'
    WHERE ra.normalized->>'kind' = rb.normalized->>'kind'
"""


async def collect_pairs(
    session: AsyncSession, *, max_pairs: int, max_block_size: int = 50, seed: float = 0.42
) -> RefitData:
    """Training pairs (a random sample of at most ``max_pairs`` candidate pairs), random pairs,
    the stewards' decisions, and the record and candidate-pair counts per kind (for λ)."""
    await session.execute(text("SELECT setseed(:seed)"), {"seed": seed})
    await session.execute(text("DROP TABLE IF EXISTS refit_pairs"))
    await session.execute(
        text(_CANDIDATE_PAIRS),
        {"frequency_only": sorted(FREQUENCY_ONLY_KINDS), "max_block_size": max_block_size},
    )
    pair_counts = await session.execute(
        text("SELECT record_kind, count(*) AS n FROM refit_pairs GROUP BY record_kind")
    )
    candidate_pairs = {row.record_kind: row.n for row in pair_counts}
    training_rows = await session.execute(
        text(
            """
            SELECT ra.normalized AS a, rb.normalized AS b
            FROM (SELECT a_id, b_id FROM refit_pairs ORDER BY random() LIMIT :limit) AS p
            JOIN source_records AS ra ON ra.id = p.a_id
            JOIN source_records AS rb ON rb.id = p.b_id
            """
        ),
        {"limit": max_pairs},
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
    per_kind = {row.kind: row.n for row in counts}
    return RefitData(training, random_pairs, labelled, per_kind, candidate_pairs)


def _random_pairs(records: list[CustomerRecord], count: int, rng: random.Random) -> list[Pair]:
    """``count`` different pairs of two different records, or every pair when there are no
    more than that (a small hub's N records make N·(N−1)/2 pairs, not N/2; none is counted
    twice, so ``min_expected_count`` still means what it says)."""
    n = len(records)
    if n * (n - 1) // 2 <= count:
        return list(itertools.combinations(records, 2))
    chosen: set[tuple[int, int]] = set()
    while len(chosen) < count:
        i, j = rng.sample(range(n), 2)
        chosen.add((min(i, j), max(i, j)))
    return [(records[i], records[j]) for i, j in sorted(chosen)]


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
