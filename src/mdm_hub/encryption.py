"""Field encryption of personal data: AES-GCM envelopes under data keys wrapped by a
key-encryption key (KEK), and keyed hashes (blind indexes) for lookups on encrypted values.

No database, no settings: the frame, so every feature's repository can seal what it stores
and the engine can unseal what it reads. The KEK is 32 bytes (``MDM_FIELD_ENCRYPTION_KEY``, URL-safe
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
import re
from binascii import b2a_base64
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Protocol, TypeVar

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "enc:v1:"
# The plain value's JSON, as compact as the stored text has always been.
_PLAIN = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_INDEX_CACHE = 65536
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
    return unwrap_with((kek,), key_id, wrapped)[0]


def unwrap_with(keks: Sequence[bytes], key_id: str, wrapped: bytes) -> tuple[bytes, int]:
    """The data key, and the index in ``keks`` of the KEK that wrapped it (while a KEK is being
    replaced, a key is wrapped by the new one or, not yet re-wrapped, by the previous one)."""
    for i, kek in enumerate(keks):
        wrapping = AESGCM(derive_key(kek, _WRAP_PURPOSE))
        try:
            plain = wrapping.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            continue
        return plain, i
    which = (
        "MDM_FIELD_ENCRYPTION_KEY is not the key"
        if len(keks) == 1
        else "neither MDM_FIELD_ENCRYPTION_KEY nor MDM_FIELD_ENCRYPTION_KEY_PREVIOUS is the key"
    )
    raise EncryptionError(f"data key {key_id} cannot be unwrapped: {which} it was wrapped with")


# The hub's own keys kept in ``privacy_keys`` (the suppression hashes' key when
# MDM_PRIVACY_HASH_KEY is unset) are stored wrapped under a key derived from the blind-index
# key, itself stored wrapped by the KEK: replacing the KEK leaves them readable, and a dump
# without the KEK cannot open them.
_PRIVACY_KEY_PURPOSE = b"mdm-hub/privacy-key-wrap/v1"
WRAPPED_PRIVACY_KEY = b"wrapped:v1:"


def wrap_privacy_key(keyring: Keyring, name: str, key: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    wrapping = AESGCM(derive_key(keyring.index_key, _PRIVACY_KEY_PURPOSE))
    return WRAPPED_PRIVACY_KEY + nonce + wrapping.encrypt(nonce, key, name.encode())


def unwrap_privacy_key(keyring: Keyring, name: str, stored: bytes) -> bytes | None:
    """The key, or None when ``stored`` is not wrapped (a key stored in clear before)."""
    if not stored.startswith(WRAPPED_PRIVACY_KEY):
        return None
    blob = stored[len(WRAPPED_PRIVACY_KEY) :]
    wrapping = AESGCM(derive_key(keyring.index_key, _PRIVACY_KEY_PURPOSE))
    try:
        return wrapping.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], name.encode())
    except InvalidTag as exc:
        raise EncryptionError(f"the hub's key {name!r} cannot be unwrapped") from exc


def legacy_index_key(kek: bytes) -> bytes:
    """The blind-index key as the hub derived it from the KEK before it was stored (wrapped)
    beside the data keys: a hub's existing lookup hashes were made with it."""
    return derive_key(kek, _INDEX_PURPOSE)


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def key_id_of(value: str) -> str:
    """The id of the data key an encrypted value was made with."""
    if not is_encrypted(value):
        raise EncryptionError("not an encrypted value")
    return value[len(PREFIX) :].split(":", 1)[0]


_PREFIX_BYTES = PREFIX.encode()


def key_id_of_bytes(blob: bytes) -> str:
    """The id of the data key encrypted bytes were made with."""
    if not blob.startswith(_PREFIX_BYTES):
        raise EncryptionError("not encrypted bytes")
    end = blob.find(b":", len(_PREFIX_BYTES))
    if end < 0:
        raise EncryptionError("encrypted bytes without a key id")
    return blob[len(_PREFIX_BYTES) : end].decode("ascii")


