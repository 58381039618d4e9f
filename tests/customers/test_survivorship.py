"""Survivorship (customers/survivorship.py) on its own: each rule, and order independence."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mdm_hub.auth.dev_issuer import DevIssuer
from mdm_hub.customers.survivorship import (
    SourceView,
    SurvivorshipRules,
    compute_golden,
    is_empty,
)
from mdm_hub.settings import Settings
from tests.conftest import app_client
from tests.helpers import CORPORATION, corporation

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def view(system: str, record: dict[str, Any], *, minutes: int = 0, sid: str = "1") -> SourceView:
    return SourceView(system, sid, T0 + dt.timedelta(minutes=minutes), record)


def test_the_most_recent_source_wins_without_rules() -> None:
    golden = compute_golden(
        [view("crm", {"name": "旧"}, minutes=0), view("sfa", {"name": "新"}, minutes=5)]
    )
    assert golden.record["name"] == "新"
    assert golden.lineage["/name"] == {"system": "sfa", "source_id": "1", "rule": "most_recent"}


def test_only_source_and_missing_fields() -> None:
    golden = compute_golden([view("crm", {"name": "A社", "birth_date": None})])
    assert golden.lineage["/name"]["rule"] == "only_source"
    assert golden.record["birth_date"] is None and "/birth_date" not in golden.lineage
    assert golden.record["addresses"] == [] and golden.record["billing"] is None
    assert golden.record["custom_fields"] == {}


def test_source_priority_beats_recency_and_the_longest_prefix_applies() -> None:
    rules = SurvivorshipRules({"/": ["sfa"], "/billing": ["billing", "crm"]})
    sources = [
        view(
            "crm", {"name": "CRM", "billing": {"payment_day": 10, "closing_day": "20"}}, minutes=9
        ),
        view("sfa", {"name": "SFA", "billing": {"payment_day": 25}}, minutes=1),
        view("billing", {"name": "BIL", "billing": {"payment_day": 31}}, minutes=0),
    ]
    golden = compute_golden(sources, rules=rules)
    # "/" puts sfa first for the name, although crm is newer
    assert golden.record["name"] == "SFA"
    assert golden.lineage["/name"]["rule"] == "source_priority"
    # "/billing" is longer than "/": billing first, then crm, then the unlisted sfa
    assert golden.record["billing"] == {"payment_day": 31, "closing_day": "20"}
    assert golden.lineage["/billing/payment_day"]["system"] == "billing"
    # only crm has closing_day: priority does not invent a value
    assert golden.lineage["/billing/closing_day"] == {
        "system": "crm",
        "source_id": "1",
        "rule": "only_source",
    }


def test_a_prefix_matches_whole_segments_only() -> None:
    rules = SurvivorshipRules({"/name": ["crm"]})
    assert rules.priority("/name", "crm") == 0
    assert rules.priority("/name", "sfa") == 1  # unlisted: after every listed system
    assert rules.priority("/name_kana", "sfa") == 0  # "/name" is not a prefix of /name_kana
    assert rules.priority("/name/x", "crm") == 0


def test_completeness_breaks_a_tie_of_recency() -> None:
    sparse = view("crm", {"name": "疎"}, minutes=3)
    full = view("sfa", {"name": "密", "name_kana": "ミツ", "birth_date": "1980-01-01"}, minutes=3)
    golden = compute_golden([sparse, full])
    assert golden.record["name"] == "密"
    # the lineage names the step that decided, not recency (a tie here)
    assert golden.lineage["/name"]["rule"] == "most_complete"
    twin = view("erp", {"name": "双", "name_kana": "ソウ", "birth_date": "1980-01-01"}, minutes=3)
    tied = compute_golden([full, twin])
    assert tied.record["name"] == "双"  # erp before sfa
    assert tied.lineage["/name"] == {"system": "erp", "source_id": "1", "rule": "source_order"}


def test_derived_fields_follow_the_source_that_won_the_base_field() -> None:
    a = view("crm", {"name": "A", "company_name": {"body": "A"}}, minutes=1)
    b = view("sfa", {"name": "B", "company_name": {"body": "B"}, "person_name": None}, minutes=2)
    golden = compute_golden([a, b], rules=SurvivorshipRules({"/name": ["crm"]}))
    assert (golden.record["name"], golden.record["company_name"]) == ("A", {"body": "A"})


def test_a_steward_override_wins_even_when_it_empties_the_field() -> None:
    sources = [
        view("crm", {"name": "A", "classification": {"rank": "B"}, "phones": [{"e164": "1"}]})
    ]
    golden = compute_golden(
        sources, {"/classification/rank": None, "/name": "Z", "/phones": [], "/custom_fields/x": 1}
    )
    assert golden.record["name"] == "Z" and golden.record["phones"] == []
    assert golden.record["classification"] is None  # its only leaf was emptied
    assert golden.record["custom_fields"] == {"x": 1}
    for pointer in ("/name", "/phones", "/classification/rank", "/custom_fields/x"):
        assert golden.lineage[pointer]["rule"] == "steward_override"


def test_lists_are_the_union_in_rank_order_without_repeats() -> None:
    crm = view(
        "crm",
        {"phones": [{"e164": "+81311112222"}, {"e164": "+81333334444", "extension": "12"}]},
        minutes=1,
    )
    sfa = view(
        "sfa",
        {"phones": [{"e164": "+81311112222", "purpose": "main"}, {"e164": "+81355556666"}]},
        minutes=2,
    )
    golden = compute_golden([crm, sfa])
    assert golden.record["phones"] == [
        {"e164": "+81311112222", "purpose": "main"},  # sfa is newer: its copy is kept
        {"e164": "+81355556666"},
        {"e164": "+81333334444", "extension": "12"},
    ]
    assert golden.lineage["/phones"] == {
        "rule": "union",
        "sources": [{"system": "sfa", "source_id": "1"}, {"system": "crm", "source_id": "1"}],
    }


def test_custom_fields_are_chosen_per_key() -> None:
    rules = SurvivorshipRules({"/custom_fields/tier": ["crm"]})
    crm = view("crm", {"custom_fields": {"tier": "gold", "owner": "佐藤"}}, minutes=1)
    sfa = view("sfa", {"custom_fields": {"tier": "silver", "owner": "鈴木", "x": ""}}, minutes=2)
    golden = compute_golden([crm, sfa], rules=rules)
    assert golden.record["custom_fields"] == {"tier": "gold", "owner": "鈴木"}
    assert golden.lineage["/custom_fields/tier"]["rule"] == "source_priority"


@pytest.mark.parametrize("value", [None, "", [], {}])
def test_empty_values(value: Any) -> None:
    assert is_empty(value)


# --- order independence --------------------------------------------------------------------

_SYSTEMS = ["crm", "sfa", "billing", "erp"]
_values = st.sampled_from(["A", "B", "C"]) | st.none()
_phone = st.fixed_dictionaries(
    {"e164": st.sampled_from(["+1", "+2", "+3"])},
    optional={"purpose": st.sampled_from(["main", "fax"]), "extension": st.sampled_from(["1"])},
)
_record = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["corporation", "person"]),
        "name": _values,
        "company_name": _values,
        "name_kana": _values,
        "birth_date": _values,
        "phones": st.lists(_phone, max_size=3),
        "emails": st.lists(st.fixed_dictionaries({"address": _values}), max_size=2),
        "billing": st.dictionaries(st.sampled_from(["closing_day", "payment_day"]), _values),
        "classification": st.dictionaries(st.sampled_from(["rank", "region"]), _values),
        "custom_fields": st.dictionaries(st.sampled_from(["tier", "owner"]), _values),
    },
)


@st.composite
def _sources(draw: st.DrawFn) -> list[SourceView]:
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(_SYSTEMS), st.sampled_from(["1", "2"])),
            min_size=1,
            max_size=5,
            unique=True,
        )
    )
    return [
        view(system, draw(_record), minutes=draw(st.integers(0, 2)), sid=sid)
        for system, sid in keys
    ]


_rules = st.dictionaries(
    st.sampled_from(
        ["/", "/name", "/billing", "/billing/payment_day", "/phones", "/custom_fields"]
    ),
    st.lists(st.sampled_from(_SYSTEMS), unique=True, max_size=3),
).map(SurvivorshipRules)
_overrides = st.dictionaries(
    st.sampled_from(["/name", "/billing/closing_day", "/custom_fields/tier", "/phones"]),
    st.none() | st.just("S"),
)


@given(_sources(), _rules, _overrides, st.randoms(use_true_random=False))
def test_the_golden_record_does_not_depend_on_the_order_of_the_sources(
    sources: list[SourceView], rules: SurvivorshipRules, overrides: dict[str, Any], rnd: Any
) -> None:
    if overrides.get("/phones") is not None:
        overrides["/phones"] = [{"e164": "+9"}]
    expected = compute_golden(sources, overrides, rules)
    shuffled = list(sources)
    rnd.shuffle(shuffled)
    got = compute_golden(shuffled, overrides, rules)
    assert got.record == expected.record
    assert got.lineage == expected.lineage
    # and the result does not depend on the sources' insertion order of keys either
    assert list(got.record) == list(expected.record)


# --- through the API, with the setting ------------------------------------------------------

ERP_NAME = "株式会社エービーシー商事"


async def _two_sources(client: httpx.AsyncClient) -> dict[str, Any]:
    """erp's record first, then crm's (newer) with another name and billing, same company."""
    erp = corporation(name=ERP_NAME, billing={"payment_day": 10})
    first = await client.put("/v1/sources/erp/records/E-1", json=erp)
    assert first.status_code == 201, first.text
    second = await client.put("/v1/sources/crm/records/C-1", json=corporation())
    assert second.status_code == 201, second.text
    assert second.json()["decision"]["outcome"] == "merged"
    customer_id = second.json()["customer"]["id"]
    response = await client.get(f"/v1/customers/{customer_id}")
    assert response.status_code == 200
    return dict(response.json())


async def test_without_source_priority_the_newer_source_wins(client: httpx.AsyncClient) -> None:
    customer = await _two_sources(client)
    assert customer["name"] == CORPORATION["name"]
    assert customer["lineage"]["/name"]["rule"] == "most_recent"
    assert customer["billing"]["payment_day"] == CORPORATION["billing"]["payment_day"]


async def test_survivorship_source_priority_setting(
    database_url: str, test_issuer: DevIssuer
) -> None:
    settings = Settings(
        database_url=database_url,
        survivorship_source_priority={"/name": ["erp", "crm"], "/billing/payment_day": ["erp"]},
    )
    async with app_client(settings, test_issuer) as client:
        customer = await _two_sources(client)
        assert customer["name"] == ERP_NAME
        assert "エービーシー" in customer["company_name"]["body"]  # follows the name
        assert customer["lineage"]["/name"] == {
            "system": "erp",
            "source_id": "E-1",
            "rule": "source_priority",
            "sources": None,
        }
        assert customer["billing"]["payment_day"] == 10
        assert customer["lineage"]["/billing/payment_day"]["rule"] == "source_priority"
        # fields the setting does not name still go to the newest source
        assert customer["billing"]["closing_day"] == CORPORATION["billing"]["closing_day"]
        assert customer["lineage"]["/billing/closing_day"]["system"] == "crm"
        # a later crm update does not take the name either
        renamed = corporation(name="株式会社ABC商事ホールディングス")
        again = await client.put("/v1/sources/crm/records/C-1", json=renamed)
        assert again.status_code == 200, again.text
        assert again.json()["customer"]["name"] == ERP_NAME
