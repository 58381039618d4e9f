"""The pair page of a review candidate whose customers are tied to more customers by other
waiting candidates: the group side by side, levels coloured per column, decisions per pair or
for the whole group (as the review API allows), and a group that changed meanwhile."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import expect

from tests.console.conftest import Hub
from tests.helpers import corporation

# Same name and postal code only: each new record is unsure against the ones before.
UNSURE: dict[str, Any] = {
    "corporate_number": None,
    "phones": [],
    "emails": [],
    "addresses": [{"postal_code": "100-0005"}],
}
RECORDS = [
    ("crm", "A-1", corporation()),
    ("sfa", "S-1", corporation(**UNSURE)),
    (
        "erp",
        "E-1",
        corporation(
            **{**UNSURE, "addresses": [{"postal_code": "100-0005", "prefecture": "東京都"}]}
        ),
    ),
    ("web", "W-1", corporation(**{**UNSURE, "emails": [{"address": "x@other.example.jp"}]})),
]


async def _group(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    made = []
    for system, source_id, payload in RECORDS:
        answer = await api.put(f"/v1/sources/{system}/records/{source_id}", json=payload)
        assert answer.status_code == 201, answer.text
        made.append(answer.json())
    assert [m["decision"]["outcome"] for m in made] == ["new_customer"] + ["review"] * 3
    return [m["customer"] for m in made]


async def _pending(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (
        await api.get("/v1/match-candidates", params={"status": "pending"})
    ).json()["items"]
    return items


async def test_the_group_side_by_side_and_a_decision_per_pair(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        people = await _group(api)
        codes = sorted(p["customer_code"] for p in people)
        pending = await _pending(api)
        assert len(pending) == 6
        c = await console("steward")
        await c.goto("/console/review/next")
        group = c.page.locator("#group")
        await expect(group.locator("h2")).to_contain_text("4 件の顧客")
        headers = group.locator("table.group-compare thead th[data-customer]")
        shown = await headers.evaluate_all("cells => cells.map(c => c.dataset.customer)")
        assert sorted(shown) == codes
        # Every column but the first is coloured by its comparison; the first is the reference.
        name_row = group.locator("table.group-compare tr[data-field='name'] td")
        await expect(name_row).to_have_count(4)
        assert await name_row.nth(0).get_attribute("data-level") is None
        for i in (1, 2, 3):
            await expect(name_row.nth(i)).to_have_attribute("data-level", "exact")
        phone_levels = await group.locator("tr[data-field='phone'] td").evaluate_all(
            "cells => cells.map(c => c.dataset.level || null)"
        )
        assert phone_levels[0] is None and set(phone_levels[1:]) <= {"missing", "different"}
        await expect(group.locator("table.group-pairs tbody tr")).to_have_count(6)
        await c.shot("review_group")
        # One pair of the group, decided on its own: 別人・別会社.
        this_id = int(c.page.url.rsplit("/", 1)[1])
        other = next(p for p in pending if p["id"] != this_id)
        await group.locator(f"tr[data-candidate='{other['id']}'] button.pair-distinct").click()
        await expect(c.page.locator("#messages")).to_contain_text("別人")
        distinct = (await api.get("/v1/match-candidates", params={"status": "distinct"})).json()
        assert [d["id"] for d in distinct["items"]] == [other["id"]]
        assert len(await _pending(api)) == 5  # the others still wait


async def test_merge_the_whole_group_and_a_group_that_changed(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        people = await _group(api)
        c = await console("steward")
        await c.goto("/console/review/next")
        await expect(c.page.locator("#merge-group")).to_contain_text("4 件をまとめて統合")
        # Meanwhile another steward merges the two other customers of the group (through the
        # API): the page's group of four is no longer the group.
        this_id = int(c.page.url.rsplit("/", 1)[1])
        pending = await _pending(api)
        this = next(p for p in pending if p["id"] == this_id)
        pair = {this["customer_a"]["id"], this["customer_b"]["id"]}
        apart = next(
            p for p in pending if not {p["customer_a"]["id"], p["customer_b"]["id"]} & pair
        )
        decided = await api.post(
            f"/v1/match-candidates/{apart['id']}/decision", json={"decision": "merge"}
        )
        assert decided.status_code == 200, decided.text
        await c.page.locator("#merge-group").click()
        await expect(c.page.locator("#messages")).to_contain_text("このグループは変わりました")
        statuses = [(await api.get(f"/v1/customers/{p['id']}")).json()["status"] for p in people]
        assert statuses.count("active") == 3  # only the other steward's merge happened
        # Reloaded, the group of three merges into the oldest customer.
        await c.page.reload()
        await expect(c.page.locator("#merge-group")).to_contain_text("3 件をまとめて統合")
        await c.page.locator("#merge-group").click()
        await c.page.wait_for_url(re.compile(r"/console/review(\?|$)"))
        await expect(c.page.locator("#messages")).to_contain_text("統合しました")
        oldest = min(people, key=lambda p: p["customer_code"])
        survivor = (await api.get(f"/v1/customers/{oldest['id']}")).json()
        assert survivor["status"] == "active"
        sources = (await api.get(f"/v1/customers/{oldest['id']}/sources")).json()
        systems = {s["system"] for s in sources}
        assert {"crm", "sfa", "erp", "web"} <= systems
        for p in people:
            if p["id"] != oldest["id"]:
                assert (await api.get(f"/v1/customers/{p['id']}")).json()["status"] == "merged"
        assert await _pending(api) == []
