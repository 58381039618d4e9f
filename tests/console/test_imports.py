"""取込 in Chromium against a live hub: upload a CP932 file whose name and phone columns the hub
cannot recognize, mend the mapping, preview (nothing written), start, follow the progress,
download the report; a viewer neither sees nor may use it; the sample data of an empty hub."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from mdm_hub.console import imports as console_imports
from tests.console.conftest import Hub
from tests.helpers import corporation
from tests.imports.files import HEADER, rows
from tests.imports.test_relations import FILE1 as relation_rows
from tests.imports.test_relations import HEADER as RELATION_HEADER

# The name and phone columns under headers no label list knows (staging finds no name).
RENAMED = {"会社名": "商号", "TEL": "連絡先TEL"}


def _file(path: Path) -> Path:
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\r\n")
    out.writerow([RENAMED.get(h, h) for h in HEADER])
    out.writerows(rows(12))  # rows 3, 7, 11 repeat the row before; line 7 has TEL "12"
    path.write_bytes(buffer.getvalue().encode("cp932"))
    return path


async def _customers(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    page = (await api.get("/v1/customers", params={"limit": 200})).json()
    items: list[dict[str, Any]] = page["items"]
    return items


async def _wait_finished(page: Any, status: str = "完了") -> None:
    """The job's panel polls itself (htmx) until the job is finished."""
    await expect(page.locator("#job-status")).to_have_text(status, timeout=60_000)


async def test_upload_mend_the_mapping_preview_start_and_report(
    hub: Hub, console: Any, tmp_path: Path
) -> None:
    path = _file(tmp_path / "取引先一覧.csv")
    async with hub.api() as api:
        c = await console("data_entry")
        page = c.page
        await page.get_by_role("link", name="取込").click()
        await expect(page.locator("h1")).to_have_text("取込")
        await page.get_by_label("ファイル").set_input_files(str(path))
        await page.get_by_label("取込元システム").fill("crm")
        await page.get_by_role("button", name="アップロードしてプレビュー").click()
        await page.wait_for_url(re.compile(r"/console/imports/[0-9a-f-]{36}$"))
        # No column holds a name: the preview fails, and says why.
        await _wait_finished(page, "失敗")
        await expect(page.locator("#job-error")).to_contain_text("no_name_column")
        await expect(page.locator("#job-counts")).to_have_count(0)  # nothing was read
        mapping = page.locator("table.mapping")
        await expect(mapping.locator("tr[data-header='商号']")).to_contain_text("不明")
        await expect(mapping.locator("tr[data-header='〒']")).to_contain_text("見出しから")
        await c.shot("import_preview_failed_mapping")
        # Mend the mapping: 商号 is the name, 連絡先TEL the phone; preview again.
        await page.get_by_label("商号").select_option("name")
        await page.get_by_label("連絡先TEL").select_option("phone")
        await page.get_by_role("button", name="この対応でもう一度プレビュー").click()
        await page.wait_for_url(re.compile(r"/console/imports/[0-9a-f-]{36}$"))
        await _wait_finished(page)
        preview_id = page.url.rsplit("/", 1)[1]
        counts = page.locator("#job-counts")
        await expect(counts.locator("[data-outcome='new_customer'] .tile-value")).to_have_text("8")
        await expect(counts.locator("[data-outcome='merged'] .tile-value")).to_have_text("3")
        await expect(counts.locator("[data-outcome='rejected'] .tile-value")).to_have_text("1")
        await expect(mapping.locator("tr[data-header='商号']")).to_contain_text("対応表から")
        await expect(page.get_by_label("商号")).to_have_value("name")
        await c.shot("import_preview_done")
        preview = (await api.get(f"/v1/imports/{preview_id}")).json()
        assert preview["dry_run"] is True and preview["rows_total"] == 12
        assert await _customers(api) == []  # a preview writes nothing
        # Start: the import runs on the same file, with the mapping as mended.
        await page.get_by_role("button", name="この対応で取込を開始").click()
        await page.wait_for_url(lambda url: preview_id not in url and "/console/imports/" in url)
        job_id = page.url.rsplit("/", 1)[1]
        await _wait_finished(page)
        await expect(page.locator("#job-rows")).to_contain_text("12 / 12")
        await expect(page.locator("#job-progress")).to_have_attribute("value", "12")
        await expect(counts.locator("[data-outcome='merged'] .tile-value")).to_have_text("3")
        job = (await api.get(f"/v1/imports/{job_id}")).json()
        assert job["dry_run"] is False and job["status"] == "done"
        assert job["counts"] | {"updated": 0} == preview["counts"] | {"updated": 0}
        stored = await _customers(api)
        assert len(stored) == 8
        record = (await api.get("/v1/sources/crm/records/T0000")).json()
        assert record["raw_payload"]["name"] == "㈱能登ソフト表計算0"
        assert record["raw_payload"]["phones"][0]["number"] == "03-1000-2000"
        # The report: every row's outcome, UTF-8 with a BOM.
        async with page.expect_download() as downloading:
            await page.locator("#job-report").click()
        download = await downloading.value
        data = (await download.path()).read_bytes()
        assert data.startswith(b"\xef\xbb\xbf")
        report = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
        assert len(report) == 12
        assert [r["line"] for r in report if r["outcome"] == "rejected"] == ["7"]
        assert "連絡先TEL:" in next(r for r in report if r["line"] == "7")["problems"]
        # The preview was started: it offers nothing more; the list shows both jobs.
        await page.goto(f"{hub.base_url}/console/imports/{preview_id}")
        await expect(page.locator("#start-import")).to_have_count(0)
        await expect(page.locator("#file-gone")).to_be_visible()
        await page.goto(f"{hub.base_url}/console/imports")
        await expect(page.locator("table.jobs tbody tr")).to_have_count(3)
        await expect(page.locator(f"tr[data-job='{job_id}']")).to_contain_text("完了")


