"""Sites, group parents and roll-ups through the API, on the real PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx

from mdm_hub.normalize.corporate_number import check_digit


def number(i: int) -> str:
    base = f"{3_000_000_000 + i:012d}"
    return f"{check_digit(base)}{base}"


def company(i: int, amount: int, **extra: Any) -> dict[str, Any]:
    """A corporation no other test company resembles (name, number, address, phone)."""
    return {
        "kind": "corporation",
        "name": f"株式会社{'甲乙丙丁戊己庚辛壬癸'[i % 10]}{i}工業",
        "corporate_number": number(i),
        "addresses": [
            {
                "purpose": "head_office",
                "postal_code": "100-0005",
                "prefecture": "東京都",
                "city": "千代田区",
                "town": "丸の内",
                "street": f"{i % 3 + 1}-{i}-1",
            }
        ],
        "phones": [{"number": f"03-5{i:03d}-{i:04d}"}],
        "transactions": {"annual_amount": amount},
        **extra,
    }


async def put(client: httpx.AsyncClient, source_id: str, payload: dict[str, Any]) -> str:
    answer = await client.put(f"/v1/sources/crm/records/{source_id}", json=payload)
    assert answer.status_code in (200, 201), answer.text
    return str(answer.json()["customer"]["id"])


async def parent(
    client: httpx.AsyncClient, child: str, ref: dict[str, Any], relation: str = "subsidiary"
) -> httpx.Response:
    return await client.put(
        f"/v1/customers/{child}/relations/parent",
        json={"parent": ref, "relation_type": relation},
    )


async def site(client: httpx.AsyncClient, child: str, ref: dict[str, Any]) -> httpx.Response:
    return await client.put(
        f"/v1/customers/{child}/relations/corporation", json={"corporation": ref}
    )


async def test_group_with_sites_hierarchy_and_rollup(client: httpx.AsyncClient) -> None:
    top = await put(client, "top", company(1, 1000))
    mid = await put(client, "mid", company(2, 200))
    low = await put(client, "low", company(3, 30))
    branch = await put(
        client,
        "branch",
        company(4, 7, name="株式会社甲1工業 大阪支店", relations={"site_type": "branch"}),
    )
    low_site = await put(client, "low-site", company(5, 5, relations={"site_type": "factory"}))

    # Linked by id, by customer code, by source record and by 法人番号.
    assert (await parent(client, mid, {"customer_id": top})).status_code == 200
    top_code = (await client.get(f"/v1/customers/{top}")).json()["customer_code"]
    linked = await parent(
        client, low, {"source": {"system": "crm", "source_id": "mid"}}, "affiliate"
    )
    assert linked.status_code == 200, linked.text
    assert linked.json()["relation_type"] == "affiliate"
    assert (await site(client, branch, {"customer_code": top_code})).status_code == 200
    by_number = await site(client, low_site, {"corporate_number": number(3)})
    assert by_number.status_code == 200, by_number.text
    assert by_number.json()["parent_id"] == low

    tree = (await client.get(f"/v1/customers/{low}/hierarchy")).json()
    assert [(a["id"], a["depth"]) for a in tree["ancestors"]] == [(mid, 1), (top, 2)]
    assert [s["id"] for s in tree["sites"]] == [low_site]
    assert tree["sites"][0]["site_type"] == "factory"

    tree = (await client.get(f"/v1/customers/{top}/hierarchy?descendants_depth=5")).json()
    assert tree["ancestors"] == []
    assert [(c["id"], c["parent_id"], c["depth"]) for c in tree["children"]] == [
        (mid, top, 1),
        (low, mid, 2),
    ]
    assert [s["id"] for s in tree["sites"]] == [branch]
    shallow = (await client.get(f"/v1/customers/{top}/hierarchy?descendants_depth=1")).json()
    assert [c["id"] for c in shallow["children"]] == [mid]
    limited = (await client.get(f"/v1/customers/{top}/hierarchy?ancestors_depth=1")).json()
    assert limited["truncated"] is False
    capped = (await client.get(f"/v1/customers/{top}/hierarchy?descendants_depth=5&limit=1")).json()
    assert len(capped["children"]) == 1 and capped["truncated"] is True
    site_tree = (await client.get(f"/v1/customers/{branch}/hierarchy")).json()
    assert site_tree["corporation"]["id"] == top

    rollup = (await client.get(f"/v1/customers/{top}/rollup")).json()
    assert rollup["own_annual_amount"] == "1000"
    assert rollup["direct"] == {"sites": 1, "annual_amount": "1007"}
    assert rollup["group"] == {"companies": 3, "sites": 2, "annual_amount": "1242"}
    mid_rollup = (await client.get(f"/v1/customers/{mid}/rollup")).json()
    assert mid_rollup["group"] == {"companies": 2, "sites": 1, "annual_amount": "235"}

    # Events in the change feed, one per link set.
    changes = (await client.get("/v1/changes?limit=100")).json()["items"]
    relation_events = [c for c in changes if c["type"] == "customer.relation_changed"]
    assert sorted(c["data"]["customer_id"] for c in relation_events) == sorted(
        [mid, low, branch, low_site]
    )
    assert {tuple(c["data"]["changed_fields"]) for c in relation_events} == {
        ("/hierarchy/group",),
        ("/hierarchy/site",),
    }

    # Setting the same link again changes nothing and emits nothing.
    assert (await parent(client, mid, {"customer_id": top})).status_code == 200
    again = (await client.get("/v1/changes?limit=100")).json()["items"]
    assert len(again) == len(changes)

    removed = await client.delete(f"/v1/customers/{low}/relations/parent")
    assert removed.status_code == 204
    rollup = (await client.get(f"/v1/customers/{top}/rollup")).json()
    assert rollup["group"] == {"companies": 2, "sites": 1, "annual_amount": "1207"}
    missing = await client.delete(f"/v1/customers/{low}/relations/parent")
    assert missing.status_code == 404


async def test_cycles_self_links_and_sites_are_refused(client: httpx.AsyncClient) -> None:
    a = await put(client, "a", company(11, 1))
    b = await put(client, "b", company(12, 1))
    c = await put(client, "c", company(13, 1))
    s = await put(client, "s", company(14, 1, relations={"site_type": "branch"}))
    assert (await parent(client, b, {"customer_id": a})).status_code == 200
    assert (await parent(client, c, {"customer_id": b})).status_code == 200

    def problem(answer: httpx.Response, field: str, code: str) -> None:
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert {"field": field, "code": code} in [
            {"field": e["field"], "code": e["code"]} for e in answer.json()["errors"]
        ]

    problem(await parent(client, a, {"customer_id": c}), "/parent", "cycle")
    problem(await parent(client, a, {"customer_id": a}), "/parent", "self_link")
    problem(await site(client, a, {"customer_id": a}), "/corporation", "self_link")
    assert (await site(client, s, {"customer_id": a})).status_code == 200
    problem(await site(client, c, {"customer_id": s}), "/corporation", "is_a_site")
    problem(await parent(client, s, {"customer_id": b}), "/customer_id", "is_a_site")
    problem(await site(client, a, {"customer_id": b}), "/corporation", "has_sites")
    problem(await parent(client, a, {"customer_code": "NO-SUCH"}), "/parent", "no_such_customer")
    both = await client.put(
        f"/v1/customers/{a}/relations/parent",
        json={"parent": {"customer_id": b, "customer_code": "X"}, "relation_type": "subsidiary"},
    )
    assert both.status_code == 422
    bad_type = await client.put(
        f"/v1/customers/{a}/relations/parent",
        json={"parent": {"customer_id": b}, "relation_type": "cousin"},
    )
    assert bad_type.status_code == 422
    assert bad_type.json()["errors"][0]["field"] == "/relation_type"
    dates = await client.put(
        f"/v1/customers/{c}/relations/parent",
        json={
            "parent": {"customer_id": b},
            "relation_type": "subsidiary",
            "valid_from": "2026-01-01",
            "valid_to": "2025-01-01",
        },
    )
    problem(dates, "/valid_to", "before_valid_from")
    unknown = await client.get("/v1/customers/00000000-0000-0000-0000-000000000000/hierarchy")
    assert unknown.status_code == 404


async def test_links_in_effect_only(client: httpx.AsyncClient) -> None:
    top = await put(client, "t", company(21, 100))
    ended = await put(client, "e", company(22, 10))
    answer = await client.put(
        f"/v1/customers/{ended}/relations/parent",
        json={
            "parent": {"customer_id": top},
            "relation_type": "subsidiary",
            "valid_from": "2020-04-01",
            "valid_to": "2024-03-31",
        },
    )
    assert answer.status_code == 200
    assert (await client.get(f"/v1/customers/{top}/hierarchy")).json()["children"] == []
    assert (await client.get(f"/v1/customers/{top}/rollup")).json()["group"]["companies"] == 1


async def test_merge_carries_the_links_to_the_survivor(client: httpx.AsyncClient) -> None:
    parent_co = await put(client, "p", company(31, 1))
    survivor = await put(client, "sv", company(32, 10))
    absorbed = await put(client, "ab", company(33, 20))
    absorbed_site = await put(client, "as", company(34, 3, relations={"site_type": "store"}))
    subsidiary = await put(client, "sub", company(35, 4))
    assert (await parent(client, absorbed, {"customer_id": parent_co})).status_code == 200
    assert (await site(client, absorbed_site, {"customer_id": absorbed})).status_code == 200
    assert (await parent(client, subsidiary, {"customer_id": absorbed})).status_code == 200

    merged = await client.post(f"/v1/customers/{survivor}/merge", json={"customer_ids": [absorbed]})
    assert merged.status_code == 200, merged.text

    tree = (await client.get(f"/v1/customers/{survivor}/hierarchy")).json()
    assert [a["id"] for a in tree["ancestors"]] == [parent_co]
    assert [s["id"] for s in tree["sites"]] == [absorbed_site]
    assert [c["id"] for c in tree["children"]] == [subsidiary]
    gone = (await client.get(f"/v1/customers/{absorbed}/hierarchy")).json()
    assert gone["ancestors"] == [] and gone["sites"] == [] and gone["children"] == []
    rollup = (await client.get(f"/v1/customers/{parent_co}/rollup")).json()
    assert rollup["group"]["companies"] == 3  # parent, survivor, subsidiary
    assert rollup["group"]["sites"] == 1


async def test_rollup_follows_amounts_and_status_of_linked_customers(
    client: httpx.AsyncClient,
) -> None:
    """The links carry their child's 取引金額 and status (kept by triggers): a changed amount
    and a deleted site reach the roll-up, and a site linked later counts at once."""
    top = await put(client, "t", company(111, 100))
    member = await put(client, "m", company(112, 10))
    shop = await put(client, "s", company(113, 1, relations={"site_type": "store"}))
    assert (await parent(client, member, {"customer_id": top})).status_code == 200
    assert (await site(client, shop, {"customer_id": member})).status_code == 200
    rollup = (await client.get(f"/v1/customers/{top}/rollup")).json()
    assert rollup["group"] == {"companies": 2, "sites": 1, "annual_amount": "111"}
    await put(client, "m", company(112, 20))
    await put(client, "s", company(113, 5, relations={"site_type": "store"}))
    rollup = (await client.get(f"/v1/customers/{top}/rollup")).json()
    assert rollup["group"] == {"companies": 2, "sites": 1, "annual_amount": "125"}
    deleted = await client.delete(f"/v1/customers/{shop}")
    assert deleted.status_code == 204, deleted.text
    rollup = (await client.get(f"/v1/customers/{top}/rollup")).json()
    assert rollup["group"] == {"companies": 2, "sites": 0, "annual_amount": "120"}
