"""Field encryption's primitives: AES-GCM envelopes with key ids, data keys wrapped by the KEK
in the ``data_keys`` table, blind indexes, and which parts of a record are encrypted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from mdm_hub.db import sqlalchemy_url
from mdm_hub.encryption import (
    PREFIX,
    EncryptionError,
    Keyring,
    decrypt_record,
    derive_key,
    encrypt_record,
    index_keys,
    install_keyring,
    is_encrypted,
    key_id_of,
    keyring_from,
    new_data_key,
    new_kek_text,
    parse_kek,
    reencrypt_record,
    wrap_data_key,
)
from mdm_hub.matching.keys import BlockingKey
from mdm_hub.normalize import normalize_customer
from mdm_hub.privacy.keystore import add_data_key, drop_retired_keys, load_keyring
from mdm_hub.record import CustomerIn

KEK = parse_kek("q0jV8pJ1cQz5m0c2a9Xl3kq7Yb1nT4sR6uW8eD0fH2g=")
OTHER_KEK = parse_kek(new_kek_text())

PERSON_IN = {
    "kind": "person",
    "name": "山田 花子",
    "birth_date": "1985-04-01",
    "phones": [{"number": "090-1234-5678"}],
    "emails": [{"address": "hanako.yamada@example.jp"}],
    "addresses": [
        {
            "postal_code": "1000005",
            "prefecture": "東京都",
            "city": "千代田区",
            "town": "丸の内",
            "street": "一丁目2番3号",
            "building": "丸の内ビル5F",
        }
    ],
}
PERSON_VALUES = ("1234-5678", "12345678", "hanako.yamada", "1985-04-01", "1-2-3", "丸の内ビル")


def _keyring(*ids: str) -> Keyring:
    wrapped = {i: wrap_data_key(KEK, i, new_data_key()) for i in ids}
    return keyring_from(KEK, ids[-1], wrapped)


def test_kek_must_be_32_bytes_of_base64() -> None:
    assert len(parse_kek(new_kek_text())) == 32
    with pytest.raises(EncryptionError, match="32 bytes"):
        parse_kek(base64.urlsafe_b64encode(b"short").decode())
    with pytest.raises(EncryptionError, match="not base64"):
        parse_kek("not base64 at all!")


def test_a_value_round_trips_with_its_type_a_fresh_nonce_and_its_key_id() -> None:
    ring = _keyring("dk1")
    phones = [{"number": "090-1234-5678", "e164": "+819012345678"}]
    one, two = ring.encrypt(phones), ring.encrypt(phones)
    assert one.startswith(PREFIX + "dk1:") and key_id_of(one) == "dk1"
    assert one != two  # a fresh nonce per value
    assert "1234" not in one
    assert ring.decrypt(one) == phones == ring.decrypt(two)
    assert ring.decrypt(ring.encrypt("1985-04-01")) == "1985-04-01"


def test_a_tampered_value_or_one_moved_to_another_key_id_is_refused() -> None:
    ring = _keyring("dk1", "dk2")
    sealed = ring.encrypt("hanako@example.jp")
    blob = bytearray(base64.b64decode(sealed.split(":", 3)[3]))
    blob[-1] ^= 1
    with pytest.raises(EncryptionError, match="damaged"):
        ring.decrypt(sealed.rsplit(":", 1)[0] + ":" + base64.b64encode(bytes(blob)).decode())
    with pytest.raises(EncryptionError, match="damaged"):
        ring.decrypt(sealed.replace(":dk2:", ":dk1:"))
    with pytest.raises(EncryptionError, match="unknown data key dk9"):
        ring.decrypt(sealed.replace(":dk2:", ":dk9:"))


def test_a_data_key_unwraps_only_under_its_kek_and_its_id() -> None:
    wrapped = wrap_data_key(KEK, "dk1", new_data_key())
    with pytest.raises(EncryptionError, match="not the key"):
        keyring_from(OTHER_KEK, "dk1", {"dk1": wrapped})
    with pytest.raises(EncryptionError, match="not the key"):
        keyring_from(KEK, "dk2", {"dk2": wrapped})


def test_blind_indexes_are_deterministic_keyed_and_separate_from_the_wrapping_key() -> None:
    ring = _keyring("dk1")
    other = keyring_from(OTHER_KEK, "dk1", {"dk1": wrap_data_key(OTHER_KEK, "dk1", new_data_key())})
    h = ring.blind_index("phone", "+819012345678")
    assert h == _keyring("dk2").blind_index("phone", "+819012345678")  # not per data key
    assert h != other.blind_index("phone", "+819012345678")  # per KEK
    assert h != ring.blind_index("email", "+819012345678")  # per kind
    assert "819012345678" not in h
    assert derive_key(KEK, b"a") != derive_key(KEK, b"b") != KEK


def test_index_keys_are_the_distinct_keys_with_blind_values_in_kind_then_value_order() -> None:
    ring = _keyring("dk1")
    keys = [
        BlockingKey(kind, f"{kind}-{i % 7}")
        for i in range(60)
        for kind in ("phone", "email", "name", "site", "corpnum")
    ]
    keys += keys[:10]  # duplicates
    import mdm_hub.encryption as encryption

    before = encryption._keyring
    try:
        install_keyring(ring)
        indexed = index_keys(keys)
        install_keyring(None)
        assert index_keys([]) == []  # no keyring needed for no keys
    finally:
        install_keyring(before)
    expected = sorted({BlockingKey(k.kind, ring.blind_index(k.kind, k.value)) for k in keys})
    assert indexed == expected
    assert all(type(k) is BlockingKey for k in indexed)


def test_every_personal_part_of_a_person_is_encrypted_and_comes_back() -> None:
    ring = _keyring("dk1")
    for record in (
        PERSON_IN,
        normalize_customer(CustomerIn.model_validate(PERSON_IN)).record.model_dump(mode="json"),
    ):
        plain = json.loads(json.dumps(record, default=str))
        sealed = encrypt_record(ring, plain)
        dumped = json.dumps(sealed, ensure_ascii=False)
        for value in PERSON_VALUES:
            assert value not in dumped, value
        assert sealed["name"] == plain["name"]  # the name stays: it is the record's label
        assert sealed["addresses"][0]["city"] == "千代田区"
        assert is_encrypted(sealed["birth_date"]) and is_encrypted(sealed["phones"])
        assert encrypt_record(ring, sealed) == sealed  # idempotent
        assert decrypt_record(ring, sealed) == plain


def test_a_stored_text_is_decrypted_in_the_text_and_parsed_once() -> None:
    """The read seam (db.json_loads): each encrypted string of a JSON text replaced by its
    plain value's JSON; a tampered value fails; text that only quotes the prefix stays."""
    import mdm_hub.encryption as encryption
    from mdm_hub.encryption import install_keyring

    before, ring = encryption._keyring, _keyring("dk1")
    install_keyring(ring)
    try:
        _read_back(ring)
    finally:
        install_keyring(before)


