"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from mdm_hub import __version__
from mdm_hub.audit.router import router as audit_router
from mdm_hub.custom_fields.router import router as custom_fields_router
from mdm_hub.customers.router import router as customers_router
from mdm_hub.db import create_engine, create_sessionmaker
from mdm_hub.errors import install_error_handlers
from mdm_hub.health import router as health_router
from mdm_hub.middleware import BodyGuardMiddleware, RequestIdMiddleware
from mdm_hub.migrate import migration_head
from mdm_hub.settings import Settings, get_settings

DESCRIPTION = """
mdm-hub keeps one clean definition of each customer (顧客マスタ), fed by CRM, SFA and billing
systems. Source systems push records with `PUT /v1/sources/{system}/records/{source_id}`;
the hub validates and normalizes them, links them to customers and keeps the golden record.
Every error is RFC 9457 problem+json.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.database_url:
            raise RuntimeError("No database URL: set DATABASE_URL or start with `mdm-hub serve`")
        engine = create_engine(settings.database_url, settings)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.migration_head = migration_head()
        app.state.shutting_down = False
        try:
            yield
        finally:
            app.state.shutting_down = True
            await engine.dispose()

    app = FastAPI(
        title="mdm-hub",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(BodyGuardMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(health_router)
    app.include_router(customers_router)
    app.include_router(custom_fields_router)
    app.include_router(audit_router)
    return app
