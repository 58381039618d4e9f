"""Step 3 of the write path: lock what a batch of writes touches, before anything is read.

Lock order everywhere: blocking keys and source keys (one sorted statement for the whole
batch), then customers, then source rows — the order merges use, so writers never deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.db import advisory_xact_locks
from mdm_hub.matching import service as matching
from mdm_hub.matching.keys import BlockingKey


def source_lock(system: str, source_id: str) -> str:
    """The advisory lock name of one source record (serializes its writers)."""
    return f"source:{system}:{source_id}"


async def lock_batch(
    session: AsyncSession,
    sources: Sequence[tuple[str, str]],
    keys: Sequence[BlockingKey],
    *,
    generic_plans: bool = False,
) -> None:
    """Lock the source records (system, source id) and blocking keys of a batch, sorted, in one
    round trip. ``generic_plans``: see ``db.advisory_xact_locks``."""
    names = [source_lock(system, source_id) for system, source_id in sources]
    await advisory_xact_locks(
        session, [*names, *matching.key_locks(list(keys))], generic_plans=generic_plans
    )


async def lock_keys(session: AsyncSession, keys: Sequence[BlockingKey]) -> None:
    """Lock further blocking keys (after a configuration change changed a record's keys)."""
    await advisory_xact_locks(session, matching.key_locks(list(keys)))
