"""Operations: /metrics after real traffic, JSON log lines, SIGTERM draining, start-up checks."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import asyncpg
import httpx
import pytest

from mdm_hub.observability.logs import JsonFormatter
from tests.app.test_serve import _free_port, _wait_ready, admin_headers
from tests.conftest import _asyncpg_dsn, _recreate_database
from tests.helpers import corporation, other_corporation


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    raise AssertionError(f"no sample {name} {labels}")


async def test_metrics_after_traffic(client: httpx.AsyncClient) -> None:
    before = await client.get("/metrics")
    new_before = (
        _metric(before.text, "mdm_match_decisions_total", outcome="new_customer")
        if ('outcome="new_customer"' in before.text)
        else 0.0
    )
    await client.put("/v1/sources/crm/records/1", json=corporation())
    await client.put("/v1/sources/billing/records/1", json=corporation())
    await client.put(
        "/v1/sources/sfa/records/1",
        json=corporation(
            corporate_number=None, phones=[], emails=[], addresses=[{"postal_code": "100-0005"}]
        ),
    )
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    route = "/v1/sources/{system}/records/{source_id}"
    assert (
        _metric(
            text, "mdm_http_request_duration_seconds_count", method="PUT", route=route, status="201"
        )
        >= 3
    )
    assert _metric(text, "mdm_match_decisions_total", outcome="new_customer") == new_before + 1
    assert _metric(text, "mdm_match_decisions_total", outcome="merged") >= 1
    assert _metric(text, "mdm_review_queue_size") == 1
    assert _metric(text, "mdm_outbox_lag_seconds") >= 0
    assert _metric(text, "mdm_db_pool_size") > 0
    assert "mdm_db_pool_connections_in_use" in text


async def test_access_log_is_json_without_personal_data(client: httpx.AsyncClient) -> None:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("mdm_hub.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        await client.put("/v1/sources/crm/records/1", json=corporation())
        await client.get(
            "/v1/customers", params={"phone": "03-1234-5678"}, headers={"X-Request-ID": "req-42"}
        )
    finally:
        access.removeHandler(handler)
    entries = [json.loads(line) for line in lines]
    listing = next(e for e in entries if e["route"] == "/v1/customers")
    assert listing["request_id"] == "req-42"
    assert listing["status"] == 200
    assert listing["method"] == "GET"
    assert listing["latency_ms"] >= 0
    assert listing["subject"] == "test-admin"  # the token's sub (tests/conftest.py)
    assert {"ts", "level", "logger", "message"} <= set(listing)
    put = next(e for e in entries if e["method"] == "PUT")
    assert put["route"] == "/v1/sources/{system}/records/{source_id}"
    joined = "\n".join(lines)
    for personal in ("1234-5678", "12345678", "ABC", "info@"):
        assert personal not in joined


def _serve(database_url: str, port: int, **env: str) -> subprocess.Popen[bytes]:
    # The data folder holds the development issuer's key and admin-token (no IdP configured).
    env.setdefault("MDM_DATA_DIR", tempfile.mkdtemp(prefix="mdm-serve-"))
    return subprocess.Popen(
        [sys.executable, "-m", "mdm_hub.cli", "serve", "--port", str(port)],
        env={**os.environ, "DATABASE_URL": database_url, "MDM_SERVE_WORKER": "false", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


async def test_sigterm_drains_in_flight_requests(database_url: str, tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    process = _serve(database_url, port, MDM_DATA_DIR=str(tmp_path))
    holder = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        _wait_ready(process, base)
        headers = admin_headers(tmp_path)
        # Hold the lock the write of this source record takes, so the request stays in flight.
        await holder.execute("SELECT pg_advisory_lock(hashtextextended('source:crm:SLOW', 0))")
        result: dict[str, httpx.Response] = {}

        def put() -> None:
            result["response"] = httpx.put(
                f"{base}/v1/sources/crm/records/SLOW",
                json=other_corporation(7),
                headers=headers,
                timeout=30,
            )

        thread = threading.Thread(target=put)
        thread.start()
        await asyncio.sleep(1.0)  # the request has reached the lock
        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        assert process.poll() is None, "still draining the request in flight"
        await holder.execute("SELECT pg_advisory_unlock(hashtextextended('source:crm:SLOW', 0))")
        thread.join(timeout=30)
        assert result["response"].status_code == 201
        assert process.wait(timeout=30) == 0
    finally:
        await holder.close()
        if process.poll() is None:
            process.kill()


def _start_and_fail(database_url: str) -> tuple[int, str]:
    process = _serve(database_url, _free_port())
    output, _ = process.communicate(timeout=60)
    return process.returncode, output.decode()


def test_start_fails_fast_when_the_database_is_unreachable() -> None:
    code, output = _start_and_fail("postgresql://nobody@127.0.0.1:1/nothing")
    assert code == 2
    assert "cannot reach the database" in output
    assert "check DATABASE_URL" in output


@pytest.mark.parametrize("revision", [None, "0001"])
async def test_start_fails_fast_when_migrations_are_behind(
    server_url: str, revision: str | None
) -> None:

    from mdm_hub.migrate import upgrade

    url = await _recreate_database(server_url, "mdm_hub_behind")
    if revision:
        await asyncio.to_thread(upgrade, url, revision)
    code, output = await asyncio.to_thread(_start_and_fail, url)
    assert code == 2
    assert "run `mdm-hub migrate` first" in output


async def test_lock_timeout_is_a_retryable_503_not_a_500(database_url: str, test_issuer) -> None:  # type: ignore[no-untyped-def]
    """A write stuck behind a lock past the statement timeout: 503 + Retry-After, nothing kept."""
    from mdm_hub.settings import Settings
    from tests.conftest import app_client

    settings = Settings(database_url=database_url, db_statement_timeout_ms=300)
    holder = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        await holder.execute("SELECT pg_advisory_lock(hashtextextended('source:crm:STUCK', 0))")
        async with app_client(settings, test_issuer) as client:
            stuck = await client.put("/v1/sources/crm/records/STUCK", json=corporation())
            assert stuck.status_code == 503, stuck.text
            assert stuck.headers["retry-after"] == "1"
            assert stuck.json()["type"] == "/problems/service-unavailable"
            await holder.execute(
                "SELECT pg_advisory_unlock(hashtextextended('source:crm:STUCK', 0))"
            )
            assert (await client.get("/v1/sources/crm/records/STUCK")).status_code == 404
    finally:
        await holder.close()


async def test_outbox_lag_counts_events_no_worker_has_fanned_out(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """No worker runs: the event has no delivery yet, and still waits for the endpoint."""
    endpoint = await client.post("/v1/webhooks/endpoints", json={"url": "https://h.example/"})
    await client.put("/v1/sources/crm/records/LAG-1", json=corporation())
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        await conn.execute("UPDATE customer_events SET occurred_at = now() - interval '120 s'")
    finally:
        await conn.close()
    assert _metric((await client.get("/metrics")).text, "mdm_outbox_lag_seconds") >= 119
    # Nothing to hand it to: no lag.
    await client.patch(f"/v1/webhooks/endpoints/{endpoint.json()['id']}", json={"enabled": False})
    assert _metric((await client.get("/metrics")).text, "mdm_outbox_lag_seconds") == 0
