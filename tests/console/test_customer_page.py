"""The customer page in Chromium: the history as one timeline of audit entries and change
events, the edit form over the golden record's fields with problems shown at the field, and an
Idempotency-Key replay of an edit answering what the first request answered."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
from playwright.async_api import APIResponse, Route, expect
from playwright.async_api import Request as BrowserRequest

from tests.console.conftest import Hub
from tests.helpers import PERSON, corporation


async def _put(
    api: httpx.AsyncClient, system: str, source_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    response = await api.put(f"/v1/sources/{system}/records/{source_id}", json=payload)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


async def _changes_of(api: httpx.AsyncClient, customer_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = (await api.get("/v1/changes", params={"after": after} if after else {})).json()
        found += [i for i in page["items"] if i["data"]["customer_id"] == customer_id]
        after = page["next_cursor"]
        if not page["has_more"]:
            return found


async def test_history_shows_change_events_beside_audit_entries(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        customer = (await _put(api, "crm", "A-1", corporation()))["customer"]
        await _put(api, "sfa", "S-1", corporation(classification={"industry": "小売業"}))
        patched = await api.patch(
            f"/v1/customers/{customer['id']}",
            json={"classification": {"rank": "A"}},
            headers={"If-Match": '"2"'},
        )
        assert patched.status_code == 200, patched.text
        changes = await _changes_of(api, customer["id"])
        assert len(changes) >= 3, changes
        c = await console("steward")
        await c.goto(f"/console/customers/{customer['id']}")
        timeline = c.page.locator("ol.timeline")
        events = timeline.locator("li.event")
        await expect(events).to_have_count(len(changes))
        # Each event of the change feed is there, newest first, with its type and version.
        shown = await events.evaluate_all(
            "items => items.map(i => [i.dataset.type, i.dataset.version])"
        )
        expected = [[e["type"], str(e["data"]["customer_version"])] for e in reversed(changes)]
        assert shown == expected, (shown, expected)
        await expect(events.first).to_contain_text("/classification")
        # The audit entries are in the same list, interleaved by time (newest first).
        audits = timeline.locator("li.audit")
        assert await audits.count() >= 3
        times = await timeline.locator("li > p:first-child time").evaluate_all(
            "items => items.map(t => t.getAttribute('datetime'))"
        )
        instants = [dt.datetime.fromisoformat(t) for t in times]
        assert instants == sorted(instants, reverse=True), times
        kinds = await timeline.locator("li").evaluate_all("items => items.map(i => i.className)")
        assert kinds[0] == "event" and "audit" in kinds, kinds
        await c.page.locator("#hist-h").scroll_into_view_if_needed()


async def test_edit_the_golden_record_fields_with_problems_at_the_field(
    hub: Hub, console: Any
) -> None:
    async with hub.api() as api:
        made = await api.post(
            "/v1/custom-fields",
            json={
                "key": "sales_area",
                "label": "営業エリア",
                "type": "enum",
                "allowed_values": ["東日本", "西日本"],
            },
        )
        assert made.status_code == 201, made.text
        made = await api.post(
            "/v1/custom-fields", json={"key": "seats", "label": "席数", "type": "integer"}
        )
        assert made.status_code == 201, made.text
        customer = (await _put(api, "crm", "A-1", corporation()))["customer"]
        c = await console("data_entry")
        await c.goto(f"/console/customers/{customer['id']}")
        page = c.page
        await page.get_by_label("フリガナ").fill("エービーシーショウジホールディングス")
        await page.get_by_label("インボイス登録番号").fill("T7000012050002")
        await page.get_by_label("番地").fill("2-3-4")
        await page.get_by_label("建物名").fill("新丸の内ビル10F")
        await page.get_by_label(re.compile("^電話番号")).fill("03-1234-5678\n06-6123-4567")
        await page.get_by_label(re.compile("^メールアドレス")).fill("sales@abc-shoji.example.jp")
        await page.get_by_label("業種").fill("製造業")
        await page.get_by_label("ランク").fill("S")
        await page.get_by_label("取引金額（年間・円）").fill("15,000,000")
        await page.get_by_label("従業員数").fill("百二十人")  # not a number
        await page.get_by_label("営業エリア").select_option("西日本")
        await page.get_by_label("席数").fill("12")
        await page.get_by_role("button", name="保存").click()
        # The problem is shown at its field; nothing was written.
        problem = page.locator("#edit-company_profile-employees-error")
        await expect(problem).to_be_visible()
        await expect(page.get_by_label("従業員数")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#edit-problems")).to_contain_text("保存できませんでした")
        await c.shot("edit_problem_at_the_field")
        unchanged = (await api.get(f"/v1/customers/{customer['id']}")).json()
        assert unchanged["version"] == customer["version"]
        assert unchanged["classification"].get("rank") is None
        # What was typed is still in the form: correct the one field and save.
        await expect(page.get_by_label("ランク")).to_have_value("S")
        await page.get_by_label("従業員数").fill("130")
        await page.get_by_role("button", name="保存").click()
        await expect(page.locator("#messages")).to_contain_text("保存しました")
        saved = (await api.get(f"/v1/customers/{customer['id']}")).json()
        assert saved["version"] == customer["version"] + 1
        assert saved["name_kana"] == "エービーシーショウジホールディングス"
        assert saved["invoice_registration_number"] == "T7000012050002"
        assert saved["addresses"][0]["street"] != corporation()["addresses"][0]["street"]
        assert saved["addresses"][0]["building"].startswith("新丸の内ビル")
        assert saved["addresses"][0]["city"] == "千代田区"  # the untouched parts stay
        assert [p["e164"] for p in saved["phones"]] == ["+81312345678", "+81661234567"]
        assert [e["address"] for e in saved["emails"]] == ["sales@abc-shoji.example.jp"]
        assert saved["classification"]["industry"] == "製造業"
        assert saved["classification"]["rank"] == "S"
        assert saved["classification"]["region"] == "関東"  # not in the patch: kept
        assert saved["transactions"]["annual_amount"] == 15_000_000
        assert saved["company_profile"]["employees"] == 130
        assert saved["custom_fields"] == {"sales_area": "西日本", "seats": 12}
        # The form shows the saved values, and the history the change's event.
        await expect(page.get_by_label("従業員数")).to_have_value("130")
        await expect(page.get_by_label("営業エリア")).to_have_value("西日本")
        await expect(page.locator("ol.timeline li.event").first).to_contain_text("/custom_fields")


async def test_a_persons_name_parts_and_a_bad_phone_at_its_field(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        person = (await _put(api, "crm", "P-1", PERSON))["customer"]
        c = await console("steward")
        await c.goto(f"/console/customers/{person['id']}")
        page = c.page
        await page.get_by_label("名", exact=True).fill("次郎")
        await page.get_by_label("名（カナ）").fill("ジロウ")
        await page.get_by_label(re.compile("^電話番号")).fill("090-1234-5678\n12")
        await page.get_by_role("button", name="保存").click()
        await expect(page.locator("#edit-phones-error")).to_be_visible()
        assert (await api.get(f"/v1/customers/{person['id']}")).json()["version"] == 1
        await page.get_by_label(re.compile("^電話番号")).fill("090-1234-5678")
        await page.get_by_role("button", name="保存").click()
        await expect(page.locator("#messages")).to_contain_text("保存しました")
        saved = (await api.get(f"/v1/customers/{person['id']}")).json()
        assert saved["person_name"]["given_name"] == "次郎"
        assert saved["person_name"]["given_name_kana"] == "ジロウ"
        assert saved["person_name"]["family_name"] == "山田"


async def test_a_replayed_edit_answers_what_the_first_answered(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        customer = (await _put(api, "crm", "A-1", corporation()))["customer"]
        c = await console("data_entry")
        await c.goto(f"/console/customers/{customer['id']}")
        sent: list[tuple[BrowserRequest, APIResponse, str]] = []

        async def keep(route: Route) -> None:
            answer = await route.fetch()
            sent.append((route.request, answer, await answer.text()))
            await route.fulfill(response=answer)

        await c.page.route(re.compile(r"/edit$"), keep)
        await c.page.get_by_label("ランク").fill("A")
        await c.page.get_by_role("button", name="保存").click()
        await expect(c.page.locator("#messages")).to_contain_text("保存しました")
        await c.page.wait_for_url(re.compile(r"saved=1"))
        original, first, first_body = sent[0]
        assert first.status == 200 and "保存しました" in first_body
        # The same request again (same Idempotency-Key, same body): the same answer, replayed.
        headers = await original.all_headers()
        replay = await c.page.request.post(
            original.url,
            data=original.post_data_buffer,
            headers={
                "Content-Type": headers["content-type"],
                "Idempotency-Key": headers["idempotency-key"],
                "X-CSRF-Token": headers["x-csrf-token"],
                "HX-Request": "true",
            },
        )
        assert replay.status == first.status
        assert replay.headers.get("idempotent-replayed") == "true"
        assert await replay.text() == first_body
        assert replay.headers["hx-redirect"] == first.headers["hx-redirect"]
        assert replay.headers["hx-redirect"].endswith("?saved=1")
        after = (await api.get(f"/v1/customers/{customer['id']}")).json()
        assert after["version"] == customer["version"] + 1  # written once


async def test_a_protected_field_edited_in_the_console_waits_for_approval(
    hub: Hub, console: Any
) -> None:
    async with hub.api() as api:
        protected = await api.put(
            "/v1/protected-fields", json={"fields": [{"pointer": "/corporate_number"}]}
        )
        assert protected.status_code == 200, protected.text
        customer = (await _put(api, "crm", "A-1", corporation()))["customer"]
        c = await console("steward")
        await c.goto(f"/console/customers/{customer['id']}")
        await c.page.get_by_label("法人番号", exact=True).fill("1010001000006")
        await c.page.get_by_label("ランク").fill("B")
        await c.page.get_by_role("button", name="保存").click()
        await expect(c.page.locator("#messages")).to_contain_text("別の管理者の承認を待ちます")
        # Nothing of the edit is written; it waits as a change request, as a PATCH would.
        after = (await api.get(f"/v1/customers/{customer['id']}")).json()
        assert after["version"] == customer["version"]
        assert after["corporate_number"] == corporation()["corporate_number"]
        assert after["classification"].get("rank") is None
        waiting = (await api.get("/v1/change-requests")).json()["items"]
        assert len(waiting) == 1 and waiting[0]["customer_id"] == customer["id"]
