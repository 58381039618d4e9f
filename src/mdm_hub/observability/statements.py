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

from mdm_hub.db import checkout_hooks


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

    def checkout(dbapi_connection: Any) -> None:
        driver = dbapi_connection.driver_connection
        driver.add_query_logger(query_logger)
        drivers.append(driver)

    # A checkout hook, not a listener of the pool: the pool's listeners must not change while
    # another task's checkout pings (mdm_hub.db.checkout_hooks). The engine's cursor listeners
    # may: nothing awaits inside them.
    hooks = checkout_hooks(engine)
    event.listen(sync_engine, "before_cursor_execute", cursor_listener)
    hooks.append(checkout)
    try:
        yield seen
    finally:
        event.remove(sync_engine, "before_cursor_execute", cursor_listener)
        hooks.remove(checkout)
        for driver in drivers:
            driver.remove_query_logger(query_logger)
