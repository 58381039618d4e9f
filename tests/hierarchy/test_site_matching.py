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
