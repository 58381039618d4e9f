"""The registry imports as the worker's periodic job: files dropped into the configured folder
are imported (each once) and applied to customers, in the background of the worker's loop."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from mdm_hub.enrichment import jobs
from mdm_hub.events.dispatcher import Dispatcher
from mdm_hub.housekeeping import PERIODIC_JOBS
from tests.registry.files import corporate_number, nta_row, write_csv, write_zip
from tests.registry.test_apply import crm, put

A = corporate_number(820001)


async def tick(app: Any, settings: Any) -> jobs.FolderRun | None:
    """One housekeeping pass of a worker, then the registry job it started (if any)."""
    await Dispatcher(app.state.engine, settings, housekeeping=PERIODIC_JOBS).prune()
    task = jobs.running()
    return await task if task is not None else None


async def test_the_worker_imports_new_registry_files(
    app: Any,
    client: httpx.AsyncClient,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    customer = await put(client, "WJ-1", crm(A, "ワーカー(株)"))
    folder = tmp_path / "nta"
    folder.mkdir()
    settings = app.state.settings.model_copy(
        update={"registry_nta_folder": folder, "registry_import_interval_seconds": 600}
    )
    clock = [1_000_000.0]
    monkeypatch.setattr(jobs, "_clock", lambda: clock[0])
    monkeypatch.setattr(jobs, "_schedule", jobs._Schedule())

    # Nothing configured: nothing runs.
    assert await tick(app, app.state.settings) is None

    write_zip(
        folder / "00_zenkoku_all_20261130.zip",
        "00_zenkoku_all_20261130.csv",
        [nta_row(1, A, name="ワーカー株式会社", furigana="ワーカー")],
        encoding="cp932",
    )
    first = await tick(app, settings)
    assert first is not None and first.applied
    assert first.imported == ["00_zenkoku_all_20261130.zip:00_zenkoku_all_20261130.csv"]
    link = (await client.get(f"/v1/customers/{customer}/registry")).json()["link"]
    assert link is not None and link["corporate_number"] == A
    assert (await client.get(f"/v1/customers/{customer}")).json()["name_kana"] == "ワーカー"

    # Within the interval the job does not look again.
    write_csv(
        folder / "diff_20261201.csv",
        [nta_row(1, A, "11", name="新ワーカー株式会社", update_date="2026-12-01",
                 furigana="シンワーカー")],
    )  # fmt: skip
    assert await tick(app, settings) is None
    assert (await client.get(f"/v1/customers/{customer}")).json()["name_kana"] == "ワーカー"

    # After it, only the new file is imported, and its 商号変更 reaches the customer.
    clock[0] += 601
    second = await tick(app, settings)
    assert second is not None
    assert (second.imported, second.skipped) == (["diff_20261201.csv:diff_20261201.csv"], 1)
    assert (await client.get(f"/v1/customers/{customer}")).json()["name_kana"] == "シンワーカー"

    # A file that cannot be read is reported and the others go on.
    with zipfile.ZipFile(folder / "broken.zip", "w") as archive:
        archive.writestr("readme.txt", "no CSV here")
    clock[0] += 601
    third = await tick(app, settings)
    assert third is not None
    assert third.failed == ["broken.zip"] and third.imported == [] and not third.applied
