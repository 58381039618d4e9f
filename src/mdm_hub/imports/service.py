"""Import jobs: create (file stored in the database), stage (read, map, validate, partition)
and run (partitions claimed by any number of workers, in checkpointed batches) chunk after
chunk of rows in file order, report.

Determinism: within a chunk, rows that share a blocking key (or a source id, or an existing
customer they may meet) are in one partition, and a partition's rows are written in file order
through the single write path, each batch in one transaction that also marks its rows done; a
chunk is staged only once the one before it is written. So a row is stored exactly once
whatever crashes, and the customers do not depend on the chunk size, the batch size or on how
many workers ran (partitions share no key, so their order does not matter for rows of the file
among themselves).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hashlib
import io
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mdm_hub import heap
from mdm_hub.context import Actor
from mdm_hub.custom_fields.service import Configuration
from mdm_hub.db import NEVER_COMMITTED
from mdm_hub.errors import ProblemError, found
from mdm_hub.events.repository import insert_summary_event
from mdm_hub.imports import repository as repo
from mdm_hub.imports import writer
from mdm_hub.imports.mapping import (
    HeaderMapping,
    MappingFile,
    MappingFileError,
    RowProblem,
    column_of,
    map_header,
    map_row,
    mapping_from_json,
    relation_columns,
)
from mdm_hub.imports.models import ImportJob
from mdm_hub.imports.reader import FileFormat, FileProblem, Row, file_format, read_rows
from mdm_hub.imports.spool import SealedSpool
from mdm_hub.imports.writer import FieldProblems, Refusal, WaitingRefusal
from mdm_hub.normalize import postal
from mdm_hub.record import CustomerIn, CustomerRecord
from mdm_hub.settings import Settings

logger = logging.getLogger("mdm_hub.imports")

CHUNK_BYTES = 1024 * 1024
STAGE_BATCH = 1000
PARTITION_ROWS = 2000  # rows per partition, about (components are never split)
# A dry run's tables analyzed in its transaction after this many rows written (see
# repository.analyze_simulated).
ANALYZE_SIMULATED_ROWS = 2000


@dataclass(frozen=True)
class ImportOptions:
    system: str
    filename: str
    encoding: str | None = None
    sheet: str | None = None
    kind: str | None = None
    mapping: MappingFile | None = None
    dry_run: bool = False
    # One import.completed webhook event instead of one per customer change (an initial
    # load); the change feed still has every change.
    summary_event: bool = False
    # Keep the file when the job is done (a console preview, started afterwards by
    # :func:`rerun_job`); otherwise it is dropped with the job's end.
    keep_file: bool = False

    def to_json(self) -> dict[str, Any]:
        names = ("summary_event", "encoding", "sheet", "kind")
        return {name: getattr(self, name) for name in names} | {
            "mapping": self.mapping.to_json() if self.mapping else None,
            **({"keep_file": True} if self.keep_file else {}),
        }


async def create_job(
    session: AsyncSession, actor: Actor, options: ImportOptions, stream: IO[bytes]
) -> ImportJob:
    """A queued job with its file, streamed into the database in 1 MiB pieces."""
    job = ImportJob(
        id=uuid.uuid4(),
        system=options.system,
        filename=options.filename,
        status="queued",
        dry_run=options.dry_run,
        options=options.to_json(),
        file_sha256="",
        file_bytes=0,
        rows_done=0,
        counts=repo.empty_counts(),
        created_by=actor.subject,
    )
    await repo.add_job(session, job)
    digest, size, seq = hashlib.sha256(), 0, 0
    while data := stream.read(CHUNK_BYTES):
        digest.update(data)
        size += len(data)
        await repo.add_chunk(session, job.id, seq, data)
        seq += 1
    if size == 0:
        raise ProblemError("validation-error", "The file is empty")
    job.file_sha256, job.file_bytes = digest.hexdigest(), size
    if options.mapping is not None and not options.dry_run:
        await repo.save_mapping(session, options.system, options.mapping.to_json())
    await session.flush()
    return job


async def rerun_job(
    session: AsyncSession,
    actor: Actor,
    job_id: uuid.UUID,
    *,
    mapping: MappingFile | None,
    kind: str | None,
    dry_run: bool,
) -> ImportJob:
    """A new job on the file of a finished preview (a dry run that kept its file), with another
    mapping: a new preview, or the import itself. The preview's file moves to the new job."""
    preview = await get_job(session, job_id)
    await repo.lock_job(session, preview)
    if not preview.dry_run or not preview.options.get("keep_file"):
        raise ProblemError("conflict", f"Import {job_id} is not a preview that kept its file")
    if preview.status not in ("done", "failed") or not await repo.has_chunks(session, job_id):
        raise ProblemError("conflict", f"Import {job_id} is {preview.status}, or was started")
    options = preview.options
    job = ImportJob(
        id=uuid.uuid4(),
        system=preview.system,
        filename=preview.filename,
        status="queued",
        dry_run=dry_run,
        options={
            **options,
            "kind": kind,
            "mapping": mapping.to_json() if mapping else None,
            "keep_file": dry_run,
        },
        file_sha256=preview.file_sha256,
        file_bytes=preview.file_bytes,
        rows_done=0,
        counts=repo.empty_counts(),
        created_by=actor.subject,
    )
    await repo.add_job(session, job)
    await repo.move_chunks(session, job_id, job.id)
    if mapping is not None and not dry_run:
        await repo.save_mapping(session, preview.system, mapping.to_json())
    await session.flush()
    return job


