"""`mdm-hub import FILE --system NAME ...`: an import job run by this process, with a live
progress bar. Run again after an interruption, it resumes the same job (same system, same file
content) where it stopped; `mdm-hub worker` processes elsewhere help with its partitions."""

from __future__ import annotations

import asyncio
import hashlib
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from mdm_hub.context import Actor
from mdm_hub.db import create_engine, create_sessionmaker
from mdm_hub.imports import repository, service
from mdm_hub.imports.models import ImportJob
from mdm_hub.settings import Settings

FINISHED = repository.FINISHED
SHOWN = ("new_customer", "merged", "review", "updated", "unchanged", "held", "rejected")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while data := f.read(1024 * 1024):
            digest.update(data)
    return digest.hexdigest()


@dataclass
class Progress:
    """One line redrawn in place: bar, rows, rows/s, ETA, counts by outcome."""

    out: TextIO
    started: float = field(default_factory=time.monotonic)
    last: float = 0.0

    def draw(self, job: ImportJob, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < 0.2:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-6)
        total = job.rows_total
        rate = job.rows_done / elapsed
        if job.status in ("queued", "staging"):
            line = f"reading {job.filename} ..."
        else:
            width = 24
            done = min(job.rows_done / total, 1.0) if total else 1.0
            bar = "#" * int(done * width) + "." * (width - int(done * width))
            eta = (total - job.rows_done) / rate if total and rate > 0 else 0.0
            counts = "  ".join(f"{k} {job.counts.get(k, 0):,}" for k in SHOWN if job.counts.get(k))
            line = (
                f"[{bar}] {job.rows_done:,}/{total or 0:,} rows  {rate:,.0f} rows/s  "
                f"ETA {int(eta) // 60}:{int(eta) % 60:02d}  {counts}"
            )
        end = "\n" if final else ""
        if self.out.isatty():
            self.out.write(f"\r\x1b[K{line}{end}")
        elif final or now - self.started > 0:
            self.out.write(f"{line}\n")
        self.out.flush()


async def run_import(
    url: str,
    settings: Settings,
    path: Path,
    options: service.ImportOptions,
    *,
    batch_size: int,
    out: TextIO = sys.stderr,
) -> ImportJob:
    """Create (or resume) the job for this file and run it here until it is finished."""
    engine = create_engine(url, settings)
    sessionmaker = create_sessionmaker(engine)
    digest = file_sha256(path)
    try:
        async with sessionmaker() as session, session.begin():
            job = await repository.unfinished_job(
                session, options.system, digest, dry_run=options.dry_run
            )
            if job is None:
                with path.open("rb") as stream:
                    job = await service.create_job(session, Actor(subject="cli"), options, stream)
            else:
                print(f"resuming import {job.id} ({job.rows_done:,} rows done)", file=out)
        job_id: uuid.UUID = job.id
        progress = Progress(out)

        async def show(_: uuid.UUID) -> None:
            async with sessionmaker() as session:
                progress.draw(await service.get_job(session, job_id))

        runner = service.Runner(
            sessionmaker, settings, batch_size=batch_size, job_id=job_id, on_progress=show
        )
        while True:
            worked = await runner.run_once()
            async with sessionmaker() as session:
                job = await service.get_job(session, job_id)
            if job.status in FINISHED:
                break
            if not worked:  # other workers hold the remaining partitions
                progress.draw(job)
                await asyncio.sleep(0.5)
        progress.draw(job, final=True)
        return job
    finally:
        await engine.dispose()


def summary(job: ImportJob) -> str:
    lines = [f"import {job.id}: {job.status}{' (dry run: nothing written)' if job.dry_run else ''}"]
    if job.error:
        lines.append(f"  error: {job.error.get('code')}: {job.error.get('message')}")
    detected = job.detected or {}
    if detected:
        lines.append(
            f"  file: {detected.get('format')}, encoding {detected.get('encoding') or '-'}, "
            f"{job.rows_total:,} rows"
        )
        for column in detected.get("columns", []):
            lines.append(f"    {column['header']} → {column['field']} ({column['by']})")
        if detected.get("unknown_columns"):
            lines.append(
                f"  not imported (unknown columns): {', '.join(detected['unknown_columns'])}"
            )
    for key in SHOWN:
        lines.append(f"  {key:<13} {job.counts.get(key, 0):>10,}")
    lines.append(f"  every row's outcome: GET /v1/imports/{job.id}/report")
    return "\n".join(lines)
