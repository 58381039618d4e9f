"""Sites found by matching: a `…信用金庫 本町支店` record carrying its corporation's 法人番号 is
a site of that corporation, never merged into the head office; linked when sure, proposed to a
steward otherwise."""

from __future__ import annotations

from typing import Any

import httpx

from tests.hierarchy.test_hierarchy_api import number
from tests.hierarchy.test_source_links import audit_of, put_as, tree


def bank(name: str, n: int, street: str, phone: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "corporation",
        "name": name,
        "corporate_number": number(n),
        "addresses": [
            {
                "purpose": "head_office",
                "postal_code": "141-0022",
                "prefecture": "東京都",
                "city": "品川区",
                "town": "東五反田",
                "street": street,
            }
        ],
        "phones": [{"number": phone}],
        "transactions": {"annual_amount": 100},
        **extra,
    }


async def test_branches_with_the_corporate_number_become_its_sites(
    client: httpx.AsyncClient,
) -> None:
    head = await put_as(client, "crm", "H", bank("城南信用金庫", 101, "1-1-1", "03-3441-1111"))
    spaced = await put_as(
        client, "crm", "S1", bank("城南信用金庫 本町支店", 101, "2-2-2", "03-3441-2222")
    )
    unspaced = await put_as(
        client, "erp", "S2", bank("城南信用金庫駅前支店", 101, "3-3-3", "03-3441-3333")
    )
    assert len({head, spaced, unspaced}) == 3  # never merged into the head office
    sites = (await tree(client, head))["sites"]
    assert sorted(s["id"] for s in sites) == sorted([spaced, unspaced])
    entry = next(
        a for a in await audit_of(client, spaced) if a["action"] == "customer.relation_changed"
    )
    assert entry["after"]["set_by"] == "matching"
    rollup = (await client.get(f"/v1/customers/{head}/rollup")).json()
    assert rollup["direct"] == {"sites": 2, "annual_amount": "300"}
    # The same branch again from another system joins the branch, not the head office.
    again = await put_as(
        client, "sfa", "X", bank("城南信用金庫 本町支店", 101, "2-2-2", "03-3441-2222")
    )
    assert again == spaced


async def test_a_head_office_written_after_its_branch_gets_it(client: httpx.AsyncClient) -> None:
    branch = await put_as(
        client, "crm", "B", bank("多摩信用金庫 立川支店", 102, "4-4-4", "042-111-1111")
    )
    assert (await tree(client, branch))["corporation"] is None
    head = await put_as(client, "crm", "H", bank("多摩信用金庫", 102, "5-5-5", "042-222-2222"))
    assert (await tree(client, branch))["corporation"]["id"] == head


