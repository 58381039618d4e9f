"""Field encryption of personal data: AES-GCM envelopes under data keys wrapped by a
key-encryption key (KEK), and keyed hashes (blind indexes) for lookups on encrypted values.

Pure: no database, no settings. The KEK is 32 bytes (``MDM_FIELD_ENCRYPTION_KEY``, URL-safe
base64). From it HKDF-SHA256 derives, each for one purpose, the key that wraps data keys and the
key of the blind indexes, so a leaked index key reveals nothing of the wrapping key.

An encrypted value is the text ``enc:v1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>``: a fresh
96-bit nonce per value, the key id as associated data (a value cannot be moved to another key's
id). The plain value is its JSON, so lists and objects (a person's phones) encrypt as one value
and come back with their type.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "enc:v1:"
KEY_BYTES = 32
NONCE_BYTES = 12
_WRAP_PURPOSE = b"mdm-hub/data-key-wrap/v1"
_INDEX_PURPOSE = b"mdm-hub/blind-index/v1"


class EncryptionError(ValueError):
    """A key or an encrypted value that cannot be used (wrong KEK, unknown key id, tampering)."""


def parse_kek(text: str) -> bytes:
    """The 32-byte KEK from its base64 text (URL-safe or standard, padding optional)."""
    clean = text.strip().replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(clean + "=" * (-len(clean) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EncryptionError("the field encryption key is not base64") from exc
    if len(raw) != KEY_BYTES:
        raise EncryptionError(
            f"the field encryption key must be {KEY_BYTES} bytes (base64), not {len(raw)}"
        )
    return raw


def new_kek_text() -> str:
    """A fresh KEK as ``MDM_FIELD_ENCRYPTION_KEY`` takes it."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


def derive_key(kek: bytes, purpose: bytes) -> bytes:
    """A 32-byte key for one purpose, derived from the KEK (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose).derive(kek)


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def wrap_data_key(kek: bytes, key_id: str, data_key: bytes) -> bytes:
    """The data key encrypted under the KEK's wrapping key (nonce ‖ ciphertext ‖ tag)."""
    nonce = os.urandom(NONCE_BYTES)
    wrapping = AESGCM(derive_key(kek, _WRAP_PURPOSE))
    return nonce + wrapping.encrypt(nonce, data_key, key_id.encode())


def unwrap_data_key(kek: bytes, key_id: str, wrapped: bytes) -> bytes:
    wrapping = AESGCM(derive_key(kek, _WRAP_PURPOSE))
    try:
        return wrapping.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], key_id.encode())
    except InvalidTag as exc:
        raise EncryptionError(
            f"data key {key_id} cannot be unwrapped: MDM_FIELD_ENCRYPTION_KEY is not the key "
            "it was wrapped with"
        ) from exc


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def key_id_of(value: str) -> str:
    """The id of the data key an encrypted value was made with."""
    if not is_encrypted(value):
        raise EncryptionError("not an encrypted value")
    return value[len(PREFIX) :].split(":", 1)[0]


@dataclass
class Keyring:
    """The unwrapped data keys (id → key), the one new values use, and the blind-index key."""

    active_id: str
    keys: dict[str, bytes]
    index_key: bytes
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, repr=False)

    def _cipher(self, key_id: str) -> AESGCM:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            key = self.keys.get(key_id)
            if key is None:
                raise EncryptionError(f"unknown data key {key_id}")
            cipher = self._ciphers[key_id] = AESGCM(key)
        return cipher

    def encrypt(self, value: Any) -> str:
        """The value (anything JSON can hold) as an encrypted text under the active key."""
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        sealed = self._cipher(self.active_id).encrypt(nonce, plain, self.active_id.encode())
        return f"{PREFIX}{self.active_id}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, value: str) -> Any:
        key_id = key_id_of(value)
        cipher = self._cipher(key_id)
        try:
            blob = base64.b64decode(value[len(PREFIX) + len(key_id) + 1 :], validate=True)
            plain = cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], key_id.encode())
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise EncryptionError(f"an encrypted value under key {key_id} is damaged") from exc
        return json.loads(plain)

    def blind_index(self, kind: str, value: str) -> str:
        """The keyed hash that stands for a normalized value in a lookup column or match key."""
        return (
            "h:" + hmac.new(self.index_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
        )


def keyring_from(kek: bytes, active_id: str, wrapped: Mapping[str, bytes]) -> Keyring:
    """The keyring from the stored (id → wrapped key) rows."""
    keys = {key_id: unwrap_data_key(kek, key_id, blob) for key_id, blob in wrapped.items()}
    if active_id not in keys:
        raise EncryptionError(f"the active data key {active_id} is not stored")
    return Keyring(active_id=active_id, keys=keys, index_key=derive_key(kek, _INDEX_PURPOSE))


# --- which parts of a record are personal data ----------------------------------------------

_PERSON_TOP = ("birth_date", "phones", "emails")
_ADDRESS_PARTS = ("street", "building", "site_key", "full_text")
_CONTACT_PARTS = ("phones", "emails")


def _map_record(record: Mapping[str, Any], fn: Any) -> dict[str, Any]:
    """A copy of a record (raw or normalized) with ``fn`` applied to each personal part."""
    out = dict(record)
    if record.get("kind") == "person":
        for name in _PERSON_TOP:
            if out.get(name) not in (None, [], ""):
                out[name] = fn(out[name])
        addresses = out.get("addresses")
        if isinstance(addresses, list):
            out["addresses"] = [
                {
                    k: (fn(v) if k in _ADDRESS_PARTS and v not in (None, "") else v)
                    for k, v in a.items()
                }
                if isinstance(a, dict)
                else a
                for a in addresses
            ]
    contacts = out.get("contacts")
    if isinstance(contacts, list):
        out["contacts"] = [
            {k: (fn(v) if k in _CONTACT_PARTS and v not in (None, []) else v) for k, v in c.items()}
            if isinstance(c, dict)
            else c
            for c in contacts
        ]
    return out


def encrypt_record(keyring: Keyring, record: Mapping[str, Any]) -> dict[str, Any]:
    """The record with every personal part encrypted (parts already encrypted are kept)."""
    return _map_record(record, lambda v: v if is_encrypted(v) else keyring.encrypt(v))


def decrypt_record(keyring: Keyring, record: Mapping[str, Any]) -> dict[str, Any]:
    """The record with every encrypted part back in clear (clear parts are kept as they are)."""
    return _map_record(record, lambda v: keyring.decrypt(v) if is_encrypted(v) else v)


def reencrypt_record(keyring: Keyring, record: Mapping[str, Any]) -> dict[str, Any]:
    """The record with every part under another key than the active one encrypted anew."""

    def again(v: Any) -> Any:
        if is_encrypted(v) and key_id_of(v) == keyring.active_id:
            return v
        return keyring.encrypt(keyring.decrypt(v) if is_encrypted(v) else v)

    return _map_record(record, again)
