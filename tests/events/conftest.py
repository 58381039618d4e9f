"""Fixtures for change events: a real receiver, workers with a shortened retry schedule."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from mdm_hub.events.dispatcher import Dispatcher
from mdm_hub.settings import Settings
from tests.events.receiver import Receiver, start_receiver

# Standard Webhooks' schedule, shortened: immediately, then 50/100/200 ms; then dead.
SHORT_SCHEDULE = [0, 0.05, 0.1, 0.2]


@pytest.fixture(scope="session")
def _receiver_server() -> Iterator[Receiver]:
    receiver, stop = start_receiver()
    yield receiver
    stop()


@pytest.fixture
def receiver(_receiver_server: Receiver) -> Iterator[Receiver]:
    _receiver_server.reset()
    yield _receiver_server
    assert not _receiver_server.unverified, "a message failed signature verification"
    _receiver_server.reset()


def worker_settings(database_url: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "webhook_retry_schedule_seconds": SHORT_SCHEDULE,
        "webhook_retry_jitter": 0,
        "webhook_timeout_seconds": 5,
        "worker_poll_interval_seconds": 0.05,
        "worker_lease_seconds": 10,
        "worker_batch_size": 50,
        "worker_concurrency": 16,
    }
    values.update(changes)
    return Settings(**values)


class Workers:
    """Start in-process workers (Dispatcher.run tasks) on the app's engine; stopped at teardown."""

    def __init__(self, app: Any, database_url: str) -> None:
        self.app = app
        self.database_url = database_url
        self.running: list[tuple[asyncio.Task[None], asyncio.Event]] = []

    def start(self, count: int = 1, **changes: Any) -> None:
        settings = worker_settings(self.database_url, **changes)
        for _ in range(count):
            stop = asyncio.Event()
            task = asyncio.create_task(Dispatcher(self.app.state.engine, settings).run(stop))
            self.running.append((task, stop))

    async def stop(self) -> None:
        for _, stop in self.running:
            stop.set()
        for task, _ in self.running:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=15)
        self.running.clear()


@pytest.fixture
async def workers(app: Any, database_url: str) -> AsyncIterator[Workers]:
    running = Workers(app, database_url)
    yield running
    await running.stop()


async def create_endpoint(
    client: httpx.AsyncClient, receiver: Receiver, name: str, **fields: Any
) -> dict[str, Any]:
    """Subscribe the receiver's path ``name``; registers the secret with the receiver."""
    response = await client.post(
        "/v1/webhooks/endpoints", json={"url": receiver.url(name), **fields}
    )
    assert response.status_code == 201, response.text
    endpoint = response.json()
    receiver.register(name, endpoint["secret"])
    return endpoint


def person(i: int, **changes: Any) -> dict[str, Any]:
    """A person who shares nothing with person(j) for j != i (so matching never links them)."""
    given = ["太郎", "花子", "一郎", "美咲", "健太", "陽菜", "翔太", "結衣", "大輔", "七海"]
    family = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
    payload: dict[str, Any] = {
        "kind": "person",
        "person_name": {"family_name": family[i % 10], "given_name": given[(i // 10) % 10]},
        "birth_date": f"19{50 + i % 50:02d}-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "phones": [{"number": f"090-{1000 + i:04d}-{2000 + i:04d}", "purpose": "mobile"}],
        "emails": [{"address": f"person{i}@mail{i}.example.jp"}],
    }
    payload.update(changes)
    return payload


async def put_person(
    client: httpx.AsyncClient, i: int, *, source_id: str | None = None, **changes: Any
) -> dict[str, Any]:
    response = await client.put(
        f"/v1/sources/crm/records/{source_id or f'P{i}'}", json=person(i, **changes)
    )
    assert response.status_code in (200, 201), response.text
    return response.json()["customer"]


def in_order(versions: list[int]) -> bool:
    """Delivered at least once, in order: never goes back (a redelivery repeats the last)."""
    return all(a <= b for a, b in itertools.pairwise(versions))


def by_customer(received: list[Any]) -> dict[str, list[int]]:
    result: dict[str, list[int]] = {}
    for r in received:
        result.setdefault(r.customer_id, []).append(r.version)
    return result


Predicate = Callable[[list[Any]], bool]
