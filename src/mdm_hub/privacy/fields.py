"""Loading the process-wide keyring of field encryption (``mdm_hub.encryption``).

The keyring is loaded once at start-up (the app's lifespan, the worker, the CLI commands that
touch personal data) from ``MDM_FIELD_ENCRYPTION_KEY`` and the ``data_keys`` table; the
engine's JSON serializer and deserializer then seal and unseal every stored document, and the
lookup columns and blocking keys hold its blind indexes.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mdm_hub.encryption import (
    EncryptionError,
    Keyring,
    current_keyring,
    install_keyring,
    keyring_installed,
    new_kek_text,
    parse_kek,
)
from mdm_hub.privacy.keystore import load_keyring

logger = logging.getLogger("mdm_hub")

KEY_FILE = "field-encryption-key"


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


async def open_keyring(
    engine: AsyncEngine,
    key_text: str,
    previous_text: str | None = None,
    *,
    known: Keyring | None = None,
) -> Keyring:
    """The keyring of this database under the KEK (the first data key is made if none); with
    ``previous_text`` (MDM_FIELD_ENCRYPTION_KEY_PREVIOUS), keys not yet re-wrapped under the
    KEK open with the previous one."""
    keks = [parse_kek(key_text)]
    if previous_text:
        keks.append(parse_kek(previous_text))
    async with AsyncSession(engine) as session, session.begin():
        return await load_keyring(session, *keks, known=known)


def _texts(key: SecretStr, previous: SecretStr | None) -> tuple[str, str | None]:
    return key.get_secret_value(), previous.get_secret_value() if previous else None


_pending: tuple[AsyncEngine, str, str | None] | None = None


async def load_keyring_when_migrated(
    engine: AsyncEngine, key: SecretStr, previous: SecretStr | None = None
) -> None:
    """Load the keyring at start-up; when the database cannot give it yet (not reachable, or
    its schema not migrated: the pods may start before the migration job), readiness loads it
    later (:func:`load_pending_keyring`). A malformed or wrong key fails the start-up."""
    global _pending
    text, previous_text = _texts(key, previous)
    parse_kek(text)  # a malformed key fails now, whatever the database
    if previous_text:
        parse_kek(previous_text)
    try:
        install_keyring(await open_keyring(engine, text, previous_text))
    except DBAPIError as exc:
        logger.warning("field encryption keys not loaded yet (%s): readiness retries", exc.orig)
        _pending = (engine, text, previous_text)


async def refresh_keyring(
    engine: AsyncEngine,
    key: SecretStr,
    interval: float,
    stop: asyncio.Event,
    previous: SecretStr | None = None,
) -> None:
    """Reload the data keys every ``interval`` seconds until ``stop``: a key rotation's new key
    becomes readable, then the one written with, in every process (``mdm-hub keys rotate``
    waits twice this interval between its steps). Keys already loaded are kept as they are, so
    a process started before a KEK replacement keeps reading while its keys are re-wrapped."""
    text, previous_text = _texts(key, previous)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except TimeoutError:
            known = current_keyring() if keyring_installed() else None
            try:
                install_keyring(await open_keyring(engine, text, previous_text, known=known))
            except DBAPIError as exc:
                logger.warning("field encryption keys not reloaded (%s): retried", exc.orig)
            except EncryptionError as exc:
                logger.error("field encryption keys not reloaded (%s): retried", exc)
            except Exception:  # any other failure of one reload: the keys held stay in use
                logger.exception("field encryption keys not reloaded: retried")


async def load_pending_keyring() -> None:
    global _pending
    if not keyring_installed() and _pending is not None:
        install_keyring(await open_keyring(*_pending))
        _pending = None
