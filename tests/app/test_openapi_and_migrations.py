"""The committed OpenAPI document matches the code; migrations go up, down and up again."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
from sqlalchemy.ext.asyncio import create_async_engine

from mdm_hub.cli import openapi_document
from mdm_hub.db import sqlalchemy_url
from mdm_hub.migrate import downgrade, migration_head, upgrade
from mdm_hub.models import Base
from tests.conftest import _asyncpg_dsn, _recreate_database, app_client

ROOT = Path(__file__).resolve().parents[2]


def test_committed_openapi_matches_the_code() -> None:
    committed = json.loads((ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8"))
    assert committed == openapi_document(), "run `make openapi` and commit openapi/openapi.json"


def test_every_operation_documents_its_answers() -> None:
    document = openapi_document()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            success = [code for code in responses if code.startswith("2")]
            assert success, f"{method} {path} has no success response"
            for code in success:
                if code != "204":
                    assert "content" in responses[code], f"{method} {path} {code} has no schema"
            if path.startswith("/v1/"):
                assert "422" in responses, f"{method} {path} documents no problem answer"
                assert operation.get("summary"), f"{method} {path} has no summary"


def test_operation_ids_schema_names_and_tags_are_short_unique_and_grouped() -> None:
    """What a client generator names its functions and models after (issue 14, item 9)."""
    import re

    document = openapi_document()
    declared = {tag["name"] for tag in document["tags"]}
    ids = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            ids.append(operation["operationId"])
            assert re.fullmatch(r"[a-z][A-Za-z]{1,40}", operation["operationId"]), (method, path)
            assert len(operation["tags"]) == 1 and operation["tags"][0] in declared, (method, path)
    assert len(ids) == len(set(ids))
    assert "putSourceRecord" in ids and "listChanges" in ids
    schemas = document["components"]["schemas"]
    assert not [name for name in schemas if "__" in name]
    assert {"Change", "NormalizationChange"} <= set(schemas)
    assert document["paths"]["/problems/{slug}"]["get"]["responses"]["404"]["content"]


async def test_upgrade_downgrade_upgrade(server_url: str) -> None:
    url = await _recreate_database(server_url, "mdm_hub_migrations")
    await asyncio.to_thread(upgrade, url)
    await asyncio.to_thread(downgrade, url, "base")
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        assert {t["tablename"] for t in tables} == {"alembic_version"}
    finally:
        await conn.close()
    await asyncio.to_thread(upgrade, url)
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == migration_head()
    finally:
        await conn.close()


async def test_migrations_match_the_models(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_async_engine(sqlalchemy_url(database_url))
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )
    await engine.dispose()
    assert diff == [], "models changed without a migration: add an alembic revision"


async def test_audit_log_is_append_only(client, app) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from tests.helpers import corporation

    await client.put("/v1/sources/crm/records/1", json=corporation())
    async with app.state.engine.connect() as conn:
        try:
            await conn.execute(text("UPDATE audit_log SET actor = 'someone else'"))
        except DBAPIError as exc:
            assert "append-only" in str(exc)
        else:
            raise AssertionError("audit_log accepted an UPDATE")


async def test_readiness(client) -> None:  # type: ignore[no-untyped-def]
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.headers["x-request-id"]
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"


async def test_readiness_follows_the_schema(server_url: str) -> None:
    from mdm_hub.settings import Settings

    url = await _recreate_database(server_url, "mdm_hub_readiness")
    async with app_client(Settings(database_url=url)) as client:
        empty = await client.get("/readyz")
        assert empty.status_code == 503
        assert "database unavailable" in empty.json()["detail"]  # no alembic_version yet

        await asyncio.to_thread(upgrade, url, "0001")
        behind = await client.get("/readyz")
        assert behind.status_code == 503
        assert "run mdm-hub migrate" in behind.json()["detail"]

        await asyncio.to_thread(upgrade, url)
        assert (await client.get("/readyz")).status_code == 200

        conn = await asyncpg.connect(_asyncpg_dsn(url))
        try:
            await conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
        finally:
            await conn.close()
        newer = await client.get("/readyz")
        assert newer.status_code == 200, "a newer schema keeps old pods serving during upgrades"
