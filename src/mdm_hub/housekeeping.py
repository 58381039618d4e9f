"""The periodic jobs of features other than webhooks, run by every worker with its pruning
(``events.dispatcher.Dispatcher(housekeeping=...)``): the frame wires them, so that the
events feature needs none of the features above it."""

from __future__ import annotations

from mdm_hub.enrichment.jobs import registry_import_job
from mdm_hub.events.dispatcher import Housekeeping
from mdm_hub.imports.service import drop_stale_preview_files
from mdm_hub.privacy.retention import apply_retention
from mdm_hub.quality.kpis import daily_snapshot_job

PERIODIC_JOBS: tuple[Housekeeping, ...] = (
    apply_retention,
    daily_snapshot_job,
    drop_stale_preview_files,
    registry_import_job,
)
