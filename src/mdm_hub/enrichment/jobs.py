"""The registry imports as a worker job: every worker (``mdm-hub worker``, or the one the app
runs beside the API) looks into ``MDM_REGISTRY_NTA_FOLDER`` and ``MDM_REGISTRY_INVOICE_FOLDER``
every ``MDM_REGISTRY_IMPORT_INTERVAL_SECONDS``, imports the files it has not imported (as
``mdm-hub nta import FOLDER`` does: name order, resumable, a file imported before is skipped),
and after a 法人番号 file applies the registry to customers (links, 差分, proposals).

The work runs as a task of its own, so the worker's loop (webhooks) goes on during a 全件
import. Several workers may look at once: a file is imported by the one that claims it, the
others skip it (``registry_imports``' claim), and applying is safe to run twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from mdm_hub.db import create_sessionmaker
from mdm_hub.enrichment.proposals import propose
from mdm_hub.enrichment.service import apply_registry
from mdm_hub.registry.importer import RegistryFileError, import_file
from mdm_hub.settings import Settings

logger = logging.getLogger(__name__)

NEW = ("imported", "resumed")


@dataclass
class FolderRun:
    imported: list[str] = field(default_factory=list)  # "file:member" newly imported
    skipped: int = 0  # members imported before, or being imported by another worker
    failed: list[str] = field(default_factory=list)  # files that could not be read
    applied: bool = False


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".zip", ".csv"))


async def import_folders(engine: AsyncEngine, settings: Settings) -> FolderRun:
    """Import the new files of the registry folders; apply the registry after 法人番号 ones."""
    run = FolderRun()
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    nta_new = False
    for kind, folder in (
        ("nta", settings.registry_nta_folder),
        ("invoice", settings.registry_invoice_folder),
    ):
        for path in _files(folder) if folder is not None else []:
            try:
                # Parsed in this process (workers=0): a worker has threads (the webhook
                # sender's), and forking a process pool from it could deadlock its children.
                results = await import_file(dsn, path, kind, workers=0)
            except RegistryFileError as exc:
                logger.error("registry import of %s failed: %s", path.name, exc)
                run.failed.append(path.name)
                continue
            for result in results:
                if result.state in NEW:
                    run.imported.append(f"{path.name}:{result.member}")
                    nta_new = nta_new or kind == "nta"
                else:
                    run.skipped += 1
    if nta_new:
        sessions = create_sessionmaker(engine)
        applied = await apply_registry(sessions, settings)
        proposed = await propose(sessions, settings)
        run.applied = True
        logger.info(
            "registry applied: %d linked by 法人番号, %d updated, %d failed; %d linked by "
            "name + address, %d with proposals",
            applied.linked,
            applied.applied,
            len(applied.failed),
            proposed.linked,
            proposed.proposed,
        )
    if run.imported:
        logger.info("registry files imported: %s", ", ".join(run.imported))
    return run


def _clock() -> float:
    """The job's schedule clock (its own name, so a test moves this clock alone, not the
    process's ``time.monotonic`` that the event loop and the connection pool read too)."""
    return time.monotonic()


class _Schedule:
    """This process's registry job: when it last started, and the task running it."""

    def __init__(self) -> None:
        self.next_at = 0.0
        self.task: asyncio.Task[FolderRun] | None = None


_schedule = _Schedule()


def running() -> asyncio.Task[FolderRun] | None:
    """The task of the registry job now running in this process, if any."""
    return _schedule.task if _schedule.task is not None and not _schedule.task.done() else None


async def registry_import_job(engine: AsyncEngine, settings: Settings) -> bool:
    """The worker's periodic job (mdm_hub.housekeeping): start the folders' import in the
    background when one is configured, it is time, and none is running. True if started."""
    if settings.registry_nta_folder is None and settings.registry_invoice_folder is None:
        return False
    now = _clock()
    if running() is not None or now < _schedule.next_at:
        return False
    _schedule.next_at = now + settings.registry_import_interval_seconds
    _schedule.task = asyncio.create_task(_guarded(engine, settings), name="registry-import")
    return True


async def _guarded(engine: AsyncEngine, settings: Settings) -> FolderRun:
    try:
        return await import_folders(engine, settings)
    except Exception:  # the next interval tries again (imports resume)
        logger.exception("registry import job failed")
        return FolderRun()
