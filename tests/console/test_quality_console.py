"""データ品質 and 承認待ち in the browser: the KPIs with their trend and bars, the findings with
filters and links to the customers; change requests with their diff, decided by a second
管理者 — and refused by the server for the requester, a steward, a viewer, or without CSRF."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import asyncpg
import httpx
from playwright.async_api import expect

from tests.conftest import _asyncpg_dsn
from tests.console.conftest import Hub
from tests.helpers import PERSON, corporation, other_corporation

FORBIDDEN = "Failed to load resource: the server responded with a status of 403 (Forbidden)"


async def _put(api: httpx.AsyncClient, system: str, source_id: str, body: dict[str, Any]) -> Any:
    answer = await api.put(f"/v1/sources/{system}/records/{source_id}", json=body)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


async def _keep_history(database_url: str, figures: dict[str, Any]) -> None:
    """Three earlier days of the history, with fewer phones filled than today."""
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        today = dt.date.fromisoformat(figures["day"])
        for back, share in ((3, 0.25), (2, 0.5), (1, 0.5)):
            old = json.loads(json.dumps(figures))
            old["completeness"]["all"]["phone"]["share"] = share
            old["error_rate"]["all"]["share"] = 0.5
            day = today - dt.timedelta(days=back)
            old["day"] = day.isoformat()
            await conn.execute(
                "INSERT INTO quality_kpi_snapshots (day, computed_at, figures) "
                "VALUES ($1, now(), $2::jsonb) ON CONFLICT (day) DO UPDATE SET figures = $2::jsonb",
                day,
                json.dumps(old),
            )
    finally:
        await conn.close()


async def test_the_quality_page_shows_kpis_trends_and_findings(
    hub: Hub, console: Any, database_url: str
) -> None:
    async with hub.api() as api:
        await _put(api, "crm", "Q-1", corporation())
        bad_phone = {**PERSON, "phones": [{"number": "090-0000-0000", "purpose": "mobile"}]}
        person = (await _put(api, "crm", "Q-2", bad_phone))["customer"]
        await _put(api, "web", "Q-3", other_corporation(7))
        taken = await api.post("/v1/quality/kpis/snapshots")
        assert taken.status_code == 200, taken.text
        await _keep_history(database_url, taken.json())
        kpis = (await api.get("/v1/quality/kpis")).json()

    c = await console("viewer")
    nav = c.page.get_by_role("navigation", name="メインメニュー")
    await nav.get_by_role("link", name="データ品質").click()
    await expect(c.page.locator("h1")).to_have_text("データ品質")
    main = c.page.locator("main")
    active = kpis["customers"]["all"]["active"]
    await expect(c.page.locator("#kpi-active .tile-value")).to_have_text(f"{active:,}")
    share = kpis["error_rate"]["all"]["share"]
    await expect(c.page.locator("#kpi-error-rate .tile-value")).to_have_text(f"{share * 100:.1f}%")
    # The trend: four days (three kept, today), a line per figure, the latest value beside it.
    await expect(c.page.locator("#trend-days")).to_contain_text("4 日分")
    rates = c.page.locator("#trend-rates")
    await expect(rates.locator("polyline")).to_have_count(5)
    phone_line = rates.locator("polyline.line-3")  # 電話: the second completeness line
    assert len((await phone_line.get_attribute("points") or "").split()) == 4
    phone_share = kpis["completeness"]["all"]["phone"]["share"]
    await expect(c.page.locator(".chart-legend").first).to_contain_text(
        f"電話 {phone_share * 100:.1f}%"
    )
    # Completeness bars per kind; the error rate per rule links to its findings.
    await expect(c.page.locator("#completeness")).to_contain_text("法人番号")
    await c.page.get_by_role("link", name="個人", exact=True).click()
    await expect(c.page.locator("#completeness")).to_contain_text("生年月日")
    await expect(c.page.locator("#completeness")).to_contain_text("100.0%")
    await expect(c.page.locator("table.systems tbody tr")).to_have_count(2)
    await expect(c.page.locator("tr[data-system=crm]")).to_contain_text("50.0%")
    await c.shot("quality_overview")
    await c.page.locator("#by-rule a").first.click()
    await expect(c.page.locator("#f-rule")).to_have_value("phone_number_not_valid")
    rows = c.page.locator("table.findings tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("割り当てのない電話番号")
    await expect(rows.first).to_contain_text("crm / Q-2")
    # Filters: by system (web has no findings), then by field.
    await c.page.locator("#f-rule").select_option("")
    await c.page.locator("#f-system").select_option("web")
    await c.page.get_by_role("button", name="絞り込む").click()
    await expect(c.page.locator("#findings-empty")).to_be_visible()
    await c.goto("/console/quality?field=/phones")
    await expect(rows).to_have_count(1)
    # Each finding links to the customer behind it.
    await rows.first.locator("a.customer-link").click()
    await c.page.wait_for_url(re.compile(f"/console/customers/{person['id']}"))
    await expect(main).to_contain_text(person["customer_code"])


async def test_english_quality_page(hub: Hub, console: Any) -> None:
    c = await console("viewer")
    await c.goto("/console/lang?to=en&next=/console/quality")
    await expect(c.page.locator("h1")).to_have_text("Data quality")
    await expect(c.page.locator("main")).to_contain_text("Completeness per field")


async def _arrange_requests(api: httpx.AsyncClient, hub: Hub) -> tuple[dict[str, Any], int, int]:
    protected = {
        "fields": [
            {"pointer": "/corporate_number", "steward_edits": False, "systems": ["billing"]},
            {"pointer": "/billing"},
        ]
    }
    assert (await api.put("/v1/protected-fields", json=protected)).status_code == 200
    customer = (await _put(api, "crm", "A-1", corporation()))["customer"]
    await _put(api, "billing", "A-2", corporation())
    held = await _put(api, "billing", "A-2", corporation(corporate_number="2021001052596"))
    from_source = held["held_for_approval"]["change_request_id"]
    async with hub.api(subject="alice") as alice:
        version = (await alice.get(f"/v1/customers/{customer['id']}")).json()["version"]
        asked = await alice.patch(
            f"/v1/customers/{customer['id']}",
            json={"billing": {"closing_day": 20}},
            params={"reason": "請求書の締め日変更の依頼書あり"},
            headers={"If-Match": f'"{version}"'},
        )
        assert asked.status_code == 202, asked.text
    return customer, from_source, asked.json()["id"]


async def test_a_second_administrator_approves_and_rejects(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        customer, from_source, from_steward = await _arrange_requests(api, hub)
        c = await console("administrator", name="admin-sato")
        await (
            c.page.get_by_role("navigation", name="メインメニュー")
            .get_by_role("link", name="承認待ち")
            .click()
        )
        await expect(c.page.locator("h1")).to_have_text("承認待ち")
        source_card = c.page.locator(f"#cr-{from_source}")
        steward_card = c.page.locator(f"#cr-{from_steward}")
        await expect(source_card.locator(".origin")).to_have_text("取込元 billing のレコード A-2")
        await expect(source_card.locator("table.diff del")).to_have_text("7000012050002")
        await expect(source_card.locator("table.diff ins")).to_have_text("2021001052596")
        await expect(steward_card.locator(".origin")).to_have_text("担当者の編集")
        await expect(steward_card.locator(".reason")).to_have_text("請求書の締め日変更の依頼書あり")
        closing = steward_card.locator("tr.changed", has_text="/billing/closing_day")
        await expect(closing.locator("del")).to_have_text("end_of_month")
        await expect(closing.locator("ins")).to_have_text("20")
        await c.shot("approvals_waiting")

        await source_card.locator("textarea").fill("登記で確認済み")
        await source_card.get_by_role("button", name="承認して反映").click()
        await c.page.wait_for_url(re.compile(r"done=approved"))
        await expect(c.page.locator("#messages")).to_contain_text("承認しました")
        await expect(c.page.locator(f"#cr-{from_source}")).to_have_count(0)
        golden = (await api.get(f"/v1/customers/{customer['id']}")).json()
        assert golden["corporate_number"] == "2021001052596"
        decided = (await api.get(f"/v1/change-requests/{from_source}")).json()
        assert (decided["status"], decided["comment"]) == ("approved", "登記で確認済み")
        assert decided["decided_by"].startswith("admin-sato")

        await c.page.locator(f"#cr-{from_steward}").get_by_role("button", name="却下").click()
        await c.page.wait_for_url(re.compile(r"done=rejected"))
        await expect(c.page.locator("#no-requests")).to_be_visible()
        golden = (await api.get(f"/v1/customers/{customer['id']}")).json()
        assert golden["billing"]["closing_day"] == "end_of_month"
        await c.page.get_by_role("link", name="却下").click()
        await expect(c.page.locator(f"#cr-{from_steward} .decided-by")).to_contain_text(
            "admin-sato"
        )


async def test_the_server_refuses_the_requester_a_steward_a_viewer_and_no_csrf(
    hub: Hub, console: Any
) -> None:
    async with hub.api() as api:
        customer, _, from_steward = await _arrange_requests(api, hub)
        url = f"{hub.base_url}/console/approvals/{from_steward}/decision"
        form = {"decision": "approve", "version": "1"}

        async def post(c: Any, csrf: bool = True) -> tuple[int, str]:
            cookies = await c.page.context.cookies()
            token = next(k["value"] for k in cookies if k["name"] == "mdm_csrf")
            # Not as htmx: a refusal is then the error page with its status (htmx gets 200 and
            # the message, to show it in the message area).
            headers = {"X-CSRF-Token": token} if csrf else {}
            answer = await c.page.request.post(url, form=form, headers=headers)
            return answer.status, await answer.text()

        # The requester: no buttons on the page, and the server says why.
        alice = await console("administrator", name="alice")
        await alice.goto("/console/approvals")
        card = alice.page.locator(f"#cr-{from_steward}")
        await expect(card.locator(".own")).to_contain_text("自分の申請は承認・却下できません")
        await expect(card.locator("form.decide")).to_have_count(0)
        status, text = await post(alice)
        assert status == 200 and "自分の申請は承認・却下できません" in text, (status, text)
        # A steward sees the requests but no action, and is refused.
        steward = await console("steward")
        await steward.goto("/console/approvals")
        card = steward.page.locator(f"#cr-{from_steward}")
        await expect(card.locator(".no-rights")).to_be_visible()
        await expect(steward.page.locator("form.decide")).to_have_count(0)
        status, text = await post(steward)
        assert status == 403 and "権限がありません" in text, (status, text)
        # A viewer has no such page at all.
        viewer = await console("viewer")
        nav = viewer.page.get_by_role("navigation", name="メインメニュー")
        await expect(nav.get_by_role("link", name="承認待ち")).to_have_count(0)
        await viewer.goto("/console/approvals")
        await expect(viewer.page.locator("main")).to_contain_text("権限がありません")
        viewer.errors.remove(FORBIDDEN)
        assert (await post(viewer))[0] == 403
        # Another administrator, but without the CSRF header: refused.
        bob = await console("administrator", name="bob")
        await bob.goto("/console/approvals")
        assert (await post(bob, csrf=False))[0] == 403
        # Nothing was applied by any of them.
        change = (await api.get(f"/v1/change-requests/{from_steward}")).json()
        assert change["status"] == "pending"
        golden = (await api.get(f"/v1/customers/{customer['id']}")).json()
        assert golden["billing"]["closing_day"] == "end_of_month"


async def test_each_figure_links_to_the_customers_behind_it(
    hub: Hub, console: Any, database_url: str
) -> None:
    async with hub.api() as api:
        full = (await _put(api, "crm", "L-1", corporation()))["customer"]
        old = {"last_transaction_on": "2019-03-31"}
        no_phone = (await _put(api, "crm", "L-2", other_corporation(2, phones=[])))["customer"]
        stale = (await _put(api, "web", "L-3", other_corporation(3, transactions=old)))["customer"]
        person = (await _put(api, "web", "L-4", PERSON))["customer"]
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        await conn.execute(
            "UPDATE customers SET updated_at = now() - interval '800 days' WHERE id = $1",
            stale["id"],
        )
    finally:
        await conn.close()

    c = await console("viewer")
    await c.goto("/console/quality")
    results = c.page.locator("table.results tbody tr")
    # 電話 (completeness, every kind): the one customer without a phone.
    await c.page.locator('#completeness a[href*="missing=phone"]').click()
    await c.page.wait_for_url(re.compile(r"/console/customers\?missing=phone"))
    await expect(c.page.locator("#quality-filters")).to_contain_text("電話 が未入力")
    await expect(results).to_have_count(1)
    await expect(results.first).to_contain_text(no_phone["customer_code"])
    # 法人番号 for the corporations: the three without one, not the person.
    await c.goto("/console/quality?kind=corporation")
    await c.page.locator('#completeness a[href*="missing=corporate_number"]').click()
    await expect(c.page.locator("#quality-filters")).to_contain_text("法人")
    await expect(results).to_have_count(2)
    codes = await results.locator("a.code").all_inner_texts()
    assert set(codes) == {no_phone["customer_code"], stale["customer_code"]}
    # Freshness: not updated for the stale days, and no transaction for N days.
    await c.goto("/console/quality")
    await c.page.locator("#link-stale").click()
    await expect(c.page.locator("#quality-filters")).to_contain_text("日以上更新なし")
    await expect(results).to_have_count(1)
    await expect(results.first).to_contain_text(stale["customer_code"])
    await c.goto("/console/quality")
    await c.page.locator("#link-no-transaction").click()
    await expect(c.page.locator("#quality-filters")).to_contain_text("日以上取引なし")
    await expect(results).to_have_count(1)
    await expect(results.first).to_contain_text(stale["customer_code"])
    # Per source system: no transaction, and the 法人番号 coverage of each system's records.
    await c.goto("/console/quality")
    await expect(c.page.locator("tr[data-system=web] td.no-transaction")).to_contain_text("1 ")
    unknown = c.page.locator(
        "table.registry-systems tr[data-registry-system=web][data-kind=person]"
    )
    await expect(unknown).to_contain_text("1")
    # 法人番号不明 (the coverage bar) lists the corporations without a registry link.
    await c.page.locator('#enrichment a[href*="registry_status=unknown"]').click()
    await expect(results).to_have_count(4 - 1)
    assert person["customer_code"] not in await results.locator("a.code").all_inner_texts()
    assert full["customer_code"] in await results.locator("a.code").all_inner_texts()


async def test_per_system_and_t_number_figures_link_to_their_customers(
    hub: Hub, console: Any, database_url: str
) -> None:
    async with hub.api() as api:
        numbered = corporation(invoice_registration_number="T7000012050002")
        registered = (await _put(api, "crm", "S-1", numbered))["customer"]
        unpublished = other_corporation(2, invoice_registration_number="T1000000000002")
        web_corp = (await _put(api, "web", "S-2", unpublished))["customer"]
        web_person = (await _put(api, "web", "S-3", PERSON))["customer"]
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        await conn.execute(
            "INSERT INTO invoice_registrations (registration_number, corporate_number, "
            "sequence_number, process, status, update_date, import_id) VALUES "
            "('T7000012050002', '7000012050002', 1, '01', 'registered', DATE '2026-11-30', 0)"
        )
    finally:
        await conn.close()

    c = await console("viewer")
    results = c.page.locator("table.results tbody tr")
    # The records of web (the per-system table): its two customers, with the condition named.
    await c.goto("/console/quality")
    await c.page.locator("tr[data-system=web] a.system-customers").click()
    await c.page.wait_for_url(re.compile(r"/console/customers\?source_system=web"))
    await expect(c.page.locator("#quality-filters")).to_contain_text("取込元 web のレコードあり")
    await expect(results).to_have_count(2)
    codes = set(await results.locator("a.code").all_inner_texts())
    assert codes == {web_corp["customer_code"], web_person["customer_code"]}
    # web's records without a phone: none.
    await c.goto("/console/quality")
    await c.page.locator('tr[data-system=web] a.system-missing[data-field="phone"]').click()
    await expect(c.page.locator("#quality-filters")).to_contain_text(
        "web のレコード自体に 電話 がない"
    )
    await expect(results).to_have_count(0)
    # The T-numbers per system: web's corporation whose number the registry does not publish.
    await c.goto("/console/quality")
    row = c.page.locator("table.invoice-systems tr[data-invoice-system=web][data-kind=corporation]")
    await expect(row.locator('a[data-status="not_confirmed"]')).to_have_text("1")
    await row.locator('a[data-status="not_confirmed"]').click()
    await expect(c.page.locator("#quality-filters")).to_contain_text("T番号が確認できない")
    await expect(results).to_have_count(1)
    await expect(results.first).to_contain_text(web_corp["customer_code"])
    # The registered one, from every system (the tile's table row for every kind).
    await c.goto("/console/quality")
    every = c.page.locator(
        "table.invoice-systems tr[data-invoice-system=all][data-kind=corporation]"
    )
    await every.locator('a[data-status="registered"]').click()
    await expect(results).to_have_count(1)
    await expect(results.first).to_contain_text(registered["customer_code"])


async def test_a_per_system_completeness_link_lists_the_records_it_counts(
    hub: Hub, console: Any
) -> None:
    """web sends no phone for a customer whose golden record has crm's: the figure counts the
    web record, and its link lists that customer (the golden record's phone does not hide it)."""
    async with hub.api() as api:
        both = (await _put(api, "crm", "M-1", corporation()))["customer"]
        assert (await _put(api, "web", "M-1", corporation(phones=[])))["customer"]["id"] == both[
            "id"
        ]
        alone = (await _put(api, "web", "M-2", other_corporation(2, phones=[])))["customer"]
        await _put(api, "web", "M-3", other_corporation(3))
        figures = (await api.get("/v1/quality/kpis")).json()
    web = figures["completeness_by_system"]["web"]["all"]
    assert web["records"] - web["fields"]["phone"]["filled"] == 2

    c = await console("viewer")
    results = c.page.locator("table.results tbody tr")
    await c.goto("/console/quality")
    link = c.page.locator('tr[data-system=web] a.system-missing[data-field="phone"]')
    await expect(link).to_have_attribute("href", re.compile(r"source_missing=phone"))
    await link.click()
    await c.page.wait_for_url(
        re.compile(r"/console/customers\?source_system=web&source_missing=phone")
    )
    filters = c.page.locator("#quality-filters")
    await expect(filters).to_contain_text("取込元 web のレコードあり")
    await expect(filters).to_contain_text("web のレコード自体に 電話 がない")
    await expect(results).to_have_count(2)
    codes = set(await results.locator("a.code").all_inner_texts())
    assert codes == {both["customer_code"], alone["customer_code"]}
    # crm's record has the phone: its link lists no one.
    await c.goto("/console/quality")
    await c.page.locator('tr[data-system=crm] a.system-missing[data-field="phone"]').click()
    await expect(c.page.locator("#quality-filters")).to_contain_text("crm のレコード自体に")
    await expect(results).to_have_count(0)
