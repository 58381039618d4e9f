"""A merge carries the links to the survivor; the unmerge brings them back."""

from __future__ import annotations

import httpx

from tests.hierarchy.test_hierarchy_api import company, parent, put, site
from tests.hierarchy.test_source_links import put_as, relation_events, tree


async def test_merge_then_unmerge_moves_the_links_back(client: httpx.AsyncClient) -> None:
    parent_co = await put(client, "p", company(91, 1))
    survivor = await put(client, "sv", company(92, 10))
    absorbed = await put(client, "ab", company(93, 20))
    survivor_parent = await put(client, "svp", company(94, 1))
    absorbed_site = await put(client, "as", company(95, 3, relations={"site_type": "store"}))
    subsidiary = await put(client, "sub", company(96, 4))
    assert (await parent(client, absorbed, {"customer_id": parent_co})).status_code == 200
    assert (await parent(client, survivor, {"customer_id": survivor_parent})).status_code == 200
    assert (await site(client, absorbed_site, {"customer_id": absorbed})).status_code == 200
    assert (
        await parent(client, subsidiary, {"customer_id": absorbed}, "affiliate")
    ).status_code == 200
    before = await tree(client, absorbed)
    linked = len(await relation_events(client))

    merged = await client.post(f"/v1/customers/{survivor}/merge", json={"customer_ids": [absorbed]})
    assert merged.status_code == 200, merged.text
    moved = await tree(client, survivor)
    assert [a["id"] for a in moved["ancestors"]] == [survivor_parent]  # its own link kept
    assert [s["id"] for s in moved["sites"]] == [absorbed_site]
    assert [c["id"] for c in moved["children"]] == [subsidiary]
    # The site and the member that followed the survivor each have their event.
    events = len(await relation_events(client))
    carried = (await relation_events(client))[linked:]
    assert sorted(e["data"]["customer_id"] for e in carried) == sorted([absorbed_site, subsidiary])

    unmerged = await client.post(
        f"/v1/customers/{survivor}/unmerge",
        json={"source_records": [{"system": "crm", "source_id": "ab"}]},
    )
    assert unmerged.status_code == 200, unmerged.text
    assert unmerged.json()["target"]["id"] == absorbed
    after = await tree(client, absorbed)
    assert [(a["id"], a["relation_type"]) for a in after["ancestors"]] == [
        (parent_co, "subsidiary")
    ]
    assert [s["id"] for s in after["sites"]] == [absorbed_site]
    assert [(c["id"], c["relation_type"]) for c in after["children"]] == [(subsidiary, "affiliate")]
    assert after["ancestors"] == before["ancestors"] and after["children"] == before["children"]
    back = await tree(client, survivor)
    assert [a["id"] for a in back["ancestors"]] == [survivor_parent]
    assert back["sites"] == [] and back["children"] == []
    rollup = (await client.get(f"/v1/customers/{absorbed}/rollup")).json()
    assert rollup["group"] == {"companies": 2, "sites": 1, "annual_amount": "27"}
    # One event per link that came back: the absorbed customer's own, its site, its member.
    new = (await relation_events(client))[events:]
    assert sorted(e["data"]["customer_id"] for e in new) == sorted(
        [absorbed, absorbed_site, subsidiary]
    )


async def test_a_link_changed_since_the_merge_stays(client: httpx.AsyncClient) -> None:
    survivor = await put(client, "sv", company(97, 10))
    absorbed = await put(client, "ab", company(98, 20))
    elsewhere = await put(client, "el", company(99, 1))
    shop = await put(client, "shop", company(100, 3, relations={"site_type": "store"}))
    assert (await site(client, shop, {"customer_id": absorbed})).status_code == 200
    merged = await client.post(f"/v1/customers/{survivor}/merge", json={"customer_ids": [absorbed]})
    assert merged.status_code == 200
    assert (await site(client, shop, {"customer_id": elsewhere})).status_code == 200
    unmerged = await client.post(
        f"/v1/customers/{survivor}/unmerge",
        json={"source_records": [{"system": "crm", "source_id": "ab"}]},
    )
    assert unmerged.status_code == 200, unmerged.text
    assert (await tree(client, shop))["corporation"]["id"] == elsewhere
    assert (await tree(client, absorbed))["sites"] == []


