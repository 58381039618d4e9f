"""Keyed hashes of a person's identifying values, and the check that holds a write of an
erased person.

The hashes are HMAC-SHA256 under ``MDM_PRIVACY_HASH_KEY`` (or, when unset, a random key the
hub keeps in ``privacy_keys``, wrapped so that only a process holding the field encryption key
opens it): a suppression entry identifies a returning person without keeping the person's
data, and neither the table nor a dump can be reversed by hashing guesses (phone numbers are
few enough to try them all).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.encryption import (
    Keyring,
    current_keyring,
    unwrap_privacy_key,
    wrap_privacy_key,
)
from mdm_hub.privacy import repository
from mdm_hub.settings import Settings

_KEY_NAME = "suppression"
_cached_keys: dict[str, bytes] = {}


def identifying_values(normalized: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(kind, value) of what identifies a person in a normalized record: each phone (E.164),
    each e-mail address, and the name together with the birth date."""
    values: list[tuple[str, str]] = []
    for phone in normalized.get("phones") or []:
        if isinstance(phone, dict) and phone.get("e164"):
            values.append(("phone", str(phone["e164"])))
    for email in normalized.get("emails") or []:
        if isinstance(email, dict) and email.get("address"):
            values.append(("email", str(email["address"]).lower()))
    name = "".join(str(normalized.get("name") or "").split())
    if name and normalized.get("birth_date"):
        values.append(("name_birth_date", f"{name}|{normalized['birth_date']}"))
    return values


def digest(key: bytes, kind: str, value: str) -> str:
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


async def hash_key(session: AsyncSession, settings: Settings) -> bytes:
    """The suppression key: the configured one, else the hub's own (made on first use)."""
    if settings.privacy_hash_key:
        return settings.privacy_hash_key.get_secret_value().encode()
    cached = _cached_keys.get(settings.database_url or "")
    if cached is not None:
        return cached
    keyring = current_keyring()
    candidate = wrap_privacy_key(keyring, _KEY_NAME, secrets.token_bytes(32))
    stored = await repository.privacy_key(session, _KEY_NAME, candidate)
    key = unwrap_privacy_key(keyring, _KEY_NAME, stored)
    if key is None:  # stored in clear by an earlier version: wrapped now
        key = stored
        await repository.replace_privacy_key(
            session, _KEY_NAME, stored, wrap_privacy_key(keyring, _KEY_NAME, key)
        )
    _cached_keys[settings.database_url or ""] = key
    return key


async def wrap_clear_keys(session: AsyncSession, keyring: Keyring) -> list[str]:
    """Wrap every key of ``privacy_keys`` an earlier version stored in clear (``mdm-hub keys
    rotate`` runs it); the names of those wrapped."""
    wrapped: list[str] = []
    for name, stored in await repository.privacy_keys(session):
        if unwrap_privacy_key(keyring, name, stored) is None:
            await repository.replace_privacy_key(
                session, name, stored, wrap_privacy_key(keyring, name, stored)
            )
            wrapped.append(name)
    return wrapped


async def digests(
    session: AsyncSession, settings: Settings, normalized: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """(kind, digest) of the record's identifying values."""
    values = identifying_values(normalized)
    if not values:
        return []
    key = await hash_key(session, settings)
    return [(kind, digest(key, kind, value)) for kind, value in values]
