"""名寄せ through the API: merge on write, review queue, steward decisions, merge and unmerge."""

from __future__ import annotations

import asyncio

import httpx

from tests.helpers import corporation, other_corporation

# Same name and postal code, nothing else to go by: unsure, so it goes to review.
UNSURE = corporation(
    corporate_number=None, phones=[], emails=[], addresses=[{"postal_code": "100-0005"}]
)


async def _put(client: httpx.AsyncClient, system: str, source_id: str, payload: dict) -> dict:
    response = await client.put(f"/v1/sources/{system}/records/{source_id}", json=payload)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def _customer_count(client: httpx.AsyncClient) -> int:
    return len((await client.get("/v1/customers", params={"limit": "500"})).json()["items"])


async def test_variants_from_other_systems_join_one_customer(client: httpx.AsyncClient) -> None:
    crm = await _put(client, "crm", "A-1", corporation())
    variant = corporation(
        name="ＡＢＣ商事㈱",
        name_kana="ｴｰﾋﾞｰｼｰｼｮｳｼﾞ",
        phones=[{"number": "+81 3 1234 5678"}],
        addresses=[
            {
                "postal_code": "〒1000005",
                "city": "千代田区",
                "town": "丸の内",
                "street": "一丁目2番3号",
            }
        ],
    )
    billing = await _put(client, "billing", "B-1", variant)
    assert billing["decision"]["outcome"] == "merged"
    assert billing["customer"]["id"] == crm["customer"]["id"]
    best = billing["decision"]["candidates"][0]
    assert best["customer_id"] == crm["customer"]["id"]
    fields = {c["field"]: c["level"] for c in best["comparisons"]}
    assert fields["corporate_number"] == "exact"
    assert all({"field", "level", "weight"} <= set(c) for c in best["comparisons"])
    sources = (await client.get(f"/v1/customers/{crm['customer']['id']}/sources")).json()
    assert {(s["system"], s["source_id"]) for s in sources} == {("crm", "A-1"), ("billing", "B-1")}


async def test_different_corporate_numbers_never_merge(client: httpx.AsyncClient) -> None:
    await _put(client, "crm", "A-1", corporation())
    other = await _put(client, "sfa", "S-1", corporation(corporate_number="2021001052596"))
    assert other["decision"]["outcome"] in ("review", "new_customer")
    assert await _customer_count(client) == 2


