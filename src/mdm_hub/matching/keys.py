"""Blocking keys: the values by which candidates for a record are fetched.

Every key is a ``(kind, value)`` pair built from the *normalized* record, so ordinary variants
(株式会社/(株), hiragana/katakana, +81/0, 一丁目/1丁目) already agree. The lead stores them in
``match_keys`` and takes advisory locks on them in the order :func:`blocking_keys` returns.

Two kinds are *frequency-only* (``site``, ``person_name``): they are stored so that the hub can
count how many customers share a value (for term-frequency weighting and for the household /
building checks), but they are too broad to fetch candidates by; :func:`usable_keys` drops them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from mdm_hub.normalize import fold_key
from mdm_hub.normalize.corporate_number import is_valid_corporate_number
from mdm_hub.record import CustomerKind, CustomerRecord

if TYPE_CHECKING:
    from mdm_hub.matching.config import MatchConfig


@dataclass(frozen=True, order=True, slots=True)
class BlockingKey:
    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


# The order of BlockingKey's own comparison (kind, then value), compared in C: sorting a
# batch's thousands of keys with the dataclass's __lt__ cost ~3 % of a bulk import's CPU.
key_order = attrgetter("kind", "value")


def sorted_keys(keys: Iterable[BlockingKey]) -> list[BlockingKey]:
    """``sorted(keys)``, the same order, faster."""
    return sorted(keys, key=key_order)


# Key kinds.
CORPORATE_NUMBER = "corporate_number"
PHONE = "phone"
EMAIL = "email"
NAME = "name"  # company name key alone (fetchable while the block is small)
NAME_POSTAL = "name_postal"
NAME_CITY = "name_city"
KANA_POSTAL = "kana_postal"
PERSON_NAME = "person_name"  # frequency only
PERSON_NAME_PHONE = "person_name_phone"
PERSON_NAME_BIRTH = "person_name_birth"
PERSON_NAME_ADDRESS = "person_name_address"
SITE = "site"  # address without building; frequency only
# A corporation's site alone: the name written so differently that no name key is shared
# (another script, a typo in the first characters) still meets the records of its address.
# Only with a street number (a town alone is no site); a building of many tenants makes a
# large block, which usable_keys then drops.
CORPORATION_SITE = "corporation_site"
# Persons whose full name differs (a typo, a changed surname, 髙/高 without フリガナ) still meet
# on one part of the name plus birth date or home, or on birth date plus home.
FAMILY_BIRTH = "family_birth"
GIVEN_BIRTH = "given_birth"
BIRTH_SITE = "birth_site"
FAMILY_SITE = "family_site"
GIVEN_SITE = "given_site"
# 姓 and 名 in either order (one source swapped them), with the birth date.
NAME_PARTS_BIRTH = "name_parts_birth"
# Either part of the name, in whichever place it was written, with the birth date: one source
# swapped 姓 and 名 and the other part differs too (a typo, a replaced name). Holds what
# family_birth and given_birth hold, and their crossings.
ANY_PART_BIRTH = "any_part_birth"
# Birth date and the area (市区町村) alone: the street written differently, or a move within it.
BIRTH_CITY = "birth_city"
# An identifier custom field declared in the weights file (``custom_field|value``).
IDENTIFIER = "identifier"
# The same identifier with one character left out, once per position, and the value itself
# (``custom_field|value``): two values one typing error apart (a digit changed, added, dropped,
# or two neighbours swapped) share one of these, so a mistyped member number still finds its
# record when the name, the address and the birth date were written differently too.
IDENTIFIER_NEAR = "identifier_near"
# Values shorter than this make no near keys: one error in three characters is another value.
IDENTIFIER_NEAR_MIN_LENGTH = 4

FREQUENCY_ONLY_KINDS = frozenset({PERSON_NAME, SITE})


def blocking_keys(record: CustomerRecord, config: MatchConfig | None = None) -> list[BlockingKey]:
    """All keys of a normalized record, sorted and without duplicates.

    With ``config``, the identifier custom fields it declares (``config.identifier_fields``)
    are keys too: a member number or another system's id finds its record whatever else the
    sources wrote differently.
    """
    keys: set[BlockingKey] = set()
    add = keys.add
    is_person = record.kind == CustomerKind.person

    if config is not None:
        _add_identifier_keys(record, config.identifier_fields, add)

    # A 法人番号 whose check digit fails is kept on the record (a quality finding) but never
    # brings two companies together.
    if record.corporate_number and is_valid_corporate_number(record.corporate_number):
        add(BlockingKey(CORPORATE_NUMBER, record.corporate_number))
    for phone in record.phones:
        if phone.e164:
            add(BlockingKey(PHONE, phone.e164))
    for email in record.emails:
        if email.address:
            add(BlockingKey(EMAIL, email.address))

    name_key = _name_key(record)
    kana = record.kana_key or None
    if name_key:
        add(BlockingKey(PERSON_NAME if is_person else NAME, name_key))
    for address in record.addresses:
        if address.site_key:
            add(BlockingKey(SITE, address.site_key))
            if not is_person and address.street:  # a town alone is no site
                add(BlockingKey(CORPORATION_SITE, address.site_key))
        if address.postal_code:
            if name_key:
                add(BlockingKey(NAME_POSTAL, f"{name_key}|{address.postal_code}"))
            if kana:
                add(BlockingKey(KANA_POSTAL, f"{kana}|{address.postal_code}"))
        if name_key and address.city:
            add(BlockingKey(NAME_CITY, f"{name_key}|{address.prefecture or ''}{address.city}"))
        if is_person and name_key and address.site_key:
            add(BlockingKey(PERSON_NAME_ADDRESS, f"{name_key}|{address.site_key}"))

    if is_person:
        _add_person_part_keys(record, add)

    if is_person and name_key:
        for phone in record.phones:
            if phone.e164:
                add(BlockingKey(PERSON_NAME_PHONE, f"{name_key}|{phone.e164}"))
        if record.birth_date:
            add(BlockingKey(PERSON_NAME_BIRTH, f"{name_key}|{record.birth_date.isoformat()}"))
    return sorted_keys(keys)


def _add_person_part_keys(record: CustomerRecord, add: Callable[[BlockingKey], None]) -> None:
    person = record.person_name
    family = fold_key(person.family_name) if person and person.family_name else ""
    given = fold_key(person.given_name) if person and person.given_name else ""
    birth = record.birth_date.isoformat() if record.birth_date else ""
    sites = [a.site_key for a in record.addresses if a.site_key]
    if birth:
        if family:
            add(BlockingKey(FAMILY_BIRTH, f"{family}|{birth}"))
        if given:
            add(BlockingKey(GIVEN_BIRTH, f"{given}|{birth}"))
        for part in {family, given} - {""}:
            add(BlockingKey(ANY_PART_BIRTH, f"{part}|{birth}"))
        if family and given:
            first, second = sorted((family, given))
            add(BlockingKey(NAME_PARTS_BIRTH, f"{first}|{second}|{birth}"))
        for address in record.addresses:
            if address.city:
                area = f"{address.prefecture or ''}{address.city}"
                add(BlockingKey(BIRTH_CITY, f"{birth}|{area}"))
    for site in sites:
        if birth:
            add(BlockingKey(BIRTH_SITE, f"{birth}|{site}"))
        if family:
            add(BlockingKey(FAMILY_SITE, f"{family}|{site}"))
        if given:
            add(BlockingKey(GIVEN_SITE, f"{given}|{site}"))


def identifier_value(value: Any) -> str | None:
    """An identifier as compared and indexed: no spaces or hyphens, case folded.

    ``"AB-123 45"`` and ``"ab12345"`` are one member number. Booleans and empty values are not
    identifiers.
    """
    if value is None or isinstance(value, bool):
        return None
    text = unicodedata.normalize("NFKC", str(value))
    text = "".join(text.split()).replace("-", "").casefold()
    return text or None


def identifier_key_value(custom_field: str, value: str) -> str:
    return f"{custom_field}|{value}"


def _add_identifier_keys(
    record: CustomerRecord, fields: Collection[str], add: Callable[[BlockingKey], None]
) -> None:
    if not fields or not record.custom_fields:
        return
    for field in fields:
        value = identifier_value(record.custom_fields.get(field))
        if value:
            add(BlockingKey(IDENTIFIER, identifier_key_value(field, value)))
            if len(value) >= IDENTIFIER_NEAR_MIN_LENGTH:
                # The value itself too: a value with a character dropped meets it.
                add(BlockingKey(IDENTIFIER_NEAR, identifier_key_value(field, value)))
                for i in range(len(value)):
                    near = value[:i] + value[i + 1 :]
                    add(BlockingKey(IDENTIFIER_NEAR, identifier_key_value(field, near)))


def usable_keys(
    keys: Iterable[BlockingKey],
    frequencies: Mapping[BlockingKey, int] | None,
    max_block_size: int,
) -> list[BlockingKey]:
    """The keys fit to fetch candidates by (and to lock on), sorted.

    Drops frequency-only kinds and every key already shared by more than ``max_block_size``
    customers (a 代表番号 used by 30 branches, ``info@`` of a group, a very common name): such a
    key would flood the candidates, and the record's other keys still find its duplicates.
    A key missing from ``frequencies`` counts as new (0).
    """
    freq = frequencies or {}
    return sorted_keys(
        {k for k in keys if k.kind not in FREQUENCY_ONLY_KINDS and freq.get(k, 0) <= max_block_size}
    )


def _name_key(record: CustomerRecord) -> str | None:
    if record.kind == CustomerKind.person:
        return record.person_name.key if record.person_name and record.person_name.key else None
    return record.company_name.key if record.company_name and record.company_name.key else None


def frequency_key_for_name(record: CustomerRecord) -> BlockingKey | None:
    """The key whose frequency tells how common this record's name is."""
    name_key = _name_key(record)
    if not name_key:
        return None
    return BlockingKey(PERSON_NAME if record.kind == CustomerKind.person else NAME, name_key)