async def has_file(session: AsyncSession, job_id: uuid.UUID) -> bool:
    """Whether the job still holds its file (a preview that was not started yet does)."""
    return await repo.has_chunks(session, job_id)


async def drop_stale_preview_files(engine: AsyncEngine, settings: Settings) -> int:
    """The worker's periodic job (mdm_hub.housekeeping): a preview that was not started within
    ``MDM_IMPORT_PREVIEW_FILE_HOURS`` of finishing gives up its file (chunks dropped)."""
    async with AsyncSession(engine) as session, session.begin():
        return await repo.drop_stale_preview_files(session, settings.import_preview_file_hours)


async def get_job(session: AsyncSession, job_id: uuid.UUID) -> ImportJob:
    return found(await repo.get_job(session, job_id), f"No import {job_id}")


async def cancel_job(session: AsyncSession, job_id: uuid.UUID) -> ImportJob:
    """Stop a job: no further batch starts (rows already written stay written)."""
    job = await get_job(session, job_id)
    if job.status in ("done", "failed", "cancelled"):
        raise ProblemError("conflict", f"Import {job_id} is already {job.status}")
    job.status = "cancelled"
    job.finished_at = dt.datetime.now(dt.UTC)
    await session.flush()
    await repo.drop_chunks(session, job_id)
    return job


# --------------------------------------------------------------------------------------------
# Staging
# --------------------------------------------------------------------------------------------


