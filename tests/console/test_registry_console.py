"""The registry in the console: the データ品質 page's 法人番号 / インボイス figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import expect

from mdm_hub.db import sqlalchemy_url
from mdm_hub.registry.importer import import_file
from tests.console.conftest import Hub
from tests.registry.files import invoice_row, nta_row, write_csv
from tests.registry.test_import_cli import run_cli
from tests.registry.test_proposals import customer, registry
from tests.registry.test_registry_kpis import ALIVE, CLOSED, LIKELY, OTHER, crm


async def arrange(hub: Hub, database_url: str, tmp_path: Path) -> dict[str, str]:
    """Two linked corporations (one closed by the registry), one with two proposals."""
    ids = {}
    async with hub.api() as api:
        for key, body in (
            ("alive", crm(ALIVE, "稼働株式会社")),
            ("closed", crm(CLOSED, "閉鎖株式会社")),
            ("likely", customer("渋谷精密工業", "3-1-1")),
        ):
            answer = await api.put(f"/v1/sources/crm/records/RC-{key}", json=body)
            assert answer.status_code == 201, answer.text
            ids[key] = answer.json()["customer"]["id"]
    nta = write_csv(
        tmp_path / "13_tokyo_all_20261130.csv",
        [
            nta_row(1, ALIVE, name="稼働株式会社"),
            nta_row(2, CLOSED, "21", name="閉鎖株式会社", close_date="2026-11-27",
                    close_cause="01"),
            registry(3, LIKELY, "渋谷精密工業株式会社", "渋谷３丁目１－１"),
            registry(4, OTHER, "渋谷精密工業有限会社", "渋谷３丁目１－１"),
        ],
    )  # fmt: skip
    done = await run_cli(database_url, "nta", "import", str(nta))
    assert done.returncode == 0, done.stderr + done.stdout
    dsn = sqlalchemy_url(database_url).replace("postgresql+asyncpg://", "postgresql://")
    invoices = write_csv(
        tmp_path / "invoice.csv",
        [
            # The living company's registration revoked: the closed one is no longer active
            # (status closed) and leaves the KPIs.
            invoice_row(1, "T" + ALIVE, "04", disposal_date="2026-11-28"),
            invoice_row(2, "T" + CLOSED),
        ],
    )
    await import_file(dsn, invoices, "invoice")
    return ids


async def test_the_quality_page_shows_registry_coverage(
    hub: Hub, console: Any, database_url: str, tmp_path: Path
) -> None:
    await arrange(hub, database_url, tmp_path)
    c = await console("viewer")
    await c.goto("/console/quality")
    section = c.page.locator("section[aria-labelledby=registry-h]")
    await expect(section.locator("h2")).to_have_text("法人番号・インボイスの確認")
    bars = c.page.locator("#enrichment")
    await expect(bars).to_contain_text("法人番号確認済み")
    await expect(bars).to_contain_text("50.0%")  # 1 of the 2 active corporations; 1 suggested
    # The closure is applied (the customer is closed): none is left closed but active.
    await expect(c.page.locator("#kpi-closed-active .tile-value")).to_have_text("0")
    await expect(c.page.locator("#kpi-invoice .tile-value")).to_have_text("1")
    await expect(c.page.locator("#kpi-invoice")).to_contain_text("取消 1")
    await section.scroll_into_view_if_needed()
    await c.shot("quality_registry")


FORBIDDEN = "Failed to load resource: the server responded with a status of 403 (Forbidden)"


async def test_a_steward_decides_registry_proposals(
    hub: Hub, console: Any, database_url: str, tmp_path: Path
) -> None:
    ids = await arrange(hub, database_url, tmp_path)
    steward = await console("steward")
    nav = steward.page.get_by_role("navigation", name="メインメニュー")
    await nav.get_by_role("link", name="法人番号の候補").click()
    await expect(steward.page.locator("h1")).to_have_text("法人番号の候補")
    cards = steward.page.locator("article.proposal")
    await expect(cards).to_have_count(2)  # two look-alike corporations at the customer's address
    likely = steward.page.locator("article.proposal", has_text=LIKELY)
    # The customer and the registry side by side.
    await expect(likely.locator(".customer-name")).to_have_text("渋谷精密工業")
    await expect(likely.locator(".customer-address")).to_contain_text("〒1500002")
    await expect(likely.locator(".customer-address")).to_contain_text("渋谷3-1-1")
    await expect(likely.locator(".registry-name")).to_have_text("渋谷精密工業株式会社")
    await expect(likely.locator(".registry-address")).to_contain_text("〒150-0002 東京都渋谷区")
    await steward.shot("registry_proposals")

    other = steward.page.locator("article.proposal", has_text=OTHER)
    await other.get_by_role("button", name="この法人ではない").click()
    await expect(steward.page.locator(".message.info")).to_contain_text("却下しました")
    await expect(cards).to_have_count(1)
    await likely.get_by_role("button", name="この法人と連携する").click()
    await expect(steward.page.locator(".message.info")).to_contain_text("承認しました")
    await expect(steward.page.locator("#no-proposals")).to_be_visible()
    async with hub.api() as api:
        linked = (await api.get(f"/v1/customers/{ids['likely']}")).json()
        assert linked["corporate_number"] == LIKELY
        assert linked["lineage"]["/corporate_number"]["system"] == "nta"
        link = (await api.get(f"/v1/customers/{ids['likely']}/registry")).json()["link"]
        assert link["linked_by"] == "steward"
        decided = (await api.get("/v1/registry/proposals?status=rejected")).json()["items"]
        assert [p["corporate_number"] for p in decided] == [OTHER]
    await steward.goto("/console/registry/proposals?status=accepted")
    await expect(steward.page.locator("article.proposal")).to_have_count(1)
    await expect(steward.page.locator("form.decide")).to_have_count(0)


async def test_a_viewer_sees_no_buttons_and_the_server_refuses(
    hub: Hub, console: Any, database_url: str, tmp_path: Path
) -> None:
    await arrange(hub, database_url, tmp_path)
    async with hub.api() as api:
        pending = (await api.get("/v1/registry/proposals")).json()["items"]
    first = pending[0]["id"]
    url = f"{hub.base_url}/console/registry/proposals/{first}/decision"

    async def post(c: Any, csrf: bool = True) -> int:
        cookies = await c.page.context.cookies()
        token = next(k["value"] for k in cookies if k["name"] == "mdm_csrf")
        headers = {"X-CSRF-Token": token} if csrf else {}
        answer = await c.page.request.post(url, form={"decision": "accept"}, headers=headers)
        return answer.status

    viewer = await console("viewer")
    await viewer.goto("/console/registry/proposals")
    await expect(viewer.page.locator("article.proposal")).to_have_count(2)
    await expect(viewer.page.locator("form.decide")).to_have_count(0)
    await expect(viewer.page.locator(".no-rights").first).to_contain_text("データスチュワード")
    assert await post(viewer) == 403
    viewer.errors[:] = [e for e in viewer.errors if e != FORBIDDEN]
    steward = await console("steward")
    await steward.goto("/console/registry/proposals")
    assert await post(steward, csrf=False) == 403
    async with hub.api() as api:
        still = (await api.get("/v1/registry/proposals")).json()["items"]
    assert [p["status"] for p in still] == ["pending", "pending"]
