"""The data keys of field encryption in the ``data_keys`` table, and the key of the blind
indexes in ``index_keys``, each wrapped by the KEK.

While the KEK itself is being replaced (``mdm-hub keys rewrap``) a process holds the new KEK
and the previous one, and unwraps each stored key with whichever wrapped it; keys are always
wrapped anew under the new (first) one."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.encryption import (
    Keyring,
    legacy_index_key,
    new_data_key,
    unwrap_with,
    wrap_data_key,
)
from mdm_hub.privacy import repository


def _new_key_id() -> str:
    return "dk" + secrets.token_hex(6)


async def _insert_active(session: AsyncSession, kek: bytes) -> str:
    key_id = _new_key_id()
    await repository.insert_active_key(session, key_id, wrap_data_key(kek, key_id, new_data_key()))
    return key_id


async def _read(session: AsyncSession) -> tuple[str | None, dict[str, bytes]]:
    rows = await repository.data_keys(session)
    active = [r.id for r in rows if r.active]
    return (active[-1] if active else None), {r.id: bytes(r.wrapped_key) for r in rows}


INDEX_KEY_ID = "blind-index"


async def _index_key(
    session: AsyncSession, keks: Sequence[bytes], active: str, wrapped: dict[str, bytes]
) -> bytes:
    """The blind-index key, stored (wrapped under the KEK) the first time it is asked for: the
    key the hub derived from the KEK before, so that a later KEK keeps the hashes valid."""
    blob = await repository.wrapped_index_key(session, INDEX_KEY_ID)
    if blob is None:
        await repository.lock_data_keys(session)
        blob = await repository.wrapped_index_key(session, INDEX_KEY_ID)
    if blob is not None:
        return unwrap_with(keks, INDEX_KEY_ID, blob)[0]
    # The hashes stored so far were made with the KEK that wraps the data keys.
    _, which = unwrap_with(keks, active, wrapped[active])
    key = legacy_index_key(keks[which])
    await repository.insert_index_key(
        session, INDEX_KEY_ID, wrap_data_key(keks[0], INDEX_KEY_ID, key)
    )
    return key


async def load_keyring(
    session: AsyncSession, *keks: bytes, known: Keyring | None = None
) -> Keyring:
    """Every data key, unwrapped by whichever of ``keks`` wrapped it (the KEK, and the previous
    one while the KEK is replaced); the first one is made (and stored, wrapped by the first KEK)
    when there is none. Keys in ``known`` (the keyring a process already holds) are taken from
    it, not unwrapped again."""
    active, wrapped = await _read(session)
    if active is None:
        await repository.lock_data_keys(session)
        active, wrapped = await _read(session)
        if active is None:
            await _insert_active(session, keks[0])
            active, wrapped = await _read(session)
    assert active is not None
    keys = {
        key_id: known.keys[key_id]
        if known is not None and key_id in known.keys
        else unwrap_with(keks, key_id, blob)[0]
        for key_id, blob in wrapped.items()
    }
    # The index key never changes once stored (a known keyring of this database holds it).
    same = known is not None and known.active_id in wrapped
    index_key = (
        known.index_key
        if known is not None and same
        else await _index_key(session, keks, active, wrapped)
    )
    return Keyring(active_id=active, keys=keys, index_key=index_key)


async def add_data_key(session: AsyncSession, kek: bytes) -> str:
    """A new active data key (the first step of a rotation); the others stay readable."""
    await repository.lock_data_keys(session)
    return await _insert_active(session, kek)


async def drop_retired_keys(session: AsyncSession, still_used: set[str]) -> list[str]:
    """Delete the retired keys no value refers to any more (the last step of a rotation)."""
    dropped = [i for i in await repository.retired_key_ids(session) if i not in still_used]
    if dropped:
        await repository.delete_data_keys(session, dropped)
    return dropped


async def rotation_state(session: AsyncSession) -> tuple[str, list[str], list[str]]:
    """The active key, the keys made after it and not yet active (a rotation's new key, readable
    everywhere before anyone writes with it), and the keys before it (retired, still readable)."""
    rows = await repository.data_key_states(session)
    ids = [r.id for r in rows]
    active = [i for i, r in enumerate(rows) if r.active][-1]
    return ids[active], ids[active + 1 :], ids[:active]


async def add_pending_key(session: AsyncSession, kek: bytes) -> str:
    """A new data key, not yet active: every process loads it (and can read values under it)
    before any process writes with it."""
    await repository.lock_data_keys(session)
    key_id = _new_key_id()
    await repository.insert_pending_key(session, key_id, wrap_data_key(kek, key_id, new_data_key()))
    return key_id


async def activate_key(session: AsyncSession, key_id: str) -> None:
    await repository.lock_data_keys(session)
    await repository.set_active_key(session, key_id)
