"""All configuration, read once from the environment (prefix ``MDM_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MDM_", env_file=None, extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MDM_DATABASE_URL", "DATABASE_URL"),
        description="PostgreSQL URL. When unset, an embedded PostgreSQL is started in data_dir.",
    )
    data_dir: Path = Field(default=Path(".data"), description="Where the embedded PostgreSQL lives")
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    shutdown_grace_seconds: int = Field(
        default=20, description="How long SIGTERM waits for in-flight requests to finish"
    )
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_statement_timeout_ms: int = 15_000
    max_body_bytes: int = Field(default=1_048_576, description="Larger request bodies get 413")
    customer_code_prefix: str = Field(default="C", max_length=8)
    survivorship_source_priority: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Field pointer prefix → source systems, most trusted first, e.g. "
        '{"/billing": ["billing"], "/name": ["crm", "sfa"]}',
    )
    default_page_size: int = 50
    max_page_size: int = 500


@lru_cache
def get_settings() -> Settings:
    return Settings()