@dataclass
class Keyring:
    """The unwrapped data keys (id → key), the one new values use, and the blind-index key."""

    active_id: str
    keys: dict[str, bytes]
    index_key: bytes
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, repr=False)
    # A write computes the same few hashes several times (lookup columns, blocking keys,
    # fetching keys); a hash is a pure function of its text, so they are kept (bounded).
    _indexes: dict[str, str] = field(default_factory=dict, repr=False)
    _hmac: Any = field(default=None, repr=False)

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
        plain = _PLAIN.encode(value).encode()
        active = self.active_id
        sealed = self._cipher(active).encrypt(nonce, plain, active.encode())
        return f"{PREFIX}{active}:{b2a_base64(nonce + sealed, newline=False).decode()}"

    def decrypt(self, value: str) -> Any:
        key_id = key_id_of(value)
        return json.loads(self.decrypt_json(key_id, value[len(PREFIX) + len(key_id) + 1 :]))

    def decrypt_json(self, key_id: str, body: str) -> str:
        """The plain value's JSON text, from an encrypted value's key id and base64 body."""
        cipher = self._cipher(key_id)
        try:
            blob = base64.b64decode(body, validate=True)
            plain = cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], key_id.encode())
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise EncryptionError(f"an encrypted value under key {key_id} is damaged") from exc
        return plain.decode()

    def encrypt_bytes(self, data: bytes) -> bytes:
        """Bytes (an uploaded file's piece) as ``enc:v1:<key id>:`` + nonce ‖ ciphertext ‖ tag."""
        nonce = os.urandom(NONCE_BYTES)
        key_id = self.active_id.encode()
        sealed = self._cipher(self.active_id).encrypt(nonce, data, key_id)
        return b"%s%s:%s%s" % (_PREFIX_BYTES, key_id, nonce, sealed)

    def decrypt_bytes(self, blob: bytes) -> bytes:
        key_id = key_id_of_bytes(blob)
        start = len(_PREFIX_BYTES) + len(key_id) + 1
        try:
            return self._cipher(key_id).decrypt(
                blob[start : start + NONCE_BYTES], blob[start + NONCE_BYTES :], key_id.encode()
            )
        except InvalidTag as exc:
            raise EncryptionError(f"an encrypted file piece under key {key_id} is damaged") from exc

    def blind_index(self, kind: str, value: str) -> str:
        """The keyed hash that stands for a normalized value in a lookup column or match key."""
        text = f"{kind}:{value}"
        found = self._indexes.get(text)
        if found is None:
            if self._hmac is None:
                self._hmac = hmac.new(self.index_key, digestmod=hashlib.sha256)
            mac = self._hmac.copy()
            mac.update(text.encode())
            found = "h:" + mac.hexdigest()
            if len(self._indexes) >= _INDEX_CACHE:
                self._indexes.clear()
            self._indexes[text] = found
        return found


def keyring_from(kek: bytes, active_id: str, wrapped: Mapping[str, bytes]) -> Keyring:
    """The keyring from the stored (id → wrapped key) rows."""
    keys = {key_id: unwrap_data_key(kek, key_id, blob) for key_id, blob in wrapped.items()}
    if active_id not in keys:
        raise EncryptionError(f"the active data key {active_id} is not stored")
    return Keyring(active_id=active_id, keys=keys, index_key=derive_key(kek, _INDEX_PURPOSE))


# --- which parts of a stored document are personal data ---------------------------------------

# A person's own values, and the parts of its addresses below the town; a contact person's
# phones and e-mails (of either kind of customer). Corporations' own phones and addresses are
# the company's, not a person's: they stay in clear.
_PERSON_FIELDS = frozenset({"phones", "emails", "birth_date"})
_ADDRESS_PARTS = frozenset({"street", "building", "site_key", "full_text"})
_CONTACT_FIELDS = frozenset({"phones", "emails"})
_KINDS = frozenset({"person", "corporation"})
# Entries that name a field (by JSON pointer, or a comparison's name) and hold its values or
# text that quotes them (changes and their notes, findings, a decision's explanation).
_VALUE_KEYS = frozenset({"before", "after", "value", "old", "new"})
_TEXT_KEYS = frozenset({"message", "detail"})
_COMPARED = frozenset({"birth_date", "phone", "email", "address", "contact_phone", "contact_email"})

Fn = Callable[[Any], Any]
Walk = Callable[[Any, Fn, bool], Any]


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == ""


def _entries(value: Any, fn: Fn, names: frozenset[str]) -> Any:
    """``fn`` applied to the ``names`` entries of an object (an address, a contact person) or
    of each object of a list of them."""
    if isinstance(value, list):
        return [_entries(v, fn, names) for v in value]
    if isinstance(value, dict):
        return {k: (fn(v) if k in names and not _empty(v) else v) for k, v in value.items()}
    return value


