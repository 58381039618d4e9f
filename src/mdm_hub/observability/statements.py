"""The SQL statements a piece of work runs, counted at the connection: SQLAlchemy's (its cursor
events; the adapter runs them as asyncpg prepared statements) and those sent to asyncpg directly
(``db.fetch``, ``db.write_named``, BEGIN and COMMIT: asyncpg's query logger on every connection
checked out meanwhile). ``bench/write_path.py --profile`` and the batch write-path test count
with it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


@contextmanager
def counted_statements(engine: AsyncEngine, width: int = 70) -> Iterator[Counter[str]]:
    """Each statement run on ``engine``'s connections inside the block (its first ``width``
    characters, white space folded) with how many times it ran."""
    sync_engine = engine.sync_engine
    seen: Counter[str] = Counter()
    drivers: list[Any] = []

    def count(statement: str) -> None:
        seen[" ".join(statement.split())[:width]] += 1

    def cursor_listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        count(statement)

    def query_logger(query: Any) -> None:
        count(query.query)

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        driver = dbapi_connection.driver_connection
        driver.add_query_logger(query_logger)
        drivers.append(driver)

    event.listen(sync_engine, "before_cursor_execute", cursor_listener)
    event.listen(sync_engine.pool, "checkout", checkout)
    try:
        yield seen
    finally:
        event.remove(sync_engine, "before_cursor_execute", cursor_listener)
        event.remove(sync_engine.pool, "checkout", checkout)
        for driver in drivers:
            driver.remove_query_logger(query_logger)