async def test_upload_problems_are_named(hub: Hub, console: Any, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    c = await console("data_entry")
    await c.goto("/console/imports")
    await c.page.get_by_label("ファイル").set_input_files(str(empty))
    await c.page.get_by_label("取込元システム").fill("crm")
    await c.page.get_by_role("button", name="アップロードしてプレビュー").click()
    await expect(c.page.locator("#upload-problem")).to_contain_text("ファイルが空です")
    await expect(c.page.get_by_label("取込元システム")).to_have_value("crm")  # kept
    await c.page.get_by_label("ファイル").set_input_files(str(_file(tmp_path / "a.csv")))
    await c.page.get_by_label("取込元システム").fill("CRM!")
    await c.page.get_by_label("取込元システム").evaluate("e => e.removeAttribute('pattern')")
    await c.page.get_by_role("button", name="アップロードしてプレビュー").click()
    await expect(c.page.locator("#upload-problem")).to_contain_text("取込元システム")
    await expect(c.page.get_by_label("取込元システム")).to_have_attribute("aria-invalid", "true")
    await c.shot("import_upload_problem")
    # Mended, the same form (a new Idempotency-Key came with it) uploads.
    await c.page.get_by_label("ファイル").set_input_files(str(_file(tmp_path / "a.csv")))
    await c.page.get_by_label("取込元システム").fill("crm")
    await c.page.get_by_role("button", name="アップロードしてプレビュー").click()
    await c.page.wait_for_url(re.compile(r"/console/imports/[0-9a-f-]{36}$"))
    await c.goto("/console/imports")
    await expect(c.page.locator("table.jobs tbody tr")).to_have_count(1)


async def test_a_viewer_sees_no_import_and_the_server_refuses(
    hub: Hub, console: Any, tmp_path: Path
) -> None:
    c = await console("viewer")
    await expect(c.page.locator("nav.main")).not_to_contain_text("取込")
    await expect(c.page.locator("#load-sample")).to_have_count(0)
    answer = await c.page.request.get(f"{hub.base_url}/console/imports")
    assert answer.status == 403 and "この操作の権限がありません" in await answer.text()
    csrf = next(x["value"] for x in await c.page.context.cookies() if x["name"] == "mdm_csrf")
    path = _file(tmp_path / "a.csv")
    refused = await c.page.request.post(
        f"{hub.base_url}/console/imports",
        multipart={
            "file": {"name": "a.csv", "mimeType": "text/csv", "buffer": path.read_bytes()},
            "system": "crm",
        },
        headers={"X-CSRF-Token": csrf},
    )
    assert refused.status == 403
    sample = await c.page.request.post(
        f"{hub.base_url}/console/imports/sample", headers={"X-CSRF-Token": csrf}
    )
    assert sample.status == 403
    clerk = await console("data_entry")
    await clerk.goto("/console/imports")
    await expect(clerk.page.locator("table.jobs")).to_have_count(0)  # nothing was created
    await expect(clerk.page.locator("nav.main a", has_text="取込")).to_have_count(1)


async def test_load_sample_data_on_an_empty_hub(
    hub: Hub, console: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same generator and path as `mdm-hub import --sample`, smaller to keep the test short.
    monkeypatch.setattr(console_imports, "SAMPLE_SIZE", 60)
    async with hub.api() as api:
        c = await console("data_entry")
        await c.page.locator("#load-sample").click()
        await c.page.wait_for_url(re.compile(r"/console/imports$"))
        jobs = c.page.locator("table.jobs tbody tr")
        await expect(jobs).to_have_count(2)
        await expect(c.page.locator("table.jobs")).to_contain_text("sample_crm.csv")
        await expect(c.page.locator("table.jobs")).to_contain_text("sample_billing.csv")
        ids = await jobs.evaluate_all("rows => rows.map(r => r.dataset.job)")
        for job_id in ids:
            await c.goto(f"/console/imports/{job_id}")
            await _wait_finished(c.page)
        states = [(await api.get(f"/v1/imports/{i}")).json() for i in ids]
        assert {s["system"] for s in states} == {"crm", "billing"}
        assert all(s["dry_run"] is False and s["rows_total"] for s in states)
        # Customers, merges across the two systems: what a new user should see at once.
        assert len(await _customers(api)) > 10
        assert sum(s["counts"]["merged"] + s["counts"]["review"] for s in states) > 0
        # The hub is no longer empty: the button is gone, and the server refuses a second load.
        await c.goto("/console")
        await expect(c.page.locator("#load-sample")).to_have_count(0)


async def test_import_and_customer_pages_fit_a_phone(hub: Hub, console: Any) -> None:
    async with hub.api() as api:
        answer = await api.put("/v1/sources/crm/records/A-1", json=corporation())
        customer = answer.json()["customer"]
        c = await console("data_entry", width=375, height=740)
        for path in ("/console", "/console/imports", f"/console/customers/{customer['id']}"):
            await c.goto(path)
            await expect(c.page.locator("h1").first).to_be_visible()
            width = await c.page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, (path, width)


async def test_the_mapping_offers_the_hierarchy_fields(
    hub: Hub, console: Any, tmp_path: Path
) -> None:
    # The parent's and the head office's columns under headers no label list knows.
    renamed = {"親会社コード": "グループ親", "本社コード": "拠点の所属先"}
    data = [row for row in relation_rows if row["取引先コード"] in ("P1", "C1", "S1")]
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\r\n")
    out.writerow([renamed.get(h, h) for h in RELATION_HEADER])
    out.writerows([row.get(h, "") for h in RELATION_HEADER] for row in data)
    path = tmp_path / "グループ.csv"
    path.write_bytes(buffer.getvalue().encode("cp932"))
    async with hub.api() as api:
        c = await console("data_entry")
        page = c.page
        await c.goto("/console/imports")
        await page.get_by_label("ファイル").set_input_files(str(path))
        await page.get_by_label("取込元システム").fill("crm")
        await page.get_by_role("button", name="アップロードしてプレビュー").click()
        await page.wait_for_url(re.compile(r"/console/imports/[0-9a-f-]{36}$"))
        await _wait_finished(page)
        mapping = page.locator("table.mapping")
        await expect(mapping.locator("tr[data-header='グループ親']")).to_contain_text("不明")
        await expect(mapping.locator("tr[data-header='関係種別']")).to_contain_text("見出しから")
        group = page.locator("optgroup[label='企業階層（所属法人・親会社）']").first
        await expect(group.locator("option[value='parent_source_id']")).to_have_text(
            "親会社コード (parent_source_id)"
        )
        await page.get_by_label("グループ親").select_option("parent_source_id")
        await page.get_by_label("拠点の所属先").select_option("site_of_source_id")
        for button in ("この対応でもう一度プレビュー", "この対応で取込を開始"):
            before = page.url
            await page.get_by_role("button", name=button).click()
            await page.wait_for_url(lambda url, b=before: url != b and "/console/imports/" in url)
            await _wait_finished(page)
            if "プレビュー" in button:  # the new preview shows the mapping as chosen
                await expect(page.get_by_label("グループ親")).to_have_value("parent_source_id")
        job = (await api.get(f"/v1/imports/{page.url.rsplit('/', 1)[1]}")).json()
        assert not job["dry_run"] and job["counts"]["new_customer"] == 3, job
        ids = {
            code: (await api.get(f"/v1/sources/crm/records/{code}")).json()["customer_id"]
            for code in ("P1", "C1", "S1")
        }
        tree = (await api.get(f"/v1/customers/{ids['C1']}/hierarchy")).json()
        assert [a["id"] for a in tree["ancestors"]] == [ids["P1"]]
        assert [s["id"] for s in tree["sites"]] == [ids["S1"]]