def _at(parts: list[str], value: Any, fn: Fn, person: bool, walk: Walk | None = None) -> Any:
    """``value`` found at ``parts`` (a field path) of a customer record; what is not sealed
    whole goes on through ``walk`` (``_walk`` unless given)."""
    if _empty(value):
        return value
    top, last = parts[0], parts[-1]
    if top == "contacts":
        return fn(value) if last in _CONTACT_FIELDS else _entries(value, fn, _CONTACT_FIELDS)
    if person and top in _PERSON_FIELDS:
        return fn(value)
    if person and top == "addresses":
        return fn(value) if last in _ADDRESS_PARTS else _entries(value, fn, _ADDRESS_PARTS)
    return (walk or _walk)(value, fn, person)


def _names_personal(parts: list[str], person: bool) -> bool:
    """Whether a field path (a pointer's parts) is, or holds, a personal value."""
    top = parts[0]
    if top == "contacts":
        return len(parts) < 3 or parts[-1] in _CONTACT_FIELDS
    if top == "addresses":
        return person and (len(parts) < 3 or parts[-1] in _ADDRESS_PARTS)
    return person and top in _PERSON_FIELDS


_LISTS = frozenset({"addresses", "contacts"})


def _object_context(value: dict[str, Any], person: bool) -> tuple[bool, list[str] | None, bool]:
    """What an object of a document says of its values: whether they are a person's (its own
    ``kind`` or its parent's), the pointer its ``field``/``pointer`` names, and whether its
    text keys quote a personal value."""
    kind = value.get("kind")
    if isinstance(kind, str) and kind in _KINDS:
        person = kind == "person"
    named = value.get("field", value.get("pointer"))
    if isinstance(named, str) and named.startswith("/"):
        parts = named.strip("/").split("/")
        return person, parts, _names_personal(parts, person)
    return person, None, isinstance(named, str) and named in _COMPARED


def _walk(value: Any, fn: Fn, person: bool) -> Any:
    # Scalars are taken as they are without a call (most of a document's values): this walk
    # runs over every document the hub stores.
    if isinstance(value, list):
        return [_walk(v, fn, person) if isinstance(v, (dict, list)) else v for v in value]
    if not isinstance(value, dict):
        return value
    person, parts, quoted = _object_context(value, person)
    out: dict[str, Any] = {}
    for k, v in value.items():
        if k.startswith("/"):
            out[k] = _at(k.strip("/").split("/"), v, fn, person)
        elif quoted and (k in _TEXT_KEYS or (parts is None and k in _VALUE_KEYS)):
            out[k] = v if _empty(v) else fn(v)
        elif parts is not None and k in _VALUE_KEYS:
            out[k] = _at(parts, v, fn, person)
        elif k in _PERSON_FIELDS or k in _LISTS:
            out[k] = _at([k], v, fn, person)
        elif isinstance(v, (dict, list)):
            out[k] = _walk(v, fn, person)
        else:
            out[k] = v
    return out


# The walk again, for a document sealed only to be written out at once (``sealed_json``): what
# holds nothing to seal is returned as it is, not copied (most objects of a document), so the
# result shares those parts with the document. It equals what ``_walk`` returns.
_NAMED = _PERSON_FIELDS | _LISTS


def _walk_shared(value: Any, fn: Fn, person: bool) -> Any:
    if isinstance(value, list):
        items: list[Any] | None = None
        for i, v in enumerate(value):
            if isinstance(v, (dict, list)):
                w = _walk_shared(v, fn, person)
                if w is not v:
                    if items is None:
                        items = value[:i]
                    items.append(w)
                    continue
            if items is not None:
                items.append(v)
        return value if items is None else items
    if not isinstance(value, dict):
        return value
    person, parts, quoted = _object_context(value, person)
    out: dict[str, Any] | None = None
    for k, v in value.items():
        if k.startswith("/"):
            w = _at(k.strip("/").split("/"), v, fn, person, _walk_shared)
        elif quoted and (k in _TEXT_KEYS or (parts is None and k in _VALUE_KEYS)):
            w = v if _empty(v) else fn(v)
        elif parts is not None and k in _VALUE_KEYS:
            w = _at(parts, v, fn, person, _walk_shared)
        elif k in _NAMED:
            w = _at([k], v, fn, person, _walk_shared)
        elif isinstance(v, (dict, list)):
            w = _walk_shared(v, fn, person)
        else:
            if out is not None:
                out[k] = v
            continue
        if out is None:
            if w is v:
                continue
            out = {}
            for before, kept in value.items():  # the entries before this one, as they are
                if before == k:
                    break
                out[before] = kept
        out[k] = w
    return value if out is None else out


