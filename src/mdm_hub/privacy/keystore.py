"""The data keys of field encryption in the ``data_keys`` table, wrapped by the KEK."""

from __future__ import annotations

import secrets

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.encryption import Keyring, keyring_from, new_data_key, wrap_data_key

# One lock id for creating and rotating data keys, so two processes never both make the first.
_LOCK = 0x6D646D6B  # "mdmk"


def _new_key_id() -> str:
    return "dk" + secrets.token_hex(6)


async def _insert_active(session: AsyncSession, kek: bytes) -> str:
    key_id = _new_key_id()
    await session.execute(text("UPDATE data_keys SET active = false WHERE active"))
    await session.execute(
        text("INSERT INTO data_keys (id, wrapped_key, active) VALUES (:id, :key, true)"),
        {"id": key_id, "key": wrap_data_key(kek, key_id, new_data_key())},
    )
    return key_id


async def _read(session: AsyncSession) -> tuple[str | None, dict[str, bytes]]:
    rows = (
        await session.execute(
            text("SELECT id, wrapped_key, active FROM data_keys ORDER BY created_at, id")
        )
    ).all()
    active = [r.id for r in rows if r.active]
    return (active[-1] if active else None), {r.id: bytes(r.wrapped_key) for r in rows}


async def load_keyring(session: AsyncSession, kek: bytes) -> Keyring:
    """Every data key, unwrapped; the first one is made (and stored) when there is none."""
    active, wrapped = await _read(session)
    if active is None:
        await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK})
        active, wrapped = await _read(session)
        if active is None:
            await _insert_active(session, kek)
            active, wrapped = await _read(session)
    assert active is not None
    return keyring_from(kek, active, wrapped)


async def add_data_key(session: AsyncSession, kek: bytes) -> str:
    """A new active data key (the first step of a rotation); the others stay readable."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK})
    return await _insert_active(session, kek)


async def drop_retired_keys(session: AsyncSession, still_used: set[str]) -> list[str]:
    """Delete the retired keys no value refers to any more (the last step of a rotation)."""
    rows = (await session.execute(text("SELECT id FROM data_keys WHERE NOT active"))).all()
    dropped = [r.id for r in rows if r.id not in still_used]
    if dropped:
        await session.execute(
            text("DELETE FROM data_keys WHERE id = ANY(CAST(:ids AS text[]))"), {"ids": dropped}
        )
    return dropped


async def rotation_state(session: AsyncSession) -> tuple[str, list[str], list[str]]:
    """The active key, the keys made after it and not yet active (a rotation's new key, readable
    everywhere before anyone writes with it), and the keys before it (retired, still readable)."""
    rows = (
        await session.execute(text("SELECT id, active FROM data_keys ORDER BY created_at, id"))
    ).all()
    ids = [r.id for r in rows]
    active = [i for i, r in enumerate(rows) if r.active][-1]
    return ids[active], ids[active + 1 :], ids[:active]


async def add_pending_key(session: AsyncSession, kek: bytes) -> str:
    """A new data key, not yet active: every process loads it (and can read values under it)
    before any process writes with it."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK})
    key_id = _new_key_id()
    await session.execute(
        text(
            "INSERT INTO data_keys (id, wrapped_key, active, created_at) "
            "VALUES (:id, :key, false, clock_timestamp())"
        ),
        {"id": key_id, "key": wrap_data_key(kek, key_id, new_data_key())},
    )
    return key_id


async def activate_key(session: AsyncSession, key_id: str) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK})
    await session.execute(text("UPDATE data_keys SET active = (id = :id)"), {"id": key_id})
