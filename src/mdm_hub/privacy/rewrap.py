"""`mdm-hub keys rewrap`: replace the key-encryption key (KEK) itself, online.

The data keys and the blind-index key are stored wrapped by the KEK; the values they encrypt
and the hashes they key do not change, so replacing the KEK re-wraps those few keys only. The
processes run with the new KEK in ``MDM_FIELD_ENCRYPTION_KEY`` and the old one in
``MDM_FIELD_ENCRYPTION_KEY_PREVIOUS``, and unwrap each key with whichever wrapped it, so the
hub reads and writes throughout. Each key is re-wrapped in its own transaction: a run killed
half-way leaves every key readable with one of the two, and the next run re-wraps what is
left. A second run (or a rotation) does not start while one runs (``keylock``). When the run
ends, every key opens with the new KEK alone and the previous one can be removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mdm_hub.encryption import EncryptionError, unwrap_with, wrap_data_key
from mdm_hub.privacy import repository
from mdm_hub.privacy.keylock import key_operation


@dataclass
class RewrapResult:
    rewrapped: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.rewrapped)} key(s) re-wrapped under the new KEK, {len(self.already)} "
            "already under it: every key opens with MDM_FIELD_ENCRYPTION_KEY alone; remove "
            "MDM_FIELD_ENCRYPTION_KEY_PREVIOUS"
        )


async def _ids(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with AsyncSession(engine) as session:
        return await repository.wrapped_key_ids(session)


async def rewrap(
    engine: AsyncEngine,
    new_kek: bytes,
    previous_kek: bytes,
    *,
    progress: Callable[[str], None] = lambda _: None,
) -> RewrapResult:
    """Re-wrap every stored key under ``new_kek`` (or finish a run a kill interrupted); raises
    :class:`~mdm_hub.privacy.keylock.KeyOperationRunning` while another key operation runs."""
    if new_kek == previous_kek:
        raise EncryptionError("the new and the previous field encryption keys are the same")
    async with key_operation(engine, "rewrap"):
        return await _rewrap(engine, (new_kek, previous_kek), progress)


async def _rewrap(
    engine: AsyncEngine, keks: tuple[bytes, bytes], progress: Callable[[str], None]
) -> RewrapResult:
    result = RewrapResult()
    # A pass re-wraps every key under the previous KEK; a key another process made meanwhile
    # (a rotation on a process not yet given the new KEK) is caught by the next pass.
    while True:
        count = 0
        for table, key_id in await _ids(engine):
            if key_id in result.already or key_id in result.rewrapped:
                continue
            if await _rewrap_one(engine, table, key_id, keks):
                result.rewrapped.append(key_id)
                count += 1
                progress(f"{table} {key_id}: re-wrapped under the new KEK")
            else:
                result.already.append(key_id)
                progress(f"{table} {key_id}: already under the new KEK")
        if count == 0:
            return result


async def _rewrap_one(
    engine: AsyncEngine, table: str, key_id: str, keks: tuple[bytes, bytes]
) -> bool:
    """Whether the key needed re-wrapping (and now is re-wrapped, committed)."""
    async with AsyncSession(engine) as session, session.begin():
        blob = await repository.wrapped_key_for_update(session, table, key_id)
        if blob is None:  # a rotation dropped it meanwhile
            return False
        key, which = unwrap_with(keks, key_id, blob)
        if which == 0:
            return False
        await repository.set_wrapped_key(
            session, table, key_id, wrap_data_key(keks[0], key_id, key)
        )
    return True
