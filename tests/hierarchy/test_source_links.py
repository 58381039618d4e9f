"""Links named by source records (resolved on write, or waiting for their target), and sites
found by matching (linked when sure, proposed otherwise), through the API."""

from __future__ import annotations

from typing import Any

import httpx

from tests.hierarchy.test_hierarchy_api import company, number, put


async def tree(client: httpx.AsyncClient, customer: str) -> dict[str, Any]:
    answer = await client.get(f"/v1/customers/{customer}/hierarchy?descendants_depth=5")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def relation_events(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    items = (await client.get("/v1/changes?limit=500")).json()["items"]
    return [c for c in items if c["type"] == "customer.relation_changed"]


async def audit_of(client: httpx.AsyncClient, customer: str) -> list[dict[str, Any]]:
    answer = await client.get(f"/v1/audit?customer_id={customer}&limit=200")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


async def put_as(
    client: httpx.AsyncClient, system: str, source_id: str, payload: dict[str, Any]
) -> str:
    answer = await client.put(f"/v1/sources/{system}/records/{source_id}", json=payload)
    assert answer.status_code in (200, 201), answer.text
    return str(answer.json()["customer"]["id"])


async def test_source_records_name_their_links(client: httpx.AsyncClient) -> None:
    top = await put(client, "top", company(41, 1000))
    top_code = (await client.get(f"/v1/customers/{top}")).json()["customer_code"]
    # By source record (same system when left out), with the relation type and dates.
    sub = await put(
        client,
        "sub",
        company(
            42,
            100,
            relations={
                "parent_source": {"source_id": "top"},
                "parent_relation_type": "affiliate",
                "parent_valid_from": "令和2年4月1日",
            },
        ),
    )
    # By customer code, from another system.
    other = await put_as(
        client, "erp", "E-1", company(43, 10, relations={"parent_customer_code": top_code})
    )
    # A site by its corporation's 法人番号.
    branch = await put(
        client,
        "branch",
        company(44, 5, relations={"site_type": "branch", "site_of_corporate_number": number(42)}),
    )
    top_tree = await tree(client, top)
    assert sorted((c["id"], c["relation_type"]) for c in top_tree["children"]) == sorted(
        [(sub, "affiliate"), (other, "subsidiary")]
    )
    assert next(c for c in top_tree["children"] if c["id"] == sub)["valid_from"] == "2020-04-01"
    assert (await tree(client, branch))["corporation"]["id"] == sub
    rollup = (await client.get(f"/v1/customers/{top}/rollup")).json()
    assert rollup["group"] == {"companies": 3, "sites": 1, "annual_amount": "1115"}

    events = await relation_events(client)
    assert sorted(e["data"]["customer_id"] for e in events) == sorted([sub, other, branch])
    entry = next(
        a for a in await audit_of(client, sub) if a["action"] == "customer.relation_changed"
    )
    assert entry["after"]["set_by"] == "source:crm/sub"
    assert entry["after"]["relation_type"] == "affiliate"

    # The same record again changes nothing; a changed amount reaches the roll-up.
    await put(
        client,
        "branch",
        company(44, 50, relations={"site_type": "branch", "site_of_corporate_number": number(42)}),
    )
    assert len(await relation_events(client)) == 3
    rollup = (await client.get(f"/v1/customers/{top}/rollup")).json()
    assert rollup["group"]["annual_amount"] == "1160"

    # A record that no longer names its parent removes the link it had set.
    await put(client, "sub", company(42, 100))
    assert (await tree(client, sub))["ancestors"] == []
    assert len(await relation_events(client)) == 4


async def test_a_link_waits_for_its_target(client: httpx.AsyncClient) -> None:
    child = await put(
        client,
        "child",
        company(51, 1, relations={"parent_source": {"system": "erp", "source_id": "P-1"}}),
    )
    shop = await put(
        client,
        "shop",
        company(52, 2, relations={"site_type": "store", "site_of_corporate_number": number(53)}),
    )
    waiting = (await tree(client, child))["waiting"]
    assert [(w["axis"], w["target_kind"], w["target"]) for w in waiting] == [
        ("group", "source", "erp/P-1")
    ]
    assert (await tree(client, child))["ancestors"] == []
    assert (await tree(client, shop))["corporation"] is None
    assert await relation_events(client) == []

    parent_co = await put_as(client, "erp", "P-1", company(54, 100))
    corporation = await put(client, "corp", company(53, 1000))
    assert [a["id"] for a in (await tree(client, child))["ancestors"]] == [parent_co]
    assert (await tree(client, shop))["corporation"]["id"] == corporation
    assert (await tree(client, child))["waiting"] == []
    events = await relation_events(client)
    assert sorted(e["data"]["customer_id"] for e in events) == sorted([child, shop])
    # Resolved once: writing the targets again links nothing more.
    await put_as(client, "erp", "P-1", company(54, 101))
    assert len(await relation_events(client)) == 2


async def test_a_waiting_link_that_would_close_a_cycle_is_refused_and_audited(
    client: httpx.AsyncClient,
) -> None:
    # b waits for its parent c; c arrives naming b as its own parent: c → b is linked, and
    # the waiting b → c would close a cycle, so it is refused and the refusal audited.
    b = await put(client, "b", company(61, 1, relations={"parent_source": {"source_id": "c"}}))
    c = await put(client, "c", company(62, 1, relations={"parent_source": {"source_id": "b"}}))
    assert [x["id"] for x in (await tree(client, c))["ancestors"]] == [b]
    assert (await tree(client, b))["ancestors"] == []
    refused = [a for a in await audit_of(client, b) if a["action"] == "customer_relation.refused"]
    assert len(refused) == 1
    assert refused[0]["after"]["parent_id"] == c
    assert refused[0]["after"]["problems"] == ["cycle"]


async def test_bad_and_refused_references_answer_422(client: httpx.AsyncClient) -> None:
    a = await put(client, "a", company(71, 1))
    both = await client.put(
        "/v1/sources/crm/records/x",
        json=company(
            72, 1, relations={"parent_customer_code": "C1", "parent_corporate_number": number(71)}
        ),
    )
    assert both.status_code == 422
    assert both.json()["errors"][0]["field"] == "/relations/parent_corporate_number"
    bad = await client.put(
        "/v1/sources/crm/records/x",
        json=company(72, 1, relations={"site_of_corporate_number": "12345"}),
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "/relations/site_of_corporate_number"
    system = await client.put(
        "/v1/sources/crm/records/x",
        json=company(72, 1, relations={"parent_source": {"system": "a/b", "source_id": "1"}}),
    )
    assert system.status_code == 422
    assert system.json()["errors"][0]["field"] == "/relations/parent_source/system"
    dates = await client.put(
        "/v1/sources/crm/records/x",
        json=company(
            72,
            1,
            relations={
                "parent_source": {"source_id": "a"},
                "parent_valid_from": "2024-04-01",
                "parent_valid_to": "2024-03-31",
            },
        ),
    )
    assert dates.status_code == 422
    assert dates.json()["errors"][0]["field"] == "/relations/parent_valid_to"

    # b under a; then a's record names b as its parent: a cycle, refused, nothing written.
    b = await put(client, "b", company(73, 1, relations={"parent_source": {"source_id": "a"}}))
    assert [x["id"] for x in (await tree(client, b))["ancestors"]] == [a]
    cycle = await client.put(
        "/v1/sources/crm/records/a",
        json=company(71, 999, relations={"parent_source": {"source_id": "b"}}),
    )
    assert cycle.status_code == 422, cycle.text
    problem = cycle.json()["errors"][0]
    assert (problem["field"], problem["code"]) == ("/relations/parent_source", "cycle")
    stored = (await client.get("/v1/sources/crm/records/a")).json()
    assert stored["raw_payload"]["transactions"]["annual_amount"] == 1
    # A record naming itself.
    self_link = await client.put(
        "/v1/sources/crm/records/a",
        json=company(71, 1, relations={"parent_source": {"source_id": "a"}}),
    )
    assert self_link.status_code == 422
    assert self_link.json()["errors"][0]["code"] == "self_link"


async def test_a_steward_link_is_not_replaced_by_a_source(client: httpx.AsyncClient) -> None:
    first = await put(client, "p1", company(81, 1))
    second = await put(client, "p2", company(82, 1))
    child = await put(client, "ch", company(83, 1))
    steward = await client.put(
        f"/v1/customers/{child}/relations/parent",
        json={"parent": {"customer_id": first}, "relation_type": "subsidiary"},
    )
    assert steward.status_code == 200
    await put(client, "ch", company(83, 1, relations={"parent_source": {"source_id": "p2"}}))
    assert [a["id"] for a in (await tree(client, child))["ancestors"]] == [first]
    assert second != first


async def test_in_a_batch_a_refused_link_leaves_its_record_and_the_others(
    client: httpx.AsyncClient,
) -> None:
    # b under a; then a batch where a's record names b as its parent (a cycle) and a new
    # record names a: the records of a batch are stored together, so a's record is stored
    # without the link (refusal audited) and the new record's link is set.
    a = await put(client, "a", company(81, 1))
    b = await put(client, "b", company(82, 1, relations={"parent_source": {"source_id": "a"}}))
    items = [
        {
            "source_id": "a",
            "record": company(81, 999, relations={"parent_source": {"source_id": "b"}}),
        },
        {
            "source_id": "n",
            "record": company(83, 5, relations={"parent_source": {"source_id": "a"}}),
        },
    ]
    answer = await client.post("/v1/sources/crm/records/batch", json={"items": items})
    assert answer.status_code == 200, answer.text
    results = answer.json()["items"]
    assert [r["status"] for r in results] == [200, 201]
    stored = (await client.get("/v1/sources/crm/records/a")).json()
    assert stored["raw_payload"]["transactions"]["annual_amount"] == 999
    assert (await tree(client, a))["ancestors"] == []
    assert [x["id"] for x in (await tree(client, b))["ancestors"]] == [a]
    new = results[1]["customer"]["id"]
    assert [x["id"] for x in (await tree(client, new))["ancestors"]] == [a]
    refused = [x for x in await audit_of(client, a) if x["action"] == "customer_relation.refused"]
    assert len(refused) == 1
    assert refused[0]["after"]["problems"] == ["cycle"]
    assert refused[0]["after"]["source_id"] == "a"
