"""The single-source shortcuts of survivorship give byte for byte what the general path gives.

``survivorship.only_source`` (a customer with one source record and no steward edit) against
the general ranking (``survivorship._combine``), and ``golden.golden_columns_of(..., only=)``
(no validation and dump of a golden record equal to its one source's) against the full
round trip, on varied records: empty strings and empty objects, lists with repeated items,
custom fields with empty values, unusual keys, old stored records missing fields.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdm_hub.custom_fields.service import Configuration
from mdm_hub.customers import survivorship
from mdm_hub.customers.golden import golden_columns, golden_columns_of
from mdm_hub.customers.survivorship import SourceView, SurvivorshipRules, only_source
from mdm_hub.encryption import Keyring, install_keyring, keyring_installed
from mdm_hub.record import CustomerRecord
from mdm_hub.settings import Settings

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _bytes(value: Any) -> str:
    """The exact text (key order included) a document is written as."""
    return json.dumps(value, ensure_ascii=False)


_text = st.sampled_from(["", "A", "株式会社ABC", "ｶﾅ", "1-2-3"]) | st.none()
_address = st.fixed_dictionaries(
    {
        "purpose": st.sampled_from(["head_office", "shipping", "billing"]),
        "postal_code": _text,
        "prefecture": _text,
        "city": _text,
        "town": _text,
        "street": _text,
        "building": _text,
        "site_key": _text,
    }
)
_phone = st.fixed_dictionaries(
    {
        "number": st.sampled_from(["03-1234-5678", "090-1111-2222"]),
        "e164": st.sampled_from(["+81312345678", "+819011112222"]),
        "line_type": st.sampled_from(["fixed_line", "mobile", "other"]),
        "purpose": st.sampled_from(["main", "fax", "mobile"]),
        "extension": st.sampled_from(["12"]) | st.none(),
    }
)
_email = st.fixed_dictionaries(
    {
        "address": st.sampled_from(["a@example.jp", "b@example.jp"]),
        "purpose": st.sampled_from(["main", "billing"]),
    }
)
_contact = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["佐藤", "鈴木"]),
        "name_kana": _text,
        "department": st.sampled_from(["営業部"]) | st.none(),
        "title": _text,
        "phones": st.lists(_phone, max_size=2),
        "emails": st.lists(_email, max_size=2),
    }
)
_billing = st.fixed_dictionaries(
    {
        "bill_to_customer_code": _text,
        "closing_day": st.sampled_from([20, "end_of_month"]) | st.none(),
        "payment_method": _text,
        "payment_month_offset": st.sampled_from([0, 1]) | st.none(),
        "payment_day": st.sampled_from([10, "end_of_month"]) | st.none(),
    }
)
_transactions = st.fixed_dictionaries(
    {
        "started_on": st.sampled_from(["2020-04-01"]) | st.none(),
        "last_transaction_on": st.sampled_from(["2024-03-31"]) | st.none(),
        "annual_amount": st.sampled_from([0, 1200000]) | st.none(),
        "category": _text,
    }
)
_classification = st.fixed_dictionaries(
    {"industry": _text, "region": _text, "rank": _text, "segment": _text}
)
_custom = st.dictionaries(
    st.sampled_from(["tier", "owner", "score"]),
    st.sampled_from(["", "gold", 3, [], {}]) | st.none(),
)


@st.composite
def _records(draw: st.DrawFn) -> dict[str, Any]:
    """A stored record as a model dump (every field, in the model's order) with values a
    normalizer may leave empty."""
    kind = draw(st.sampled_from(["corporation", "person"]))
    company = draw(
        st.none()
        | st.fixed_dictionaries(
            {
                "legal_form": st.sampled_from(["株式会社"]) | st.none(),
                "legal_form_position": st.sampled_from(["prefix", "suffix"]) | st.none(),
                "body": st.sampled_from(["ABC商事", ""]),
                "branch": _text,
                "note": _text,
                "key": st.sampled_from(["ABC商事", ""]),
            }
        )
    )
    person = draw(
        st.none()
        | st.fixed_dictionaries(
            {
                "family_name": _text,
                "given_name": _text,
                "family_name_kana": _text,
                "given_name_kana": _text,
                "key": st.sampled_from(["ヤマダタロウ", ""]),
            }
        )
    )
    record = {
        "kind": kind,
        "name": draw(st.sampled_from(["株式会社ABC商事", "山田 太郎"])),
        "name_kana": draw(_text),
        "company_name": company,
        "person_name": person,
        "kana_key": draw(_text),
        "corporate_number": draw(st.sampled_from(["7000012050002", ""]) | st.none()),
        "invoice_registration_number": draw(st.sampled_from(["T7000012050002"]) | st.none()),
        "birth_date": draw(st.sampled_from(["1980-01-02"]) | st.none()),
        "addresses": draw(st.lists(_address, max_size=3)),
        "phones": draw(st.lists(_phone, max_size=3)),
        "emails": draw(st.lists(_email, max_size=3)),
        "contacts": draw(st.lists(_contact, max_size=2)),
        "billing": draw(st.none() | _billing),
        "transactions": draw(st.none() | _transactions),
        "classification": draw(st.none() | _classification),
        "company_profile": draw(
            st.none()
            | st.fixed_dictionaries(
                {
                    "employees": st.sampled_from([10]) | st.none(),
                    "capital": st.none(),
                    "established_on": st.sampled_from(["1999-09-09"]) | st.none(),
                }
            )
        ),
        "relations": None,
        "custom_fields": draw(_custom),
    }
    return record


def _general(source: SourceView) -> survivorship.GoldenRecord:
    return survivorship._combine([source], {}, SurvivorshipRules())


@settings(max_examples=300, deadline=None)
@given(
    record=_records(),
    rules=st.dictionaries(
        st.sampled_from(["/", "/name", "/billing", "/phones"]),
        st.lists(st.sampled_from(["crm", "sfa"]), unique=True, max_size=2),
    ),
)
def test_only_source_is_the_general_survivorship_byte_for_byte(
    record: dict[str, Any], rules: dict[str, list[str]]
) -> None:
    source = SourceView("crm", "C-1", T0, record)
    fast = only_source(source)
    full = survivorship._combine([source], {}, SurvivorshipRules(rules))
    assert _bytes(fast.record) == _bytes(full.record)
    assert _bytes(fast.lineage) == _bytes(full.lineage)
    # compute_golden takes the shortcut for one source and no override
    assert _bytes(survivorship.compute_golden([source], {}).record) == _bytes(full.record)


@pytest.mark.parametrize(
    "record",
    [
        {"name": "A社"},  # an old stored record, most fields missing
        {"name": "", "kind": "corporation", "name_kana": ""},  # empty base fields
        {"name": "A", "billing": {"a/b": 1, "closing_day": 20}},  # a leaf naming a path
        {"name": "A", "billing": {"": 1}},
        {"name": "A", "custom_fields": {"x/y": "v", "z": "w"}},
        {"name": "A", "custom_fields": None, "billing": [], "classification": "x"},
        {"name": "A", "phones": None, "emails": [], "contacts": None},
        {"name": "A", "phones": [{"e164": "+1"}, {"e164": "+1"}, {"e164": "+1", "extension": "2"}]},
        {"name": "A", "transactions": {"started_on": None, "category": ""}},
    ],
)
def test_only_source_on_unusual_records(record: dict[str, Any]) -> None:
    source = SourceView("crm", "C-1", T0, record)
    fast, full = only_source(source), _general(source)
    assert _bytes(fast.record) == _bytes(full.record)
    assert _bytes(fast.lineage) == _bytes(full.lineage)


@contextmanager
def _keyring() -> Iterator[None]:
    """Blind indexes (the lookup columns) need a keyring; one for this test alone."""
    if keyring_installed():
        yield
        return
    install_keyring(Keyring("t", {"t": os.urandom(32)}, os.urandom(32)))
    try:
        yield
    finally:
        install_keyring(None)


@settings(max_examples=200, deadline=None)
@given(record=_records())
def test_golden_columns_of_one_source_skip_the_round_trip_byte_for_byte(
    record: dict[str, Any],
) -> None:
    validated = CustomerRecord.model_validate(record)
    _assert_shortcut_is_byte_for_byte(validated)


def test_golden_columns_of_one_source_keeps_survivorships_custom_field_order() -> None:
    """Custom fields written out of order: survivorship sorts their keys, so the shortcut must
    not hand back the source's order (dict equality alone would let it)."""
    validated = CustomerRecord.model_validate(
        {"kind": "corporation", "name": "A", "custom_fields": {"tier": "gold", "owner": "x"}}
    )
    _assert_shortcut_is_byte_for_byte(validated)


def _assert_shortcut_is_byte_for_byte(validated: CustomerRecord) -> None:
    """golden_columns_of with the one source's validated record gives the full path's bytes."""
    dumped = validated.model_dump(mode="json")  # what the write path stores and passes
    sources = [SourceView("crm", "C-1", T0, dumped)]
    config = Configuration(fingerprint="x", definitions=(), rank_rules=())
    app_settings = Settings(database_url="postgresql://unused/unused")
    with _keyring():
        fast = golden_columns_of(app_settings, sources, config, only=validated)
        golden = survivorship._combine(sources, {}, SurvivorshipRules())
        full = golden_columns(CustomerRecord.model_validate(golden.record), golden.lineage)
    assert _bytes(fast) == _bytes(full)


def _ranked_by_whole_key(
    sources: list[SourceView], pointer: str, rules: SurvivorshipRules
) -> list[SourceView]:
    """The ranking as the rules state it: one sort by the whole key."""
    with_value = [
        s for s in sources if not survivorship.is_empty(survivorship._get(s.record, pointer))
    ]
    return sorted(
        with_value,
        key=lambda s: (
            rules.priority(pointer, s.system),
            -s.recency,
            -s.completeness,
            s.system,
            s.source_id,
        ),
    )


_POINTERS = [
    "/kind", "/name", "/name_kana", "/corporate_number", "/birth_date", "/addresses",
    "/phones", "/emails", "/contacts", "/billing/closing_day", "/billing/payment_day",
    "/transactions/category", "/custom_fields/tier", "/custom_fields/score", "/",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    sources=st.lists(
        st.tuples(
            st.sampled_from(["crm", "sfa", "billing"]),
            st.sampled_from(["A-1", "A-2", "B-1"]),
            st.integers(min_value=0, max_value=2),  # hours after T0: ties are common
            _records(),
        ),
        min_size=1,
        max_size=5,
    ),
    rules=st.dictionaries(
        st.sampled_from(["/", "/name", "/billing", "/phones", "/custom_fields"]),
        st.lists(st.sampled_from(["crm", "sfa", "billing"]), unique=True, max_size=3),
    ),
)
def test_the_ranking_sorted_once_is_the_sort_by_the_whole_key(
    sources: list[tuple[str, str, int, dict[str, Any]]], rules: dict[str, list[str]]
) -> None:
    """``_combine`` ranks the sources once for all pointers and then per pointer by priority
    only: the same order, ties included, as one sort by the whole key (recency, completeness,
    system and source id tie often here)."""
    views = [
        SourceView(system, source_id, T0 + dt.timedelta(hours=h), record)
        for system, source_id, h, record in sources
    ]
    survivorship_rules = SurvivorshipRules(rules)
    for pointer in _POINTERS:
        expected = _ranked_by_whole_key(views, pointer, survivorship_rules)
        found = survivorship._ranked(views, pointer, survivorship_rules)
        assert [id(s) for s in found] == [id(s) for s in expected], pointer
