"""A live hub (uvicorn on 127.0.0.1, real PostgreSQL, webhook worker) and Chromium driven by
Playwright: the console as a steward's browser sees it.

Chromium is Debian's (/usr/bin/chromium, installed by `make test`); Playwright cannot download
its own browsers here. Every test keeps a screenshot in tests/console/screenshots/ (ignored by
git) and fails when a page logged a JavaScript error or a CSP violation.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright

from mdm_hub.app import create_app
from mdm_hub.auth.dev_issuer import DevIssuer
from mdm_hub.settings import Settings
from tests.events.receiver import Receiver, start_receiver

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"
HAVE_CHROMIUM = Path(CHROMIUM).exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Hub:
    base_url: str
    issuer: DevIssuer

    def api(
        self, roles: tuple[str, ...] = ("administrator",), subject: str = "api"
    ) -> httpx.AsyncClient:
        """The hub's API over HTTP with a bearer token (to arrange what a test needs)."""
        token = self.issuer.mint(subject=subject, roles=list(roles))
        return httpx.AsyncClient(
            base_url=self.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )


# Module scope: the hub runs a webhook worker on the shared test database, which must be gone
# before other test modules (tests/events) run workers of their own.
@pytest.fixture(scope="module")
def hub(database_url: str) -> Iterator[Hub]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    issuer = DevIssuer.ephemeral(f"{base}/dev-issuer")
    settings = Settings(
        database_url=database_url,
        host="127.0.0.1",
        port=port,
        # One attempt, then dead: the dead-letter test needs no waiting.
        webhook_retry_schedule_seconds=[0],
        webhook_retry_jitter=0,
        webhook_timeout_seconds=5,
        worker_poll_interval_seconds=0.05,
    )
    app = create_app(settings, run_worker=True, dev_issuer=issuer)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the hub did not start")
        time.sleep(0.05)
    yield Hub(base, issuer)
    server.should_exit = True
    thread.join(timeout=60)
    assert not thread.is_alive(), "the hub did not stop"


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        pytest.fail("the console tests need Debian's chromium (make test installs it)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@dataclass
class Console:
    """A browser page on the console, signed in as one role."""

    page: Page
    hub: Hub
    errors: list[str] = field(default_factory=list)

    async def goto(self, path: str) -> None:
        await self.page.goto(self.hub.base_url + path)

    async def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
async def console(hub: Hub, browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """``console(role, name=None, width=1280)`` → a signed-in :class:`Console`."""
    contexts = []
    made: list[Console] = []

    async def sign_in(
        role: str, name: str | None = None, width: int = 1280, height: int = 800
    ) -> Console:
        context = await browser.new_context(
            viewport={"width": width, "height": height}, locale="ja-JP", timezone_id="Asia/Tokyo"
        )
        contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(15_000)
        current = Console(page, hub)
        page.on(
            "console",
            lambda message: (
                current.errors.append(message.text) if message.type == "error" else None
            ),
        )
        page.on("pageerror", lambda error: current.errors.append(str(error)))
        await page.goto(f"{hub.base_url}/console")
        assert "/console/login" in page.url  # not signed in: the sign-in page
        await page.get_by_label(re.compile(f"\\({role}\\)")).check()
        if name:
            await page.locator("#login-name").fill(name)
        await page.get_by_role("button", name=re.compile("この役割でサインイン")).click()
        await page.wait_for_url(re.compile(r"/console$"))
        made.append(current)
        return current

    yield sign_in
    test_name = re.sub(r"\W+", "_", request.node.name)
    for i, current in enumerate(made):
        await current.shot(f"{test_name}{'' if i == 0 else f'_{i}'}")
    for context in contexts:
        await context.close()
    errors = [e for c in made for e in c.errors]
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def _receiver_server() -> Iterator[Receiver]:
    receiver, stop = start_receiver()
    yield receiver
    stop()


@pytest.fixture
def receiver(_receiver_server: Receiver) -> Iterator[Receiver]:
    _receiver_server.reset()
    yield _receiver_server
    _receiver_server.reset()
