"""One key operation at a time: while `mdm-hub keys rotate` (or `rewrap`) runs, another
rotate or rewrap — another process, its own connection — stops at once with a non-zero exit
and names the run that holds the lock; a killed run leaves the lock free. And `keys rotate`
seals the import rows' problem messages an earlier version stored in clear."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mdm_hub.cli import KEY_OPERATION_RUNNING
from mdm_hub.db import create_engine
from mdm_hub.encryption import install_keyring, new_kek_text
from mdm_hub.imports.service import Runner
from mdm_hub.privacy.fields import open_keyring
from mdm_hub.privacy.keylock import key_operation
from mdm_hub.settings import Settings
from tests.conftest import TEST_FIELD_KEY, _asyncpg_dsn
from tests.privacy.test_encryption_at_rest import IMPORT_HEADER, IMPORTED, REJECTED

CLI = [sys.executable, "-m", "mdm_hub.cli", "keys"]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, Settings(database_url=database_url))
    yield engine
    # Whatever a test did to the keys, the suite's process reads with the stored ones again.
    install_keyring(await open_keyring(engine, TEST_FIELD_KEY))
    await engine.dispose()


def _env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDM_")}
    env.update({"DATABASE_URL": database_url, "MDM_FIELD_ENCRYPTION_KEY": TEST_FIELD_KEY})
    env.update(extra)
    return env


async def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=120
    )


async def _data_keys(database_url: str) -> list[tuple[str, bytes]]:
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch("SELECT id, wrapped_key FROM data_keys ORDER BY created_at, id")
    finally:
        await conn.close()
    return [(r["id"], bytes(r["wrapped_key"])) for r in rows]


async def test_a_second_key_operation_stops_and_names_the_running_one(
    client: httpx.AsyncClient, database_url: str, engine: AsyncEngine
) -> None:
    assert (await client.get("/v1/customers")).status_code == 200  # the suite's keys exist
    env = _env(database_url)
    # A rewrap whose "new" KEK is the one every key is under: had it run, it would change
    # nothing (and exit 0), so the suite's keys are safe whatever this test finds.
    rewrap_env = _env(database_url, MDM_FIELD_ENCRYPTION_KEY_PREVIOUS=new_kek_text())

    # 1. A rotation runs (its own process): it waits for every process to load its new key.
    holder = await asyncio.create_subprocess_exec(
        *CLI, "rotate", "--settle-seconds", "60", env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(holder.stdout.readline(), 60)
        assert b"stored; waiting 60 s" in line, line
        keys = await _data_keys(database_url)
        assert len(keys) == 2  # the suite's, and the rotation's new one (not yet active)
        for command, environment in (
            ([*CLI, "rotate", "--settle-seconds", "0"], env),
            ([*CLI, "rewrap"], rewrap_env),
        ):
            refused = await _run(command, environment)
            assert refused.returncode == KEY_OPERATION_RUNNING, (refused.stdout, refused.stderr)
            assert "another key operation is running: mdm-hub keys rotate" in refused.stderr
            assert f"(pid {holder.pid} on " in refused.stderr, refused.stderr
            assert refused.stdout == ""
        assert await _data_keys(database_url) == keys  # neither touched a key
    finally:
        holder.kill()
        await holder.wait()

    # 2. Killed, the rotation left the lock free: run again, it resumes and finishes.
    rerun = await _run([*CLI, "rotate", "--settle-seconds", "0"], env)
    assert rerun.returncode == 0, rerun.stderr
    assert f"data key {keys[1][0]} active (resumed)" in rerun.stdout
    install_keyring(await open_keyring(engine, TEST_FIELD_KEY))

    # 3. A rewrap holds the lock (this process, its own connection): a second rewrap and a
    # rotation (other processes) stop and name it.
    async with key_operation(engine, "rewrap"):
        for command, environment in (
            ([*CLI, "rewrap"], rewrap_env),
            ([*CLI, "rotate", "--settle-seconds", "0"], env),
        ):
            refused = await _run(command, environment)
            assert refused.returncode == KEY_OPERATION_RUNNING, (refused.stdout, refused.stderr)
            assert (
                f"another key operation is running: mdm-hub keys rewrap (pid {os.getpid()} on "
                in refused.stderr
            ), refused.stderr
    # Released: the same commands run.
    done = await _run([*CLI, "rewrap"], rewrap_env)
    assert done.returncode == 0, done.stderr
    assert "0 key(s) re-wrapped" in done.stdout, done.stdout


async def test_rotate_seals_problem_messages_stored_in_clear(
    client: httpx.AsyncClient, app: Any, database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    """An import row's problems as an earlier version stored them (messages in clear, quoting
    the value): `mdm-hub keys rotate` seals them; the report reads them as before."""
    from mdm_hub.imports import repository as repo

    path = tmp_path / "persons.csv"
    rows = [IMPORT_HEADER, IMPORTED, REJECTED]
    path.write_text("\r\n".join(",".join(row) for row in rows) + "\r\n", "utf-8")
    with path.open("rb") as f:
        job = await client.post(
            "/v1/imports", files={"file": (path.name, f, "text/csv")}, data={"system": "sfa"}
        )
    assert job.status_code == 202, job.text
    job_id = uuid.UUID(job.json()["id"])
    await Runner(app.state.sessionmaker, app.state.settings).run_until_idle()
    async with app.state.sessionmaker() as session:
        before = await repo.report_rows(session, job_id, 0, 10)
    [problem] = before[1][4]
    assert "'1985-02-30' is not a calendar date" in problem["message"], problem

    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        # As the old code wrote them: the problems as they are, messages in clear.
        line = await conn.fetchval(
            "SELECT line FROM import_rows WHERE job_id = $1 AND problems <> '[]'", job_id
        )
        await conn.execute(
            "UPDATE import_rows SET problems = $3::jsonb WHERE job_id = $1 AND line = $2",
            job_id,
            line,
            json.dumps([problem], ensure_ascii=False),
        )
        stored = await conn.fetchval(
            "SELECT problems::text FROM import_rows WHERE job_id = $1 AND line = $2", job_id, line
        )
        assert "1985-02-30" in stored and "enc:v1:" not in stored
    finally:
        await conn.close()

    done = await _run([*CLI, "rotate", "--settle-seconds", "0"], _env(database_url))
    assert done.returncode == 0, done.stderr
    install_keyring(await open_keyring(engine, TEST_FIELD_KEY))

    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        stored = await conn.fetchval(
            "SELECT problems::text FROM import_rows WHERE job_id = $1 AND line = $2", job_id, line
        )
        every = "\n".join(
            r["row"] for r in await conn.fetch("SELECT t::text AS row FROM import_rows t")
        )
        key = await conn.fetchval("SELECT id FROM data_keys WHERE active")
    finally:
        await conn.close()
    [sealed] = json.loads(stored)
    assert sealed["message"].startswith(f"enc:v1:{key}:"), stored
    assert {**sealed, "message": None} == {**problem, "message": None}
    assert "1985-02-30" not in every
    async with app.state.sessionmaker() as session:
        after = await repo.report_rows(session, job_id, 0, 10)
    assert after == before


async def test_problems_added_after_a_row_was_done_are_sealed(
    client: httpx.AsyncClient, app: Any, database_url: str, tmp_path: Path
) -> None:
    """A problem added to a row already done (a link refused when its target came) is stored
    with its message sealed like the row's own problems."""
    from mdm_hub.imports import repository as repo

    path = tmp_path / "persons.csv"
    path.write_text(",".join(IMPORT_HEADER) + "\r\n" + ",".join(IMPORTED) + "\r\n", "utf-8")
    with path.open("rb") as f:
        job = await client.post(
            "/v1/imports", files={"file": (path.name, f, "text/csv")}, data={"system": "sfa"}
        )
    job_id = uuid.UUID(job.json()["id"])
    await Runner(app.state.sessionmaker, app.state.settings).run_until_idle()
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        partition, source_id = await conn.fetchrow(
            "SELECT partition, source_id FROM import_rows WHERE job_id = $1 AND status = 'done'",
            job_id,
        )
    finally:
        await conn.close()
    message = "the link to 080-2468-1357 was refused"
    async with app.state.sessionmaker() as session, session.begin():
        await repo.add_row_problems(
            session,
            job_id,
            partition,
            {source_id: [{"column": "親", "code": "link_refused", "message": message}]},
        )
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        stored = await conn.fetchval(
            "SELECT problems::text FROM import_rows WHERE job_id = $1 AND source_id = $2",
            job_id,
            source_id,
        )
    finally:
        await conn.close()
    assert "2468-1357" not in stored and "enc:v1:" in stored, stored
    async with app.state.sessionmaker() as session:
        report = await repo.report_rows(session, job_id, 0, 10)
    assert any(p.get("message") == message for r in report for p in r[4]), report
