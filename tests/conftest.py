"""Test fixtures: a real PostgreSQL (embedded, or the server in DATABASE_URL) and the real app.

Every test starts from empty tables. With DATABASE_URL set, the suite creates and uses its own
database ``mdm_hub_test`` on that server and never touches the database the URL names.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from mdm_hub.app import create_app
from mdm_hub.auth.dev_issuer import DevIssuer
from mdm_hub.db import sqlalchemy_url
from mdm_hub.migrate import upgrade
from mdm_hub.settings import Settings

# Every Settings() of the suite encrypts with this key (the app refuses to start without one).
TEST_FIELD_KEY = "dGVzdC1maWVsZC1lbmNyeXB0aW9uLWtleS0zMmJ5dGU="
os.environ.setdefault("MDM_FIELD_ENCRYPTION_KEY", TEST_FIELD_KEY)

TEST_DATABASE = "mdm_hub_test"
TEST_ISSUER = "http://hub.test/dev-issuer"


def _asyncpg_dsn(url: str) -> str:
    return sqlalchemy_url(url).replace("postgresql+asyncpg://", "postgresql://")


async def _recreate_database(server_url: str, name: str) -> str:
    """Create a fresh database ``name`` on the server of ``server_url``; return its URL."""
    conn = await asyncpg.connect(_asyncpg_dsn(server_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, query = sqlalchemy_url(server_url).partition("?")
    base = base.rsplit("/", 1)[0] + f"/{name}"
    return f"{base}?{query}" if query else base


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server: DATABASE_URL's, or an embedded one in a temporary folder."""
    given = os.environ.get("DATABASE_URL")
    if given:
        yield sqlalchemy_url(given)
        return
    from mdm_hub.embedded import start_embedded_postgres

    data_dir: Path = tmp_path_factory.mktemp("embedded")
    yield start_embedded_postgres(data_dir, database="postgres")


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> str:
    url = await _recreate_database(server_url, TEST_DATABASE)
    await asyncio.to_thread(upgrade, url)  # alembic runs its own event loop
    return url


@pytest.fixture(scope="session")
def test_issuer() -> DevIssuer:
    """Signs the tokens of in-process tests: the development issuer, its key in memory."""
    return DevIssuer.ephemeral(TEST_ISSUER)


def auth_headers(
    issuer: DevIssuer,
    *,
    roles: Sequence[str] = ("administrator",),
    scopes: Sequence[str] = (),
    subject: str = "test-admin",
    client_id: str = "test-client",
) -> dict[str, str]:
    """An Authorization header for a principal with these hub roles and scopes."""
    token = issuer.mint(subject=subject, roles=roles, scopes=scopes, client_id=client_id)
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def app_client(
    settings: Settings, issuer: DevIssuer | None = None, base_url: str = "http://hub.test"
) -> AsyncIterator[httpx.AsyncClient]:
    """An app of its own (other settings than the shared ``app``) with its lifespan, and a
    client of it: an administrator's when ``issuer`` is given, without credentials otherwise."""
    application = create_app(settings, dev_issuer=issuer)
    headers = auth_headers(issuer) if issuer is not None else {}
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url=base_url, headers=headers
        ) as client,
    ):
        yield client


@pytest.fixture(scope="session")
async def app(database_url: str, test_issuer: DevIssuer) -> AsyncIterator[object]:
    settings = Settings(database_url=database_url, max_body_bytes=64 * 1024)
    application = create_app(settings, dev_issuer=test_issuer)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: object, test_issuer: DevIssuer) -> AsyncIterator[httpx.AsyncClient]:
    """The API as an administrator (every permission, pii:read included)."""
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=transport, base_url="http://hub.test", headers=auth_headers(test_issuer)
    ) as c:
        yield c


@pytest.fixture
def client_as(app: object, test_issuer: DevIssuer) -> Callable[..., httpx.AsyncClient]:
    """Clients for other principals: ``async with client_as(roles=["viewer"]) as c: ...``;
    ``client_as(roles=[], scopes=["customers:read"])`` for an integration; ``client_as(None)``
    for no credentials at all."""

    def make(roles: Sequence[str] | None = ("administrator",), **kwargs: Any) -> httpx.AsyncClient:
        headers = {} if roles is None else auth_headers(test_issuer, roles=roles, **kwargs)
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        return httpx.AsyncClient(transport=transport, base_url="http://hub.test", headers=headers)

    return make


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """After every test that touched the test database (in process or through a live server)."""
    yield
    if "database_url" not in request.fixturenames:
        return
    url = request.getfixturevalue("database_url")
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('alembic_version', 'data_keys', 'index_keys')"
        )  # the data and index keys belong to the database like its schema: the app holds them
        names = ", ".join(f'"{t["tablename"]}"' for t in tables)
        for attempt in range(5):
            try:
                await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
                break
            except asyncpg.exceptions.DeadlockDetectedError:
                # A live server's background work (its worker, a statement trigger's counts)
                # still ran and locked the tables in another order: it wins, we retry.
                if attempt == 4:
                    raise
                await asyncio.sleep(0.5)
        await conn.execute("ALTER SEQUENCE customer_code_seq RESTART")
    finally:
        await conn.close()
