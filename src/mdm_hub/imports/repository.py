"""The SQL of import jobs: the one place that talks to the import_* tables."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.db import arrays, run, scalar
from mdm_hub.encryption import seal_file_piece, seal_messages, sealed_json, unseal_file_piece
from mdm_hub.imports.models import ImportJob

FINISHED = ("done", "failed", "cancelled")
OUTCOMES = ("new_customer", "merged", "review", "updated", "unchanged", "held", "rejected")


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(OUTCOMES, 0)


async def add_job(session: AsyncSession, job: ImportJob) -> None:
    """A new job's row, inserted now (its file's chunks refer to it)."""
    session.add(job)
    await session.flush()


async def get_job(session: AsyncSession, job_id: uuid.UUID) -> ImportJob | None:
    """The job as stored now (another transaction, e.g. a worker, may have changed it)."""
    return await session.get(ImportJob, job_id, populate_existing=True)


async def lock_job(session: AsyncSession, job: ImportJob) -> None:
    """The job's row locked for this transaction and read again."""
    await session.refresh(job, with_for_update=True)


async def reload_job(session: AsyncSession, job: ImportJob) -> None:
    """The job read again (after a statement of this module changed its row)."""
    await session.refresh(job)


async def unfinished_job(
    session: AsyncSession, system: str, file_sha256: str, *, dry_run: bool
) -> ImportJob | None:
    """The newest job of this system on a file with this content that is not finished (the
    CLI resumes it)."""
    job: ImportJob | None = await session.scalar(
        select(ImportJob)
        .where(
            ImportJob.system == system,
            ImportJob.file_sha256 == file_sha256,
            ImportJob.dry_run == dry_run,
            ImportJob.status.not_in(FINISHED),
        )
        .order_by(ImportJob.created_at.desc())
        .limit(1)
    )
    return job


async def add_chunk(session: AsyncSession, job_id: uuid.UUID, seq: int, data: bytes) -> None:
    await session.execute(
        text("INSERT INTO import_file_chunks (job_id, seq, data) VALUES (:job, :seq, :data)"),
        {"job": job_id, "seq": seq, "data": seal_file_piece(data)},
    )


async def chunks(session: AsyncSession, job_id: uuid.UUID) -> AsyncIterator[bytes]:
    """The file's pieces in order, one at a time."""
    seq = 0
    while True:
        data = await session.scalar(
            text("SELECT data FROM import_file_chunks WHERE job_id = :job AND seq = :seq"),
            {"job": job_id, "seq": seq},
        )
        if data is None:
            return
        yield unseal_file_piece(bytes(data))
        seq += 1


async def drop_chunks(session: AsyncSession, job_id: uuid.UUID) -> None:
    await run(session, "DELETE FROM import_file_chunks WHERE job_id = :job", job=job_id)


async def has_chunks(session: AsyncSession, job_id: uuid.UUID) -> bool:
    sql = "SELECT EXISTS (SELECT 1 FROM import_file_chunks WHERE job_id = :job)"
    return bool(await scalar(session, sql, job=job_id))


async def move_chunks(session: AsyncSession, from_job: uuid.UUID, to_job: uuid.UUID) -> None:
    """A file given to another job (a preview's file to the job that imports it)."""
    await session.execute(
        text("UPDATE import_file_chunks SET job_id = :to WHERE job_id = :job"),
        {"job": from_job, "to": to_job},
    )


