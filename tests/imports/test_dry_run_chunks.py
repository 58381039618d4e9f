"""A dry run (preview) in chunks of ``MDM_IMPORT_CHUNK_ROWS``: the same outcomes, customer codes,
problems and counts as the one-chunk preview and as the real import, rows meeting across chunks
previewed as one cluster; nothing written (every table's rows, the written state, no event, no
audit entry); at most one chunk of rows held in memory at once; a dry run interrupted by a
crash starts over and previews the same."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from mdm_hub.db import NEVER_COMMITTED, advisory_xact_locks
from mdm_hub.imports import repository, service
from mdm_hub.imports.service import HELD_ROWS
from tests.imports.files import posted_import, rows, text_file
from tests.imports.test_batch_and_cli import _fetch
from tests.imports.test_batch_write_path import _put_all, _state, _truncate
from tests.imports.test_chunks import CHUNK, _file, _with_chunks
from tests.imports.test_import_jobs import _report

# The job's own tables: a dry run keeps its rows' outcomes there for the report.
JOB_TABLES = {"import_jobs", "import_rows", "import_partitions", "import_file_chunks"}


async def _table_rows(database_url: str) -> dict[str, int]:
    """Rows of every table of the hub but the import job's own."""
    tables = await _fetch(
        database_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
    )
    names = [t["tablename"] for t in tables]
    assert set(names) >= JOB_TABLES
    counted = await _fetch(
        database_url,
        " UNION ALL ".join(
            f"SELECT '{n}' AS t, count(*) AS n FROM {n}" for n in names if n not in JOB_TABLES
        ),
    )
    return {r["t"]: r["n"] for r in counted}


async def _run(
    app: Any, client: httpx.AsyncClient, path: Path, chunk_rows: int, **form: Any
) -> Any:
    HELD_ROWS.peak = 0
    job = await posted_import(client, path, **form)
    await _with_chunks(app, chunk_rows, batch_size=3).run_until_idle()
    done = (await client.get(f"/v1/imports/{job['id']}")).json()
    assert done["status"] == "done", done
    report = [
        (r["line"], r["source_id"], r["outcome"], r["customer_code"], r["problems"])
        for r in await _report(client, job["id"])
    ]
    return done, report, HELD_ROWS.peak


