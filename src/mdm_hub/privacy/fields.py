"""The process-wide keyring of field encryption, and what the write and read paths call.

The keyring is loaded once at start-up (the app's lifespan, the worker, the CLI commands that
touch personal data) from ``MDM_FIELD_ENCRYPTION_KEY`` and the ``data_keys`` table, then used
by every path that stores or reads a person's values: :func:`seal` before a record goes into a
JSON column, :func:`unseal` after it comes out, :func:`index` for the values looked up by
equality (customers.phones/emails, blocking keys).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import SecretStr
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mdm_hub.privacy.encryption import (
    EncryptionError,
    Keyring,
    decrypt_record,
    encrypt_record,
    new_kek_text,
    parse_kek,
)
from mdm_hub.privacy.keystore import load_keyring

logger = logging.getLogger("mdm_hub")

KEY_FILE = "field-encryption-key"


class _Key(Protocol):
    kind: str
    value: str

    def __lt__(self, other: Any) -> bool: ...


K = TypeVar("K", bound=_Key)

_keyring: Keyring | None = None


def install_keyring(keyring: Keyring | None) -> None:
    global _keyring
    _keyring = keyring


def current_keyring() -> Keyring:
    if _keyring is None:
        raise EncryptionError(
            "field encryption is not set up in this process (MDM_FIELD_ENCRYPTION_KEY)"
        )
    return _keyring


def seal(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A record (raw or normalized payload, golden record, event payload) as it is stored."""
    if record is None:
        return None
    return encrypt_record(current_keyring(), record)


def unseal(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A stored record with its personal parts back in clear."""
    if record is None:
        return None
    return decrypt_record(current_keyring(), record)


def index(kind: str, value: str) -> str:
    """The keyed hash stored (and looked up) instead of a normalized value."""
    return current_keyring().blind_index(kind, value)


def index_keys(keys: Iterable[K]) -> list[K]:
    """Blocking keys with their values as blind indexes, in lock order (sorted again: the
    hashes do not sort as the values did)."""
    return sorted({type(k)(k.kind, index(k.kind, k.value)) for k in keys})  # type: ignore[call-arg]


def local_key_text(data_dir: Path, *, create: bool) -> str | None:
    """The key kept in the data folder for a hub on loopback (made when ``create``)."""
    path = data_dir / KEY_FILE
    if path.exists():
        return path.read_text().strip()
    if not create:
        return None
    data_dir.mkdir(parents=True, exist_ok=True)
    text = new_kek_text()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    logger.warning(
        "no MDM_FIELD_ENCRYPTION_KEY: made a field encryption key in %s (loopback only); back "
        "it up with the database, without it the personal data cannot be read",
        path,
    )
    return text


def keyring_installed() -> bool:
    return _keyring is not None


async def open_keyring(engine: AsyncEngine, key_text: str) -> Keyring:
    """The keyring of this database under the KEK (the first data key is made if none)."""
    kek = parse_kek(key_text)
    async with AsyncSession(engine) as session, session.begin():
        return await load_keyring(session, kek)


_pending: tuple[AsyncEngine, str] | None = None


async def load_keyring_when_migrated(engine: AsyncEngine, key: SecretStr) -> None:
    """Load the keyring at start-up; when the database cannot give it yet (not reachable, or
    its schema not migrated: the pods may start before the migration job), readiness loads it
    later (:func:`load_pending_keyring`). A malformed or wrong key fails the start-up."""
    global _pending
    text = key.get_secret_value()
    parse_kek(text)  # a malformed key fails now, whatever the database
    try:
        install_keyring(await open_keyring(engine, text))
    except DBAPIError as exc:
        logger.warning("field encryption keys not loaded yet (%s): readiness retries", exc.orig)
        _pending = (engine, text)


async def load_pending_keyring() -> None:
    global _pending
    if _keyring is None and _pending is not None:
        install_keyring(await open_keyring(*_pending))
        _pending = None
