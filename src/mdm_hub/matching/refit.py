"""Refit the matching weights on the hub's own data (EM, as Splink does), for an administrator.

Training pairs are source records that share a blocking key (the pairs the hub actually
scores); random pairs estimate how often fields agree by chance; the pairs stewards decided
(merged / distinct) are the known pairs the new weights are checked against before anyone
adopts them. The result is a new weights file; the running hub changes only when an
administrator points ``MDM_MATCH_CONFIG_PATH`` at it.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    random_pairs = list(zip(records[0::2], records[1::2], strict=False))
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
    return RefitData(training, random_pairs, labelled)


def refit(data: RefitData, config: MatchConfig, version: str) -> EstimationResult:
    return estimate(
        data.training,
        config,
        random_pairs=data.random or None,
        labelled=data.labelled or None,
        version=version,
    )


def write_weights(result: EstimationResult, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    save_config(result.config, output)
