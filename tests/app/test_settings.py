"""Every setting's name, default and description, as declared in src/mdm_hub/settings.py.

The declarations are plain ``name: type = default`` with the description as the attribute's
docstring (pydantic's ``use_attribute_docstrings``): a setting dropped, renamed, given another
default or losing its description fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mdm_hub.settings import Settings

DEFAULTS: dict[str, Any] = {
    "database_url": None,
    "data_dir": Path(".data"),
    "host": "127.0.0.1",
    "port": 8000,
    "log_level": "INFO",
    "log_format": "json",
    "shutdown_grace_seconds": 20,
    "db_pool_size": 10,
    "db_max_overflow": 10,
    "db_statement_timeout_ms": 15000,
    "max_body_bytes": 1048576,
    "customer_code_prefix": "C",
    "survivorship_source_priority": {},
    "match_merge_threshold": None,
    "match_review_threshold": None,
    "match_max_block_size": 50,
    "match_max_candidates": 50,
    "match_config_path": None,
    "default_page_size": 50,
    "max_page_size": 500,
    "webhook_retry_schedule_seconds": [0, 5, 300, 1800, 7200, 18000, 36000, 36000],
    "webhook_retry_jitter": 0.2,
    "webhook_retry_after_max_seconds": 36000,
    "webhook_timeout_seconds": 15,
    "webhook_connect_timeout_seconds": 5,
    "webhook_secret_overlap_seconds": 86400,
    "webhook_retention_days": 7,
    "webhook_dead_letter_retention_days": 30,
    "idempotency_key_ttl_hours": 24,
    "webhook_replay_max_events": 100000,
    "worker_concurrency": 64,
    "worker_batch_size": 500,
    "worker_poll_interval_seconds": 1.0,
    "worker_lease_seconds": 60,
    "worker_prune_interval_seconds": 300,
    "import_lease_seconds": 60,
    "import_batch_size": 500,
    "import_chunk_rows": 50000,
    "import_processes": 0,
    "import_max_file_bytes": 2147483648,
    "import_preview_file_hours": 24,
    "registry_nta_folder": None,
    "registry_invoice_folder": None,
    "registry_import_interval_seconds": 3600,
    "quality_stale_days": 365,
    "quality_no_transaction_days": 365,
    "quality_window_days": 30,
    "worker_http_port": None,
    "serve_worker": True,
    "oidc_issuer": None,
    "oidc_audience": "mdm-hub",
    "oidc_jwks_uri": None,
    "oidc_algorithms": [
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES384",
        "ES512",
    ],
    "oidc_leeway_seconds": 30,
    "oidc_require_at_jwt": False,
    "oidc_jwks_cache_seconds": 3600,
    "oidc_jwks_min_refresh_seconds": 30,
    "oidc_http_timeout_seconds": 5,
    "oidc_roles_claim": "roles",
    "oidc_role_map": {
        "administrator": ["administrator"],
        "steward": ["steward"],
        "data_entry": ["data_entry"],
        "viewer": ["viewer"],
        "customers:read": ["customers:read"],
        "customers:write": ["customers:write"],
        "webhooks:manage": ["webhooks:manage"],
        "pii:read": ["pii:read"],
    },
    "oidc_introspection": False,
    "oidc_introspection_cache_seconds": 60,
    "oidc_client_id": None,
    "oidc_client_secret": None,
    "oidc_scopes": "openid profile email",
    "oidc_session_token": "access_token",
    "oidc_authorize_params": {},
    "session_secret": None,
    "session_max_age_seconds": 28800,
    "session_cookie_secure": None,
    "webhook_include_pii": False,
    "field_encryption_key": None,
    "field_encryption_key_previous": None,
    "field_key_refresh_seconds": 30.0,
    "privacy_hash_key": None,
    "access_log_retention_days": 365,
    "audit_payload_retention_days": None,
    "event_payload_retention_days": None,
}

DESCRIBED = {
    "database_url",
    "data_dir",
    "log_format",
    "shutdown_grace_seconds",
    "max_body_bytes",
    "survivorship_source_priority",
    "match_merge_threshold",
    "match_review_threshold",
    "match_max_block_size",
    "match_max_candidates",
    "match_config_path",
    "webhook_retry_schedule_seconds",
    "webhook_retry_jitter",
    "webhook_retry_after_max_seconds",
    "webhook_timeout_seconds",
    "webhook_secret_overlap_seconds",
    "webhook_retention_days",
    "webhook_dead_letter_retention_days",
    "idempotency_key_ttl_hours",
    "webhook_replay_max_events",
    "worker_concurrency",
    "worker_batch_size",
    "worker_poll_interval_seconds",
    "worker_lease_seconds",
    "import_lease_seconds",
    "import_batch_size",
    "import_chunk_rows",
    "import_processes",
    "import_max_file_bytes",
    "import_preview_file_hours",
    "registry_nta_folder",
    "registry_invoice_folder",
    "registry_import_interval_seconds",
    "quality_stale_days",
    "quality_no_transaction_days",
    "quality_window_days",
    "worker_http_port",
    "serve_worker",
    "oidc_issuer",
    "oidc_audience",
    "oidc_jwks_uri",
    "oidc_algorithms",
    "oidc_leeway_seconds",
    "oidc_require_at_jwt",
    "oidc_jwks_cache_seconds",
    "oidc_jwks_min_refresh_seconds",
    "oidc_roles_claim",
    "oidc_role_map",
    "oidc_introspection",
    "oidc_client_id",
    "oidc_client_secret",
    "oidc_scopes",
    "oidc_session_token",
    "oidc_authorize_params",
    "session_secret",
    "session_max_age_seconds",
    "session_cookie_secure",
    "webhook_include_pii",
    "field_encryption_key",
    "field_encryption_key_previous",
    "field_key_refresh_seconds",
    "privacy_hash_key",
    "access_log_retention_days",
    "audit_payload_retention_days",
    "event_payload_retention_days",
}


def test_every_setting_and_its_default() -> None:
    assert list(Settings.model_fields) == list(DEFAULTS)
    for name, default in DEFAULTS.items():
        field = Settings.model_fields[name]
        assert field.get_default(call_default_factory=True) == default, name


def test_descriptions_are_kept() -> None:
    described = {name for name, field in Settings.model_fields.items() if field.description}
    assert described == DESCRIBED
    serve_worker = Settings.model_fields["serve_worker"].description
    assert serve_worker is not None
    assert serve_worker.startswith("`mdm-hub serve` also runs a webhook worker")


def test_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(DEFAULTS):
        monkeypatch.delenv(f"MDM_{name.upper()}", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1/x")
    monkeypatch.setenv("MDM_SERVE_WORKER", "false")
    monkeypatch.setenv("MDM_IMPORT_PROCESSES", "3")
    monkeypatch.setenv("MDM_WEBHOOK_RETRY_SCHEDULE_SECONDS", "[1, 2]")
    monkeypatch.setenv("MDM_DATA_DIR", "/tmp/somewhere")
    settings = Settings()
    assert settings.database_url == "postgresql://u@127.0.0.1/x"
    assert settings.serve_worker is False
    assert settings.import_processes == 3
    assert settings.webhook_retry_schedule_seconds == [1, 2]
    assert settings.data_dir == Path("/tmp/somewhere")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("import_processes", "65"),
        ("import_batch_size", "0"),
        ("quality_window_days", "367"),
        ("match_merge_threshold", "0"),
        ("webhook_retry_jitter", "1.5"),
        ("customer_code_prefix", "TOOLONGPREFIX"),
        ("webhook_retry_schedule_seconds", "[]"),
        ("field_key_refresh_seconds", "0"),
    ],
)
def test_bounds_are_kept(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"MDM_{name.upper()}", value)
    with pytest.raises(ValueError, match=name):
        Settings()
