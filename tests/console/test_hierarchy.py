"""The corporate hierarchy on the customer page: the tree, the roll-ups, and a steward deciding
matching's site proposal, in Chromium."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import expect

from tests.console.conftest import Hub
from tests.hierarchy.test_hierarchy_api import company, number
from tests.hierarchy.test_site_matching import bank


async def _put(api: httpx.AsyncClient, source_id: str, payload: dict[str, Any]) -> str:
    answer = await api.put(f"/v1/sources/crm/records/{source_id}", json=payload)
    assert answer.status_code in (200, 201), answer.text
    return str(answer.json()["customer"]["id"])


async def test_the_tree_and_roll_ups_on_the_customer_page(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        await _put(api, "top", company(201, 5_000_000, name="株式会社甲ホールディングス"))
        mid = await _put(
            api,
            "mid",
            company(
                202,
                1_200_000,
                name="甲商事株式会社",
                relations={"parent_source": {"source_id": "top"}},
            ),
        )
        await _put(
            api,
            "low",
            company(
                203,
                300_000,
                name="甲物流株式会社",
                relations={
                    "parent_source": {"source_id": "mid"},
                    "parent_relation_type": "affiliate",
                },
            ),
        )
        for i, (name, kind) in enumerate(
            (("甲商事株式会社 大阪支店", "branch"), ("甲商事株式会社 川崎工場", "factory"))
        ):
            await _put(
                api,
                f"site-{i}",
                company(
                    210 + i,
                    50_000,
                    name=name,
                    relations={"site_type": kind, "site_of_corporate_number": number(202)},
                ),
            )
        c = await console("steward")
        await c.goto(f"/console/customers/{mid}")
        tree = c.page.locator("#hierarchy .tree")
        await expect(tree.locator("li.ancestor")).to_contain_text("株式会社甲ホールディングス")
        await expect(tree.locator("li.self > strong")).to_contain_text("甲商事株式会社")
        await expect(tree.locator("li.member")).to_contain_text("甲物流株式会社")
        await expect(tree.locator("li.member .relation")).to_have_text("関連会社")
        await expect(tree.locator("li.site")).to_have_count(2)
        await expect(tree.locator("li.site").first).to_contain_text("大阪支店")
        await expect(c.page.locator("#rollup-own")).to_have_text("¥1,200,000")
        await expect(c.page.locator("#rollup-direct")).to_contain_text("¥1,300,000")
        group = c.page.locator("#rollup-group td")
        await expect(group).to_have_text(["2", "2", "¥1,600,000"])
        # A site's page names its corporation; the tree links lead there.
        await tree.locator("li.site a").first.click()
        await expect(c.page.locator("#hierarchy .site-of")).to_contain_text("甲商事株式会社")
        await c.page.locator("#hierarchy .site-of a").click()
        await expect(c.page.locator("h1")).to_contain_text("甲商事株式会社")
        # A link waiting for a target the hub does not hold yet is shown as such.
        orphan = await _put(
            api, "orphan", company(230, 1, relations={"parent_source": {"source_id": "later"}})
        )
        await c.goto(f"/console/customers/{orphan}")
        await expect(c.page.locator("#hierarchy .waiting")).to_contain_text("crm/later")
        await c.goto(f"/console/customers/{mid}")  # the page kept as the screenshot


async def test_a_steward_accepts_a_proposed_site(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        head = await _put(api, "H", bank("城北信用金庫", 220, "6-6-6", "03-1111-0001"))
        odd = await _put(api, "O", bank("北信用組合 本町支店", 220, "7-7-7", "03-1111-0002"))
        c = await console("steward")
        await c.goto(f"/console/customers/{head}")
        proposal = c.page.locator("#hierarchy .proposals li")
        await expect(proposal).to_contain_text("北信用組合 本町支店")
        await proposal.get_by_role("button", name="事業所としてリンク").click()
        await expect(c.page.locator("#hierarchy li.site")).to_contain_text("北信用組合 本町支店")
        await expect(c.page.locator("#hierarchy .proposals")).to_have_count(0)
        tree = (await api.get(f"/v1/customers/{odd}/hierarchy")).json()
        assert tree["corporation"]["id"] == head
