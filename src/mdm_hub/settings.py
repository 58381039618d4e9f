"""All configuration, read once from the environment (prefix ``MDM_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

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
    log_format: Literal["json", "text"] = Field(
        default="json", description="json: one JSON object per line (for log collectors)"
    )
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
    match_merge_threshold: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Probability at or above which a record merges (default: the weights file's)",
    )
    match_review_threshold: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Probability from which a pair goes to review (default: the weights file's)",
    )
    match_max_block_size: int = Field(
        default=50, description="Keys shared by more customers are not used to fetch candidates"
    )
    match_max_candidates: int = Field(default=50, description="Candidates scored per record")
    match_config_path: Path | None = Field(
        default=None, description="Matching weights file (default: the packaged weights_v1.json)"
    )
    default_page_size: int = 50
    max_page_size: int = 500

    # Webhooks (docs/webhooks.md)
    webhook_retry_schedule_seconds: list[float] = Field(
        default=[0, 5, 300, 1800, 7200, 18000, 36000, 36000],
        description="Delay before each attempt (Standard Webhooks: immediately, 5s, 5m, 30m, "
        "2h, 5h, 10h, 10h); after the last one fails the delivery is dead-lettered",
    )
    webhook_retry_jitter: float = Field(
        default=0.2, ge=0, le=1, description="Each retry delay is scaled by 1 ± this, at random"
    )
    webhook_retry_after_max_seconds: float = Field(
        default=36000, description="Longest Retry-After (429/502/503/504) honoured"
    )
    webhook_timeout_seconds: float = Field(default=15, description="Whole request, per attempt")
    webhook_connect_timeout_seconds: float = 5
    webhook_secret_overlap_seconds: int = Field(
        default=86400, description="After a rotation, the old secret also signs for this long"
    )
    webhook_retention_days: float = Field(
        default=7, description="Delivered deliveries (and their attempts) are pruned after this"
    )
    webhook_dead_letter_retention_days: float = Field(
        default=30, description="Dead-lettered deliveries are pruned after this"
    )
    webhook_replay_max_events: int = Field(
        default=100_000, description="A replay from a time or an event queues at most this many"
    )
    worker_concurrency: int = Field(default=64, description="In-flight deliveries per worker")
    worker_batch_size: int = Field(default=500, description="Events per fan-out transaction")
    worker_poll_interval_seconds: float = Field(
        default=1.0, description="Idle workers look for work this often (NOTIFY wakes earlier)"
    )
    worker_lease_seconds: float = Field(
        default=60, description="A claimed delivery is retried by another worker after this"
    )
    worker_prune_interval_seconds: float = 300
    serve_worker: bool = Field(
        default=True,
        description="`mdm-hub serve` also runs a webhook worker in the same process; set false "
        "when workers run as their own deployment (`mdm-hub worker`)",
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
