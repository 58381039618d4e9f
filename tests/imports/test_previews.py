"""Previews that keep their file (the console's 取込): started or previewed again on the same
file, refused twice, and their file dropped by the worker's housekeeping once stale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from mdm_hub.context import Actor
from mdm_hub.errors import ProblemError
from mdm_hub.imports import service
from mdm_hub.imports.mapping import MappingFile
from tests.imports.files import rows, text_file


async def _create(app: Any, path: Path, **options: Any) -> Any:
    async with app.state.sessionmaker() as session, session.begin():
        with path.open("rb") as stream:
            return await service.create_job(
                session,
                Actor("clerk"),
                service.ImportOptions(system="crm", filename=path.name, **options),
                stream,
            )


async def _run(app: Any) -> None:
    await service.Runner(app.state.sessionmaker, app.state.settings).run_until_idle()


async def _has_file(app: Any, job_id: Any) -> bool:
    async with app.state.sessionmaker() as session:
        return await service.has_file(session, job_id)


async def _job(app: Any, job_id: Any) -> Any:
    async with app.state.sessionmaker() as session:
        return await service.get_job(session, job_id)


async def test_a_preview_keeps_its_file_and_is_started_once(app: Any, tmp_path: Path) -> None:
    path = text_file(tmp_path / "a.csv", "cp932", rows(12))
    preview = await _create(app, path, dry_run=True, keep_file=True)
    api_dry_run = await _create(app, path, dry_run=True)
    await _run(app)
    assert (await _job(app, preview.id)).status == "done"
    assert await _has_file(app, preview.id)
    assert not await _has_file(app, api_dry_run.id)  # a dry run of the API drops it, as before
    mapping = MappingFile(columns={"TEL": "phone"})
    async with app.state.sessionmaker() as session, session.begin():
        started = await service.rerun_job(
            session, Actor("clerk"), preview.id, mapping=mapping, kind=None, dry_run=False
        )
    assert await _has_file(app, started.id) and not await _has_file(app, preview.id)
    async with app.state.sessionmaker() as session, session.begin():
        with pytest.raises(ProblemError) as again:
            await service.rerun_job(
                session, Actor("clerk"), preview.id, mapping=None, kind=None, dry_run=False
            )
    assert again.value.problem_type.slug == "conflict"
    await _run(app)
    done, previewed = await _job(app, started.id), await _job(app, preview.id)
    assert done.status == "done" and not done.dry_run and done.rows_done == 12
    assert done.counts == previewed.counts  # the preview said what the import then did
    assert done.options["mapping"]["columns"] == {"TEL": "phone"}
    assert not await _has_file(app, started.id)  # a real import drops its file when done


async def test_a_stale_preview_gives_up_its_file(app: Any, tmp_path: Path) -> None:
    path = text_file(tmp_path / "a.csv", "utf-8-sig", rows(6))
    old = await _create(app, path, dry_run=True, keep_file=True)
    young = await _create(app, path, dry_run=True, keep_file=True)
    await _run(app)
    engine, settings = app.state.engine, app.state.settings
    assert await service.drop_stale_preview_files(engine, settings) == 0
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text("UPDATE import_jobs SET finished_at = now() - interval '25 hours' WHERE id = :id"),
            {"id": old.id},
        )
    assert settings.import_preview_file_hours == 24
    assert await service.drop_stale_preview_files(engine, settings) >= 1
    assert not await _has_file(app, old.id) and await _has_file(app, young.id)
    async with app.state.sessionmaker() as session, session.begin():
        with pytest.raises(ProblemError):
            await service.rerun_job(
                session, Actor("clerk"), old.id, mapping=None, kind=None, dry_run=False
            )