def _sealer(keyring: Keyring | None) -> Fn:
    """What :func:`encrypt_record` applies to each personal part."""
    if keyring is None:

        def seal(v: Any) -> Any:
            if is_encrypted(v):
                return v
            raise EncryptionError(
                "field encryption is not set up in this process (MDM_FIELD_ENCRYPTION_KEY)"
            )

    else:
        encrypt = keyring.encrypt

        def seal(v: Any) -> Any:
            if v.__class__ is str and v.startswith(PREFIX):
                return v
            return encrypt(v)

    return seal


def encrypt_record(keyring: Keyring | None, document: Any) -> Any:
    """The document (a record, raw or normalized; an audit view, an event payload, a patch, a
    list of changes) with every personal part encrypted; parts already encrypted are kept.
    Without a keyring, a document with no clear personal part passes; one with any fails."""
    return _walk(document, _sealer(keyring), True)


def decrypt_record(keyring: Keyring | None, document: Any) -> Any:
    """The document with every encrypted value, wherever it is, back in clear."""

    def open_(value: Any) -> Any:
        if isinstance(value, str):
            if not is_encrypted(value):
                return value
            if keyring is None:
                raise EncryptionError(
                    "an encrypted value was read, but field encryption is not set up in this "
                    "process (MDM_FIELD_ENCRYPTION_KEY)"
                )
            return keyring.decrypt(value)
        if isinstance(value, list):
            return [open_(v) for v in value]
        if isinstance(value, dict):
            return {k: open_(v) for k, v in value.items()}
        return value

    return open_(document)


def reencrypt_record(keyring: Keyring, document: Any) -> Any:
    """The document with every value under another key than the active one encrypted anew
    (and any personal part still in clear encrypted)."""

    def again(v: Any) -> Any:
        if isinstance(v, str) and is_encrypted(v):
            if key_id_of(v) == keyring.active_id:
                return v
            return keyring.encrypt(keyring.decrypt(v))
        if isinstance(v, list):
            return [again(x) for x in v]
        if isinstance(v, dict):
            return {k: again(x) for k, x in v.items()}
        return v

    return encrypt_record(keyring, again(document))


# --- the process-wide keyring: what the write and read paths call ------------------------------

_keyring: Keyring | None = None


def install_keyring(keyring: Keyring | None) -> None:
    global _keyring
    _keyring = keyring


def keyring_installed() -> bool:
    return _keyring is not None


def current_keyring() -> Keyring:
    if _keyring is None:
        raise EncryptionError(
            "field encryption is not set up in this process (MDM_FIELD_ENCRYPTION_KEY)"
        )
    return _keyring


def seal(document: Any) -> Any:
    """A document as it is stored: its personal parts encrypted under the active data key."""
    return encrypt_record(_keyring, document)


def unseal(document: Any) -> Any:
    """A stored document with its encrypted values back in clear."""
    return decrypt_record(_keyring, document)


class Sealed:
    """A document sealed once (:func:`seal_once`), to be stored inside several others (a
    customer's record in its row, its audit entries and its change events): the walk of
    :func:`seal` passes it by as a value, and :func:`sealed_json` writes it as it is."""

    __slots__ = ("document",)

    def __init__(self, document: Any) -> None:
        self.document = document


def seal_once(document: Any) -> Sealed:
    """``document`` sealed now, for :func:`sealed_json` to embed without walking it again."""
    return Sealed(seal(document))


def _sealed_default(value: Any) -> Any:
    if isinstance(value, Sealed):
        return value.document
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def sealed_json(document: Any) -> str:
    """The JSON text a repository stores in a jsonb column (the seam every store goes through:
    ORM and Core writes through the engine's serializer, hand-written statements directly)."""
    # Written out at once: the sealed document may share the parts with nothing to seal.
    sealed = _walk_shared(document, _sealer(_keyring), True)
    try:
        return orjson.dumps(sealed, default=_sealed_default).decode()
    except TypeError:  # what orjson does not write (an integer beyond 64 bits): as json does
        return json.dumps(sealed, ensure_ascii=False, default=_sealed_default)


