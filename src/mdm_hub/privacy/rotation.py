"""`mdm-hub keys rotate`: a new data key, every stored value re-encrypted under it in batches,
online, then the old keys dropped.

The steps, each committed, so a rerun after a kill resumes where the run stopped:
1. a new data key is stored, not yet active; every process loads it within
   ``field_key_refresh_seconds`` (the settle wait), so values under it are readable everywhere;
2. it becomes the active key; after another settle wait every process writes with it;
3. every table that holds sealed documents (and the uploaded files' pieces) is read in
   primary-key order, in batches locked
   ``FOR UPDATE SKIP LOCKED`` (writers are never waited for); a document with any value under
   an older key (or any personal part still in clear, or an import row's problem message in
   clear, stored before those were sealed) is written back under the new key;
4. a read-only pass counts values still under an older key or problem messages in clear (rows
   a writer held during step 3, or a late writer still on the old key): while any remain,
   step 3 runs again;
5. the old keys are deleted.
The old keys stay readable until step 5.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mdm_hub.encryption import (
    Keyring,
    clear_messages,
    install_keyring,
    key_id_of_bytes,
    reencrypt_record,
    seal_messages_with,
)
from mdm_hub.privacy import repository
from mdm_hub.privacy.keylock import key_operation
from mdm_hub.privacy.keystore import (
    activate_key,
    add_pending_key,
    drop_retired_keys,
    load_keyring,
    rotation_state,
)
from mdm_hub.privacy.repository import SEALED_TABLES, SealedTable
from mdm_hub.privacy.suppression import wrap_clear_keys

_KEY_IDS = re.compile(r"enc:v1:([A-Za-z0-9]+):")
_SEALED_BODY = "sealed:"


@dataclass
class RotationResult:
    key_id: str
    resumed: bool
    rewritten: dict[str, int] = field(default_factory=dict)
    passes: int = 0
    dropped: list[str] = field(default_factory=list)


class RotationIncomplete(RuntimeError):
    """Values under an old key remained after every pass (rerun the command)."""


def _stale(raw: str | None, active: str, messages: bool = False) -> bool:
    """Whether the column names an older key (or, for a list of problems, holds a message in
    clear: stored before messages were sealed)."""
    if raw is None:
        return False
    if any(k != active for k in _KEY_IDS.findall(raw)):
        return True
    return messages and clear_messages(json.loads(raw)) > 0


def _reencrypted(
    keyring: Keyring, raw: str | None, binary: bool, messages: bool = False
) -> str | None:
    """The column's new text, or None when it needs no rewrite."""
    if raw is None:
        return None
    body = raw
    if binary:
        if not raw.startswith(_SEALED_BODY):
            return None
        body = raw[len(_SEALED_BODY) :]
    document = json.loads(body)
    again = reencrypt_record(keyring, document)
    if messages:
        again = seal_messages_with(keyring, again)
    if again == document:
        return None
    dumped = json.dumps(again, ensure_ascii=False, separators=(",", ":") if binary else None)
    return _SEALED_BODY + dumped if binary else dumped


async def _batches(engine: AsyncEngine, table: SealedTable, batch_size: int, *, lock: bool) -> Any:
    """(session, rows) per batch in key order; each batch its own transaction."""
    last: tuple[Any, ...] | None = None
    while True:
        async with AsyncSession(engine) as session, session.begin():
            rows = await repository.sealed_batch(session, table, last, batch_size, lock=lock)
            if not rows:
                return
            yield session, rows
            last = tuple(rows[-1][k] for k in table.key)


async def _rewrite_table(
    engine: AsyncEngine,
    keyring: Keyring,
    table: SealedTable,
    batch_size: int,
    progress: Callable[[str], None],
) -> int:
    rewritten = read = 0
    async for session, rows in _batches(engine, table, batch_size, lock=True):
        for row in rows:
            for column in table.columns:
                new = _reencrypted(
                    keyring, row[column], table.binary, column in table.message_columns
                )
                if new is not None:
                    await repository.rewrite_sealed(session, table, row, column, new)
                    rewritten += 1
        read += len(rows)
        progress(f"{table.name}: {read} rows read, {rewritten} values re-encrypted")
    return rewritten


async def _count_stale(engine: AsyncEngine, active: str, batch_size: int) -> int:
    stale = 0
    for table in SEALED_TABLES:
        async for _, rows in _batches(engine, table, batch_size, lock=False):
            stale += sum(
                1
                for r in rows
                for c in table.columns
                if _stale(r[c], active, c in table.message_columns)
            )
    async for _, pieces in _file_pieces(engine, batch_size, lock=False):
        stale += sum(1 for p in pieces if _stale_piece(bytes(p.head), active))
    return stale


# Uploaded files' pieces (bytea, up to 1 MiB each, "enc:v1:<key id>:" + binary): scanned by
# their heads, each stale piece read and rewritten alone.