async def test_unsure_sites_are_proposed_and_decided_by_a_steward(
    client: httpx.AsyncClient,
) -> None:
    head = await put_as(client, "crm", "H", bank("城北信用金庫", 103, "6-6-6", "03-1111-0001"))
    # The 法人番号 is the head office's but the name is not: proposed, not linked.
    odd = await put_as(
        client, "crm", "O", bank("北信用組合 本町支店", 103, "7-7-7", "03-1111-0002")
    )
    other = await put_as(
        client, "crm", "P", bank("北星信用組合 駅前支店", 103, "8-8-8", "03-1111-0003")
    )
    assert (await tree(client, odd))["corporation"] is None
    listed = await client.get("/v1/hierarchy/site-proposals")
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [(p["child_id"], p["parent_id"], p["status"]) for p in items] == [
        (odd, head, "pending"),
        (other, head, "pending"),
    ]
    assert "names differ" in items[0]["reason"]

    accepted = await client.post(
        f"/v1/hierarchy/site-proposals/{items[0]['id']}/decision", json={"decision": "accept"}
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    assert (await tree(client, odd))["corporation"]["id"] == head
    rejected = await client.post(
        f"/v1/hierarchy/site-proposals/{items[1]['id']}/decision", json={"decision": "reject"}
    )
    assert rejected.json()["status"] == "rejected"
    assert (await tree(client, other))["corporation"] is None
    twice = await client.post(
        f"/v1/hierarchy/site-proposals/{items[1]['id']}/decision", json={"decision": "accept"}
    )
    assert twice.status_code == 409
    # Written again, the rejected pair is not proposed again.
    await put_as(client, "crm", "P", bank("北星信用組合 駅前支店", 103, "8-8-8", "03-1111-0004"))
    assert (await client.get("/v1/hierarchy/site-proposals")).json()["items"] == []
    missing = await client.post(
        "/v1/hierarchy/site-proposals/999999/decision", json={"decision": "accept"}
    )
    assert missing.status_code == 404


def firm(
    name: str, city: str, street: str, phone: str, *, number_of: int | None = None
) -> dict[str, Any]:
    """A corporation without a 法人番号 unless ``number_of`` is given."""
    towns = {"千代田区": ("100-0005", "丸の内"), "大阪市北区": ("530-0001", "梅田")}
    postal, town = towns[city]
    payload: dict[str, Any] = {
        "kind": "corporation",
        "name": name,
        "addresses": [
            {
                "purpose": "head_office",
                "postal_code": postal,
                "prefecture": "東京都" if city == "千代田区" else "大阪府",
                "city": city,
                "town": town,
                "street": street,
            }
        ],
        "phones": [{"number": phone}],
    }
    if number_of is not None:
        payload["corporate_number"] = number(number_of)
    return payload


async def proposals_of(client: httpx.AsyncClient, customer: str) -> list[dict[str, Any]]:
    answer = await client.get(f"/v1/hierarchy/site-proposals?customer_id={customer}")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


async def test_a_site_without_a_corporate_number_is_proposed_by_name(
    client: httpx.AsyncClient,
) -> None:
    """`株式会社みらい建設 大阪支店` without a 法人番号, sharing the head office's 代表番号:
    proposed (not linked, not merged) as a site of 株式会社みらい建設; so is a branch in the
    head office's city written before the head office. Accepting links it."""
    head_office = firm("株式会社みらい建設", "千代田区", "1-1-1", "03-5201-1111", number_of=611)
    head = await put_as(client, "crm", "H", head_office)
    branch = firm("株式会社みらい建設 大阪支店", "大阪市北区", "2-2-2", "03-5201-1111")
    osaka = await put_as(client, "crm", "S1", branch)
    assert osaka != head  # never merged into the head office
    (proposal,) = await proposals_of(client, osaka)
    assert proposal["parent_id"] == head and proposal["status"] == "pending"
    assert "no 法人番号" in proposal["reason"] and "phone" in proposal["reason"]
    assert (await tree(client, osaka))["corporation"] is None  # proposed, not linked

    # A factory in the same city as a head office written after it.
    factory = firm("みらい精機株式会社 丸の内工場", "千代田区", "5-5-5", "03-5209-5555")
    plant = await put_as(client, "erp", "F", factory)
    assert await proposals_of(client, plant) == []
    seiki = await put_as(
        client, "erp", "SK", firm("みらい精機株式会社", "千代田区", "9-9-9", "03-5209-9999")
    )
    assert plant != seiki
    (found,) = await proposals_of(client, plant)
    assert found["parent_id"] == seiki and "both in 東京都千代田区" in found["reason"]

    decided = await client.post(
        f"/v1/hierarchy/site-proposals/{proposal['id']}/decision", json={"decision": "accept"}
    )
    assert decided.status_code == 200, decided.text
    assert (await tree(client, osaka))["corporation"]["id"] == head


async def test_look_alike_names_get_no_site_proposal(client: httpx.AsyncClient) -> None:
    """Different companies sharing a prefix, another legal form or its position, or the same
    name with nothing else in common: no proposal."""
    head = await put_as(
        client, "crm", "H", firm("株式会社みらい建設", "千代田区", "1-1-1", "03-5301-1111")
    )
    look_alikes = [
        firm("株式会社みらい 大阪支店", "大阪市北区", "2-1-1", "03-5301-1111"),  # a prefix
        firm("株式会社みらい建設工業 大阪支店", "大阪市北区", "2-2-1", "03-5301-1111"),
        firm("有限会社みらい建設 大阪支店", "大阪市北区", "2-3-1", "03-5301-1111"),
        firm("みらい建設株式会社 横浜営業所", "千代田区", "2-4-1", "03-5301-1111"),  # 後株
        firm(
            "株式会社みらい建設 梅田営業所", "大阪市北区", "2-5-1", "06-6301-5555"
        ),  # nothing else
    ]
    ids = [await put_as(client, "crm", f"L{i}", p) for i, p in enumerate(look_alikes)]
    assert len({head, *ids}) == len(ids) + 1
    for customer in (head, *ids):
        assert await proposals_of(client, customer) == []
        assert (await tree(client, customer))["corporation"] is None
