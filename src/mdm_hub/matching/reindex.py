"""Recompute every source record's blocking keys from its stored normalized payload.

Blocking keys are written with each source record, so a change of what the keys are — a new
key kind in a release, an identifier custom field declared in the weights file — reaches the
records written before it only through this command (``mdm-hub matching-reindex``). It runs
next to live traffic: source records are handled in batches in id order, each batch in its own
transaction with its rows locked (``FOR UPDATE``), so a concurrent write of one of them waits
for the batch and then writes its own keys, never the other way round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from mdm_hub.encryption import index_keys
from mdm_hub.errors import sqlstate
from mdm_hub.matching import repository
from mdm_hub.matching.config import MatchConfig
from mdm_hub.matching.keys import blocking_keys
from mdm_hub.record import CustomerRecord

logger = logging.getLogger(__name__)

DEADLOCK_DETECTED = "40P01"


@dataclass
class ReindexResult:
    source_records: int = 0
    keys_before: int = 0
    keys_after: int = 0

    def summary(self) -> str:
        return (
            f"{self.source_records:,} source records re-indexed: "
            f"{self.keys_before:,} blocking keys before, {self.keys_after:,} after"
        )


async def reindex(
    engine: AsyncEngine,
    config: MatchConfig,
    *,
    batch_size: int = 1000,
    progress: Callable[[ReindexResult], None] | None = None,
) -> ReindexResult:
    """Replace the blocking keys of every source record with those ``config`` gives now."""
    result = ReindexResult()
    after = 0
    while True:
        for attempt in range(3):
            try:
                done, last = await _reindex_batch(engine, config, after, batch_size, result)
                break
            except DBAPIError as exc:  # a merge locked the same rows in another order
                if sqlstate(exc) != DEADLOCK_DETECTED or attempt == 2:
                    raise
                logger.warning("deadlock while re-indexing after id %s; retrying", after)
        if done == 0:
            return result
        after = last
        if progress is not None:
            progress(result)


async def _reindex_batch(
    engine: AsyncEngine, config: MatchConfig, after: int, size: int, result: ReindexResult
) -> tuple[int, int]:
    kinds: list[str] = []
    values: list[str] = []
    source_ids: list[int] = []
    customer_ids: list[str] = []
    async with engine.begin() as conn:
        rows = await repository.lock_source_batch(conn, after, size)
        if not rows:
            return 0, after
        for row in rows:
            record = CustomerRecord.model_validate(row.normalized)
            for key in index_keys(blocking_keys(record, config)):
                kinds.append(key.kind)
                values.append(key.value)
                source_ids.append(row.id)
                customer_ids.append(str(row.customer_id))
        removed = await repository.delete_keys_of(conn, [row.id for row in rows])
        if kinds:
            await repository.insert_keys(conn, kinds, values, source_ids, customer_ids)
    # Counted once the batch is committed (a retried batch is not counted twice).
    result.source_records += len(rows)
    result.keys_before += removed
    result.keys_after += len(kinds)  # blocking_keys gives each record's keys once
    return len(rows), rows[-1].id