def _read_back(ring: Keyring) -> None:
    from mdm_hub.db import json_loads
    from mdm_hub.encryption import sealed_json

    plain = json.loads(json.dumps(PERSON_IN, default=str))
    plain["note"] = 'he wrote "enc:v1:dk1:AAAA" here'
    stored = sealed_json(plain)
    assert is_encrypted(json.loads(stored)["birth_date"])
    assert json_loads(stored) == plain
    assert json_loads(json.dumps(json.loads(stored), indent=2)) == plain  # jsonb's spacing
    body = json.loads(stored)["birth_date"]
    tampered = stored.replace(body, body[:-6] + ("A" if body[-6] != "A" else "B") + body[-5:])
    with pytest.raises(EncryptionError, match="damaged"):
        json_loads(tampered)
    big = {"n": 2**70, "phones": ["090-1234-5678"]}  # beyond orjson: written as json writes
    assert json_loads(sealed_json(big)) == big
    assert ring.blind_index("phone", "+81901") == ring.blind_index("phone", "+81901")
    assert (
        ring.blind_index("phone", "+81901")
        == "h:" + hmac.new(ring.index_key, b"phone:+81901", hashlib.sha256).hexdigest()
    )


def test_a_corporation_keeps_its_own_phones_but_not_its_contacts() -> None:
    ring = _keyring("dk1")
    corp = {
        "kind": "corporation",
        "name": "株式会社ABC商事",
        "phones": [{"number": "03-1234-5678"}],
        "contacts": [
            {"name": "山田 太郎", "phones": [{"number": "090-8765-4321"}], "emails": []},
        ],
    }
    sealed = encrypt_record(ring, corp)
    assert sealed["phones"] == corp["phones"]
    assert is_encrypted(sealed["contacts"][0]["phones"])
    assert sealed["contacts"][0]["emails"] == []
    assert "8765" not in json.dumps(sealed)
    assert decrypt_record(ring, sealed) == corp