async def drop_stale_preview_files(session: AsyncSession, hours: float) -> int:
    """The files of previews (dry runs that kept theirs) finished more than ``hours`` ago."""
    result = await session.execute(
        text(
            """
            DELETE FROM import_file_chunks c USING import_jobs j
            WHERE c.job_id = j.id AND j.dry_run
              AND coalesce((j.options ->> 'keep_file')::boolean, false)
              AND j.finished_at < now() - make_interval(secs => :seconds)
            """
        ),
        {"seconds": hours * 3600},
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def claim_job_to_stage(
    session: AsyncSession, lease_seconds: float, job_id: uuid.UUID | None = None
) -> ImportJob | None:
    """A job with rows to stage, leased to the caller: a queued one, one whose stager died (its
    lease ran out), or a running one whose staged chunk is written and whose file has more rows
    (its next chunk; it stays ``running``), or a dry run whose runner died (it starts over:
    imports.service.Runner._dry_run)."""
    row = await session.scalar(
        text(
            """
            UPDATE import_jobs SET status = CASE WHEN status = 'running' THEN 'running'
                                                 ELSE 'staging' END,
                leased_until = now() + make_interval(secs => :lease),
                started_at = coalesce(started_at, now())
            WHERE id = (
                SELECT j.id FROM import_jobs AS j
                WHERE (j.status = 'queued'
                       OR (j.status = 'staging' AND j.leased_until < now())
                       OR (j.status = 'running' AND NOT j.staged_all
                           AND (j.leased_until IS NULL OR j.leased_until < now())
                           AND NOT EXISTS (SELECT 1 FROM import_partitions AS p
                                           WHERE p.job_id = j.id AND p.status <> 'done'))
                       OR (j.status = 'running' AND j.dry_run AND j.leased_until < now()))
                  AND (CAST(:job AS uuid) IS NULL OR j.id = CAST(:job AS uuid))
                ORDER BY j.created_at
                FOR UPDATE SKIP LOCKED LIMIT 1
            )
            RETURNING id
            """
        ),
        {"lease": lease_seconds, "job": job_id},
    )
    if row is None:
        return None
    return await session.get(ImportJob, row, populate_existing=True)


async def renew_staging(session: AsyncSession, job_id: uuid.UUID, lease_seconds: float) -> None:
    sql = (
        "UPDATE import_jobs SET leased_until = now() + make_interval(secs => :lease) "
        "WHERE id = :job AND status IN ('staging', 'running')"
    )
    await run(session, sql, job=job_id, lease=lease_seconds)


async def clear_staged(session: AsyncSession, job_id: uuid.UUID, after_line: int | None) -> None:
    """What an interrupted staging of the chunk after ``after_line`` left (its transaction
    rolled back: normally nothing)."""
    after = after_line if after_line is not None else -1
    await run(
        session,
        "DELETE FROM import_rows WHERE job_id = :job AND line > :after",
        job=job_id,
        after=after,
    )
    if after_line is None:
        await run(session, "DELETE FROM import_partitions WHERE job_id = :job", job=job_id)


async def next_partition(session: AsyncSession, job_id: uuid.UUID) -> int:
    """The first partition number a new chunk of the job may use."""
    sql = "SELECT coalesce(max(partition) + 1, 0) FROM import_partitions WHERE job_id = :job"
    return int(await scalar(session, sql, job=job_id) or 0)


_INSERT_ROWS = """
    INSERT INTO import_rows
        (job_id, line, source_id, payload, status, outcome, problems, prepared)
    SELECT CAST(:job AS uuid), r.line, r.source_id, CAST(r.payload AS jsonb), r.status,
           r.outcome, CAST(r.problems AS jsonb), CAST(r.prepared AS jsonb)
    FROM unnest(CAST(:lines AS integer[]), CAST(:source_ids AS text[]),
                CAST(:payloads AS text[]), CAST(:statuses AS text[]),
                CAST(:outcomes AS text[]), CAST(:problems AS text[]),
                CAST(:prepared AS text[]))
         AS r(line, source_id, payload, status, outcome, problems, prepared)
"""


def _row_arrays(rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """The line, outcome and problems (sealed) of staged or done rows, as array parameters."""
    problems = [json.dumps(seal_messages(r["problems"]), ensure_ascii=False) for r in rows]
    return {**arrays(rows, lines="line", outcomes="outcome"), "problems": problems}


async def insert_rows(
    session: AsyncSession, job_id: uuid.UUID, rows: Sequence[dict[str, Any]]
) -> None:
    """Staged rows (multi-row insert): line, source_id, payload, status, outcome, problems."""
    if rows:
        await run(
            session,
            _INSERT_ROWS,
            job=job_id,
            **_row_arrays(rows),
            **arrays(rows, source_ids="source_id", statuses="status"),
            payloads=[None if r["payload"] is None else sealed_json(r["payload"]) for r in rows],
            prepared=[
                None if r.get("prepared") is None else sealed_json(r["prepared"]) for r in rows
            ],
        )


async def set_partitions(
    session: AsyncSession, job_id: uuid.UUID, lines: Sequence[int], partitions: Sequence[int]
) -> None:
    await session.execute(
        text(
            """
            UPDATE import_rows AS r SET partition = p.partition
            FROM unnest(CAST(:lines AS integer[]), CAST(:partitions AS integer[]))
                 AS p(line, partition)
            WHERE r.job_id = :job AND r.line = p.line
            """
        ),
        {"job": job_id, "lines": list(lines), "partitions": list(partitions)},
    )


async def insert_partitions(
    session: AsyncSession, job_id: uuid.UUID, sizes: dict[int, int]
) -> None:
    if not sizes:
        return
    await session.execute(
        text(
            """
            INSERT INTO import_partitions (job_id, partition, rows, status)
            SELECT CAST(:job AS uuid), p.partition, p.rows, 'pending'
            FROM unnest(CAST(:partitions AS integer[]), CAST(:rows AS integer[]))
                 AS p(partition, rows)
            """
        ),
        {"job": job_id, "partitions": list(sizes), "rows": list(sizes.values())},
    )


async def claim_partition(
    session: AsyncSession, worker: str, lease_seconds: float, job_id: uuid.UUID | None = None
) -> tuple[uuid.UUID, int] | None:
    """A pending partition of a running job nobody holds (or whose holder's lease ran out).
    Not a dry run's: the worker that stages a dry run writes its partitions itself, in the one
    transaction it rolls back at the end (imports.service.Runner._dry_run)."""
    row = (
        await session.execute(
            text(
                """
                UPDATE import_partitions AS p
                SET worker = :worker, leased_until = now() + make_interval(secs => :lease)
                WHERE (p.job_id, p.partition) = (
                    SELECT q.job_id, q.partition
                    FROM import_partitions AS q
                    JOIN import_jobs AS j ON j.id = q.job_id AND j.status = 'running'
                                          AND NOT j.dry_run
                    WHERE q.status = 'pending'
                      AND (q.leased_until IS NULL OR q.leased_until < now())
                      AND (CAST(:job AS uuid) IS NULL OR q.job_id = CAST(:job AS uuid))
                    ORDER BY j.created_at, q.partition
                    FOR UPDATE OF q SKIP LOCKED LIMIT 1
                )
                RETURNING p.job_id, p.partition
                """
            ),
            {"worker": worker, "lease": lease_seconds, "job": job_id},
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


async def pending_partitions(session: AsyncSession, job_id: uuid.UUID) -> list[int]:
    result = await session.scalars(
        text(
            "SELECT partition FROM import_partitions WHERE job_id = :job AND status = 'pending' "
            "ORDER BY partition"
        ),
        {"job": job_id},
    )
    return list(result)


async def claim_own_partition(
    session: AsyncSession, job_id: uuid.UUID, partition: int, worker: str, lease_seconds: float
) -> bool:
    """A dry run's partition, taken by the runner that staged it (and no other: see
    :func:`claim_partition`) while the job still runs. Locks the partition's row."""
    found = await session.scalar(
        text(
            """
            UPDATE import_partitions AS p
            SET worker = :worker, leased_until = now() + make_interval(secs => :lease)
            FROM import_jobs AS j
            WHERE p.job_id = :job AND p.partition = :partition AND p.status = 'pending'
              AND j.id = p.job_id AND j.status = 'running'
            RETURNING p.partition
            """
        ),
        {"job": job_id, "partition": partition, "worker": worker, "lease": lease_seconds},
    )
    return found is not None


async def renew_lease(
    session: AsyncSession, job_id: uuid.UUID, partition: int, worker: str, lease_seconds: float
) -> bool:
    """Still ours, and the job still running? (Locks the partition row for the batch.)"""
    found = await session.scalar(
        text(
            """
            UPDATE import_partitions AS p
            SET leased_until = now() + make_interval(secs => :lease)
            FROM import_jobs AS j
            WHERE p.job_id = :job AND p.partition = :partition AND p.worker = :worker
              AND p.status = 'pending' AND j.id = p.job_id AND j.status = 'running'
            RETURNING p.partition
            """
        ),
        {"job": job_id, "partition": partition, "worker": worker, "lease": lease_seconds},
    )
    return found is not None


async def pending_rows(
    session: AsyncSession, job_id: uuid.UUID, partition: int, limit: int | None
) -> list[tuple[int, str, dict[str, Any], dict[str, Any] | None]]:
    """Pending rows of a partition in file order: line, source id, payload, and what staging
    prepared. Not row-locked: the caller holds the partition's row (``renew_lease``, in the
    same transaction), which every writer of the partition's rows takes first, so no other
    transaction marks them done meanwhile (a row lock each cost a WAL record per row)."""
    result = await session.execute(
        text(
            """
            SELECT line, source_id, payload, prepared FROM import_rows
            WHERE job_id = :job AND partition = :partition AND status = 'pending'
            ORDER BY line LIMIT :limit
            """
        ),
        {"job": job_id, "partition": partition, "limit": limit},
    )
    return [(r[0], r[1], r[2], r[3]) for r in result]


_RECORD_RESULTS = """
    UPDATE import_rows AS r
    SET status = 'done', outcome = x.outcome, customer_code = x.customer_code,
        problems = CAST(x.problems AS jsonb)
    FROM unnest(CAST(:lines AS integer[]), CAST(:outcomes AS text[]),
                CAST(:codes AS text[]), CAST(:problems AS text[]))
         AS x(line, outcome, customer_code, problems)
    WHERE r.job_id = :job AND r.line = x.line
"""


async def record_results(
    session: AsyncSession, job_id: uuid.UUID, results: Sequence[dict[str, Any]]
) -> None:
    """Rows done (outcome, customer code, problems) and the job's counters, in one batch."""
    if not results:
        return
    await run(
        session,
        _RECORD_RESULTS,
        job=job_id,
        **_row_arrays(results),
        codes=[r["customer_code"] for r in results],
    )
    added: dict[str, int] = {}
    for r in results:
        added[r["outcome"]] = added.get(r["outcome"], 0) + 1
    await add_counts(session, job_id, added, len(results))


async def add_row_problems(
    session: AsyncSession,
    job_id: uuid.UUID,
    partition: int,
    problems: dict[str, list[dict[str, str]]],
) -> set[str]:
    """Problems found after a row was done (a link it named, refused when its target came):
    added to the last done row of the job with that source id, if there is one. Rows that name
    each other share a partition within a chunk, so that row is in this partition, or in an
    earlier chunk (all of whose rows are done). The source ids of the rows that got them."""
    if not problems:
        return set()
    found: set[str] = set()
    # This partition first (indexed); the job's earlier chunks only for what is left.
    for within in (True, False):
        left = {s: p for s, p in problems.items() if s not in found}
        if not left:
            break
        where = "AND partition = :partition" if within else ""
        updated = await session.execute(
            text(
                f"""
                UPDATE import_rows AS r SET problems = r.problems || CAST(x.problems AS jsonb)
                FROM unnest(CAST(:source_ids AS text[]), CAST(:problems AS text[]))
                     AS x(source_id, problems)
                WHERE r.job_id = :job AND r.line = (
                    SELECT max(line) FROM import_rows
                    WHERE job_id = :job {where} AND source_id = x.source_id
                      AND status = 'done'
                )
                RETURNING r.source_id
                """
            ),
            {
                "job": job_id,
                **({"partition": partition} if within else {}),
                "source_ids": list(left),
                "problems": [
                    json.dumps(seal_messages(p), ensure_ascii=False) for p in left.values()
                ],
            },
        )
        found |= {row[0] for row in updated}
    return found


async def add_counts(
    session: AsyncSession, job_id: uuid.UUID, added: dict[str, int], rows: int
) -> None:
    await session.execute(
        text(
            """
            UPDATE import_jobs SET rows_done = rows_done + :rows,
                counts = (
                    SELECT jsonb_object_agg(
                        k, coalesce((counts ->> k)::int, 0) + coalesce((CAST(:added AS jsonb) ->> k)::int, 0)
                    )
                    FROM jsonb_object_keys(counts || CAST(:added AS jsonb)) AS k
                )
            WHERE id = :job
            """  # noqa: E501
        ),
        {"job": job_id, "added": json.dumps(added), "rows": rows},
    )


_PARTITION_DONE = (
    "UPDATE import_partitions SET status = 'done', leased_until = NULL "
    "WHERE job_id = :job AND partition = :partition"
)


async def finish_partition(session: AsyncSession, job_id: uuid.UUID, partition: int) -> bool:
    """Mark the partition done; True when that finished the job (its whole file staged and
    every partition done; else a worker stages the next chunk, :func:`claim_job_to_stage`)."""
    await run(session, _PARTITION_DONE, job=job_id, partition=partition)
    # The last partition done finishes the job (and drops its file).
    finished = await session.scalar(
        text(
            """
            UPDATE import_jobs SET status = 'done', finished_at = now(), leased_until = NULL
            WHERE id = :job AND status = 'running' AND staged_all AND NOT EXISTS (
                SELECT 1 FROM import_partitions WHERE job_id = :job AND status <> 'done'
            )
            RETURNING coalesce((options ->> 'keep_file')::boolean, false)
            """
        ),
        {"job": job_id},
    )
    if finished is False:  # a preview that keeps its file is True
        await drop_chunks(session, job_id)
    return finished is not None


async def job_status(session: AsyncSession, job_id: uuid.UUID) -> str | None:
    status: str | None = await session.scalar(
        text("SELECT status FROM import_jobs WHERE id = :job"), {"job": job_id}
    )
    return status


async def report_rows(
    session: AsyncSession, job_id: uuid.UUID, after_line: int, limit: int
) -> list[tuple[int, str | None, str | None, str | None, list[dict[str, Any]]]]:
    result = await session.execute(
        text(
            """
            SELECT line, source_id, outcome, customer_code, problems FROM import_rows
            WHERE job_id = :job AND line > :after ORDER BY line LIMIT :limit
            """
        ),
        {"job": job_id, "after": after_line, "limit": limit},
    )
    return [(r[0], r[1], r[2], r[3], r[4]) for r in result]


async def saved_mapping(session: AsyncSession, system: str) -> dict[str, Any] | None:
    mapping: dict[str, Any] | None = await session.scalar(
        text("SELECT mapping FROM import_mappings WHERE system = :system"), {"system": system}
    )
    return mapping


async def save_mapping(session: AsyncSession, system: str, mapping: dict[str, Any]) -> None:
    await session.execute(
        text(
            """
            INSERT INTO import_mappings (system, mapping, updated_at)
            VALUES (:system, CAST(:mapping AS jsonb), now())
            ON CONFLICT (system) DO UPDATE SET mapping = EXCLUDED.mapping, updated_at = now()
            """
        ),
        {"system": system, "mapping": json.dumps(mapping, ensure_ascii=False)},
    )


async def customers_named(
    session: AsyncSession, system: str, source_ids: Sequence[str], codes: Sequence[str]
) -> tuple[dict[str, uuid.UUID], dict[str, uuid.UUID]]:
    """The customers of the stored source records among ``source_ids`` (of ``system``), and
    of the customer codes among ``codes``: what staging rows are and what their links name."""
    if not source_ids and not codes:
        return {}, {}
    by_source = await session.execute(
        text(
            "SELECT source_id, customer_id FROM source_records "
            "WHERE system = :system AND source_id = ANY(:ids)"
        ),
        {"system": system, "ids": list(source_ids)},
    )
    by_code = await session.execute(
        text("SELECT customer_code, id FROM customers WHERE customer_code = ANY(:codes)"),
        {"codes": list(codes)},
    )
    return {r[0]: r[1] for r in by_source}, {r[0]: r[1] for r in by_code}


async def existing_codes(session: AsyncSession, codes: Sequence[str]) -> set[str]:
    """Which of these customer codes belong to committed customers (a dry run's session sees
    the customers it would create too; this one, another, does not)."""
    if not codes:
        return set()
    found = await session.scalars(
        text("SELECT customer_code FROM customers WHERE customer_code = ANY(:codes)"),
        {"codes": list(codes)},
    )
    return set(found)


async def restart_staging(session: AsyncSession, job: ImportJob) -> None:
    """A job staged anew from its first row: its staged rows, partitions and counts dropped
    (a dry run interrupted by a crash: the writes it simulated are gone with its
    transaction, so its later chunks could not be previewed on them)."""
    await clear_staged(session, job.id, None)
    job.staged_line = None
    job.staged_all = False
    job.rows_done = 0
    job.counts = empty_counts()
    await session.flush()


# What a dry run's transaction writes most, and its statements read back.
SIMULATED_TABLES = (
    "customers",
    "source_records",
    "match_keys",
    "customer_relations",
    "customer_relation_pending",
)


async def analyze_simulated(session: AsyncSession) -> None:
    """Statistics of the tables a dry run writes, taken inside its transaction (the only one
    that sees its rows: autovacuum's ANALYZE skips rows of transactions in progress), so that
    its statements are planned for what it wrote, not for the hub before it. Rolled back with
    it."""
    await session.execute(text(f"ANALYZE {', '.join(SIMULATED_TABLES)}"))
