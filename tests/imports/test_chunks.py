"""Staging and writing in chunks of rows (``MDM_IMPORT_CHUNK_ROWS``), so that staging holds one
chunk in memory, never the whole file: the same customers, decisions, review pairs, audit,
events, links and report as one chunk and as one-by-one PUTs in file order, with duplicates
and links across chunk boundaries and rows that meet customers an earlier chunk created; a
kill -9 between chunks resumes with no row lost or stored twice."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from mdm_hub.imports import repository
from mdm_hub.imports.mapping import map_header, map_row
from mdm_hub.imports.sample import LIST_HEADER, generated_rows
from mdm_hub.imports.service import Runner, get_job
from tests.imports import test_relations as relations
from tests.imports.files import posted_import, rows, text_file
from tests.imports.test_batch_and_cli import _cli, _fetch
from tests.imports.test_batch_write_path import _put_all, _state, _truncate
from tests.imports.test_import_jobs import _report

EXISTING = 40  # rows PUT from another system first
ROWS = 150
CHUNK = 7


def _file(path: Path) -> tuple[Path, list[tuple[str, dict[str, Any]]], list[list[str]]]:
    """A CSV of generated rows (duplicates of earlier rows, as another clerk typed them, all
    over the file) whose last row is its 6th again, changed (one source id in two chunks);
    the existing records (system billing, the same entities) as (source id, body)."""
    generated = [values for values, _ in generated_rows(EXISTING + ROWS, 7, prefix="R")]
    header = map_header(LIST_HEADER)
    existing = []
    for line, values in enumerate(generated[:EXISTING], start=2):
        mapped = map_row(line, values, header)
        assert mapped.source_id is not None
        existing.append((mapped.source_id, mapped.payload))
    data = generated[EXISTING:]
    again = list(data[5])
    again[LIST_HEADER.index("ランク")] = "S" if again[LIST_HEADER.index("ランク")] != "S" else "A"
    data.append(again)
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\r\n")
    out.writerow(LIST_HEADER)
    out.writerows(data)
    path.write_bytes(buffer.getvalue().encode("cp932"))
    return path, existing, data


def _with_chunks(app: Any, chunk_rows: int, batch_size: int = 500) -> Runner:
    settings = app.state.settings.model_copy(update={"import_chunk_rows": chunk_rows})
    return Runner(app.state.sessionmaker, settings, batch_size=batch_size)


async def _outcomes(client: httpx.AsyncClient, job_id: str) -> list[tuple[str, str, str]]:
    return [(r["line"], r["source_id"], r["outcome"]) for r in await _report(client, job_id)]


async def test_chunks_give_the_customers_of_one_by_one_puts(
    client: httpx.AsyncClient, app: Any, database_url: str, tmp_path: Path
) -> None:
    path, existing, data = _file(tmp_path / "crm.csv")
    header = map_header(LIST_HEADER)
    await _put_all(client, "billing", existing)
    put_outcomes = []
    for line, values in enumerate(data, start=2):
        mapped = map_row(line, values, header)
        answer = await client.put(
            f"/v1/sources/crm/records/{mapped.source_id}", json=mapped.payload
        )
        assert answer.status_code in (200, 201), answer.text
        put_outcomes.append((str(line), mapped.source_id, answer.json()["decision"]["outcome"]))
    one_by_one = await _state(database_url)

    # The file meets itself across chunks of 7 rows: a row joins a customer an earlier chunk
    # created (a crm/ cluster whose rows are in different chunks), and existing customers.
    line_of = {f"crm/{values[0]}": line for line, values in enumerate(data, start=2)}
    across = [
        c
        for c in one_by_one["clusters"]
        if len({(line_of[s] - 2) // CHUNK for s in c if s in line_of}) > 1
    ]
    assert across
    assert any(any(s.startswith("billing/") for s in c) for c in across)

    reports = {}
    for chunk_rows, batch_size, fresh in ((CHUNK, 3, False), (64, 500, True), (50_000, 500, False)):
        await _truncate(database_url)
        await _put_all(client, "billing", existing)
        job = await posted_import(client, path)
        runner = _with_chunks(app, chunk_rows, batch_size)
        assert await runner.run_once()  # the first chunk staged, nothing else
        async with app.state.sessionmaker() as session:
            staged = await get_job(session, uuid.UUID(job["id"]))
        assert staged.rows_total == len(data)  # known from the first chunk (progress, ETA)
        assert staged.staged_line == min(chunk_rows, len(data)) + 1
        assert staged.staged_all == (chunk_rows >= len(data))
        count = await _fetch(
            database_url, f"SELECT count(*) AS n FROM import_rows WHERE job_id = '{job['id']}'"
        )
        assert count[0]["n"] == min(chunk_rows, len(data))
        if fresh:  # a runner per unit of work: each chunk opens the file again and skips
            while await _with_chunks(app, chunk_rows, batch_size).run_once():
                pass
        else:
            await runner.run_until_idle()
        done = (await client.get(f"/v1/imports/{job['id']}")).json()
        assert done["status"] == "done" and done["rows_done"] == len(data), done
        assert await _state(database_url) == one_by_one, chunk_rows
        reports[chunk_rows] = await _outcomes(client, job["id"])
    assert reports[CHUNK] == reports[64] == reports[50_000]
    # Each row's outcome is the PUT's decision; the last row's PUT (its source id again,
    # changed) answers with the stored record's link (``unchanged_link``), the report says
    # ``updated``.
    assert reports[CHUNK][:-1] == put_outcomes[:-1]
    assert reports[CHUNK][-1][2] == "updated" and put_outcomes[-1][2] == "unchanged_link"
    assert {"new_customer", "merged"} <= {o for _, _, o in put_outcomes}


async def test_links_across_chunks_as_in_one(
    client: httpx.AsyncClient, app: Any, database_url: str, tmp_path: Path
) -> None:
    """test_relations' file (forward references, a cycle closed by a later row, a self-link)
    in chunks of 1 and 3 rows: the same links, and each refused link on the row that named
    it (X1's, written chunks before X2 refused its waiting link), as in one chunk."""
    path = relations.csv_file(tmp_path / "取引先.csv", relations.FILE1)
    found = []
    for chunk_rows in (50_000, 1, 3):
        await _truncate(database_url)
        job = await posted_import(client, path)
        await _with_chunks(app, chunk_rows, batch_size=1).run_until_idle()
        report = {
            int(r["line"]): (r["outcome"], r["problems"]) for r in await _report(client, job["id"])
        }
        found.append(
            (
                await relations._links(database_url),
                await relations._row_problems(database_url),
                report,
            )
        )
    assert found[0][0] == relations.EXPECTED - {("Z1", "group", "Z9", "subsidiary", None, None)}
    assert found[0][1] == {
        relations.LINE["X1"]: ["親会社コード:cycle"],
        relations.LINE["Y1"]: ["親会社コード:self_link"],
        relations.LINE["BAD"]: ["関係種別:unknown_relation_type"],
    }
    assert found[1] == found[0]
    assert found[2] == found[0]


async def test_cancel_between_chunks(
    client: httpx.AsyncClient, app: Any, database_url: str, tmp_path: Path
) -> None:
    path = text_file(tmp_path / "a.csv", "utf-8", rows(30))
    job = await posted_import(client, path)
    runner = _with_chunks(app, 10)
    assert await runner.run_once()  # chunk 1 staged
    while True:  # its partitions written, up to the next chunk's staging
        async with app.state.sessionmaker() as session, session.begin():
            claimed = await repository.claim_partition(session, runner.name, 60)
        if claimed is None:
            break
        await runner._write_partition(await _job(app, claimed[0]), claimed[1])
    assert (await client.post(f"/v1/imports/{job['id']}/cancel")).status_code == 200
    assert not await runner.run_once()  # nothing more is staged or written
    runner.close()
    after = (await client.get(f"/v1/imports/{job['id']}")).json()
    assert after["status"] == "cancelled" and after["rows_done"] == 10
    customers = await _fetch(database_url, "SELECT count(*) AS n FROM customers")
    assert customers[0]["n"] == 7  # the first chunk's 10 rows: 2 repeats, 1 rejected


async def _job(app: Any, job_id: uuid.UUID) -> Any:
    async with app.state.sessionmaker() as session:
        return await get_job(session, job_id)


async def test_kill_9_between_chunks_and_resume(database_url: str, tmp_path: Path) -> None:
    path = text_file(tmp_path / "big.csv", "cp932", rows(400))
    # Chunks of 49 rows (rows 146 and 147, one customer, in two), batches of 5: killed while a
    # later chunk is staged or written.
    env = {"MDM_IMPORT_LEASE_SECONDS": "2", "MDM_IMPORT_CHUNK_ROWS": "49"}
    worker = _cli(database_url, str(path), "--system", "crm", "--batch-size", "5", **env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        found = await _fetch(
            database_url, "SELECT coalesce(max(rows_done), 0) AS n FROM import_jobs"
        )
        if found[0]["n"] >= 120:
            break
        await asyncio.sleep(0.2)
    assert worker.poll() is None, worker.communicate()
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    interrupted = await _fetch(
        database_url,
        "SELECT j.status, j.rows_done, j.rows_total, j.staged_all, "
        "(SELECT count(*) FROM import_rows) AS staged FROM import_jobs AS j",
    )
    killed = interrupted[0]
    assert killed["status"] == "running" and killed["rows_total"] == 400
    assert 120 <= killed["rows_done"] < 400
    assert not killed["staged_all"] and killed["staged"] < 400  # staged in chunks
    await asyncio.sleep(2.5)  # the dead worker's leases run out
    again = _cli(database_url, str(path), "--system", "crm", **env)
    out, err = await asyncio.to_thread(again.communicate, timeout=300)
    assert "new_customer" in out and "merged" in out
    assert again.returncode == 0, err
    assert "resuming import" in err
    jobs = await _fetch(database_url, "SELECT status, rows_done FROM import_jobs")
    assert len(jobs) == 1 and jobs[0]["status"] == "done" and jobs[0]["rows_done"] == 400
    per_row = await _fetch(
        database_url,
        "SELECT count(*) FILTER (WHERE status = 'done') AS done, count(*) AS total, "
        "count(DISTINCT line) AS lines FROM import_rows",
    )
    assert per_row[0]["done"] == per_row[0]["total"] == per_row[0]["lines"] == 400
    stored = await _fetch(
        database_url, "SELECT count(*) AS n, count(DISTINCT source_id) AS d FROM source_records"
    )
    assert stored[0]["n"] == stored[0]["d"] == 399  # every good row once (one is rejected)
    events = await _fetch(
        database_url,
        "SELECT count(*) FILTER (WHERE type = 'customer.created') AS created, "
        "count(DISTINCT customer_id) AS customers FROM customer_events",
    )
    assert events[0]["created"] == events[0]["customers"]
    audit = await _fetch(
        database_url, "SELECT count(*) AS n FROM audit_log WHERE action = 'source_record.created'"
    )
    assert audit[0]["n"] == 399
    merged = await _fetch(
        database_url, "SELECT count(DISTINCT customer_id) AS n FROM source_records"
    )
    assert merged[0]["n"] == 299  # every fourth row joins the one before, across chunks too
