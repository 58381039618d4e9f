"""Alembic, driven from code: `mdm-hub migrate`, start-up checks and tests use this."""

from __future__ import annotations

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


def migration_head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def known_revisions() -> set[str]:
    return {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
