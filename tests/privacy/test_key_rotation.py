"""`mdm-hub keys rotate`: a new data key, every stored value re-encrypted under it in batches
while the hub keeps answering and writing, resumable after a kill, then the old key dropped."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mdm_hub.db import create_engine
from mdm_hub.encryption import install_keyring, parse_kek
from mdm_hub.privacy.fields import open_keyring
from mdm_hub.privacy.rotation import rotate
from mdm_hub.settings import Settings
from tests.conftest import TEST_FIELD_KEY, _asyncpg_dsn
from tests.privacy.test_encryption_at_rest import CLEAR, PERSON, _load

KEK = parse_kek(TEST_FIELD_KEY)
_KEY_IDS = re.compile(r"enc:v1:([A-Za-z0-9]+):")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, Settings(database_url=database_url))
    yield engine
    # Whatever a test did to the keys, the suite's process reads with the stored ones again.
    install_keyring(await open_keyring(engine, TEST_FIELD_KEY))
    await engine.dispose()


async def _stored(database_url: str) -> tuple[list[str], set[str], str]:
    """The data key ids, the key ids the stored values name, and every row as text."""
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        keys = [r["id"] for r in await conn.fetch("SELECT id FROM data_keys ORDER BY created_at")]
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        ]
        rows: list[str] = []
        for table in tables:
            if table != "data_keys":
                rows += [
                    r["row"] for r in await conn.fetch(f'SELECT t::text AS row FROM "{table}" AS t')
                ]
        rows += [
            bytes(r["body"]).decode() for r in await conn.fetch("SELECT body FROM idempotency_keys")
        ]
    finally:
        await conn.close()
    text = "\n".join(rows)
    return keys, set(_KEY_IDS.findall(text)), text


async def _answers(client: httpx.AsyncClient) -> list[Any]:
    customers = (await client.get("/v1/customers", params={"limit": "100"})).json()["items"]
    audit = (await client.get("/v1/audit", params={"limit": "500"})).json()["items"]
    changes = (await client.get("/v1/changes", params={"limit": "500"})).json()["items"]
    sources = [(await client.get(f"/v1/customers/{c['id']}/sources")).json() for c in customers]
    return [customers, audit, changes, sources]


async def test_rotation_reencrypts_everything_while_the_hub_reads_and_writes(
    client: httpx.AsyncClient,
    client_as: Callable[..., httpx.AsyncClient],
    database_url: str,
    engine: AsyncEngine,
) -> None:
    customer = await _load(client, client_as)
    (old,), used, _ = await _stored(database_url)
    assert used == {old}
    before = await _answers(client)

    lines: list[str] = []
    halfway = asyncio.Event()

    def progress(line: str) -> None:
        lines.append(line)
        if line.startswith("source_records:"):
            halfway.set()

    async def meanwhile() -> tuple[int, dict[str, Any]]:
        await halfway.wait()
        # Mid-rotation: values under both keys are read, and a write goes through.
        read = (await client.get(f"/v1/customers/{customer['id']}")).json()
        person = {**PERSON, "person_name": {"family_name": "高橋", "given_name": "次郎"}}
        person["phones"] = [{"number": "080-2468-1357"}]
        person["emails"] = [{"address": "jiro.takahashi@example.jp"}]
        written = await client.put("/v1/sources/crm/records/P-2", json=person)
        return written.status_code, read

    result, (status, read) = await asyncio.gather(
        rotate(engine, KEK, batch_size=2, progress=progress), meanwhile()
    )
    assert status == 201
    assert read["birth_date"] == "1971-03-14"
    assert result.key_id != old and not result.resumed
    assert result.dropped == [old]
    assert result.rewritten["source_records"] >= 3 and result.rewritten["audit_log"] >= 3
    assert result.rewritten["customer_events"] >= 1 and result.rewritten["change_requests"] >= 1
    assert result.rewritten["idempotency_keys"] == 1
    # Progress in batches of 2 rows, table by table.
    assert "customers: 2 rows read" in " ".join(lines)
    assert any(line.startswith("pass 1: 0 values left") for line in lines)

    keys, used, text = await _stored(database_url)
    assert keys == [result.key_id] and used == {result.key_id}
    assert [c for c in (*CLEAR, "2468-1357", "jiro.takahashi") if c in text] == []
    after = await _answers(client)
    assert after[0][: len(before[0])] == before[0] and after[1][: len(before[1])] == before[1]
    written = await client.get("/v1/customers", params={"email": "jiro.takahashi@example.jp"})
    assert written.json()["items"][0]["phones"][0]["e164"] == "+818024681357"
    # A dry run still finds the person by their (blind-indexed) keys after the rotation.
    match = await client.post("/v1/match", json=PERSON)
    assert match.json()["decision"] == "merge" and match.json()["customer_id"] == customer["id"]


async def test_a_killed_rotation_resumes_with_its_key_and_the_old_one_readable(
    client: httpx.AsyncClient,
    client_as: Callable[..., httpx.AsyncClient],
    database_url: str,
    engine: AsyncEngine,
) -> None:
    await _load(client, client_as)
    (old,), _, _ = await _stored(database_url)
    before = await _answers(client)

    killed = asyncio.Event()

    def progress(line: str) -> None:
        if line.startswith("source_records:"):
            killed.set()

    first = asyncio.create_task(rotate(engine, KEK, batch_size=1, progress=progress))
    await killed.wait()
    first.cancel()  # mid-table, mid-transaction: that batch rolls back
    with pytest.raises(asyncio.CancelledError):
        await first

    keys, used, _ = await _stored(database_url)
    new = keys[-1]
    assert keys == [old, new] and used == {old, new}  # half done: both keys in use
    assert await _answers(client) == before  # and every value readable

    result = await rotate(engine, KEK, batch_size=1)
    assert result.resumed and result.key_id == new and result.dropped == [old]
    keys, used, _ = await _stored(database_url)
    assert keys == [new] and used == {new}
    assert await _answers(client) == before


async def test_the_command_rotates_and_prints_its_progress(
    client: httpx.AsyncClient,
    client_as: Callable[..., httpx.AsyncClient],
    database_url: str,
    engine: AsyncEngine,
) -> None:
    await _load(client, client_as)
    (old,), _, _ = await _stored(database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDM_")}
    env.update({"DATABASE_URL": database_url, "MDM_FIELD_ENCRYPTION_KEY": TEST_FIELD_KEY})
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "mdm_hub.cli", "keys", "rotate", "--settle-seconds", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (new,), used, _ = await _stored(database_url)
    assert new != old and used == {new}
    assert "source_records: " in done.stdout and "values re-encrypted" in done.stdout
    assert f"data key {new} active" in done.stdout and f"dropped {old}" in done.stdout

    wrong = {**env, "MDM_FIELD_ENCRYPTION_KEY": "A" * 43 + "="}
    refused = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "mdm_hub.cli", "keys", "rotate", "--settle-seconds", "0"],
        env=wrong,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0 and "cannot be unwrapped" in refused.stderr


async def test_the_command_killed_with_sigkill_resumes_when_run_again(
    client: httpx.AsyncClient,
    client_as: Callable[..., httpx.AsyncClient],
    database_url: str,
    engine: AsyncEngine,
) -> None:
    """kill -9 while the command waits for every process to load the new key: the key stays
    stored (not yet written with); the next run makes it active, re-encrypts, drops the old."""
    await _load(client, client_as)
    (old,), _, _ = await _stored(database_url)
    before = await _answers(client)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDM_")}
    env.update({"DATABASE_URL": database_url, "MDM_FIELD_ENCRYPTION_KEY": TEST_FIELD_KEY})
    command = [sys.executable, "-m", "mdm_hub.cli", "keys", "rotate", "--batch-size", "1"]
    process = await asyncio.create_subprocess_exec(
        *command, "--settle-seconds", "60", env=env, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    assert b"stored; waiting 60 s" in line, line
    process.kill()
    await process.wait()

    keys, used, _ = await _stored(database_url)
    assert len(keys) == 2 and keys[0] == old and used == {old}
    assert await _answers(client) == before  # the hub reads and answers as before

    rerun = await asyncio.to_thread(
        subprocess.run,
        [*command, "--settle-seconds", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"data key {keys[1]} active (resumed)" in rerun.stdout
    assert (await _stored(database_url))[:2] == ([keys[1]], {keys[1]})
    install_keyring(await open_keyring(engine, TEST_FIELD_KEY))
    assert await _answers(client) == before


async def test_rotation_reencrypts_uploaded_files_and_their_jobs_still_run(
    client: httpx.AsyncClient, app: Any, database_url: str, engine: AsyncEngine, tmp_path: Any
) -> None:
    """A queued import's file (sealed pieces, bytea) is re-encrypted under the new key before
    the old one is dropped: the job runs afterwards and imports its rows."""
    from mdm_hub.imports.service import Runner
    from tests.privacy.test_encryption_at_rest import IMPORT_HEADER, IMPORTED

    path = tmp_path / "persons.csv"
    path.write_text(",".join(IMPORT_HEADER) + "\r\n" + ",".join(IMPORTED) + "\r\n", "utf-8")
    with path.open("rb") as f:
        job = await client.post(
            "/v1/imports", files={"file": (path.name, f, "text/csv")}, data={"system": "sfa"}
        )
    assert job.status_code == 202, job.text
    (old,), _, _ = await _stored(database_url)

    result = await rotate(engine, KEK, batch_size=1)
    assert result.rewritten["import_file_chunks"] == 1 and result.dropped == [old]
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        head = await conn.fetchval("SELECT substring(data from 1 for 32) FROM import_file_chunks")
    finally:
        await conn.close()
    assert bytes(head).startswith(f"enc:v1:{result.key_id}:".encode())

    await Runner(app.state.sessionmaker, app.state.settings).run_until_idle()
    done = (await client.get(f"/v1/imports/{job.json()['id']}")).json()
    assert done["status"] == "done" and done["counts"]["new_customer"] == 1, done