def _stale_piece(head: bytes, active: str) -> bool:
    return not head.startswith(b"enc:v1:") or key_id_of_bytes(head) != active


async def _file_pieces(engine: AsyncEngine, batch_size: int, *, lock: bool) -> Any:
    last: tuple[Any, Any] | None = None
    while True:
        async with AsyncSession(engine) as session, session.begin():
            rows = await repository.file_piece_heads(session, last, batch_size, lock=lock)
            if not rows:
                return
            yield session, rows
            last = (rows[-1].job_id, rows[-1].seq)


async def _rewrite_file_pieces(
    engine: AsyncEngine, keyring: Keyring, batch_size: int, progress: Callable[[str], None]
) -> int:
    rewritten = read = 0
    async for session, pieces in _file_pieces(engine, batch_size, lock=True):
        for piece in pieces:
            if not _stale_piece(bytes(piece.head), keyring.active_id):
                continue
            data = await repository.file_piece(session, piece.job_id, piece.seq)
            clear = keyring.decrypt_bytes(data) if data.startswith(b"enc:v1:") else data
            await repository.rewrite_file_piece(
                session, piece.job_id, piece.seq, keyring.encrypt_bytes(clear)
            )
            rewritten += 1
        read += len(pieces)
        progress(f"import_file_chunks: {read} pieces read, {rewritten} re-encrypted")
    return rewritten


async def rotate(
    engine: AsyncEngine,
    kek: bytes,
    *,
    batch_size: int = 500,
    settle_seconds: float = 0.0,
    max_passes: int = 5,
    progress: Callable[[str], None] = lambda _: None,
) -> RotationResult:
    """Rotate the data key (or resume a rotation a kill interrupted); raises
    :class:`~mdm_hub.privacy.keylock.KeyOperationRunning` while another key operation runs."""
    async with key_operation(engine, "rotate"):
        result = await _activate_new_key(engine, kek, settle_seconds, progress)
        async with AsyncSession(engine) as session, session.begin():
            keyring = await load_keyring(session, kek)
        install_keyring(keyring)  # this process writes with the new key too
        async with AsyncSession(engine) as session, session.begin():
            clear_keys = await wrap_clear_keys(session, keyring)
        if clear_keys:
            progress(f"privacy_keys: {', '.join(clear_keys)} stored in clear, now wrapped")
        await _rewrite_until_current(engine, keyring, result, batch_size, max_passes, progress)
        async with AsyncSession(engine) as session, session.begin():
            result.dropped = await drop_retired_keys(session, set())
            install_keyring(await load_keyring(session, kek))
        progress(f"retired data keys dropped: {', '.join(result.dropped) or 'none'}")
        return result


async def _activate_new_key(
    engine: AsyncEngine, kek: bytes, settle_seconds: float, progress: Callable[[str], None]
) -> RotationResult:
    """A new data key stored, then made the active one, each step given ``settle_seconds`` for
    every process to load it; or the step a killed rotation had reached, taken up again."""
    async with AsyncSession(engine) as session, session.begin():
        await load_keyring(session, kek)  # the first key, should there be none
        active, pending, retired = await rotation_state(session)
    resumed = bool(pending or retired)
    if not pending and not retired:
        async with AsyncSession(engine) as session, session.begin():
            pending = [await add_pending_key(session, kek)]
        progress(
            f"new data key {pending[-1]} stored; waiting {settle_seconds:g} s for every "
            "process to load it"
        )
        await asyncio.sleep(settle_seconds)
    if pending:
        active = pending[-1]
        async with AsyncSession(engine) as session, session.begin():
            await activate_key(session, active)
        progress(
            f"data key {active} active; waiting {settle_seconds:g} s for every process "
            "to write with it"
        )
        await asyncio.sleep(settle_seconds)
    return RotationResult(key_id=active, resumed=resumed)


async def _rewrite_until_current(
    engine: AsyncEngine,
    keyring: Keyring,
    result: RotationResult,
    batch_size: int,
    max_passes: int,
    progress: Callable[[str], None],
) -> None:
    """Every sealed value and import file piece re-encrypted under the active key, pass after
    pass until none is left under an older one (counted into ``result``)."""
    for _ in range(max_passes):
        result.passes += 1
        for table in SEALED_TABLES:
            count = await _rewrite_table(engine, keyring, table, batch_size, progress)
            result.rewritten[table.name] = result.rewritten.get(table.name, 0) + count
        count = await _rewrite_file_pieces(engine, keyring, batch_size, progress)
        result.rewritten["import_file_chunks"] = (
            result.rewritten.get("import_file_chunks", 0) + count
        )
        left = await _count_stale(engine, result.key_id, batch_size)
        progress(f"pass {result.passes}: {left} values left under an older key")
        if left == 0:
            return
    raise RotationIncomplete(
        f"values under an older key remain after {max_passes} passes: run it again"
    )
