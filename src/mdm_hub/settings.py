"""All configuration, read once from the environment (prefix ``MDM_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MDM_", env_file=None, extra="ignore", use_attribute_docstrings=True
    )

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MDM_DATABASE_URL", "DATABASE_URL"),
        description="PostgreSQL URL. When unset, an embedded PostgreSQL is started in data_dir.",
    )
    data_dir: Path = Path(".data")
    """Where the embedded PostgreSQL lives"""
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    """json: one JSON object per line (for log collectors)"""
    shutdown_grace_seconds: int = 20
    """How long SIGTERM waits for in-flight requests to finish"""
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_statement_timeout_ms: int = 15_000
    max_body_bytes: int = 1_048_576
    """Larger request bodies get 413"""
    customer_code_prefix: str = Field(default="C", max_length=8)
    survivorship_source_priority: dict[str, list[str]] = Field(default_factory=dict)
    """Field pointer prefix → source systems, most trusted first, e.g. {"/billing": ["billing"],
    "/name": ["crm", "sfa"]}"""
    match_merge_threshold: float | None = Field(default=None, gt=0, le=1)
    """Probability at or above which a record merges (default: the weights file's)"""
    match_review_threshold: float | None = Field(default=None, gt=0, le=1)
    """Probability from which a pair goes to review (default: the weights file's)"""
    match_max_block_size: int = 50
    """Keys shared by more customers are not used to fetch candidates"""
    match_max_candidates: int = 50
    """Candidates scored per record"""
    match_config_path: Path | None = None
    """Matching weights file (default: the packaged weights_v3.json)"""
    default_page_size: int = 50
    max_page_size: int = 500

    # Webhooks (docs/webhooks.md)
    webhook_retry_schedule_seconds: list[float] = Field(
        default=[0, 5, 300, 1800, 7200, 18000, 36000, 36000], min_length=1
    )
    """Delay before each attempt (Standard Webhooks: immediately, 5s, 5m, 30m, 2h, 5h, 10h, 10h);
    after the last one fails the delivery is dead-lettered"""
    webhook_retry_jitter: float = Field(default=0.2, ge=0, le=1)
    """Each retry delay is scaled by 1 ± this, at random"""
    webhook_retry_after_max_seconds: float = 36000
    """Longest Retry-After (429/502/503/504) honoured"""
    webhook_timeout_seconds: float = 15
    """Whole request, per attempt"""
    webhook_connect_timeout_seconds: float = 5
    webhook_secret_overlap_seconds: int = 86400
    """After a rotation, the old secret also signs for this long"""
    webhook_retention_days: float = 7
    """Delivered deliveries (and their attempts) are pruned after this"""
    webhook_dead_letter_retention_days: float = 30
    """Dead-lettered deliveries are pruned after this"""
    idempotency_key_ttl_hours: float = 24
    """Answers to POSTs with an Idempotency-Key are replayed this long"""
    webhook_replay_max_events: int = 100_000
    """A replay from a time or an event queues at most this many"""
    worker_concurrency: int = 64
    """In-flight deliveries per worker"""
    worker_batch_size: int = 500
    """Events per fan-out transaction"""
    worker_poll_interval_seconds: float = 1.0
    """Idle workers look for work this often (NOTIFY wakes earlier)"""
    worker_lease_seconds: float = 60
    """A claimed delivery is retried by another worker after this"""
    worker_prune_interval_seconds: float = 300
    import_lease_seconds: float = 60
    """An import partition (or staging) whose worker stopped renewing its lease is taken over by
    another worker after this"""
    import_batch_size: int = Field(default=500, ge=1, le=10_000)
    """Rows per import transaction (checkpoint)"""
    import_chunk_rows: int = Field(default=50_000, ge=1)
    """Rows an import stages (reads, normalizes, partitions) at a time, each chunk after the one
    before it is written: what staging holds in memory (a dry run stages its file whole)"""
    import_processes: int = Field(default=0, ge=0, le=64)
    """Processes that normalize an import's rows (0: one per CPU; 1: none besides the importing
    process)"""
    import_max_file_bytes: int = 2 * 1024**3
    """The largest file POST /v1/imports accepts"""
    import_preview_file_hours: float = Field(default=24, gt=0)
    """A console preview keeps its file this long after it finished, to be started from it; then
    the worker's housekeeping drops the file"""
    registry_nta_folder: Path | None = None
    """A folder the worker watches for the NTA's 法人番号 files (zip or CSV): new ones are
    imported in name order and the registry applied to customers (off when unset)"""
    registry_invoice_folder: Path | None = None
    """A folder the worker watches for インボイス 法人 files (off when unset)"""
    registry_import_interval_seconds: float = Field(default=3600, gt=0)
    """How often the worker looks into the registry folders"""
    quality_stale_days: int = Field(default=365, ge=1)
    """KPI freshness: a customer not updated for this long"""
    quality_no_transaction_days: int = Field(default=365, ge=1)
    """KPI freshness: a customer whose 最終取引日 is older than this"""
    quality_window_days: int = Field(default=30, ge=1, le=366)
    """KPI window for merges per 1,000 writes and writes per day"""
    worker_http_port: int | None = None
    """When set, `mdm-hub worker` serves /healthz and /metrics on this port (all interfaces: for
    Kubernetes probes and Prometheus)"""
    serve_worker: bool = True
    """`mdm-hub serve` also runs a webhook worker in the same process; set false when workers run
    as their own deployment (`mdm-hub worker`)"""

    # Single sign-on and access control (docs/security.md)
    oidc_issuer: str | None = None
    """The OIDC issuer whose access tokens the hub accepts (discovery document at
    <issuer>/.well-known/openid-configuration). Unset: `mdm-hub serve` starts the built-in
    development issuer, on a loopback address only"""
    oidc_audience: str = "mdm-hub"
    """The `aud` every access token must carry"""
    oidc_jwks_uri: str | None = None
    """JWKS URL; default: the discovery document's jwks_uri"""
    oidc_algorithms: list[str] = [
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES384",
        "ES512",
    ]
    """Signature algorithms accepted (asymmetric only; never none or HS*)"""
    oidc_leeway_seconds: int = Field(default=30, ge=0, le=300)
    """Clock skew allowed on exp, nbf and iat"""
    oidc_require_at_jwt: bool = False
    """Require the RFC 9068 header typ at+jwt (set true when the IdP issues RFC 9068 tokens;
    Keycloak, Entra ID and Okta send typ JWT)"""
    oidc_jwks_cache_seconds: float = 3600
    """How long the discovery document and JWKS are kept"""
    oidc_jwks_min_refresh_seconds: float = 30
    """An unknown kid refetches the JWKS at most this often (rate limit)"""
    oidc_http_timeout_seconds: float = 5
    oidc_roles_claim: str = "roles"
    """Claim holding the user's roles or groups; dots walk into objects, e.g. realm_access.roles
    (Keycloak), groups (Entra ID, Okta)"""
    oidc_role_map: dict[str, list[str]] = Field(
        default_factory=lambda: {
            name: [name]
            for name in (
                "administrator",
                "steward",
                "data_entry",
                "viewer",
                "customers:read",
                "customers:write",
                "webhooks:manage",
                "pii:read",
            )
        }
    )
    """IdP value → hub roles and integration scopes. Keys are values of the roles claim or of the
    scope claim, or sub:<subject>, email:<address>, hd:<domain>"""
    oidc_introspection: bool = False
    """Accept opaque (non-JWT) access tokens by asking the IdP's introspection endpoint (RFC 7662)
    with the client credentials below"""
    oidc_introspection_cache_seconds: float = 60
    oidc_client_id: str | None = None
    """Client id of the console (authorization code + PKCE)"""
    oidc_client_secret: str | None = None
    """Its secret; unset for a public client (PKCE only)"""
    oidc_scopes: str = "openid profile email"
    """Scopes the console asks for"""
    oidc_session_token: Literal["access_token", "id_token"] = "access_token"
    """Which token of the console sign-in becomes the session's credential: id_token for IdPs
    without access tokens for your own API (Google; then MDM_OIDC_AUDIENCE is the console's
    client id)"""
    oidc_authorize_params: dict[str, str] = Field(default_factory=dict)
    """Extra authorization request parameters, e.g. {"resource": "mdm-hub"} (RFC 8707) or
    {"audience": "mdm-hub"}"""
    session_secret: str | None = None
    """Signs the console session cookie; set it (the same on every replica). Unset: a random one
    per process"""
    session_max_age_seconds: int = 8 * 3600
    """Console session life"""
    session_cookie_secure: bool | None = None
    """Secure cookies; default: on unless bound to loopback"""
    webhook_include_pii: bool = False
    """Webhook payloads carry persons' phones, emails, addresses and birth date unmasked (default:
    masked, as for principals without pii:read)"""
    field_encryption_key: SecretStr | None = Field(
        default=None,
        description="Key-encryption key of personal data at rest (32 bytes, base64: "
        "`python -c 'import secrets,base64;print(base64.urlsafe_b64encode(secrets.token_bytes(32))"
        ".decode())'`). Unset: `mdm-hub serve` on loopback makes one in the data folder; "
        "elsewhere the hub refuses to start",
    )
    field_encryption_key_previous: SecretStr | None = None
    """While the key-encryption key is replaced: the previous one, which opens the stored keys
    `mdm-hub keys rewrap` has not yet re-wrapped under MDM_FIELD_ENCRYPTION_KEY (remove it once
    that command has finished)"""
    field_key_refresh_seconds: float = Field(default=30.0, gt=0)
    """How often every process reloads the data keys (so a key rotation's new key is readable
    everywhere before anyone writes with it)"""
    privacy_hash_key: SecretStr | None = None
    """Key of the keyed hashes that recognise an erased person's later writes (default: a random
    key the hub keeps in its database)"""
    access_log_retention_days: float = 365
    """How long the log of unmasked reads of personal data is kept"""
    audit_payload_retention_days: float | None = None
    """After this many days an audit entry keeps who/what/when but not its before/after (default:
    kept)"""
    event_payload_retention_days: float | None = None
    """After this many days a delivered change event keeps its type and customer but not the
    customer's data (default: kept; the change feed then serves the stub)"""


@lru_cache
def get_settings() -> Settings:
    return Settings()
