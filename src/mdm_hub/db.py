"""Engine, sessions and the one place where a request's transaction is committed."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from operator import attrgetter
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, Protocol, TypeVar

import asyncpg
import orjson
from fastapi import Depends, Request
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ColumnElement,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    MetaData,
    SQLColumnExpression,
    Text,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry

from mdm_hub.encryption import sealed_json, unseal_json_text
from mdm_hub.settings import Settings

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # A column declared by its annotation alone (``name: Mapped[str | None]``) is text, bigint,
    # timestamptz or uuid for these (date and boolean are SQLAlchemy's own); ``| None`` makes it
    # nullable.
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        str: Text(),
        int: BigInteger(),
        dt.datetime: DateTime(timezone=True),
        uuid.UUID: UUID(as_uuid=True),
    }


# Column declarations many tables share, as ``id: Mapped[SerialId]``: a bigserial primary key,
# and a timestamptz that the database sets to now() on insert.
SerialId = Annotated[int, mapped_column(BigInteger, primary_key=True, autoincrement=True)]
TimestampNow = Annotated[
    dt.datetime, mapped_column(DateTime(timezone=True), server_default=func.now())
]
# A customer's id as a foreign key; other options go in mapped_column(): ``parent_id:
# Mapped[CustomerId]``, ``customer_id: Mapped[CustomerId] = mapped_column(primary_key=True)``.
CustomerId = Annotated[uuid.UUID, mapped_column(ForeignKey("customers.id"))]


class Timestamps:
    """A mixin: when the row was created and last updated (both now() on insert)."""

    created_at: Mapped[TimestampNow]
    updated_at: Mapped[TimestampNow]


class Decided:
    """A mixin: who decided a row waiting for a decision (a steward's proposal, a change request,
    a held write) and when; NULL while it waits."""

    decided_by: Mapped[str | None]
    decided_at: Mapped[dt.datetime | None]


def one_of(column: str, values: Iterable[str]) -> CheckConstraint:
    """``CHECK (column IN ('a', 'b', ...))``, named after the column: the allowed values of a
    text column, given as a tuple or a StrEnum."""
    allowed = ", ".join("'" + str(value).replace("'", "''") + "'" for value in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=column)


def partial_index(name: str, *columns: str, where: str, unique: bool = False) -> Index:
    """An index of the rows ``where`` holds for (PostgreSQL's ``CREATE INDEX ... WHERE``)."""
    return Index(name, *columns, unique=unique, postgresql_where=text(where))


def attributes(row: object, *names: str) -> dict[str, Any]:
    """The named attributes of an ORM object or a row, by name (for a response or a view)."""
    return {name: getattr(row, name) for name in names}


def arrays(rows: Sequence[Mapping[str, Any]], **keys: str) -> dict[str, list[Any]]:
    """Array parameters of a multi-row statement: ``name="key"`` gives ``name``, the ``key``
    of every row in order."""
    return {name: [row[key] for row in rows] for name, key in keys.items()}


def attribute_arrays(
    objects: Sequence[object], *names: str, **renamed: str
) -> dict[str, list[Any]]:
    """Array parameters of a multi-row statement from objects (dataclasses, ORM rows): each of
    ``names`` gives that attribute of every object in order, ``name="attribute"`` gives it as
    ``name``."""
    keys = {name: name for name in names} | renamed
    return {name: list(map(attrgetter(key), objects)) for name, key in keys.items()}


def equal_where_given(
    *filters: tuple[SQLColumnExpression[Any], object],
) -> list[ColumnElement[bool]]:
    """``column = value`` for each filter a caller gave: those whose value is None are left out
    (for ``select(...).where(*conditions)``)."""
    return [column == value for column, value in filters if value is not None]


M = TypeVar("M", bound=Base)


@dataclass(frozen=True)
class IdOrderedPages(Generic[M]):
    """A repository's listing of ``entity`` in id order, as
    ``list_entries = IdOrderedPages(AuditEntry)``: called with a session, a filters dataclass
    whose fields name columns of ``entity`` (a field left None is not filtered on, see
    ``equal_where_given``), ``after_id`` (None: from the first) and ``limit`` (the most rows)."""

    entity: type[M]

    async def __call__(
        self, session: AsyncSession, filters: DataclassInstance, *, after_id: int | None, limit: int
    ) -> list[M]:
        columns = inspect(self.entity).columns
        conditions = equal_where_given(
            *((columns[f.name], getattr(filters, f.name)) for f in fields(filters))
        )
        id_column = inspect(self.entity).primary_key[0]
        query = select(self.entity).where(*conditions).order_by(id_column).limit(limit)
        if after_id is not None:
            query = query.where(id_column > after_id)
        return list((await session.scalars(query)).all())


async def run(executor: AsyncSession | AsyncConnection, sql: str, /, **params: Any) -> None:
    """One statement with its parameters by name (``:name`` in ``sql``), its result not read."""
    await executor.execute(text(sql), params)


async def scalar(executor: AsyncSession | AsyncConnection, sql: str, /, **params: Any) -> Any:
    """The first column of the first row of one statement (None when no row)."""
    return await executor.scalar(text(sql), params)


def sqlalchemy_url(url: str) -> str:
    """Accept the usual ``postgres://`` / ``postgresql://`` URLs and use the asyncpg driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            url = "postgresql+asyncpg://" + url[len(prefix) :]
            break
    # libpq's sslmode is spelled ssl for asyncpg.
    return url.replace("sslmode=", "ssl=")


# A pooled connection idle for longer than this is checked before use. SQLAlchemy's own
# pre-ping checks every checkout, which with asyncpg costs three round trips (BEGIN, a ping,
# ROLLBACK) per request; a connection used moments ago needs no check. Should one still fail
# (the server restarted under load), SQLAlchemy sees the disconnect, that request fails and the
# pool drops every connection opened before it.
PING_AFTER_IDLE_SECONDS = 5.0

# The pool's listeners are registered once, when the engine is made, and never added or removed
# later. The idle ping below runs inside SQLAlchemy's loop over the pool's checkout listeners and,
# with asyncpg, hands the event loop to other tasks until the server answers (a greenlet
# switch); a listener added or removed on that pool meanwhile ends the loop with "deque mutated
# during iteration" (seen when the keyring refresher's reload pinged while a test counted
# statements). Code that wants to see checkouts for a while adds a hook here instead.
CheckoutHook = Callable[[Any], None]
_checkout_hooks: weakref.WeakKeyDictionary[Engine, list[CheckoutHook]] = weakref.WeakKeyDictionary()


def checkout_hooks(engine: AsyncEngine) -> list[CheckoutHook]:
    """The functions called with the DBAPI connection at each checkout from ``engine``'s pool
    (after the idle ping); add and remove at will, the pool's listeners stay as they are."""
    try:
        return _checkout_hooks[engine.sync_engine]
    except KeyError:
        raise ValueError("not an engine of mdm_hub.db.create_engine") from None


# A run of 19 digits may be an integer beyond 64 bits, which orjson reads as a float.
_LONG_NUMBER = re.compile(r"\d{19}")


async def schema_revision(conn: AsyncConnection) -> str | None:
    """The alembic revision the database is at (its table exists once migrated)."""
    revision: str | None = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    return revision


async def schema_revision_at(url: str) -> str | None:
    """The alembic revision of the database at ``url``, None before the first migration, on a
    connection of its own (start-up asks before any engine exists)."""
    dsn = sqlalchemy_url(url).replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        exists = await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL")
        revision: str | None = (
            await conn.fetchval("SELECT version_num FROM alembic_version") if exists else None
        )
        return revision
    finally:
        await conn.close()


def json_loads(text: str) -> Any:
    """JSON and JSONB values as read from PostgreSQL: orjson (several times faster than the
    standard library on the records every write reads), exactly :func:`json.loads`'s result
    (the standard library reads what orjson would read differently or not at all).

    Encrypted personal values come back in clear: this is the read side of field encryption for
    every jsonb value the hub reads, through the ORM or asyncpg directly (decrypted in the
    text, then parsed once)."""
    text = unseal_json_text(text)
    if _LONG_NUMBER.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def create_engine(url: str, settings: Settings) -> AsyncEngine:
    engine = create_async_engine(
        sqlalchemy_url(url),
        json_deserializer=json_loads,
        # The write side of field encryption for the ORM's and Core's JSON values; statements
        # written by hand call sealed_json themselves.
        json_serializer=sealed_json,
        # Parameters hold personal data and secrets: never in an error's text (nor a log).
        hide_parameters=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_use_lifo=True,  # the busiest connections stay in use; the idle ones age out
        connect_args={
            "server_settings": {
                "application_name": "mdm-hub",
                "statement_timeout": str(settings.db_statement_timeout_ms),
            }
        },
    )
    dialect = engine.dialect
    hooks: list[CheckoutHook] = []
    _checkout_hooks[engine.sync_engine] = hooks

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _checked_in(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.monotonic() - idle_since >= PING_AFTER_IDLE_SECONDS:
            try:  # not a new connection, nor one in use moments ago
                dialect.do_ping(dbapi_connection)
            except Exception as exc:  # the pool then connects anew (up to three times)
                raise DisconnectionError("the pooled connection did not answer") from exc
        for hook in tuple(hooks):
            hook(dbapi_connection)

    return engine


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


# --------------------------------------------------------------------------------------------
# The hot statements, sent to asyncpg directly
# --------------------------------------------------------------------------------------------
# The write path's statements skip SQLAlchemy's statement execution (compilation cache lookup,
# parameter and result processing: ~0.1 ms of CPU per statement, more with many parameters)
# and go to the asyncpg connection of the session's own transaction. The JSON and JSONB codecs
# are SQLAlchemy's, set on that connection: parameters are JSON text, results Python values.

_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")


@lru_cache(maxsize=512)
def _positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """``:name`` parameters as asyncpg's ``$n``, and the names in their order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _PARAMETER.sub(number, sql), tuple(names)


class Row(Protocol):
    """A row :func:`fetch` returns (asyncpg's Record or SQLAlchemy's RowMapping): read it as
    ``row["column"]``, or spread it with ``**row``."""

    def __getitem__(self, key: str, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...


async def asyncpg_connection(connection: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under a SQLAlchemy connection, reached through SQLAlchemy's public
    API (``AsyncConnection.get_raw_connection`` → ``driver_connection``)."""
    fairy = await connection.get_raw_connection()
    driver = fairy.driver_connection
    assert isinstance(driver, asyncpg.Connection)
    return driver


async def driver_connection(session: AsyncSession) -> tuple[AsyncConnection, asyncpg.Connection]:
    """The session's SQLAlchemy connection and the asyncpg connection under it: what runs on it
    is part of the session's transaction."""
    connection = await session.connection()
    driver = await asyncpg_connection(connection)
    return connection, driver


async def fetch(
    session: AsyncSession, sql: str, params: dict[str, Any], *, begin: bool = True
) -> Sequence[Row]:
    """Run ``sql`` (``:name`` parameters) on the asyncpg connection of the session's
    transaction; its rows (``row["column"]``).

    ``begin``: make sure the transaction has started on the server first. SQLAlchemy's adapter
    sends BEGIN lazily, with the first statement it executes itself, so a statement that would
    be the transaction's first runs through SQLAlchemy (``exec_driver_sql``: the same prepared
    statement on the same connection, one round trip after BEGIN); later ones go to asyncpg
    directly. ``begin=False`` runs a lone read without BEGIN and COMMIT when nothing else ran
    yet (a later statement still begins the transaction). Errors are SQLAlchemy's DBAPIError,
    as for any other statement (a deadlock's or timeout's SQLSTATE answers 503); a connection
    found closed is invalidated, so the pool replaces it instead of handing it out again.
    """
    query, names = _positional(sql)
    values = tuple(params[name] for name in names)
    connection, driver = await driver_connection(session)
    if begin and not driver.is_in_transaction():
        result = await connection.exec_driver_sql(query, values)
        return result.mappings().all()
    try:
        return await driver.fetch(query, *values)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        closed = driver.is_closed() or not isinstance(exc, asyncpg.PostgresError)
        if closed:
            await connection.invalidate(exc)
        raise DBAPIError.instance(
            query, params, exc, type(exc), connection_invalidated=closed
        ) from exc


_ADVISORY_LOCKS = (
    "SELECT pg_advisory_xact_lock(hashtextextended(key, 0)) "
    "FROM unnest(CAST(:keys AS text[])) WITH ORDINALITY AS k(key, position) "
    "ORDER BY position"
)


# The same, and for the rest of the transaction generic plans of prepared statements.
_ADVISORY_LOCKS_GENERIC_PLANS = (
    "SELECT set_config('plan_cache_mode', 'force_generic_plan', true) UNION ALL "
    f"SELECT NULL FROM ({_ADVISORY_LOCKS}) AS locked"
)


# ``session.info`` flag of a session whose transaction is always rolled back (an import's dry
# run, mdm_hub.imports.service): it takes no advisory locks. They serialize writers whose
# writes others will see; this one's are never seen, and a dry run over a whole file would
# otherwise hold one lock per key of the file until its end (PostgreSQL's shared lock table
# holds about 10,000 with the default max_locks_per_transaction: "out of shared memory").
NEVER_COMMITTED = "mdm_hub.never_committed"


async def advisory_xact_locks(
    session: AsyncSession, keys: list[str], *, generic_plans: bool = False
) -> None:
    """Take transaction-scoped advisory locks, in sorted order so that writers never deadlock.

    One round trip for all keys: the array is sorted here and unnested in its order.

    ``generic_plans``: in the same statement, ``plan_cache_mode = force_generic_plan`` until
    the transaction ends (``set_config`` local to it). PostgreSQL otherwise plans a prepared
    statement whose generic plan it costs above its custom ones anew at every execution, for
    ever: a statement reading one element of an array parameter (``= ANY(:ids)``,
    ``unnest(:ids)``) is such a statement, and so are the ones in the trigger functions that
    take an array of ids. Meant for short transactions of such statements (a single write):
    the plans stay the same, their planning goes.
    """
    ordered = sorted(set(keys))
    if not ordered or session.info.get(NEVER_COMMITTED):
        return
    sql = _ADVISORY_LOCKS_GENERIC_PLANS if generic_plans else _ADVISORY_LOCKS
    await fetch(session, sql, {"keys": ordered})


@dataclass(frozen=True)
class WritePart:
    """One INSERT, UPDATE or DELETE for :func:`write_together`: SQL with ``:name`` parameters
    (and no ``:`` in its literals; casts as ``CAST(… AS …)``), and their values."""

    sql: str
    params: dict[str, Any]


@lru_cache(maxsize=256)
def _together(sqls: tuple[str, ...]) -> str:
    """The parts as one statement: every part but the last a CTE, parameters renamed per part."""
    renamed = [_PARAMETER.sub(rf":p{i}_\1", sql) for i, sql in enumerate(sqls)]
    ctes = ", ".join(f"w{i} AS ({sql})" for i, sql in enumerate(renamed[:-1]))
    return f"WITH {ctes} {renamed[-1]}" if ctes else renamed[-1]


async def write_together(session: AsyncSession, *parts: WritePart | None) -> None:
    """Run several writes in one round trip (data-modifying CTEs; ``None`` parts are skipped).

    PostgreSQL runs every part, all against the statement's one snapshot, in no promised order,
    and no part sees the rows another part writes: only independent writes go together (for
    example the customer row, its audit entries and its change event). Flush the session first
    when ORM changes must be written before them.
    """
    present = [part for part in parts if part is not None]
    if not present:
        return
    params = {
        f"p{i}_{name}": value
        for i, part in enumerate(present)
        for name, value in part.params.items()
    }
    await fetch(session, _together(tuple(part.sql for part in present)), params)


@lru_cache(maxsize=64)
def _named(names: tuple[str, ...], sqls: tuple[str, ...], final: str) -> str:
    renamed = [_PARAMETER.sub(rf":p{i}_\1", sql) for i, sql in enumerate(sqls)]
    ctes = ", ".join(f"{name} AS ({sql})" for name, sql in zip(names, renamed, strict=True))
    return f"WITH {ctes} {final}"


async def write_named(
    session: AsyncSession, parts: Sequence[tuple[str, WritePart | None]], final: str
) -> Sequence[Row]:
    """:func:`write_together` with named parts (``None`` parts skipped), so that a part may read
    another's ``RETURNING`` rows by its name (an insert of child rows joined to the insert of
    their parents), and a final ``SELECT`` (no parameters) whose rows are returned."""
    present = [(name, part) for name, part in parts if part is not None]
    if not present:
        return []
    params = {
        f"p{i}_{key}": value
        for i, (_, part) in enumerate(present)
        for key, value in part.params.items()
    }
    sql = _named(tuple(name for name, _ in present), tuple(part.sql for _, part in present), final)
    return await fetch(session, sql, params)