async def test_dry_run_in_chunks_previews_the_real_import_and_writes_nothing(
    client: httpx.AsyncClient, app: Any, database_url: str, tmp_path: Path
) -> None:
    path, existing, data = _file(tmp_path / "crm.csv")
    await _truncate(database_url)
    await _put_all(client, "billing", existing)
    before, tables = await _state(database_url), await _table_rows(database_url)
    assert tables["customer_events"] and tables["audit_log"] and tables["customers"]

    previews = {}
    for chunk_rows in (CHUNK, 50_000):
        done, report, peak = await _run(app, client, path, chunk_rows, dry_run="true")
        assert done["dry_run"] and done["rows_total"] == done["rows_done"] == len(data)
        assert peak <= chunk_rows  # one chunk staged at a time, not the whole file
        # Nothing written: every table's rows, and what they hold, as before.
        assert await _table_rows(database_url) == tables, chunk_rows
        assert await _state(database_url) == before, chunk_rows
        previews[chunk_rows] = done["counts"], report
    assert previews[CHUNK] == previews[50_000]

    real, real_report, _ = await _run(app, client, path, CHUNK)
    assert real["counts"] == previews[CHUNK][0]
    existed = {code for _, _, _, code, _ in previews[CHUNK][1] if code}
    assert existed  # rows that join a billing customer show its code
    masked = [
        (line, sid, outcome, code if code in existed else "", problems)
        for line, sid, outcome, code, problems in real_report
    ]
    assert masked == previews[CHUNK][1]

    # Clusters of the file's own rows (customers no billing record has) whose rows are in
    # different chunks: their later rows are previewed as merged, as the import merged them.
    by_code: dict[str, list[int]] = {}
    for line, _, _, code, _ in real_report:
        if code and code not in existed:
            by_code.setdefault(code, []).append(int(line))
    across = [lines for lines in by_code.values() if len({(n - 2) // CHUNK for n in lines}) > 1]
    assert across
    outcome = {int(line): o for line, _, o, _, _ in previews[CHUNK][1]}
    for lines in across:
        assert outcome[min(lines)] == "new_customer"
        assert all(outcome[n] in ("merged", "updated") for n in lines if n != min(lines))


async def test_rows_held_at_once_stay_one_chunk_whatever_the_file_size(
    client: httpx.AsyncClient, app: Any, database_url: str, tmp_path: Path
) -> None:
    """The same 25-row chunks for a file of 25 rows and one of 100: the rows held at once
    (staging's keys, a write's batch) do not grow with the file."""
    peaks = []
    for count in (25, 100):
        path = text_file(tmp_path / f"{count}.csv", "utf-8", rows(count))
        done, _, peak = await _run(app, client, path, 25, dry_run="true")
        assert done["rows_done"] == count
        peaks.append(peak)
    assert peaks == [25, 25]


async def test_a_dry_run_interrupted_starts_over(
    client: httpx.AsyncClient, app: Any, database_url: str, tmp_path: Path
) -> None:
    """A runner that dies within a dry run's second chunk leaves its job running with the first
    chunk's outcomes; once its lease runs out, another runner previews it again from the first
    row (the writes it simulated went with its transaction): the same report, each row once."""
    path = text_file(tmp_path / "a.csv", "utf-8", rows(40))
    # Chunks of 5 rows: the 16th row (line 17) repeats the 15th, in the chunk before.
    _, clean, _ = await _run(app, client, path, 5, dry_run="true")
    assert [o for line, _, o, _, _ in clean if line in ("16", "17")] == ["new_customer", "merged"]
    tables = await _table_rows(database_url)
    job = await posted_import(client, path, dry_run="true")
    runner = _with_chunks(app, 5, batch_size=3)
    written = 0

    async def crash(job_id: uuid.UUID) -> None:
        nonlocal written
        written += 1
        if written == 11:  # chunk 3 written, its partition not yet finished
            raise RuntimeError("killed")

    runner.on_progress = crash
    with pytest.raises(RuntimeError):
        await runner.run_until_idle()
    stopped = (await client.get(f"/v1/imports/{job['id']}")).json()
    assert stopped["status"] == "running" and 10 < stopped["rows_done"] <= 15, stopped
    assert not await _with_chunks(app, 5).run_once()  # leased: nobody else takes it
    await _fetch(database_url, "UPDATE import_jobs SET leased_until = now() - interval '1 s'")
    await _with_chunks(app, 5, batch_size=3).run_until_idle()
    done = (await client.get(f"/v1/imports/{job['id']}")).json()
    assert done["status"] == "done" and done["rows_done"] == 40
    report = [
        (r["line"], r["source_id"], r["outcome"], r["customer_code"], r["problems"])
        for r in await _report(client, job["id"])
    ]
    assert report == clean
    assert await _table_rows(database_url) == tables


async def test_a_dry_run_cancelled_stops_and_writes_nothing(
    client: httpx.AsyncClient, app: Any, database_url: str, tmp_path: Path
) -> None:
    path = text_file(tmp_path / "a.csv", "utf-8", rows(30))
    tables = await _table_rows(database_url)
    job = await posted_import(client, path, dry_run="true")
    runner = _with_chunks(app, 10, batch_size=3)
    batches = 0

    async def cancel(job_id: uuid.UUID) -> None:
        nonlocal batches
        batches += 1
        if batches == 2:
            answer = await client.post(f"/v1/imports/{job_id}/cancel")
            assert answer.status_code == 200, answer.text

    runner.on_progress = cancel
    await runner.run_until_idle()
    after = (await client.get(f"/v1/imports/{job['id']}")).json()
    assert after["status"] == "cancelled" and 0 < after["rows_done"] < 30, after
    assert batches == 2  # no batch after the cancel
    assert await _table_rows(database_url) == tables


async def test_a_never_committed_session_takes_no_advisory_locks(app: Any) -> None:
    """A dry run's writes lock no key: held to the end of a whole file's preview, one per key,
    they would overflow PostgreSQL's shared lock table ("out of shared memory")."""
    held = []
    for never_committed in (False, True):
        async with app.state.sessionmaker() as session, session.begin():
            if never_committed:
                session.info[NEVER_COMMITTED] = True
            await advisory_xact_locks(session, ["match:a", "match:b", "source:crm:1"])
            held.append(
                await session.scalar(
                    text(
                        "SELECT count(*) FROM pg_locks "
                        "WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
                    )
                )
            )
    assert held == [3, 0]


async def test_the_dry_run_analyzes_what_it_wrote_in_its_transaction(
    client: httpx.AsyncClient, app: Any, database_url: str, tmp_path: Path, monkeypatch: Any
) -> None:
    """Every ANALYZE_SIMULATED_ROWS rows written, the tables the dry run writes are analyzed in
    its transaction (autovacuum's ANALYZE cannot see its rows: without it, a statement of the
    write path slowed with every row written until it ran out of statement_timeout); it sees
    the rows written so far, and changes nothing the preview answers (pg_class's reltuples
    and relpages, updated in place by ANALYZE, are not rolled back: docs/import.md)."""
    path = text_file(tmp_path / "a.csv", "utf-8", rows(40))
    _, clean, _ = await _run(app, client, path, 10, dry_run="true")
    seen: list[float] = []
    real = repository.analyze_simulated

    async def analyze(session: Any) -> None:
        await real(session)
        seen.append(
            await session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'customers'"))
        )

    monkeypatch.setattr(repository, "analyze_simulated", analyze)
    monkeypatch.setattr(service, "ANALYZE_SIMULATED_ROWS", 9)
    _, report, _ = await _run(app, client, path, 10, dry_run="true")
    assert report == clean
    assert len(seen) >= 3 and seen == sorted(seen) and seen[0] > 0, seen  # the rows so far
    customers = await _fetch(database_url, "SELECT count(*) AS n FROM customers")
    assert customers[0]["n"] == 0