async def test_unsure_pair_goes_to_review_and_distinct_is_remembered(
    client: httpx.AsyncClient,
) -> None:
    first = await _put(client, "crm", "A-1", corporation())
    unsure = await _put(client, "sfa", "S-1", UNSURE)
    assert unsure["decision"]["outcome"] == "review"
    assert unsure["customer"]["id"] != first["customer"]["id"]

    queue = (await client.get("/v1/match-candidates")).json()["items"]
    assert len(queue) == 1
    pair = queue[0]
    assert {pair["customer_a"]["id"], pair["customer_b"]["id"]} == {
        first["customer"]["id"],
        unsure["customer"]["id"],
    }
    assert 0 < pair["probability"] < 1
    assert pair["explanation"]["record"]["comparisons"]

    decided = await client.post(
        f"/v1/match-candidates/{pair['id']}/decision", json={"decision": "distinct"}
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "distinct"
    again = await client.post(
        f"/v1/match-candidates/{pair['id']}/decision", json={"decision": "merge"}
    )
    assert again.status_code == 409

    # The same pair is never proposed again, nor merged by hand.
    await _put(client, "sfa", "S-1", {**UNSURE, "name_kana": "エービーシーショウジ"})
    assert (await client.get("/v1/match-candidates")).json()["items"] == []
    refused = await client.post(
        f"/v1/customers/{first['customer']['id']}/merge",
        json={"customer_ids": [unsure["customer"]["id"]]},
    )
    assert refused.status_code == 409


async def test_review_decision_merge(client: httpx.AsyncClient) -> None:
    first = await _put(client, "crm", "A-1", corporation())
    unsure = await _put(client, "sfa", "S-1", UNSURE)
    pair = (await client.get("/v1/match-candidates")).json()["items"][0]
    decided = await client.post(
        f"/v1/match-candidates/{pair['id']}/decision", json={"decision": "merge"}
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "merged"
    survivor = (await client.get(f"/v1/customers/{first['customer']['id']}")).json()
    assert survivor["status"] == "active"
    absorbed = (await client.get(f"/v1/customers/{unsure['customer']['id']}")).json()
    assert absorbed["status"] == "merged"
    assert absorbed["merged_into_id"] == survivor["id"]
    assert (await client.get("/v1/match-candidates")).json()["items"] == []
    merged = (await client.get("/v1/match-candidates", params={"status": "merged"})).json()
    assert len(merged["items"]) == 1


async def test_merge_then_unmerge_restores_exactly(client: httpx.AsyncClient) -> None:
    a = (await _put(client, "crm", "A-1", other_corporation(1)))["customer"]
    b = (await _put(client, "billing", "B-1", other_corporation(2)))["customer"]
    await client.patch(
        f"/v1/customers/{b['id']}",
        json={"classification": {"rank": "S"}},
        headers={"If-Match": '"1"'},
    )
    a_before = (await client.get(f"/v1/customers/{a['id']}")).json()
    b_before = (await client.get(f"/v1/customers/{b['id']}")).json()

    merged = await client.post(f"/v1/customers/{a['id']}/merge", json={"customer_ids": [b["id"]]})
    assert merged.status_code == 200, merged.text
    survivor = merged.json()
    assert {p["e164"] for p in survivor["phones"]} == {"+81660011001", "+81660021002"}
    gone = (await client.get(f"/v1/customers/{b['id']}")).json()
    assert (gone["status"], gone["merged_into_id"]) == ("merged", a["id"])
    assert await _customer_count(client) == 1

    unmerged = await client.post(
        f"/v1/customers/{a['id']}/unmerge",
        json={"source_records": [{"system": "billing", "source_id": "B-1"}]},
    )
    assert unmerged.status_code == 200, unmerged.text
    assert unmerged.json()["target"]["id"] == b["id"]

    a_after = (await client.get(f"/v1/customers/{a['id']}")).json()
    b_after = (await client.get(f"/v1/customers/{b['id']}")).json()
    volatile = {"version", "updated_at"}

    def stable(c: dict) -> dict:
        return {k: v for k, v in c.items() if k not in volatile}

    assert stable(a_after) == stable(a_before)
    assert stable(b_after) == stable(b_before)
    assert b_after["classification"]["rank"] == "S", "the steward's edit comes back too"

    actions = [
        e["action"]
        for e in (await client.get("/v1/audit", params={"action": "customer.merged"})).json()[
            "items"
        ]
    ]
    assert actions == ["customer.merged"]
    assert (await client.get("/v1/audit", params={"action": "customer.unmerged"})).json()["items"]


async def test_unmerge_to_a_new_customer_and_bad_requests(client: httpx.AsyncClient) -> None:
    first = await _put(client, "crm", "A-1", corporation())
    customer_id = first["customer"]["id"]
    await _put(client, "billing", "B-1", corporation(phones=[{"number": "03-1234-5678"}]))
    bad = await client.post(
        f"/v1/customers/{customer_id}/unmerge",
        json={"source_records": [{"system": "sfa", "source_id": "nope"}]},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "/source_records/0"
    everything = await client.post(
        f"/v1/customers/{customer_id}/unmerge",
        json={
            "source_records": [
                {"system": "crm", "source_id": "A-1"},
                {"system": "billing", "source_id": "B-1"},
            ]
        },
    )
    assert everything.status_code == 409
    split = await client.post(
        f"/v1/customers/{customer_id}/unmerge",
        json={"source_records": [{"system": "billing", "source_id": "B-1"}]},
    )
    assert split.status_code == 200, split.text
    target = split.json()["target"]
    assert target["id"] != customer_id
    assert target["customer_code"] == "C00000002"
    sources = (await client.get(f"/v1/customers/{target['id']}/sources")).json()
    assert [(s["system"], s["source_id"]) for s in sources] == [("billing", "B-1")]


async def test_dry_run_scores_without_writing(client: httpx.AsyncClient) -> None:
    first = await _put(client, "crm", "A-1", corporation())
    audit_before = (await client.get("/v1/audit")).json()["items"]
    response = await client.post("/v1/match", json=corporation(name="(株)ＡＢＣ商事"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["decision"] == "merge"
    assert body["customer_id"] == first["customer"]["id"]
    assert body["candidates"][0]["probability"] > 0.99
    nothing = await client.post("/v1/match", json=other_corporation(5))
    assert nothing.json()["decision"] == "new"
    assert (await client.get("/v1/audit")).json()["items"] == audit_before
    assert await _customer_count(client) == 1
    bad = await client.post("/v1/match", json=corporation(corporate_number="123"))
    assert bad.status_code == 422


async def test_fifty_concurrent_writers_make_one_customer(client: httpx.AsyncClient) -> None:
    systems = ["crm", "sfa", "billing", "support", "docs"]
    responses = await asyncio.gather(
        *(
            client.put(f"/v1/sources/{systems[i % 5]}/records/R-{i}", json=corporation())
            for i in range(50)
        )
    )
    assert all(r.status_code == 201 for r in responses), [
        r.text for r in responses if r.status_code != 201
    ][:1]
    assert len({r.json()["customer"]["id"] for r in responses}) == 1
    assert await _customer_count(client) == 1
    outcomes = sorted(r.json()["decision"]["outcome"] for r in responses)
    assert outcomes == ["merged"] * 49 + ["new_customer"]


async def test_many_reviews_in_a_row(client: httpx.AsyncClient) -> None:
    """Regression: queuing the 6th review on one connection failed (generic plan, ON CONFLICT)."""
    for i in range(8):
        await _put(client, "crm", f"A-{i}", other_corporation(i))
        unsure = other_corporation(i, phones=[], emails=[], addresses=[{"postal_code": "530-0001"}])
        outcome = (await _put(client, "sfa", f"S-{i}", unsure))["decision"]["outcome"]
        assert outcome == "review"
    queue = (await client.get("/v1/match-candidates", params={"limit": "50"})).json()["items"]
    assert len(queue) == 8


async def test_record_without_phone_or_email_joins_on_name_site_and_address(
    client: httpx.AsyncClient,
) -> None:
    """Issue 21: name body, branch and address agree, one record has no phone and no e-mail,
    the name is spaced and the branch joined differently, the address written in another
    form (大字, kanji numerals, 後株): a merge, not a new customer."""
    full = {
        "kind": "corporation",
        "name": "株式会社 みらい精機 本町工場",
        "phones": [{"number": "0296-55-1234"}],
        "emails": [{"address": "honcho@mirai-seiki.example.jp"}],
        "addresses": [{"full_text": "茨城県つくば市上野1234"}],
    }
    bare = {
        "kind": "corporation",
        "name": "みらい 精機(株)本町工場",
        "addresses": [{"full_text": "つくば市大字上野千二百三十四番地"}],
    }
    first = await _put(client, "crm", "M-1", full)
    second = await _put(client, "billing", "M-2", bare)
    assert second["decision"]["outcome"] == "merged", second["decision"]
    assert second["customer"]["id"] == first["customer"]["id"]
