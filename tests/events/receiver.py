"""A real webhook receiver on 127.0.0.1: verifies every signature, records what it got.

It runs uvicorn in a thread (its own event loop), so the worker under test talks to it over
real HTTP. Each endpoint under test posts to its own path ``/hooks/<name>``; a test registers
the secret(s) for that path and, optionally, a responder that decides the answer.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Received:
    path: str
    msg_id: str
    payload: dict[str, Any]
    headers: dict[str, str]
    status: int  # what the receiver answered
    verified_with: list[int]  # indexes of the registered secrets that verify it

    @property
    def customer_id(self) -> str:
        return self.payload["data"].get("customer_id", "")

    @property
    def version(self) -> int:
        return int(self.payload["data"].get("customer_version", 0))


# (received so far for this path, this request) → status, extra headers
Responder = Callable[[list[Received], "Received"], tuple[int, dict[str, str]]]


def always_ok(_: list[Received], __: Received) -> tuple[int, dict[str, str]]:
    return 204, {}


@dataclass
class Receiver:
    base_url: str = ""
    secrets: dict[str, list[str]] = field(default_factory=dict)
    responders: dict[str, Responder] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    delay_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, name: str) -> str:
        return f"{self.base_url}/hooks/{name}"

    def register(self, name: str, secret: str, responder: Responder = always_ok) -> str:
        with self.lock:
            self.secrets[f"/hooks/{name}"] = [secret]
            self.responders[f"/hooks/{name}"] = responder
        return self.url(name)

    def add_secret(self, name: str, secret: str) -> None:
        with self.lock:
            self.secrets[f"/hooks/{name}"].append(secret)

    def reset(self) -> None:
        with self.lock:
            self.secrets.clear()
            self.responders.clear()
            self.received.clear()
            self.unverified.clear()
            self.delay_seconds = 0.0

    def got(self, name: str, *, ok_only: bool = True) -> list[Received]:
        with self.lock:
            return [
                r
                for r in self.received
                if r.path == f"/hooks/{name}" and (not ok_only or 200 <= r.status < 300)
            ]

    async def wait_for(
        self, name: str, predicate: Callable[[list[Received]], bool], within: float = 20
    ) -> list[Received]:
        deadline = time.monotonic() + within
        while True:
            got = self.got(name)
            if predicate(got):
                return got
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"receiver {name}: condition not met in {within}s; got "
                    f"{[(r.payload['type'], r.customer_id[:8], r.version) for r in got]}"
                )
            await asyncio.sleep(0.02)

    async def _handle(self, request: Request) -> Response:
        body = (await request.body()).decode()
        headers = dict(request.headers)
        path = request.url.path
        with self.lock:
            secrets = list(self.secrets.get(path, []))
            responder = self.responders.get(path, always_ok)
        verified = []
        for i, secret in enumerate(secrets):
            try:
                Webhook(secret).verify(body, headers)
                verified.append(i)
            except WebhookVerificationError:
                pass
        if not verified:
            with self.lock:
                self.unverified.append(f"{path} {headers.get('webhook-id')}")
            return Response(status_code=400)
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        item = Received(
            path=path,
            msg_id=headers["webhook-id"],
            payload=json.loads(body),
            headers=headers,
            status=0,
            verified_with=verified,
        )
        with self.lock:
            before = [r for r in self.received if r.path == path]
            status, extra = responder(before, item)
            item.status = status
            self.received.append(item)
        return Response(status_code=status, headers=extra)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_receiver() -> tuple[Receiver, Callable[[], None]]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/hooks/{name}", receiver._handle, methods=["POST"])])
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("receiver did not start")
        time.sleep(0.01)
    receiver.base_url = f"http://127.0.0.1:{port}"

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=5)

    return receiver, stop