async def test_a_waiting_link_follows_the_merge_and_comes_back(
    client: httpx.AsyncClient,
) -> None:
    """A link waiting for its target (customer_relation_pending) whose customer is merged away
    moves to the survivor: the target's arrival links the survivor; the unmerge takes the link
    back to the revived customer with the source record that named it."""
    waits = {"parent_source": {"system": "erp", "source_id": "P-9"}}
    survivor = await put(client, "sv", company(121, 10))
    absorbed = await put(client, "ab", company(122, 20, relations=waits))
    assert [w["target"] for w in (await tree(client, absorbed))["waiting"]] == ["erp/P-9"]

    merged = await client.post(f"/v1/customers/{survivor}/merge", json={"customer_ids": [absorbed]})
    assert merged.status_code == 200, merged.text
    assert (await tree(client, absorbed))["waiting"] == []
    moved = (await tree(client, survivor))["waiting"]
    assert [(w["axis"], w["target"], w["set_by"]) for w in moved] == [
        ("group", "erp/P-9", "source:crm/ab")
    ]

    parent_co = await put_as(client, "erp", "P-9", company(123, 100))
    linked = await tree(client, survivor)
    assert [a["id"] for a in linked["ancestors"]] == [parent_co] and linked["waiting"] == []

    unmerged = await client.post(
        f"/v1/customers/{survivor}/unmerge",
        json={"source_records": [{"system": "crm", "source_id": "ab"}]},
    )
    assert unmerged.status_code == 200, unmerged.text
    assert [a["id"] for a in (await tree(client, absorbed))["ancestors"]] == [parent_co]
    assert (await tree(client, survivor))["ancestors"] == []


async def test_a_waiting_link_still_waiting_goes_back_on_unmerge(
    client: httpx.AsyncClient,
) -> None:
    """Unmerged before its target arrives, the waiting link is the revived customer's again;
    a survivor that has a link of its own on that axis keeps it (the waiting one is not
    moved), and the unmerge still gives the waiting link back."""
    survivor_parent = await put(client, "svp", company(131, 1))
    survivor = await put(client, "sv", company(132, 10))
    assert (await parent(client, survivor, {"customer_id": survivor_parent})).status_code == 200
    waits = {"parent_source": {"system": "erp", "source_id": "P-8"}}
    absorbed = await put(client, "ab", company(133, 20, relations=waits))
    lone = await put(client, "lone", company(134, 5))
    lone_waits = {"site_type": "branch", "site_of_customer_code": "NOT-YET"}
    moving = await put(client, "mv", company(135, 5, relations=lone_waits))

    merged = await client.post(f"/v1/customers/{survivor}/merge", json={"customer_ids": [absorbed]})
    assert merged.status_code == 200, merged.text
    kept = await tree(client, survivor)
    assert kept["waiting"] == [] and [a["id"] for a in kept["ancestors"]] == [survivor_parent]
    merged = await client.post(f"/v1/customers/{lone}/merge", json={"customer_ids": [moving]})
    assert merged.status_code == 200, merged.text
    assert [w["target"] for w in (await tree(client, lone))["waiting"]] == ["NOT-YET"]

    for target, source in ((absorbed, "ab"), (moving, "mv")):
        owner = survivor if target == absorbed else lone
        unmerged = await client.post(
            f"/v1/customers/{owner}/unmerge",
            json={"source_records": [{"system": "crm", "source_id": source}]},
        )
        assert unmerged.status_code == 200, unmerged.text
        assert unmerged.json()["target"]["id"] == target
    assert [w["target"] for w in (await tree(client, absorbed))["waiting"]] == ["erp/P-8"]
    assert [w["target"] for w in (await tree(client, moving))["waiting"]] == ["NOT-YET"]
    assert (await tree(client, lone))["waiting"] == []
    assert [a["id"] for a in (await tree(client, survivor))["ancestors"]] == [survivor_parent]

    parent_co = await put_as(client, "erp", "P-8", company(136, 100))
    assert [a["id"] for a in (await tree(client, absorbed))["ancestors"]] == [parent_co]