# An encrypted value as it stands in a JSON text: a string of base64, nothing to unescape.
_SEALED_STRING = re.compile(r'"enc:v1:([A-Za-z0-9]+):([A-Za-z0-9+/]*=*)"')


def unseal_json_text(text: str) -> str:
    """A JSON text with each encrypted value replaced by its plain value's JSON (what it was
    made from), so the text parses straight into the clear document: no walk over it."""
    if PREFIX not in text:
        return text
    keyring = _keyring
    if keyring is None:
        raise EncryptionError(
            "an encrypted value was read, but field encryption is not set up in this "
            "process (MDM_FIELD_ENCRYPTION_KEY)"
        )
    return _SEALED_STRING.sub(lambda m: keyring.decrypt_json(m.group(1), m.group(2)), text)


_SEALED_BODY = b"sealed:"


def _compact(document: Any) -> bytes:
    # As the API renders its JSON answers, so the stored answer replays byte for byte.
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def seal_bytes(body: bytes) -> bytes:
    """A stored answer's JSON body with its personal parts encrypted (ids stay in clear, so an
    erasure still finds the answers that quote a customer)."""
    try:
        document = json.loads(body)
    except ValueError:
        return body
    return _SEALED_BODY + _compact(seal(document))


def unseal_bytes(body: bytes) -> bytes:
    if body.startswith(_SEALED_BODY):
        return _compact(unseal(json.loads(body[len(_SEALED_BODY) :])))
    return body


def seal_file_piece(data: bytes) -> bytes:
    """A piece of an uploaded file as it is stored (the whole file may hold personal data)."""
    return current_keyring().encrypt_bytes(data)


def unseal_file_piece(data: bytes) -> bytes:
    """A stored piece back in clear (one stored before pieces were sealed passes as it is)."""
    return current_keyring().decrypt_bytes(data) if data.startswith(_PREFIX_BYTES) else data


def seal_messages(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Problems (``{"column", "code", "message"}``) with their messages encrypted: a message
    may quote the value it is about. The engine's reads decrypt them like any sealed value."""
    sealed: list[dict[str, Any]] = seal_messages_with(current_keyring(), problems)
    return sealed


def seal_messages_with(keyring: Keyring, problems: Any) -> Any:
    """:func:`seal_messages` under ``keyring`` (a message already sealed is kept), for a stored
    list of problems as read back (anything else passes as it is)."""
    if not isinstance(problems, list):
        return problems
    return [
        {**p, "message": keyring.encrypt(p["message"])}
        if isinstance(p, dict)
        and isinstance(p.get("message"), str)
        and p["message"]
        and not is_encrypted(p["message"])
        else p
        for p in problems
    ]


def clear_messages(problems: Any) -> int:
    """How many problems of a stored list have their message in clear."""
    if not isinstance(problems, list):
        return 0
    return sum(
        1
        for p in problems
        if isinstance(p, dict)
        and isinstance(p.get("message"), str)
        and p["message"]
        and not is_encrypted(p["message"])
    )


def seal_text(value: str) -> str:
    return value if is_encrypted(value) else current_keyring().encrypt(value)


def index(kind: str, value: str) -> str:
    """The keyed hash stored (and looked up) instead of a normalized value."""
    return current_keyring().blind_index(kind, value)


class _Key(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def value(self) -> str: ...

    def __init__(self, kind: str, value: str) -> None: ...

    def __lt__(self, other: Any) -> bool: ...


K = TypeVar("K", bound=_Key)
_TUPLE_ORDER = itemgetter(0, 1)


def index_keys(keys: Iterable[K]) -> list[K]:
    """Blocking keys with their values as blind indexes, in lock order (sorted again: the
    hashes do not sort as the values did)."""
    # The keys' order is (kind, value) (matching.keys.BlockingKey's): compared in C, on
    # tuples, and the keys made once each (a key's own hash and init are Python code).
    indexed = {(k.kind, index(k.kind, k.value), type(k)) for k in keys}
    return [cls(kind, value) for kind, value, cls in sorted(indexed, key=_TUPLE_ORDER)]
