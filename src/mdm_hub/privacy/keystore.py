"""The data keys of field encryption in the ``data_keys`` table, wrapped by the KEK."""

from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.encryption import Keyring, keyring_from, new_data_key, wrap_data_key
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


async def load_keyring(session: AsyncSession, kek: bytes) -> Keyring:
    """Every data key, unwrapped; the first one is made (and stored) when there is none."""
    active, wrapped = await _read(session)
    if active is None:
        await repository.lock_data_keys(session)
        active, wrapped = await _read(session)
        if active is None:
            await _insert_active(session, kek)
            active, wrapped = await _read(session)
    assert active is not None
    return keyring_from(kek, active, wrapped)


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
