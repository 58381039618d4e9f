"""Properties of matching: score_pair is symmetric; merge → unmerge restores the customers.

The records are real payloads (pools of the variants sources send) through the real
normalizer, so the pairs cover the comparators' levels, hard rules and term frequencies.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdm_hub.matching.config import load_config
from mdm_hub.matching.keys import blocking_keys
from mdm_hub.matching.scoring import score_pair
from mdm_hub.normalize import normalize_customer
from mdm_hub.record import CustomerIn, CustomerRecord
from tests.helpers import other_corporation

CONFIG = load_config()

_CORPORATE_NAMES = [
    "株式会社ABC商事",
    "ＡＢＣ商事㈱",
    "(株)ABC商事 大阪支店",
    "ABC商事株式会社 東京本社",
    "エービーシー商事株式会社",
    "有限会社山田製作所",
    "山田製作所",
]
_FAMILY = ["山田", "山本", "ヤマダ", None]
_GIVEN = ["太郎", "太朗", "花子", None]
_ADDRESSES = [
    {"postal_code": "100-0005", "street": "一丁目2番3号"},
    {
        "postal_code": "1000005",
        "city": "千代田区",
        "town": "丸の内",
        "street": "1-2-3 丸の内ビル5F",
    },
    {"postal_code": "100-0005", "street": "1-2-4"},
    {"postal_code": "530-0001", "prefecture": "大阪府", "city": "大阪市北区", "street": "2-4-9"},
    {"prefecture": "東京都", "city": "千代田区", "town": "丸の内"},
]
_PHONES = ["03-1234-5678", "+81 3 1234 5678", "06-6000-1000", "090-1234-5678"]
_EMAILS = ["info@abc-shoji.example.jp", "taro@example.jp", "Taro@Example.jp"]
_NUMBERS = ["7000012050002", "2021001052596"]
_DATES = ["1980-05-05", "昭和55年5月5日", "1980-05-06"]


@st.composite
def _payload(draw: st.DrawFn) -> dict[str, Any]:
    some = st.lists(st.sampled_from(_PHONES), max_size=2, unique=True)
    payload: dict[str, Any] = {
        "addresses": draw(st.lists(st.sampled_from(_ADDRESSES), max_size=2)),
        "phones": [{"number": n} for n in draw(some)],
        "emails": [
            {"address": e}
            for e in draw(st.lists(st.sampled_from(_EMAILS), max_size=2, unique_by=str.lower))
        ],
    }
    if draw(st.booleans()):
        payload |= {"kind": "corporation", "name": draw(st.sampled_from(_CORPORATE_NAMES))}
        payload["corporate_number"] = draw(st.sampled_from([None, *_NUMBERS]))
        payload["name_kana"] = draw(st.sampled_from([None, "エービーシーショウジ", "ｴｰﾋﾞｰｼｰ"]))
    else:
        family = draw(st.sampled_from(_FAMILY)) or "山田"
        payload |= {
            "kind": "person",
            "person_name": {"family_name": family, "given_name": draw(st.sampled_from(_GIVEN))},
            "birth_date": draw(st.sampled_from([None, *_DATES])),
        }
    return payload


def _record(payload: dict[str, Any]) -> CustomerRecord:
    return normalize_customer(CustomerIn.model_validate(payload)).record


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_payload(), _payload(), st.data())
def test_score_pair_is_symmetric(
    first: dict[str, Any], second: dict[str, Any], data: st.DataObject
) -> None:
    a, b = _record(first), _record(second)
    keys = sorted(set(blocking_keys(a, CONFIG)) | set(blocking_keys(b, CONFIG)))
    frequencies = {key: data.draw(st.integers(1, 500), label=str(key)) for key in keys}
    for tf in (None, frequencies):
        ab = score_pair(a, b, config=CONFIG, key_frequencies=tf)
        ba = score_pair(b, a, config=CONFIG, key_frequencies=tf)
        assert ab.match_weight == pytest.approx(ba.match_weight, abs=1e-9)
        assert ab.probability == pytest.approx(ba.probability, abs=1e-12)
        assert ab.hard_rule == ba.hard_rule
        assert [(c.field, c.level) for c in ab.comparisons] == [
            (c.field, c.level) for c in ba.comparisons
        ]
        for x, y in zip(ab.comparisons, ba.comparisons, strict=True):
            assert x.weight == pytest.approx(y.weight, abs=1e-9), x.field


# --- merge → unmerge through the API -------------------------------------------------------

_counter = itertools.count(100)
_SYSTEMS = ["crm", "sfa", "billing"]
_EDITS = [
    None,
    {"classification": {"rank": "S"}},
    {"name": "株式会社スチュワード修正"},
    {"billing": {"payment_day": 5}, "phones": []},
]


async def _customer_state(client: httpx.AsyncClient, customer_id: str) -> dict[str, Any]:
    """The customer (golden record, lineage, status) and its crosswalk, as the API shows them."""
    customer = (await client.get(f"/v1/customers/{customer_id}")).json()
    sources = (await client.get(f"/v1/customers/{customer_id}/sources")).json()
    customer.pop("version")
    customer.pop("updated_at")
    crosswalk = sorted(sources, key=lambda s: (s["system"], s["source_id"]))
    resolved = {}
    for s in sources:
        if s["system"].startswith("_"):  # the steward's edits: not a source system's record
            continue
        one = await client.get(f"/v1/sources/{s['system']}/records/{s['source_id']}")
        assert one.status_code == 200, one.text
        resolved[s["system"], s["source_id"]] = one.json()["customer_id"]
    return {"customer": customer, "crosswalk": crosswalk, "resolved": resolved}


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    shapes=st.lists(st.tuples(st.integers(1, 2), st.sampled_from(_EDITS)), min_size=2, max_size=3),
    survivor=st.integers(0, 2),
    order=st.randoms(use_true_random=False),
)
async def test_merge_then_unmerge_restores_every_customer(
    client: httpx.AsyncClient,
    shapes: list[tuple[int, dict[str, Any] | None]],
    survivor: int,
    order: Any,
) -> None:
    """Customers of one or two source records (each record a company of its own, so nothing
    merges on write), some with a steward's edit; all merged into one, then each absorbed
    customer's records unmerged in a random order: every customer, its golden record, lineage,
    status and crosswalk, is as before."""
    customers: list[tuple[str, list[tuple[str, str]]]] = []
    for n_sources, edit in shapes:
        i = next(_counter)
        records = []
        customer_id = ""
        for k in range(n_sources):
            system, source_id = _SYSTEMS[k], f"P{i}"
            payload = other_corporation(i)
            if k:  # the same company as another system sends it: merges on write
                payload["name"] = payload["name"].replace("株式会社", "(株)")
            put = await client.put(f"/v1/sources/{system}/records/{source_id}", json=payload)
            assert put.status_code == 201, put.text
            if k:
                assert put.json()["customer"]["id"] == customer_id, "joined on write"
            customer_id = put.json()["customer"]["id"]
            records.append((system, source_id))
        if edit is not None:
            version = (await client.get(f"/v1/customers/{customer_id}")).json()["version"]
            patched = await client.patch(
                f"/v1/customers/{customer_id}", json=edit, headers={"If-Match": f'"{version}"'}
            )
            assert patched.status_code == 200, patched.text
        customers.append((customer_id, records))

    before = {cid: await _customer_state(client, cid) for cid, _ in customers}
    keep = customers[survivor % len(customers)][0]
    absorbed = [(cid, records) for cid, records in customers if cid != keep]
    merged = await client.post(
        f"/v1/customers/{keep}/merge", json={"customer_ids": [cid for cid, _ in absorbed]}
    )
    assert merged.status_code == 200, merged.text
    for cid, _ in absorbed:
        gone = (await client.get(f"/v1/customers/{cid}")).json()
        assert (gone["status"], gone["merged_into_id"]) == ("merged", keep)

    order.shuffle(absorbed)
    for cid, records in absorbed:
        unmerged = await client.post(
            f"/v1/customers/{keep}/unmerge",
            json={"source_records": [{"system": s, "source_id": i} for s, i in records]},
        )
        assert unmerged.status_code == 200, unmerged.text
        assert unmerged.json()["target"]["id"] == cid

    after = {cid: await _customer_state(client, cid) for cid, _ in customers}
    assert after == before
