"""`mdm-hub worker` as a process: killed mid-delivery it loses nothing; SIGTERM exits cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import TEST_FIELD_KEY
from tests.events.conftest import by_customer, create_endpoint, in_order, put_person
from tests.events.receiver import Receiver


@pytest.fixture
def start_worker(database_url: str, tmp_path: Path) -> Iterator[Any]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(**settings: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MDM_")}
        env.update(
            {
                "DATABASE_URL": database_url,
                "MDM_FIELD_ENCRYPTION_KEY": TEST_FIELD_KEY,  # the worker requires it
                "MDM_WEBHOOK_RETRY_SCHEDULE_SECONDS": "[0, 0.05, 0.1, 0.2, 0.2, 0.2]",
                "MDM_WEBHOOK_RETRY_JITTER": "0",
                "MDM_WEBHOOK_TIMEOUT_SECONDS": "2",
                "MDM_WORKER_LEASE_SECONDS": "3",
                "MDM_WORKER_POLL_INTERVAL_SECONDS": "0.05",
                "MDM_WORKER_CONCURRENCY": "8",
                "MDM_SHUTDOWN_GRACE_SECONDS": "10",
                **settings,
            }
        )
        log = (tmp_path / f"worker{len(processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "mdm_hub.cli", "worker"], env=env, stdout=log, stderr=log
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


async def _wait_exit(process: subprocess.Popen[bytes], within: float = 20) -> int:
    deadline = asyncio.get_running_loop().time() + within
    while process.poll() is None:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("worker did not exit")
        await asyncio.sleep(0.05)
    return process.returncode


async def _write_changes(client: httpx.AsyncClient, customers: int, updates: int) -> dict:
    ids = [(await put_person(client, i))["id"] for i in range(customers)]
    for n in range(updates):
        await asyncio.gather(
            *(
                put_person(client, i, emails=[{"address": f"u{n}@mail{i}.example.jp"}])
                for i in range(customers)
            )
        )
    return {customer_id: updates + 1 for customer_id in ids}


async def test_sigkill_mid_delivery_loses_nothing(
    client: httpx.AsyncClient, receiver: Receiver, start_worker: Any, app: Any
) -> None:
    await create_endpoint(client, receiver, "crash")
    receiver.delay_seconds = 0.05  # deliveries are in flight when the kill comes
    expected = await _write_changes(client, customers=8, updates=3)  # 32 events

    worker = start_worker()
    await receiver.wait_for("crash", lambda r: len(r) >= 6, within=30)
    worker.send_signal(signal.SIGKILL)
    assert await _wait_exit(worker) == -signal.SIGKILL
    delivered_before = len(receiver.got("crash"))
    assert delivered_before < 32, "the kill came too late to prove anything"

    restarted = start_worker()

    def all_arrived(got: list[Any]) -> bool:
        seen = by_customer(got)
        return all(set(seen.get(c, [])) == set(range(1, v + 1)) for c, v in expected.items())

    got = await receiver.wait_for("crash", all_arrived, within=60)
    for customer_id, versions in by_customer(got).items():
        assert in_order(versions), (customer_id, versions)

    restarted.send_signal(signal.SIGTERM)
    assert await _wait_exit(restarted) == 0
    async with app.state.engine.connect() as conn:
        states = (await conn.execute(text("SELECT status FROM webhook_deliveries"))).scalars()
        assert set(states.all()) == {"delivered"}


async def test_sigterm_finishes_in_flight_deliveries_and_exits_cleanly(
    client: httpx.AsyncClient, receiver: Receiver, start_worker: Any, app: Any
) -> None:
    endpoint = await create_endpoint(client, receiver, "term")
    receiver.delay_seconds = 0.5
    await put_person(client, 1)
    await put_person(client, 2)
    worker = start_worker()

    async def in_flight() -> None:
        # A worker process takes seconds to import the app on a loaded machine: wait by time.
        deadline = asyncio.get_running_loop().time() + 60
        while asyncio.get_running_loop().time() < deadline:
            async with app.state.engine.connect() as conn:
                leased = await conn.scalar(
                    text("SELECT count(*) FROM webhook_queues WHERE leased_until IS NOT NULL")
                )
            if leased:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("nothing was claimed")

    await in_flight()
    worker.send_signal(signal.SIGTERM)
    assert await _wait_exit(worker) == 0

    async with app.state.engine.connect() as conn:
        leases = await conn.scalar(
            text("SELECT count(*) FROM webhook_queues WHERE leased_until IS NOT NULL")
        )
        attempts = await conn.scalar(text("SELECT count(*) FROM webhook_attempts"))
    assert leases == 0  # finished and recorded, or released: nothing waits for a lease to expire
    assert attempts == len(receiver.got("term", ok_only=False))
    log = (await client.get(f"/v1/webhooks/endpoints/{endpoint['id']}/deliveries")).json()
    assert all(a["outcome"] == "delivered" for a in log["items"])


async def test_worker_serves_health_and_metrics_when_asked(start_worker: Any) -> None:
    """The chart's worker.http.enabled sets MDM_WORKER_HTTP_PORT for probes and Prometheus."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = start_worker(MDM_WORKER_HTTP_PORT=str(port))
    base = f"http://127.0.0.1:{port}"
    deadline = asyncio.get_running_loop().time() + 30
    async with httpx.AsyncClient() as http:
        while True:
            try:
                health = await http.get(f"{base}/healthz")
                break
            except httpx.TransportError:
                assert process.poll() is None, "worker exited"
                assert asyncio.get_running_loop().time() < deadline, "no /healthz"
                await asyncio.sleep(0.1)
        assert health.status_code == 200
        metrics = await http.get(f"{base}/metrics")
        assert metrics.status_code == 200
        assert "mdm_outbox_lag_seconds" in metrics.text
        assert "mdm_db_pool_size" in metrics.text
    process.send_signal(signal.SIGTERM)
    assert await _wait_exit(process) == 0