class _Components:
    """Union–find over rows: rows sharing a key end with the same root (the first row)."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.owner: dict[int, int] = {}  # hash of a key → a row holding it

    def add(self, keys: list[str]) -> int:
        row = len(self.parent)
        self.parent.append(row)
        for key in keys:
            other = self.owner.setdefault(hash(key), row)
            if other != row:
                self._union(row, other)
        return row

    def find(self, row: int) -> int:
        root = row
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[row] != root:
            self.parent[row], row = root, self.parent[row]
        return root

    def _union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


async def _file_copy(session: AsyncSession, job: ImportJob) -> SealedSpool:
    """The job's file for the readers, sealed in an unnamed temporary file (never in clear on
    disk); the caller closes it."""
    spool = SealedSpool(job.filename)
    try:
        async for data in repo.chunks(session, job.id):
            spool.write(data)
    except BaseException:
        spool.close()
        raise
    return spool


def _problems_json(problems: list[RowProblem]) -> list[dict[str, str]]:
    return [p.to_json() for p in problems]


async def _job_input(
    session: AsyncSession, job: ImportJob, path: SealedSpool
) -> tuple[FileFormat, Configuration, MappingFile | None]:
    """How to read the job's file (its copy ``path``): its format, the custom fields, and the
    mapping (the job's own, else the one saved for its system)."""
    options = job.options
    fmt = file_format(
        path, encoding=options.get("encoding"), sheet=options.get("sheet"), name=job.filename
    )
    config = await writer.configuration(session)
    mapping_json = options.get("mapping") or await repo.saved_mapping(session, job.system)
    return fmt, config, mapping_from_json(mapping_json) if mapping_json else None


async def detect_header(session: AsyncSession, job: ImportJob) -> dict[str, Any]:
    """What staging would detect, read from the kept file's header row alone (for a preview
    whose staging failed, e.g. with no name column, so that its mapping can be mended)."""
    path = await _file_copy(session, job)
    try:
        fmt, config, mapping = await _job_input(session, job, path)
        header = map_header(
            next(iter(read_rows(path, fmt))).values,
            mapping=mapping,
            custom_fields={d.key: d.label for d in config.definitions},
            kind=job.options.get("kind"),
        )
    except (StopIteration, FileProblem, MappingFileError):
        return {}
    finally:
        path.close()
    return {"format": fmt.kind, "encoding": fmt.encoding, "sheet": fmt.sheet, **header.to_json()}


@dataclass
class _Reading:
    """A job's file open for staging, kept by the process that stages it from one chunk to the
    next, so that each chunk reads on where the last ended (a process that did not stage the
    last chunk, or one whose staging failed, opens the file again and skips the staged rows)."""

    job_id: uuid.UUID
    spool: SealedSpool
    fmt: FileFormat
    config: Configuration
    mapping: MappingFile | None
    header: list[str]
    rows: Iterator[Row]
    last_line: int | None  # the line of the last row handed out
    ahead: Row | None  # the row after it (None: the file has no more)

    def next(self) -> Row:
        row = self.ahead
        assert row is not None
        self.ahead = next(self.rows, None)
        self.last_line = row.line
        return row

    def close(self) -> None:
        self.spool.close()


async def _open_reading(session: AsyncSession, job: ImportJob) -> _Reading:
    """The job's file opened after its header row and its staged rows (``staged_line``)."""
    spool = await _file_copy(session, job)
    try:
        fmt, config, mapping = await _job_input(session, job, spool)
        rows = iter(read_rows(spool, fmt))
        first = next(rows, None)
        if first is None:
            raise FileProblem("no_header", "The file has no header row")
        ahead = next(rows, None)
        while ahead is not None and job.staged_line is not None and ahead.line <= job.staged_line:
            ahead = next(rows, None)
        return _Reading(
            job.id, spool, fmt, config, mapping, first.values, rows, job.staged_line, ahead
        )
    except BaseException:
        spool.close()
        raise


def _count_rows(reading: _Reading) -> int:
    """The file's data rows (a pass of the reader alone, for the progress's total)."""
    return sum(1 for _ in read_rows(reading.spool, reading.fmt)) - 1


@dataclass
class HeldRows:
    """The most rows an import held in memory at once, for tests of the memory bound: the rows
    of one staging (their keys, for the partitions) and of one dry-run write."""

    peak: int = 0

    def hold(self, rows: int) -> None:
        self.peak = max(self.peak, rows)


HELD_ROWS = HeldRows()


async def stage_job(
    session: AsyncSession,
    settings: Settings,
    job: ImportJob,
    progress: Callable[[int], Awaitable[None]] | None = None,
    reading: _Reading | None = None,
    lookup: AsyncSession | None = None,
) -> _Reading | None:
    """Stage the job's next chunk: up to ``MDM_IMPORT_CHUNK_ROWS`` rows after the last staged,
    read, mapped, validated, normalized (for the keys), stored with their partitions. One
    transaction (the caller's): a crash leaves nothing of the chunk staged. A chunk is staged
    only once the one before it is written, so that its rows' existing holders include the
    customers earlier chunks created, and partitions (rows sharing no key) are computed within
    the chunk: staging holds one chunk's keys in memory, never the whole file's.

    ``lookup``: the session the rows' existing customers are read in (a dry run's, which
    sees the customers its earlier chunks would have created; else ``session``).
    ``reading`` is the file as the caller's last chunk left it; the file as it is after this
    chunk is returned, to be given to the next (None: nothing left to read)."""
    if reading is not None and (reading.job_id != job.id or reading.last_line != job.staged_line):
        reading.close()
        reading = None
    first_chunk = job.staged_line is None
    await repo.clear_staged(session, job.id, job.staged_line)
    if reading is None:
        reading = await _open_reading(session, job)
    try:
        header = map_header(
            reading.header,
            mapping=reading.mapping,
            custom_fields={d.key: d.label for d in reading.config.definitions},
            kind=job.options.get("kind"),
        )
        if not any(c.target == "name" for c in header.columns) and not any(
            c.target in ("family_name", "given_name") for c in header.columns
        ):
            raise FileProblem(
                "no_name_column",
                "No column holds the customer's name (会社名, 取引先名, 顧客名, 氏名, "
                "name...): give a mapping",
            )
        chunk_rows = settings.import_chunk_rows
        counted = None
        if first_chunk:
            counted = _count_rows(reading)
            if progress is not None:  # the lease renewed after the file's pass
                await progress(0)
        components = _Components()
        lines: list[int] = []
        batch: list[tuple[int, list[str]]] = []
        rejected = total = 0

        async def flush() -> None:
            nonlocal rejected
            staged = await _stage_rows(
                lookup or session, settings, reading.config, header, batch, job.system
            )
            for row in staged:
                if row["status"] == "pending":
                    components.add([f"source:{row['source_id']}", *row.pop("keys")])
                    lines.append(row["line"])
                else:
                    row.pop("keys")
                    rejected += 1
            await repo.insert_rows(session, job.id, staged)
            batch.clear()

        while reading.ahead is not None and (chunk_rows is None or total < chunk_rows):
            row = reading.next()
            total += 1
            batch.append((row.line, row.values))
            if len(batch) >= STAGE_BATCH:
                await flush()
                if progress is not None:
                    await progress(total)
        await flush()
        HELD_ROWS.hold(total)
        first = await repo.next_partition(session, job.id)
        sizes = await _partition(session, job.id, lines, components, first)
        await repo.lock_job(session, job)
        if job.status not in ("staging", "running"):  # cancelled meanwhile: it stays cancelled
            reading.close()
            return None
        if first_chunk:
            job.detected = {
                "format": reading.fmt.kind,
                "encoding": reading.fmt.encoding,
                "sheet": reading.fmt.sheet,
                **header.to_json(),
            }
            job.rows_total = counted if counted is not None else total
            if reading.mapping is not None and not job.options.get("mapping"):
                # The system's saved mapping, kept with the job: every chunk maps as the first.
                job.options = {**job.options, "mapping": reading.mapping.to_json()}
        job.staged_line = reading.last_line
        job.staged_all = reading.ahead is None
        job.leased_until = None
        job.status = "running" if sizes or not job.staged_all else "done"
        if job.status == "done":
            job.finished_at = dt.datetime.now(dt.UTC)
        if rejected:
            await session.flush()
            await repo.add_counts(session, job.id, {"rejected": rejected}, rejected)
            await repo.reload_job(session, job)
        await session.flush()
        if job.status == "done" and first > 0:
            # The last chunk had no row to write: the job ends here, not with a partition.
            if not job.options.get("keep_file"):
                await repo.drop_chunks(session, job.id)
            if not job.dry_run:
                await _summary_event(session, job.id)
    except BaseException:
        reading.close()
        raise
    if job.staged_all:
        reading.close()
        return None
    return reading


async def _partition(
    session: AsyncSession,
    job_id: uuid.UUID,
    lines: list[int],
    components: _Components,
    first: int,
) -> dict[int, int]:
    """The chunk's rows (``lines``, staged in this order) in partitions numbered from
    ``first``: rows of one component in one partition."""
    count = max(1, -(-len(lines) // PARTITION_ROWS))
    sizes: dict[int, int] = {}
    partitions: list[int] = []
    for index in range(len(lines)):
        partition = first + components.find(index) % count
        partitions.append(partition)
        sizes[partition] = sizes.get(partition, 0) + 1
    for start in range(0, len(lines), 10_000):
        await repo.set_partitions(
            session, job_id, lines[start : start + 10_000], partitions[start : start + 10_000]
        )
    await repo.insert_partitions(session, job_id, dict(sorted(sizes.items())))
    return sizes


async def _stage_rows(
    session: AsyncSession,
    settings: Settings,
    config: Any,
    header: HeaderMapping,
    rows: list[tuple[int, list[str]]],
    system: str,
) -> list[dict[str, Any]]:
    """Rows mapped, validated and prepared as a batch (the write path's ``prepare``), each
    with the keys that put it in a partition: its blocking keys, the existing customers
    its fetching keys find (``customer:<id>``), so that rows which may join or be scored
    against one existing customer are written in one partition, in file order, and the
    targets of the links it names (:func:`_link_keys`)."""
    staged: list[dict[str, Any]] = []
    valid: list[tuple[dict[str, Any], Any, CustomerIn]] = []
    for line, values in rows:
        mapped = map_row(line, values, header)
        row: dict[str, Any] = {
            "line": line,
            "source_id": mapped.source_id,
            "payload": mapped.payload,
            "status": "pending",
            "outcome": None,
            "problems": [],
            "keys": [],
        }
        staged.append(row)
        problems = list(mapped.problems)
        if mapped.source_id is not None and len(mapped.source_id) > 200:
            problems.append(RowProblem("", "source_id_too_long", "The id is over 200 characters"))
        if not problems:
            validated = writer.validate_payload(mapped.payload)
            if isinstance(validated, list):
                problems = [
                    RowProblem(column_of(p.field, mapped.pointers), p.code, p.message)
                    for p in validated
                ]
            else:
                valid.append((row, mapped, validated))
        if problems:
            row.update(status="done", outcome="rejected", problems=_problems_json(problems))
    prepared = await writer.prepare_keys(session, settings, [v for _, _, v in valid], config)
    all_keys = [k for p in prepared if not isinstance(p, FieldProblems) for k in p.keys]
    holders = await writer.existing_holders(session, settings, all_keys)
    own, by_code = await repo.customers_named(
        session,
        system,
        [row["source_id"] for row, _, _ in valid if row["source_id"] is not None],
        sorted(
            {
                c
                for p in prepared
                if not isinstance(p, FieldProblems)
                for c in _codes_named(p.record)
            }
        ),
    )
    for (row, mapped, _), done in zip(valid, prepared, strict=True):
        if isinstance(done, FieldProblems):
            problems = [
                RowProblem(column_of(p.field, mapped.pointers), p.code, p.message)
                for p in done.problems
            ]
            row.update(status="done", outcome="rejected", problems=_problems_json(problems))
            continue
        found = {f"customer:{c}" for k in done.keys for c in holders.get(k, ())}
        found |= _link_keys(done.record, system)
        # The customer the row's source record already is, and those it names by code: a
        # link between two existing customers is written in file order with their other rows.
        named = [own.get(row["source_id"]), *(by_code.get(c) for c in _codes_named(done.record))]
        found |= {f"customer:{c}" for c in named if c is not None}
        row["keys"] = sorted({f"{k.kind}:{k.value}" for k in done.keys} | found)
        row["prepared"] = done.to_json()
    return staged


def _codes_named(record: CustomerRecord) -> list[str]:
    """The hub customer codes a record's links name (``site_of_``/``parent_customer_code``)."""
    relations = record.relations
    if relations is None:
        return []
    codes = (relations.site_of_customer_code, relations.parent_customer_code)
    return [c for c in codes if c]


def _link_keys(record: CustomerRecord, system: str) -> set[str]:
    """The rows a row's links name are written in its partition, in file order, so that a
    link and a cycle come out as PUTs in file order would, whatever ran first: a source
    record of this system by the key its own row has (``source:ID``), a corporation by its
    法人番号, which every row carrying that number has too (``corpnum:N``; in memory only,
    like every staging key)."""
    keys: set[str] = set()
    if record.corporate_number:
        keys.add(f"corpnum:{record.corporate_number}")
    relations = record.relations
    if relations is None:
        return keys
    for prefix in ("site_of", "parent"):
        source = getattr(relations, f"{prefix}_source")
        if source is not None and source.system in (None, system):
            keys.add(f"source:{source.source_id}")
        if number := getattr(relations, f"{prefix}_corporate_number"):
            keys.add(f"corpnum:{number}")
    return keys


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


async def _settle(settings: Settings) -> None:
    """Before a process's first import work: the heap settled for the collector
    (``mdm_hub.heap``), after Japan Post's index is built when this process normalizes
    (``serve`` has built it at start; with a pool, its processes build their own)."""
    if not heap.settled():
        if writer.normalizes_here(settings):
            await asyncio.to_thread(postal.index)
        heap.settle()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Runner:
    """Stages queued jobs and writes claimed partitions; any number may run at once."""

    sessionmaker: async_sessionmaker[AsyncSession]
    settings: Settings
    batch_size: int = 500
    job_id: uuid.UUID | None = None  # only this job (the CLI), else every job
    on_progress: Callable[[uuid.UUID], Awaitable[None]] | None = None
    name: str = ""
    _reading: _Reading | None = field(default=None, init=False, repr=False)
    _simulated: int = field(default=0, init=False, repr=False)  # rows since the last ANALYZE

    def __post_init__(self) -> None:
        self.name = self.name or worker_name()
        writer.use_processes(self.settings)

    @property
    def lease(self) -> float:
        return self.settings.import_lease_seconds

    async def run_once(self) -> bool:
        """One unit of work (a staging or a partition); False when there was none."""
        async with self.sessionmaker() as session, session.begin():
            job = await repo.claim_job_to_stage(session, self.lease, self.job_id)
        if job is not None:
            await _settle(self.settings)
            if job.dry_run:
                await self._dry_run(job)
            else:
                await self._stage(job)
            return True
        async with self.sessionmaker() as session, session.begin():
            claimed = await repo.claim_partition(session, self.name, self.lease, self.job_id)
        if claimed is None:
            return False
        await _settle(self.settings)
        job_id, partition = claimed
        async with self.sessionmaker() as session:
            job = await get_job(session, job_id)
        await self._write_partition(job, partition)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    worked = await self.run_once()
                except Exception:
                    logger.exception("import worker: a unit of work failed; retrying later")
                    worked = False
                if not worked:
                    with _suppress_timeout():
                        await asyncio.wait_for(
                            stop.wait(), self.settings.worker_poll_interval_seconds
                        )
        finally:
            self.close()

    async def run_until_idle(self) -> None:
        try:
            while await self.run_once():
                pass
        finally:
            self.close()

    def close(self) -> None:
        """The file this runner kept open between two chunks of a job, closed."""
        if self._reading is not None:
            self._reading.close()
            self._reading = None

    async def _stage(self, claimed: ImportJob, lookup: AsyncSession | None = None) -> bool:
        """Stage the job's next chunk (``lookup``: see :func:`stage_job`); False when the job
        failed on its file or mapping (or was cancelled meanwhile)."""
        job_id = claimed.id
        # The file as this runner's last chunk left it: stage_job owns it (and closes it on a
        # failure); what it returns is kept once the chunk is committed.
        reading, self._reading = self._reading, None
        try:
            async with self.sessionmaker() as session, session.begin():
                job = await get_job(session, job_id)
                given, reading = reading, None
                reading = await stage_job(
                    session, self.settings, job, self._renew_staging(job_id), given, lookup
                )
                if job.dry_run and job.status == "running":
                    # Written by this runner alone (claim_partition skips dry runs); its
                    # lease kept while it writes, so that no other worker stages on.
                    await repo.renew_staging(session, job_id, self.lease)
            self._reading, reading = reading, None
        except (FileProblem, MappingFileError) as exc:
            code = exc.code if isinstance(exc, FileProblem) else "invalid_mapping"
            async with self.sessionmaker() as session, session.begin():
                failed = await get_job(session, job_id)
                await repo.lock_job(session, failed)
                if failed.status not in ("staging", "running"):  # cancelled meanwhile
                    return False
                failed.status = "failed"
                failed.error = {"code": code, "message": str(exc)}
                failed.finished_at = dt.datetime.now(dt.UTC)
                if not failed.options.get("keep_file"):  # a preview: mapped again, then rerun
                    await repo.drop_chunks(session, job_id)
            return False
        finally:
            if reading is not None:  # not given to stage_job, or its chunk not committed
                reading.close()
        if self.on_progress is not None:
            await self.on_progress(job_id)
        return True

    def _renew_staging(self, job_id: uuid.UUID) -> Callable[[int], Awaitable[None]]:
        """Keep the staging lease while reading a long file (in a transaction of its own)."""

        async def renew(rows: int) -> None:
            async with self.sessionmaker() as session, session.begin():
                await repo.renew_staging(session, job_id, self.lease)

        return renew

    def _actor(self, job: ImportJob) -> Actor:
        return Actor(subject=job.created_by, request_id=f"import-{job.id}")

    async def _write_partition(self, job: ImportJob, partition: int) -> None:
        while await self._write_batch(job, partition):
            if self.on_progress is not None:
                await self.on_progress(job.id)
        if self.on_progress is not None:
            await self.on_progress(job.id)

    async def _write_batch(self, job: ImportJob, partition: int) -> bool:
        """One batch in one transaction, rows marked done in it; False when the partition is
        finished (or no longer ours)."""
        actor = self._actor(job)
        async with self.sessionmaker() as session, session.begin():
            if not await repo.renew_lease(session, job.id, partition, self.name, self.lease):
                return False  # cancelled, or another worker took it over
            rows = await repo.pending_rows(session, job.id, partition, self.batch_size)
            if not rows:
                if await repo.finish_partition(session, job.id, partition):
                    await _summary_event(session, job.id)
                return False
            earlier: dict[str, list[dict[str, str]]] = {}
            arrivals: dict[str, list[tuple[int, dict[str, str]]]] = {}
            results = await _write(
                session,
                self.settings,
                actor,
                job.system,
                rows,
                webhooks=not job.options.get("summary_event"),
                columns=_relation_columns(job),
                earlier=earlier,
                arrivals=arrivals,
            )
            reported = await repo.add_row_problems(session, job.id, partition, earlier)
            _report_arrivals(results, {s: a for s, a in arrivals.items() if s not in reported})
            await repo.record_results(session, job.id, results)
        return True

    async def _dry_run(self, claimed: ImportJob) -> None:
        """A dry run (preview), whole, by this runner: chunk after chunk staged as an import's
        (committed: rows, partitions, outcomes) and written in one transaction, ``simulated``,
        that is never committed. Its later chunks read the customers its earlier ones would
        have created there, so rows that meet across chunks are previewed as one cluster,
        while memory holds one chunk's keys (staging) and one batch of rows (writing). Nothing
        of the writes survives: no customer, audit entry or event is ever committed.

        An interrupted dry run (a crash: the simulated writes are gone) starts over from its
        first row."""
        async with self.sessionmaker() as simulated:
            simulated.info[NEVER_COMMITTED] = True
            await simulated.begin()
            try:
                if claimed.staged_line is not None:
                    async with self.sessionmaker() as session, session.begin():
                        job = await get_job(session, claimed.id)
                        await repo.restart_staging(session, job)
                    self.close()
                while True:
                    if not await self._stage(claimed, lookup=simulated):
                        return
                    async with self.sessionmaker() as session:
                        job = await get_job(session, claimed.id)
                        partitions = await repo.pending_partitions(session, job.id)
                    for partition in partitions:
                        if not await self._dry_run_partition(simulated, job, partition):
                            return
                    if job.status != "running" or job.staged_all:
                        return
            finally:
                await simulated.rollback()
                self.close()

    async def _dry_run_partition(
        self, simulated: AsyncSession, job: ImportJob, partition: int
    ) -> bool:
        """A dry run's partition written batch by batch in ``simulated`` (never committed), each
        batch's outcomes recorded (committed) as a real import records them, customer codes
        only of customers that existed before; False when the job is no longer running
        (cancelled)."""
        columns = _relation_columns(job)
        while True:
            async with self.sessionmaker() as session, session.begin():
                if not await repo.claim_own_partition(
                    session, job.id, partition, self.name, self.lease
                ):
                    return False
                await repo.renew_staging(session, job.id, self.lease)
                rows = await repo.pending_rows(session, job.id, partition, self.batch_size)
                if not rows:
                    await repo.finish_partition(session, job.id, partition)
                    break
                HELD_ROWS.hold(len(rows))
                earlier: dict[str, list[dict[str, str]]] = {}
                arrivals: dict[str, list[tuple[int, dict[str, str]]]] = {}
                results = await _write(
                    simulated,
                    self.settings,
                    Actor("dry-run"),
                    job.system,
                    rows,
                    columns=columns,
                    earlier=earlier,
                    arrivals=arrivals,
                )
                # Flushed: nothing of this batch is kept in memory for the next (a real
                # import's batch has a session of its own).
                simulated.expunge_all()
                self._simulated += len(rows)
                if self._simulated >= ANALYZE_SIMULATED_ROWS:
                    self._simulated = 0
                    await repo.analyze_simulated(simulated)
                existing = await repo.existing_codes(
                    session, sorted({r["customer_code"] for r in results if r["customer_code"]})
                )
                for result in results:
                    if result["customer_code"] not in existing:
                        result["customer_code"] = None
                reported = await repo.add_row_problems(session, job.id, partition, earlier)
                _report_arrivals(results, {s: a for s, a in arrivals.items() if s not in reported})
                await repo.record_results(session, job.id, results)
            if self.on_progress is not None:
                await self.on_progress(job.id)
        if self.on_progress is not None:
            await self.on_progress(job.id)
        return True


class _suppress_timeout:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, value: object, tb: object) -> bool:
        return kind is TimeoutError


async def _write(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    system: str,
    rows: Sequence[tuple[int, str, dict[str, Any], dict[str, Any] | None]],
    *,
    webhooks: bool = True,
    columns: dict[str, str] | None = None,
    earlier: dict[str, list[dict[str, str]]] | None = None,
    arrivals: dict[str, list[tuple[int, dict[str, str]]]] | None = None,
) -> list[dict[str, Any]]:
    """Rows (line, source id, payload, what staging prepared) written as one batch of the
    write path; their results for the report.

    A hierarchy link a row names that is refused (cycle, self-link, ...) leaves the row
    stored without it and is one of its problems, in the link's column (``columns``: pointer
    → column). A waiting link refused when its target came names the row that named it: its
    problems go to ``earlier`` (source id → problems) when that row is not in this batch, and
    to ``arrivals`` (source id → (line of the row that arrived, problem)) for the caller to
    report on the arriving row when the naming record is no row of this job (an earlier
    import's, or a PUT's): :func:`_report_arrivals`."""
    results: dict[int, dict[str, Any]] = {}
    refused: list[Refusal] = []
    valid: list[tuple[int, str, CustomerIn, dict[str, Any] | None]] = []
    for line, source_id, payload, ready in rows:
        validated = writer.validate_payload(payload)
        if isinstance(validated, list):  # staged before a schema change: refused like a PUT
            results[line] = {
                "line": line,
                "outcome": "rejected",
                "customer_code": None,
                "problems": [
                    {"column": "", "code": p.code, "message": p.message} for p in validated
                ],
            }
        else:
            valid.append((line, source_id, validated, ready))
    written = await writer.write_rows(
        session,
        settings,
        actor,
        system,
        [(source_id, body) for _, source_id, body, _ in valid],
        [ready for _, _, _, ready in valid],
        webhooks=webhooks,
        refused=refused,
    )
    for (line, _, _, _), result in zip(valid, written, strict=True):
        problems: list[dict[str, str]] = []
        if result.problem is not None:
            errors = result.problem.errors or []
            problems = [{"column": p.field, "code": p.code, "message": p.message} for p in errors]
            if not problems:
                problems = [
                    {
                        "column": "",
                        "code": result.problem.problem_type.slug,
                        "message": str(result.problem),
                    }
                ]
        if result.change_request is not None:  # stored; these values wait for a 管理者
            problems = [
                {
                    "column": change["field"],
                    "code": "held_for_approval",
                    "message": f"Change request {result.change_request.id}",
                }
                for change in result.change_request.changes
            ]
        results[line] = {
            "line": line,
            "outcome": result.outcome,
            "customer_code": result.customer.customer_code if result.customer else None,
            "problems": problems,
        }
    last_line = {source_id: line for line, source_id, _, _ in rows}
    for refusal in refused:
        if refusal.system != system:
            continue  # a link named by another system's record: in the audit log only
        found = [
            {"column": (columns or {}).get(e.field, e.field), "code": e.code, "message": e.message}
            for e in refusal.problem.errors or []
        ]
        at = last_line.get(refusal.source_id)
        if at is not None and at in results:
            results[at]["problems"].extend(found)
            continue
        if earlier is not None:
            earlier.setdefault(refusal.source_id, []).extend(found)
        if (
            arrivals is not None
            and isinstance(refusal, WaitingRefusal)
            and refusal.arrived_system == system
            and (arrived := last_line.get(refusal.arrived_source_id)) is not None
        ):
            arrivals.setdefault(refusal.source_id, []).extend(
                (
                    arrived,
                    {
                        "column": "",
                        "code": "waiting_link_refused",
                        "message": f"The link {e.field} of {refusal.system}/"
                        f"{refusal.source_id}, waiting for this record, was refused "
                        f"({e.code}): {e.message}",
                    },
                )
                for e in refusal.problem.errors or []
            )
    return [results[line] for line, _, _, _ in rows]


def _report_arrivals(
    results: list[dict[str, Any]], arrivals: dict[str, list[tuple[int, dict[str, str]]]]
) -> None:
    """Waiting links whose naming record is no row of this job (an earlier import's or a
    PUT's), refused when a row of this batch arrived: problems of that row (the link stays
    in the audit log too, ``customer_relation.refused``)."""
    by_line = {result["line"]: result for result in results}
    for problems in arrivals.values():
        for line, problem in problems:
            by_line[line]["problems"].append(problem)


def _relation_columns(job: ImportJob) -> dict[str, str]:
    return relation_columns((job.detected or {}).get("columns", []))


async def _summary_event(session: AsyncSession, job_id: uuid.UUID) -> None:
    """A finished import that asked for it: its one ``import.completed`` webhook event."""
    job = await get_job(session, job_id)
    if not job.options.get("summary_event"):
        return
    await insert_summary_event(
        session,
        job.id,
        {
            "import_id": str(job.id),
            "system": job.system,
            "filename": job.filename,
            "rows_total": job.rows_total,
            "rows_done": job.rows_done,
            "counts": job.counts,
            "finished_at": job.finished_at,
        },
    )


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------

REPORT_HEADER = ["line", "source_id", "outcome", "customer_code", "problems"]


async def report_csv(session: AsyncSession, job_id: uuid.UUID) -> AsyncIterator[bytes]:
    """Every row: line, source id, outcome, customer code, problem codes (``column:code``,
    ``;``-separated); UTF-8 with a BOM so that Excel opens it as UTF-8."""
    await get_job(session, job_id)
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\r\n")
    out.writerow(REPORT_HEADER)
    yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
    after = 0
    while True:
        rows = await repo.report_rows(session, job_id, after, 5000)
        if not rows:
            return
        buffer.seek(0)
        buffer.truncate()
        for line, source_id, outcome, code, problems in rows:
            codes = ";".join(
                f"{p['column']}:{p['code']}" if p.get("column") else p["code"] for p in problems
            )
            out.writerow([line, source_id or "", outcome or "pending", code or "", codes])
        yield buffer.getvalue().encode("utf-8")
        after = rows[-1][0]


def job_engine_runner(engine: AsyncEngine, settings: Settings) -> Runner:
    from mdm_hub.db import create_sessionmaker

    return Runner(create_sessionmaker(engine), settings)
