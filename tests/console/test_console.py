"""The steward console in Chromium against a live hub: each flow a steward, a data-entry clerk
or a viewer goes through, with what the database then holds checked through the API."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
from playwright.async_api import expect

from tests.console.conftest import Hub
from tests.events.receiver import Receiver
from tests.helpers import PERSON, corporation, other_corporation

# Same name and postal code, nothing else: the hub is unsure and queues the pair for review.
UNSURE = corporation(
    corporate_number=None, phones=[], emails=[], addresses=[{"postal_code": "100-0005"}]
)


async def _put(
    api: httpx.AsyncClient, system: str, source_id: str, payload: dict[str, Any]
) -> dict:
    response = await api.put(f"/v1/sources/{system}/records/{source_id}", json=payload)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def _review_pair(api: httpx.AsyncClient) -> tuple[dict, dict, dict]:
    first = await _put(api, "crm", "A-1", corporation())
    unsure = await _put(api, "sfa", "S-1", UNSURE)
    assert unsure["decision"]["outcome"] == "review"
    pair = (await api.get("/v1/match-candidates")).json()["items"][0]
    return first["customer"], unsure["customer"], pair


async def test_sign_in_per_role_shows_what_the_role_may_use(hub: Hub, console: Any) -> None:
    expected = {
        "administrator": {
            "確認待ち",
            "顧客検索",
            "連携",
            "アクセス記録",
            "データ品質",
            "承認待ち",
            "取込",
        },
        "steward": {"確認待ち", "顧客検索", "連携", "データ品質", "承認待ち", "取込"},
        "data_entry": {"顧客検索", "データ品質", "取込"},
        "viewer": {"顧客検索", "データ品質"},
    }
    for role, pages in expected.items():
        c = await console(role)
        nav = c.page.get_by_role("navigation", name="メインメニュー")
        links = set(await nav.get_by_role("link").all_inner_texts())
        assert pages <= links, (role, links)
        hidden = {"確認待ち", "連携", "アクセス記録", "承認待ち", "取込"} - pages
        assert not hidden & links, (role, links)
        await expect(c.page.locator("header")).to_contain_text(
            {"administrator": "管理者", "steward": "データ管理者", "data_entry": "入力者",
             "viewer": "利用者"}[role]
        )  # fmt: skip
    # The server refuses what the page does not offer: a viewer opening the queue directly.
    viewer = await console("viewer")
    await viewer.goto("/console/review")
    await expect(viewer.page.locator("main")).to_contain_text("権限がありません")
    viewer.errors.remove(
        "Failed to load resource: the server responded with a status of 403 (Forbidden)"
    )
    # English on request.
    await viewer.goto("/console")
    await viewer.page.get_by_role("link", name="English").click()
    await expect(viewer.page.get_by_role("navigation", name="Main menu")).to_contain_text(
        "Customers"
    )


async def test_merge_a_review_candidate_with_the_keyboard(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        await _review_pair(api)
        # A second pair waits in the queue too.
        await _put(api, "crm", "X-1", other_corporation(5, name="株式会社テスト工業"))
        await _put(api, "sfa", "X-2", {**UNSURE, "name": "株式会社テスト工業", "name_kana": None,
                                      "addresses": [{"postal_code": "530-0001"}]})  # fmt: skip
        queue = (await api.get("/v1/match-candidates")).json()["items"]  # most probable first
        assert len(queue) == 2
        top, second = queue
        survivor, absorbed = sorted(
            (top["customer_a"], top["customer_b"]), key=lambda c: c["customer_code"]
        )
        c = await console("steward", name="alice")
        await c.goto("/console/review")
        await expect(c.page.locator("#waiting-count")).to_have_text("2")
        await c.page.get_by_role("link", name=re.compile("開く")).click()
        await expect(c.page).to_have_url(re.compile(f"/console/review/{top['id']}$"))
        # Fields coloured by comparison level; the waterfall; the reason.
        await expect(c.page.locator("table.compare tr[data-level]").first).to_be_visible()
        await expect(c.page.locator("svg.waterfall rect.bar.total")).to_have_count(1)
        await expect(c.page.locator(".reason")).to_contain_text("自動統合の基準")
        await c.shot("review_pair")  # the README's screenshot (docs/console-review.png)
        await c.page.locator("#comment").fill("同じ会社（電話で確認）")
        await c.page.locator("h1").click()  # focus off the text box: keys are shortcuts again
        await c.page.keyboard.press("y")
        # The next pair opens, saying what happened to the last one.
        await expect(c.page).to_have_url(
            re.compile(f"/console/review/{second['id']}\\?done=merged")
        )
        await expect(c.page.locator("#messages")).to_contain_text("統合しました")
        merged = (await api.get(f"/v1/customers/{absorbed['id']}")).json()
        assert merged["status"] == "merged" and merged["merged_into_id"] == survivor["id"]
        # The customer page shows the change: both sources and the merged-away customer.
        await c.goto(f"/console/customers/{survivor['id']}")
        await expect(c.page.locator("table.sources tbody tr")).to_have_count(2)
        await expect(c.page.locator("main")).to_contain_text(absorbed["customer_code"])
        audit = (await api.get("/v1/audit", params={"action": "match_candidate.comment"})).json()
        assert audit["items"][0]["after"]["comment"] == "同じ会社（電話で確認）"
        assert audit["items"][0]["actor"].startswith("alice")


async def test_mark_distinct_and_it_is_never_proposed_again(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        _, _, pair = await _review_pair(api)
        c = await console("steward", width=375)  # a glance from a phone
        await c.goto(f"/console/review/{pair['id']}")
        assert await c.page.evaluate("document.documentElement.scrollWidth") <= 375
        await c.shot("review_pair_375")
        await c.page.keyboard.press("n")
        await expect(c.page.locator("#messages")).to_contain_text("別人・別会社として記録しました")
        # The same records again: the pair is not queued again.
        await _put(api, "sfa", "S-1", {**UNSURE, "name_kana": "エービーシーショウジ"})
        assert (await api.get("/v1/match-candidates")).json()["items"] == []
        await c.goto("/console/review")
        await expect(c.page.locator("main")).to_contain_text("確認待ちの候補はありません")


async def test_another_steward_decided_first(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        _, _, pair = await _review_pair(api)
        c = await console("steward")
        await c.goto(f"/console/review/{pair['id']}")
        decided = await api.post(
            f"/v1/match-candidates/{pair['id']}/decision", json={"decision": "distinct"}
        )
        assert decided.status_code == 200
        await c.page.locator("#merge").click()
        await expect(c.page.locator("#messages")).to_contain_text("他の担当者が先に判定しました")
        assert (await api.get("/v1/match-candidates", params={"status": "distinct"})).json()[
            "items"
        ]


async def test_unmerge_a_source_from_the_customer_page(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        first, unsure, pair = await _review_pair(api)
        await api.post(f"/v1/match-candidates/{pair['id']}/decision", json={"decision": "merge"})
        c = await console("steward")
        await c.goto(f"/console/customers/{first['id']}")
        await c.page.get_by_role("button", name="切り離す: sfa/S-1").click()
        await expect(c.page.locator("#messages")).to_contain_text("sfa/S-1 を切り離しました")
        sources = (await api.get(f"/v1/customers/{first['id']}/sources")).json()
        assert [(s["system"], s["source_id"]) for s in sources] == [("crm", "A-1")]
        revived = (await api.get(f"/v1/customers/{unsure['id']}")).json()
        assert revived["status"] == "active"  # exactly what the merge brought: revived


async def test_find_a_customer_by_a_phone_in_any_spelling(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        customer = (await _put(api, "crm", "A-1", corporation()))["customer"]
        c = await console("viewer", width=375, height=800)
        await c.page.get_by_role("link", name="顧客検索").click()
        await c.page.get_by_label("電話番号（どんな書き方でも）").fill("０３（１２３４）５６７８")
        await c.page.get_by_role("button", name="検索").click()
        row = c.page.locator("table.results tbody tr")
        await expect(row).to_have_count(1)
        await expect(row).to_contain_text(customer["customer_code"])
        # The values as a person reads them, not the models' repr (number='…' e164='…').
        await expect(row).to_contain_text("03-1234-5678")
        await expect(row).to_contain_text("info@abc-shoji.example.jp")
        await expect(row).to_contain_text("〒1000005 東京都 千代田区 丸の内")
        await expect(row).not_to_contain_text("number=")
        await row.get_by_role("link", name=customer["name"]).click()
        await expect(c.page.locator("h1")).to_contain_text(customer["name"])
        # Nothing wider than the phone's screen.
        width = await c.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, width


async def test_edit_a_field_and_the_stale_message(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        customer = (await _put(api, "crm", "A-1", corporation()))["customer"]
        c = await console("data_entry")
        await c.goto(f"/console/customers/{customer['id']}")
        await c.page.get_by_label("ランク").fill("A")
        await c.page.get_by_role("button", name="保存").click()
        await expect(c.page.locator("#messages")).to_contain_text("保存しました")
        assert (await api.get(f"/v1/customers/{customer['id']}")).json()["classification"][
            "rank"
        ] == "A"
        version = int(await c.page.locator("#version").inner_text())
        # Someone else edits while this page is open.
        other = await api.patch(
            f"/v1/customers/{customer['id']}",
            json={"classification": {"rank": "B"}},
            headers={"If-Match": f'"{version}"'},
        )
        assert other.status_code == 200, other.text
        await c.page.get_by_label("ランク").fill("S")
        await c.page.get_by_role("button", name="保存").click()
        await expect(c.page.locator("#messages")).to_contain_text(
            "他の人が先にこの顧客を変更しました"
        )
        assert (await api.get(f"/v1/customers/{customer['id']}")).json()["classification"][
            "rank"
        ] == "B"


async def test_a_viewer_sees_masked_values_and_no_buttons(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        person = (await _put(api, "crm", "P-1", PERSON))["customer"]
        await _put(api, "sfa", "P-2", {**PERSON, "emails": [{"address": "t.yamada@example.jp"}]})
        c = await console("viewer")
        await c.goto(f"/console/customers/{person['id']}")
        golden = c.page.locator("table.golden")
        await expect(golden).to_contain_text("***")
        await expect(golden).not_to_contain_text("090-1234-5678")
        await expect(c.page.locator("main button")).to_have_count(0)
        await expect(c.page.locator("form.edit")).to_have_count(0)
        # No audit:read: the history shows the change events, not the audit entries.
        await expect(c.page.locator("ol.timeline li.event").first).to_be_visible()
        await expect(c.page.locator("ol.timeline li.audit")).to_have_count(0)
        # And the server refuses the action the page did not offer.
        csrf = next(x["value"] for x in await c.page.context.cookies() if x["name"] == "mdm_csrf")
        refused = await c.page.request.post(
            f"{hub.base_url}/console/customers/{person['id']}/edit",
            form={"version": "1", "name_kana": "ヤマダ"},
            headers={"X-CSRF-Token": csrf},
        )
        assert refused.status == 403
        # A steward sees the phone, and that read is in the access log (privacy), as for the API.
        steward = await console("steward")
        await steward.goto(f"/console/customers/{person['id']}")
        await expect(steward.page.locator("table.golden")).to_contain_text("1234-5678")
        await expect(steward.page.locator("table.golden")).not_to_contain_text("***")
        log = (await api.get("/v1/access-log", params={"customer_id": person["id"]})).json()
        assert any(
            e["endpoint"] == "GET /console/customers/{customer_id}"
            and e["subject"] == "dev-steward"
            for e in log["items"]
        ), log


async def test_a_post_without_the_csrf_token_is_refused(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        customer = (await _put(api, "crm", "A-1", corporation()))["customer"]
        c = await console("administrator")
        refused = await c.page.request.post(
            f"{hub.base_url}/console/customers/{customer['id']}/edit",
            form={"version": "1", "rank": "S"},
        )
        assert refused.status == 403
        assert (await api.get(f"/v1/customers/{customer['id']}")).json()["classification"].get(
            "rank"
        ) != "S"


async def test_replay_a_dead_letter(hub: Hub, console: Any, receiver: Receiver) -> None:
    down = {"on": True}
    async with hub.api() as api:
        created = await api.post("/v1/webhooks/endpoints", json={"url": receiver.url("console")})
        assert created.status_code == 201, created.text
        endpoint = created.json()
        receiver.register("console", endpoint["secret"])
        receiver.responders["/hooks/console"] = lambda _, __: ((500 if down["on"] else 204), {})
        await _put(api, "crm", "A-1", corporation())
        deadline = time.monotonic() + 30
        while (await api.get(f"/v1/webhooks/endpoints/{endpoint['id']}")).json()[
            "dead_deliveries"
        ] < 1:
            assert time.monotonic() < deadline, "the delivery never went dead"
            await asyncio.sleep(0.1)
        c = await console("administrator")
        await expect(c.page.locator("#dead-letters")).to_have_text("1")
        await c.page.get_by_role("link", name="連携", exact=True).click()
        await c.page.get_by_role("link", name=receiver.url("console")).click()
        down["on"] = False
        await c.page.locator("button.replay").first.click()
        await expect(c.page.locator("#messages")).to_contain_text("再送を予約しました（1 件）")
        got = await receiver.wait_for("console", lambda r: len(r) >= 1)
        deadline = time.monotonic() + 30
        while (await api.get(f"/v1/webhooks/endpoints/{endpoint['id']}")).json()["dead_deliveries"]:
            assert time.monotonic() < deadline, "the replayed delivery was not delivered"
            await asyncio.sleep(0.1)
        assert got[0].payload["type"] == "customer.created"
        await c.page.reload()
        await expect(c.page.locator("#dead-count")).to_have_text("0")
        # Secret rotation shows the new secret once; a test ping is signed with both.
        await c.page.get_by_role("button", name="署名シークレットを更新").click()
        await expect(c.page.locator("#messages code.secret")).to_contain_text("whsec_")
        await c.page.get_by_role("button", name="テスト送信").click()
        await expect(c.page.locator("#messages")).to_contain_text("テスト送信の結果: delivered")
        assert not receiver.unverified
