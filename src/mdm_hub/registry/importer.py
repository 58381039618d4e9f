"""`mdm-hub nta import` and `mdm-hub invoice import`: a published file into the registry.

Streams the file (memory does not grow with it), commits every batch together with its
checkpoint (file + row), and on a second run of the same file (same sha256) resumes after the
last committed row. Rows that do not fit the published layout are recorded with the reason and
the import goes on.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from mdm_hub.registry import repository
from mdm_hub.registry.layouts import RowError
from mdm_hub.registry.reader import (
    Member,
    RegistryFileError,
    csv_members,
    file_digest,
    member_encoding,
    read_rows,
)
from mdm_hub.registry.staging import StagedBatch, stage_batch


@dataclass
class Progress:
    """Where one member's import stands (handed to the progress callback after every batch)."""

    member: str
    rows_read: int = 0
    rows_imported: int = 0
    rows_rejected: int = 0
    started: float = field(default_factory=time.monotonic)
    resumed_at: int = 0

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return (self.rows_read - self.resumed_at) / elapsed if elapsed > 0 else 0.0


@dataclass(frozen=True)
class MemberResult:
    member: str
    encoding: str
    state: str  # imported, resumed, already_imported, busy
    resumed_at: int
    rows_read: int
    rows_imported: int
    rows_rejected: int
    first_rejects: list[RowError]


async def import_file(
    dsn: str,
    path: Path,
    kind: str,
    *,
    encoding: str | None = None,
    batch_size: int = 5000,
    restart: bool = False,
    progress: Callable[[Progress], None] | None = None,
    workers: int | None = None,
) -> list[MemberResult]:
    """Import every CSV of ``path`` (a zip or a CSV) into the ``kind`` registry.

    ``workers``: processes that parse and encode batches (default: the CPU count); 0 parses in
    this process, one batch at a time."""
    layout = repository.LAYOUTS[kind]
    members = csv_members(path)
    digest = file_digest(path)
    count = (os.cpu_count() or 1) if workers is None else workers
    pool = ProcessPoolExecutor(max_workers=count) if count > 0 else None
    conn = await asyncpg.connect(dsn)
    try:
        # A crash loses at most the last few batches' commits, each with its own checkpoint:
        # the next run resumes before them. Nothing else waits for this connection's fsyncs.
        await repository.commit_without_waiting(conn)
        await repository.prepare(conn, layout)
        results = []
        for member in members:
            chosen = member_encoding(path, member, encoding)
            checkpoint = await repository.claim(
                conn,
                kind=kind,
                file_name=path.name,
                file_sha256=digest,
                member=member.name,
                encoding=chosen,
                restart=restart,
            )
            if checkpoint is None:
                results.append(MemberResult(member.name, chosen, "busy", 0, 0, 0, 0, []))
                continue
            try:
                results.append(
                    await _import_member(
                        conn,
                        layout,
                        path,
                        member.name,
                        chosen,
                        checkpoint,
                        batch_size,
                        progress,
                        pool,
                        count + 1,
                    )
                )
            finally:
                await repository.release(conn, checkpoint.import_id)
        return results
    finally:
        await conn.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)


async def _import_member(
    conn: asyncpg.Connection,
    layout: repository.Layout,
    path: Path,
    member_name: str,
    encoding: str,
    checkpoint: repository.Checkpoint,
    batch_size: int,
    progress: Callable[[Progress], None] | None,
    pool: Executor | None,
    ahead: int,
) -> MemberResult:
    if checkpoint.status == "done":
        done = await repository.totals(conn, checkpoint.import_id)
        return MemberResult(
            member_name, encoding, "already_imported", 0, *_counts(done), first_rejects=[]
        )
    state = Progress(member_name, resumed_at=checkpoint.rows_read)
    first_rejects: list[RowError] = []
    columns = repository.stage_columns(layout)
    loop = asyncio.get_running_loop()
    # Batches parsed ahead in the pool while PostgreSQL takes the one before: at most
    # ``ahead`` batches of raw rows in memory, whatever the file's size.
    in_flight: deque[asyncio.Future[StagedBatch]] = deque()

    async def write(batch: StagedBatch) -> None:
        await repository.write_batch(
            conn,
            layout,
            import_id=checkpoint.import_id,
            staged=batch.data,
            staged_rows=batch.rows,
            rejects=batch.rejects,
            rows_read=batch.last_row,
        )
        for error, _ in batch.rejects[: max(0, 20 - len(first_rejects))]:
            first_rejects.append(error)
        state.rows_read = batch.last_row
        state.rows_imported += batch.rows
        state.rows_rejected += len(batch.rejects)
        if progress is not None:
            progress(state)

    async def submit(chunk: list[tuple[int, list[str]]]) -> None:
        if pool is None:
            await write(stage_batch(layout.kind, columns, chunk))
            return
        in_flight.append(
            asyncio.wrap_future(pool.submit(stage_batch, layout.kind, columns, chunk), loop=loop)
        )
        while len(in_flight) > ahead:
            await write(await in_flight.popleft())

    chunk: list[tuple[int, list[str]]] = []
    for row_number, fields in read_rows(path, Member(member_name), encoding):
        if row_number <= checkpoint.rows_read:
            continue
        chunk.append((row_number, fields))
        if len(chunk) >= batch_size:
            await submit(chunk)
            chunk = []
    if chunk:
        await submit(chunk)
    while in_flight:
        await write(await in_flight.popleft())
    done = await repository.finish(conn, checkpoint.import_id)
    return MemberResult(
        member_name,
        encoding,
        "resumed" if checkpoint.rows_read else "imported",
        checkpoint.rows_read,
        *_counts(done),
        first_rejects=first_rejects,
    )


def _counts(row: asyncpg.Record) -> tuple[int, int, int]:
    return row["rows_read"], row["rows_imported"], row["rows_rejected"]


__all__ = ["MemberResult", "Progress", "RegistryFileError", "import_file"]
