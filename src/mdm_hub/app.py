"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute

from mdm_hub import __version__, heap
from mdm_hub.audit.router import router as audit_router
from mdm_hub.auth.dev_issuer import DevIssuer
from mdm_hub.auth.roles import authenticate
from mdm_hub.auth.setup import install_auth, swagger_ui_init_oauth
from mdm_hub.console.setup import install_console
from mdm_hub.custom_fields.router import router as custom_fields_router
from mdm_hub.customers.router import router as customers_router
from mdm_hub.db import create_engine, create_sessionmaker
from mdm_hub.enrichment.router import router as enrichment_router
from mdm_hub.errors import install_error_handlers
from mdm_hub.events.router import changes_router
from mdm_hub.events.router import router as webhooks_router
from mdm_hub.governance.router import router as governance_router
from mdm_hub.health import router as health_router
from mdm_hub.hierarchy.router import router as hierarchy_router
from mdm_hub.housekeeping import PERIODIC_JOBS
from mdm_hub.imports.router import batch_router as import_batch_router
from mdm_hub.imports.router import router as imports_router
from mdm_hub.matching.router import router as matching_router
from mdm_hub.middleware import BodyGuardMiddleware, RequestIdMiddleware
from mdm_hub.normalize import postal
from mdm_hub.observability.metrics import AccessLogMiddleware
from mdm_hub.observability.metrics import router as metrics_router
from mdm_hub.privacy.access_log import record_pii_reads
from mdm_hub.privacy.fields import load_keyring_when_migrated, refresh_keyring
from mdm_hub.privacy.router import router as privacy_router
from mdm_hub.quality.router import router as quality_router
from mdm_hub.registry.router import router as registry_router
from mdm_hub.settings import Settings, get_settings
from mdm_hub.sources.router import match_router as source_match_router
from mdm_hub.sources.router import router as sources_router

logger = logging.getLogger(__name__)

DESCRIPTION = """
mdm-hub keeps one clean definition of each customer (顧客マスタ), fed by CRM, SFA and billing
systems. Source systems push records with `PUT /v1/sources/{system}/records/{source_id}`;
the hub validates and normalizes them, links them to customers and keeps the golden record.
Every error is RFC 9457 problem+json.
"""

# One tag per operation, grouped as docs/api.md (and docs/webhooks.md) group the API.
OPENAPI_TAGS = [
    {"name": "sources", "description": "Source records: what source systems hand the hub."},
    {"name": "customers", "description": "Golden records (顧客マスタ), steward edits."},
    {"name": "matching", "description": "Dry-run matching, the review queue, merge, unmerge."},
    {"name": "configuration", "description": "Custom fields and rank rules."},
    {"name": "changes", "description": "The change feed, for systems that pull."},
    {"name": "webhooks", "description": "Webhook endpoints, the delivery log, replay."},
    {"name": "audit", "description": "The audit log."},
    {"name": "imports", "description": "Bulk import of CSV/TSV/Excel files as jobs."},
    {"name": "quality", "description": "Plausibility findings, rule policies, quality KPIs."},
    {"name": "governance", "description": "Protected fields and change requests (承認フロー)."},
    {"name": "hierarchy", "description": "Sites, group parents, hierarchy and roll-ups."},
    {"name": "registry", "description": "The NTA 法人番号 and インボイス registry lookups."},
    {"name": "privacy", "description": "Erasure, held writes, disclosure, the access log."},
    {"name": "auth", "description": "The console's sign-in session."},
    {"name": "operations", "description": "Probes and the problem-type documents."},
]


def operation_id(route: APIRoute) -> str:
    """A short, stable operation id: the handler's name in camelCase (``putSourceRecord``)."""
    first, *rest = route.name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def create_app(
    settings: Settings | None = None,
    *,
    run_worker: bool = False,
    dev_issuer: DevIssuer | None = None,
) -> FastAPI:
    """The app. ``run_worker``: also run a webhook worker in this process (`mdm-hub serve`).
    ``dev_issuer``: accept tokens of the built-in development issuer (no MDM_OIDC_ISSUER)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.database_url:
            raise RuntimeError("No database URL: set DATABASE_URL or start with `mdm-hub serve`")
        if settings.field_encryption_key is None:
            raise RuntimeError(
                "No MDM_FIELD_ENCRYPTION_KEY: set it (docs/operations.md) or start with "
                "`mdm-hub serve` on loopback"
            )
        engine = create_engine(settings.database_url, settings)
        await load_keyring_when_migrated(
            engine, settings.field_encryption_key, settings.field_encryption_key_previous
        )
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.shutting_down = False
        # Japan Post's index takes seconds to build: build it before the first write needs it.
        await asyncio.to_thread(postal.index)
        heap.settle()  # what the process keeps is loaded: out of the collector's way
        worker_stop = asyncio.Event()
        refresher = asyncio.create_task(
            refresh_keyring(
                engine,
                settings.field_encryption_key,
                settings.field_key_refresh_seconds,
                worker_stop,
                settings.field_encryption_key_previous,
            ),
            name="field key refresh",
        )
        worker: asyncio.Task[None] | None = None
        importer: asyncio.Task[None] | None = None
        if run_worker:
            from mdm_hub.events.dispatcher import Dispatcher
            from mdm_hub.imports.service import Runner

            worker = asyncio.create_task(
                Dispatcher(engine, settings, housekeeping=PERIODIC_JOBS).run(worker_stop),
                name="in-process webhook worker",
            )
            importer = asyncio.create_task(
                Runner(app.state.sessionmaker, settings, settings.import_batch_size).run(
                    worker_stop
                ),
                name="in-process import runner",
            )
        try:
            yield
        finally:
            app.state.shutting_down = True
            worker_stop.set()
            await refresher
            if worker is not None:
                try:
                    await worker
                except Exception:
                    logger.exception("task %s failed; stopping anyway", worker.get_name())
            if importer is not None:
                try:
                    await importer
                except Exception:
                    logger.exception("task %s failed; stopping anyway", importer.get_name())
            await engine.dispose()

    app = FastAPI(
        title="mdm-hub",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        swagger_ui_init_oauth=swagger_ui_init_oauth(settings),
        openapi_tags=OPENAPI_TAGS,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_auth(app, settings, dev_issuer)  # session cookie middleware and /auth routes
    app.add_middleware(
        BodyGuardMiddleware,
        max_body_bytes=settings.max_body_bytes,
        upload_paths=frozenset({"/v1/imports", "/console/imports"}),  # console: 取込
        upload_max_bytes=settings.import_max_file_bytes,
        large_suffixes=("/records/batch",),
        large_max_bytes=max(settings.max_body_bytes, 16 * 1024 * 1024),
    )
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(health_router)
    app.include_router(metrics_router)
    # The API: every route declares its permission (mdm_hub.auth.roles); authenticating first
    # means a request without a valid token never opens a database transaction.
    for api_router in (
        sources_router,
        customers_router,
        source_match_router,
        hierarchy_router,
        registry_router,
        enrichment_router,
        matching_router,
        custom_fields_router,
        audit_router,
        webhooks_router,
        changes_router,
        privacy_router,
        import_batch_router,
        imports_router,
        quality_router,
        governance_router,
    ):
        # After authentication: the unmasked reads of personal data a request made are kept
        # in the access log (mdm_hub.privacy.access_log), in the request's transaction.
        app.include_router(
            api_router,
            dependencies=[Depends(authenticate), Depends(record_pii_reads, scope="function")],
        )
    install_console(app)  # the steward console at /console (mdm_hub.console)
    return app
