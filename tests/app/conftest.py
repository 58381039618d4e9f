"""Fixtures of the app tests: the hub served by a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from mdm_hub.app import create_app
from mdm_hub.auth.dev_issuer import DevIssuer
from mdm_hub.settings import Settings
from tests.app.test_serve import _free_port


@pytest.fixture
def live_hub(database_url: str, test_issuer: DevIssuer) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1 in a thread of its own (its own event loop)."""
    port = _free_port()
    app = create_app(Settings(database_url=database_url), dev_issuer=test_issuer)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)
