"""Engine, sessions and the one place where a request's transaction is committed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from mdm_hub.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def sqlalchemy_url(url: str) -> str:
    """Accept the usual ``postgres://`` / ``postgresql://`` URLs and use the asyncpg driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            url = "postgresql+asyncpg://" + url[len(prefix) :]
            break
    # libpq's sslmode is spelled ssl for asyncpg.
    return url.replace("sslmode=", "ssl=")


def create_engine(url: str, settings: Settings) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=True,
        connect_args={
            "server_settings": {
                "application_name": "mdm-hub",
                "statement_timeout": str(settings.db_statement_timeout_ms),
            }
        },
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed here, once, after the handler returned.

    Scope "function" makes FastAPI run the commit before the response is sent, so a failed
    commit becomes an error answer instead of a success the database never kept.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session, session.begin():
        # A POST with an Idempotency-Key (mdm_hub.idempotency): the key's lock and the lookup
        # of a stored answer are the transaction's first statement.
        claim = getattr(request.state, "idempotency", None)
        principal = getattr(request.state, "principal", None)
        if claim is not None and principal is not None:
            await claim.begin(session, principal.subject)
        yield session


DbSession = Annotated[AsyncSession, Depends(_request_session, scope="function")]


async def advisory_xact_locks(session: AsyncSession, keys: list[str]) -> None:
    """Take transaction-scoped advisory locks, in sorted order so that writers never deadlock.

    One round trip for all keys: the array is sorted here and unnested in its order.
    """
    ordered = sorted(set(keys))
    if not ordered:
        return
    await session.execute(
        text(
            "SELECT pg_advisory_xact_lock(hashtextextended(key, 0)) "
            "FROM unnest(CAST(:keys AS text[])) WITH ORDINALITY AS k(key, position) "
            "ORDER BY position"
        ),
        {"keys": ordered},
    )
