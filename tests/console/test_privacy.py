"""個人情報 in the console, for 管理者: erase a person with a reason, download the disclosure,
read the access log; and everyone else sees none of it and is refused by the server."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from playwright.async_api import expect

from tests.console.conftest import Hub
from tests.helpers import PERSON, corporation

REASON = "本人からの利用停止・消去請求（2026-12-01 受付 No.123）"
# What the person's record carries and what must be gone after the erasure.
PERSONAL = ("山田", "太郎", "1234-5678", "taro.yamada@example.jp", "1980-05-05", "昭和55年")
SATO = {
    **PERSON,
    "person_name": {"family_name": "佐藤", "given_name": "花子"},
    "phones": [{"number": "090-2222-3333"}],
    "emails": [],
}


async def _put(
    api: httpx.AsyncClient, system: str, source_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    response = await api.put(f"/v1/sources/{system}/records/{source_id}", json=payload)
    assert response.status_code in (200, 201), response.text
    return dict(response.json()["customer"])


def _csrf(cookies: list[Any]) -> str:
    return str(next(c["value"] for c in cookies if c["name"] == "mdm_csrf"))


async def test_erase_a_person_with_a_reason(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        person = await _put(api, "crm", "E-1", PERSON)
        await _put(api, "sfa", "E-2", {**PERSON, "emails": [{"address": "t.yamada@example.jp"}]})
        c = await console("administrator", name="admin-sato")
        await c.goto(f"/console/customers/{person['id']}")
        main = c.page.locator("main")
        await expect(c.page.locator("table.golden")).to_contain_text("090-1234-5678")
        erase = c.page.locator("#erase")
        await expect(erase).to_be_hidden()  # behind the confirmation step
        await c.page.get_by_text("消去（利用停止・消去請求）").click()
        await expect(main).to_contain_text("取り消せません")
        await c.shot("erase_confirmation_step")
        # Neither without a reason nor without the confirmation: the browser keeps the form.
        await erase.click()
        assert await c.page.locator("#erase-reason").evaluate("e => !e.validity.valid")
        await c.page.locator("#erase-reason").fill(REASON)
        await erase.click()
        assert await c.page.locator("#erase-confirm").evaluate("e => !e.validity.valid")
        assert (await api.get(f"/v1/customers/{person['id']}")).json()["status"] == "active"
        await c.page.locator("#erase-confirm").check()
        await erase.click()
        await c.page.wait_for_url(re.compile(r"erased=1"))
        await expect(c.page.locator("#messages")).to_contain_text("消去しました")
        await expect(main.locator(".meta .badge")).to_have_text("消去済み")
        # The tombstone: who, when, why, which source ids.
        await expect(c.page.locator("#erased-by")).to_have_text("admin-sato")
        await expect(c.page.locator("#erased-reason")).to_have_text(REASON)
        await expect(c.page.locator("#erased-sources")).to_contain_text("crm/E-1")
        await expect(c.page.locator("#erased-sources")).to_contain_text("sfa/E-2")
        await expect(c.page.locator(".tombstone")).to_contain_text("JST")
        # The person's values are gone from the page, and no action is left to take.
        text = await main.inner_text()
        for value in PERSONAL:
            assert value not in text, value
        await expect(c.page.locator("#erase")).to_have_count(0)
        await expect(c.page.locator("form.edit")).to_have_count(0)
        # A steward sees the erased state, without the tombstone section (管理者 only, as
        # GET .../erasure; the audit entry customer.erased stays in the history, as GET /v1/audit).
        steward = await console("steward")
        await steward.goto(f"/console/customers/{person['id']}")
        await expect(steward.page.locator("main .meta .badge")).to_have_text("消去済み")
        await expect(steward.page.locator(".tombstone")).to_have_count(0)
        # And from the hub: the API's tombstone is the same.
        customer = (await api.get(f"/v1/customers/{person['id']}")).json()
        assert customer["status"] == "erased"
        stored = json.dumps(customer, ensure_ascii=False)
        for value in ("山田", "太郎", "1234-5678", "12345678", "taro.yamada", "1980-05-05"):
            assert value not in stored, value
        tombstone = (await api.get(f"/v1/customers/{person['id']}/erasure")).json()
        assert tombstone["reason"] == REASON
        assert tombstone["erased_by"] == "admin-sato"
        assert sorted(tombstone["source_ids"]) == ["crm/E-1", "sfa/E-2"]


async def test_an_erase_without_reason_or_confirmation_is_refused_by_the_server(
    hub: Hub, console: Any
) -> None:
    async with hub.api() as api:
        person = await _put(api, "crm", "E-3", PERSON)
        c = await console("administrator")
        await c.goto(f"/console/customers/{person['id']}")
        csrf = _csrf(await c.page.context.cookies())
        url = f"{hub.base_url}/console/customers/{person['id']}/erase"
        for form, says in (
            ({"reason": "  ", "confirm": "yes"}, "消去の理由を入力してください"),
            ({"reason": REASON}, "取り消せないことの確認にチェックしてください"),
            ({"reason": "x" * 1001, "confirm": "yes"}, "理由は 1000 文字以内で入力してください"),
        ):
            answer = await c.page.request.post(
                url, form=form, headers={"X-CSRF-Token": csrf, "HX-Request": "true"}
            )
            assert answer.status == 200, answer.status  # htmx shows it in the message area
            assert says in await answer.text()
        assert (await api.get(f"/v1/customers/{person['id']}")).json()["status"] == "active"
        # A corporation offers no erase action (the service refuses corporations too).
        company = await _put(api, "crm", "E-4", corporation())
        await c.goto(f"/console/customers/{company['id']}")
        await expect(c.page.locator("#disclosure")).to_be_visible()
        await expect(c.page.locator("#erase")).to_have_count(0)


async def test_download_the_disclosure(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        person = await _put(api, "crm", "D-1", PERSON)
        c = await console("administrator")
        await c.goto(f"/console/customers/{person['id']}")
        async with c.page.expect_download() as info:
            await c.page.get_by_role("link", name="開示データをダウンロード（JSON）").click()
        download = await info.value
        assert download.suggested_filename == f"{person['customer_code']}-disclosure.json"
        path = await download.path()
        document = json.loads(path.read_text(encoding="utf-8"))
        assert document["customer"]["customer_code"] == person["customer_code"]
        assert document["customer"]["phones"][0]["number"] == "090-1234-5678"
        assert [(s["system"], s["source_id"]) for s in document["source_records"]] == [
            ("crm", "D-1")
        ]
        assert any(h["action"] == "customer.created" for h in document["history"])
        # The same document as the API's, but for the moment it was made.
        same = (await api.get(f"/v1/customers/{person['id']}/disclosure")).json()
        assert {**document, "generated_at": None} == {**same, "generated_at": None}
        # Handing it over is an access to the person's data: it is in the access log.
        log = (await api.get("/v1/access-log", params={"customer_id": person["id"]})).json()
        assert any(
            e["endpoint"] == "GET /console/customers/{customer_id}/disclosure"
            and e["subject"] == "dev-administrator"
            and e["what"] == "disclosure"
            for e in log["items"]
        ), log


async def test_the_access_log_lists_a_stewards_read(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        person = await _put(api, "crm", "L-1", PERSON)
        other = await _put(api, "crm", "L-2", SATO)
        steward = await console("steward", name="steward-kato")
        await steward.goto(f"/console/customers/{person['id']}")
        await expect(steward.page.locator("table.golden")).to_contain_text("1234-5678")
        # 51 reads of another person by an API client: more than one page of the log.
        async with hub.api(subject="batch-client") as batch:
            for _ in range(51):
                assert (await batch.get(f"/v1/customers/{other['id']}")).status_code == 200

        admin = await console("administrator")
        await admin.page.get_by_role("link", name="アクセス記録", exact=True).click()
        await expect(admin.page.locator("h1")).to_have_text("アクセス記録")
        table = admin.page.locator("table.access")
        # Newest first: the API client's reads come before the steward's.
        await expect(table.locator("tbody tr").first).to_contain_text("batch-client")
        # By user.
        await admin.page.get_by_label("利用者").fill("steward-kato")
        await admin.page.get_by_role("button", name="絞り込む").click()
        rows = table.locator("tbody tr")
        await expect(table).to_contain_text("/phones")
        # One page view, one entry per kind of record it showed (golden record, sources, ...).
        texts = await rows.all_inner_texts()
        assert texts, texts
        for text in texts:
            assert "steward-kato" in text and person["customer_code"] in text, text
            assert "GET /console/customers/{customer_id}" in text, text
        # Paged: 50 a page, the rest on the next.
        await admin.goto("/console/access-log?subject=batch-client")
        await expect(rows).to_have_count(50)
        await admin.page.locator("#older").click()
        await expect(rows).to_have_count(1)
        await expect(admin.page.locator("#older")).to_have_count(0)
        # A code no customer has says so.
        await admin.goto("/console/access-log?customer=NO-SUCH-CODE")
        await expect(admin.page.locator("#err-customer")).to_contain_text(
            "この顧客コードの顧客はいません"
        )
        # By customer, from the customer's page.
        await admin.goto(f"/console/customers/{person['id']}")
        await admin.page.get_by_role("link", name="この顧客のアクセス記録").click()
        await expect(admin.page.get_by_label("顧客（顧客コードまたはID）")).to_have_value(
            person["customer_code"]
        )
        subjects = await table.locator("tbody .subject").all_inner_texts()
        assert "steward-kato" in subjects and "batch-client" not in subjects, subjects


async def test_a_steward_sees_no_privacy_actions_and_is_refused(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        person = await _put(api, "crm", "S-1", PERSON)
        for role in ("steward", "data_entry", "viewer"):
            c = await console(role)
            nav = c.page.get_by_role("navigation", name="メインメニュー")
            await expect(nav).not_to_contain_text("アクセス記録")
            await c.goto(f"/console/customers/{person['id']}")
            main = c.page.locator("main")
            await expect(main.locator("h1")).to_be_visible()
            await expect(c.page.locator("#erase")).to_have_count(0)
            await expect(main).not_to_contain_text("消去")
            await expect(c.page.locator("#disclosure")).to_have_count(0)
            await expect(main).not_to_contain_text("アクセス記録")
            # The server refuses what the page does not offer.
            csrf = _csrf(await c.page.context.cookies())
            refused = await c.page.request.post(
                f"{hub.base_url}/console/customers/{person['id']}/erase",
                form={"reason": REASON, "confirm": "yes"},
                headers={"X-CSRF-Token": csrf},
            )
            assert refused.status == 403, (role, refused.status)
            for path in (f"/console/customers/{person['id']}/disclosure", "/console/access-log"):
                answer = await c.page.request.get(hub.base_url + path)
                assert answer.status == 403, (role, path, answer.status)
                assert "権限がありません" in await answer.text()
        assert (await api.get(f"/v1/customers/{person['id']}")).json()["status"] == "active"
        log = (await api.get("/v1/access-log", params={"customer_id": person["id"]})).json()
        assert not any("disclosure" in e["endpoint"] for e in log["items"]), log