def test_reencryption_moves_every_part_to_the_active_key() -> None:
    old = _keyring("dk1")
    sealed = encrypt_record(old, PERSON_IN)
    both = keyring_from(
        KEK,
        "dk2",
        {
            "dk1": wrap_data_key(KEK, "dk1", old.keys["dk1"]),
            "dk2": wrap_data_key(KEK, "dk2", new_data_key()),
        },
    )
    again = reencrypt_record(both, sealed)
    assert {key_id_of(again[n]) for n in ("birth_date", "phones", "emails")} == {"dk2"}
    assert key_id_of(again["addresses"][0]["street"]) == "dk2"
    assert decrypt_record(both, again) == PERSON_IN


async def test_data_keys_are_stored_wrapped_made_once_and_rotated(database_url: str) -> None:
    engine = create_async_engine(sqlalchemy_url(database_url))
    try:
        # In a transaction rolled back at the end: the suite's own data keys (made by the app
        # under the suite's key, kept across tests) are out of sight here and come back after.
        async with engine.connect() as conn, conn.begin() as transaction:
            session = AsyncSession(bind=conn)
            await session.execute(text("DELETE FROM data_keys"))
            await session.execute(text("DELETE FROM index_keys"))
            first = await load_keyring(session, KEK)
            assert list(first.keys) == [first.active_id]
            # The blind-index key: stored wrapped, the one the KEK derived before (0020).
            assert first.index_key == derive_key(KEK, b"mdm-hub/blind-index/v1")
            wrapped = (await session.execute(text("SELECT wrapped_key FROM index_keys"))).scalar()
            assert wrapped is not None and first.index_key not in bytes(wrapped)
            again = await load_keyring(session, KEK)
            assert again.keys == first.keys  # made once, then read
            stored = (await session.execute(text("SELECT wrapped_key FROM data_keys"))).scalar_one()
            assert first.keys[first.active_id] not in bytes(stored)  # never in clear

            with pytest.raises(EncryptionError, match="not the key"):
                await load_keyring(session, OTHER_KEK)

            sealed = first.encrypt("090-1234-5678")
            new_id = await add_data_key(session, KEK)
            rotated = await load_keyring(session, KEK)
            assert rotated.active_id == new_id != first.active_id
            assert rotated.decrypt(sealed) == "090-1234-5678"  # the old key stays readable
            assert key_id_of(rotated.encrypt("x")) == new_id

            assert await drop_retired_keys(session, still_used={first.active_id}) == []
            assert await drop_retired_keys(session, still_used=set()) == [first.active_id]
            assert list((await load_keyring(session, KEK)).keys) == [new_id]
            await transaction.rollback()
    finally:
        await engine.dispose()
