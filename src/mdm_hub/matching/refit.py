"""Refit the matching weights on the hub's own data (EM, as Splink does), for an administrator.

Training pairs are source records that share a blocking key (the pairs the hub actually
scores); random pairs estimate how often fields agree by chance; the number of records and of
candidate pairs per kind give the prior λ; the pairs stewards decided (merged / distinct) are
the known pairs the new weights are checked against before anyone adopts them. The result is a
new weights file; the running hub changes only when an administrator points
``MDM_MATCH_CONFIG_PATH`` at it.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.matching import repository
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


# Random pairs are cheap (no database work, ~50 µs each) and only many of them measure the
# ``u`` of rare levels: a level is estimated once ``pairs × u`` reaches ``min_expected_count``, so
# 50,000 pairs leave every level rarer than 10⁻⁴ (a similar name, an exact birth date) at its
# prior, 500,000 measure down to 10⁻⁵.
RANDOM_PAIRS = 500_000


async def collect_pairs(
    session: AsyncSession,
    *,
    max_pairs: int,
    max_block_size: int = 50,
    seed: float = 0.42,
    random_pairs: int = RANDOM_PAIRS,
) -> RefitData:
    """Training pairs (a sample of at most ``max_pairs`` candidate pairs), at most
    ``random_pairs`` random pairs, the stewards' decisions, and the record and candidate-pair
    counts per kind (for λ).

    Both samples depend on the data and ``seed`` only, not on the order PostgreSQL reads the
    rows in: the candidate pairs of the lowest :func:`pair_rank` and the records of the lowest
    :func:`record_rank` (a hash of the records' system and source id), in that order. The same
    records give the same weights however they were written.
    """
    candidate_pairs = await repository.make_refit_pairs(
        session,
        seed=seed,
        frequency_only=sorted(FREQUENCY_ONLY_KINDS),
        max_block_size=max_block_size,
    )
    training = [
        (CustomerRecord.model_validate(a), CustomerRecord.model_validate(b))
        for a, b in await repository.refit_pair_sample(session, max_pairs)
    ]
    sample = await repository.source_record_sample(session, 2 * max_pairs, seed=seed)
    records = [CustomerRecord.model_validate(normalized) for normalized in sample]
    sampled_pairs = _random_pairs(records, random_pairs, random.Random(seed))
    labelled = [
        (CustomerRecord.model_validate(a), CustomerRecord.model_validate(b), same)
        for a, b, same in await repository.decided_pairs(session)
    ]
    per_kind = await repository.source_records_per_kind(session)
    return RefitData(training, sampled_pairs, labelled, per_kind, candidate_pairs)


def record_rank(seed: float, system: str, source_id: str) -> str:
    """A source record's place in the refit's samples (the database computes the same)."""
    identity = f"{seed!r}\x1f{system}\x1f{source_id}"
    return hashlib.md5(identity.encode(), usedforsecurity=False).hexdigest()


def pair_rank(a_rank: str, b_rank: str) -> str:
    """A candidate pair's place in the training sample, from its records' ranks (either order)."""
    low, high = sorted((a_rank, b_rank))
    return hashlib.md5((low + high).encode(), usedforsecurity=False).hexdigest()


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
