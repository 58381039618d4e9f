"""`mdm-hub nta import` and `mdm-hub invoice import`: a published file into the registry.

Streams the file (memory does not grow with it), commits every batch together with its
checkpoint (file + row), and on a second run of the same file (same sha256) resumes after the
last committed row. Rows that do not fit the published layout are recorded with the reason and
the import goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from mdm_hub.registry import repository
from mdm_hub.registry.layouts import ParsedRow, RowError, parse_invoice_row, parse_nta_row
from mdm_hub.registry.reader import (
    Member,
    RegistryFileError,
    csv_members,
    file_digest,
    member_encoding,
    read_rows,
)

PARSERS = {"nta": parse_nta_row, "invoice": parse_invoice_row}


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
) -> list[MemberResult]:
    """Import every CSV of ``path`` (a zip or a CSV) into the ``kind`` registry."""
    layout = repository.LAYOUTS[kind]
    members = csv_members(path)
    digest = file_digest(path)
    conn = await asyncpg.connect(dsn)
    try:
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
                        conn, layout, path, member.name, chosen, checkpoint, batch_size, progress
                    )
                )
            finally:
                await repository.release(conn, checkpoint.import_id)
        return results
    finally:
        await conn.close()


async def _import_member(
    conn: asyncpg.Connection,
    layout: repository.Layout,
    path: Path,
    member_name: str,
    encoding: str,
    checkpoint: repository.Checkpoint,
    batch_size: int,
    progress: Callable[[Progress], None] | None,
) -> MemberResult:
    if checkpoint.status == "done":
        done = await repository.totals(conn, checkpoint.import_id)
        return MemberResult(
            member_name, encoding, "already_imported", 0, *_counts(done), first_rejects=[]
        )
    parse = PARSERS[layout.kind]
    state = Progress(member_name, resumed_at=checkpoint.rows_read)
    rows: list[ParsedRow] = []
    rejects: list[tuple[RowError, list[str]]] = []
    first_rejects: list[RowError] = []
    last_row = checkpoint.rows_read

    async def flush() -> None:
        await repository.write_batch(
            conn,
            layout,
            import_id=checkpoint.import_id,
            rows=rows,
            rejects=rejects,
            rows_read=last_row,
        )
        state.rows_read = last_row
        state.rows_imported += len(rows)
        state.rows_rejected += len(rejects)
        rows.clear()
        rejects.clear()
        if progress is not None:
            progress(state)

    for row_number, fields in read_rows(path, Member(member_name), encoding):
        if row_number <= checkpoint.rows_read:
            continue
        parsed = parse(fields, row_number)
        if isinstance(parsed, RowError):
            rejects.append((parsed, fields))
            if len(first_rejects) < 20:
                first_rejects.append(parsed)
        else:
            rows.append(parsed)
        last_row = row_number
        if len(rows) + len(rejects) >= batch_size:
            await flush()
    if rows or rejects or last_row != checkpoint.rows_read:
        await flush()
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
