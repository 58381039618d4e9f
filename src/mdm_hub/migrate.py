"""Alembic, driven from code: `mdm-hub migrate`, start-up checks and tests use this."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

import mdm_hub


def migrations_dir() -> Path:
    packaged = Path(mdm_hub.__file__).parent / "_migrations"  # inside a built wheel
    if packaged.is_dir():
        return packaged
    return Path(mdm_hub.__file__).resolve().parents[2] / "migrations"  # a source checkout


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


@lru_cache(maxsize=1)  # the scripts do not change while the process runs
def migration_head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@lru_cache(maxsize=1)
def known_revisions() -> frozenset[str]:
    return frozenset(
        rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    )


def schema_is_behind(current: str | None) -> bool:
    """True when the database needs `mdm-hub migrate` for this code.

    A revision this code does not know is a newer schema (an upgrade rolling out): migrations
    only add, so older code keeps working against it.
    """
    return current != migration_head() and (current is None or current in known_revisions())


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
