"""Issue 16: "the same file gives the same customers whatever the batch size and however many
workers ran it", and they are the customers one-by-one PUTs of its rows in file order give.
Through the whole job (staging, partitions, runners), on a generated file whose duplicates
meet each other within the file and meet customers already in the hub."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from mdm_hub.imports import service as import_service
from mdm_hub.imports.mapping import map_header, map_row
from mdm_hub.imports.sample import LIST_HEADER, generated_rows
from mdm_hub.sources.prepare import use_processes
from tests.imports.files import posted_import
from tests.imports.test_batch_write_path import _put_all, _state, _truncate

EXISTING = 60  # rows PUT from another system first
ROWS = 240


def _data() -> tuple[list[tuple[str, dict[str, Any]]], list[list[str]]]:
    """Existing records (system billing, as PUT bodies) and the file's rows (system crm, as
    typed): the same entities (one seed), so the file repeats itself and the hub."""
    values = [v for v, _ in generated_rows(EXISTING + ROWS, 23, prefix="D")]
    header = map_header(LIST_HEADER)
    existing = []
    for line, row in enumerate(values[:EXISTING], start=2):
        mapped = map_row(line, row, header)
        assert mapped.source_id is not None and not mapped.problems
        existing.append((mapped.source_id, mapped.payload))
    return existing, values[EXISTING:]


def _file(path: Path, rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\r\n")
    out.writerow(LIST_HEADER)
    out.writerows(rows)
    path.write_bytes(buffer.getvalue().encode("cp932", errors="replace"))
    return path


async def test_import_decides_as_puts_in_file_order_whatever_batches_workers_and_processes(
    client: httpx.AsyncClient, app: Any, tmp_path: Path, database_url: str, monkeypatch: Any
) -> None:
    existing, rows = _data()
    path = _file(tmp_path / "crm.csv", rows)
    # The rows as the import reads them back (CP932), PUT one by one in file order.
    header = map_header(LIST_HEADER)
    with path.open(encoding="cp932", newline="") as f:
        read = list(csv.reader(f))[1:]
    bodies = [map_row(line, values, header) for line, values in enumerate(read, start=2)]
    await _put_all(client, "billing", existing)
    put_outcomes = []
    for mapped in bodies:
        answer = await client.put(
            f"/v1/sources/crm/records/{mapped.source_id}", json=mapped.payload
        )
        assert answer.status_code in (200, 201), answer.text
        put_outcomes.append(answer.json()["decision"]["outcome"])
    one_by_one = await _state(database_url)
    # The file really meets itself and the existing customers.
    clusters = one_by_one["clusters"]
    assert any(sum(s.startswith("crm/") for s in c) > 1 for c in clusters)
    assert any(
        any(s.startswith("billing/") for s in c) and any(s.startswith("crm/") for s in c)
        for c in clusters
    )

    monkeypatch.setattr(import_service, "PARTITION_ROWS", 16)  # many partitions
    # (batch size, workers running at once, normalizing processes: 2 is a pool for batches
    # of 200 rows or more)
    for batch_size, workers, processes in ((1, 1, 1), (7, 3, 1), (500, 2, 2)):
        await _truncate(database_url)
        await _put_all(client, "billing", existing)
        job = await posted_import(client, path)
        settings = app.state.settings.model_copy(update={"import_processes": processes})
        runners = [
            import_service.Runner(app.state.sessionmaker, settings, batch_size=batch_size)
            for _ in range(workers)
        ]
        try:
            await asyncio.gather(*(r.run_until_idle() for r in runners))
        finally:
            use_processes(1)
        done = (await client.get(f"/v1/imports/{job['id']}")).json()
        assert done["status"] == "done" and done["rows_done"] == ROWS, done
        assert done["counts"]["rejected"] == 0
        partitions = await _partitions(database_url, job["id"])
        assert partitions > 5, partitions
        report = await client.get(f"/v1/imports/{job['id']}/report")
        lines = list(csv.DictReader(io.StringIO(report.content.decode("utf-8-sig"))))
        assert [r["outcome"] for r in lines] == put_outcomes, (batch_size, workers, processes)
        state = await _state(database_url)
        for part in ("clusters", "decisions", "reviews", "events", "keys"):
            assert state[part] == one_by_one[part], (part, batch_size, workers, processes)


async def _partitions(database_url: str, job_id: str) -> int:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM import_partitions WHERE job_id = $1::uuid", job_id
            )
        )
    finally:
        await conn.close()
