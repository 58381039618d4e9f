"""A real OpenID Connect provider (npm oidc-provider) on 127.0.0.1, and the hub trusting it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from mdm_hub.app import create_app
from mdm_hub.settings import Settings

OIDC_DIR = Path(__file__).parent / "oidc"
HUB = "http://hub.test"
REDIRECT_URI = f"{HUB}/auth/callback"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _install_provider() -> None:
    """`npm ci` from the committed lock file when node_modules is missing (a fresh machine)."""
    if (OIDC_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.fail("the auth tests need Node.js 20+ and npm (apt-get install nodejs npm)")
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=OIDC_DIR,
        check=True,
        timeout=600,
    )


def new_key() -> RSAKey:
    key = RSAKey.generate_key(2048, {"use": "sig", "alg": "RS256"}, private=True)
    key.ensure_kid()
    return key


class Provider:
    """The oidc-provider process; ``rotate()`` restarts it with a new signing key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.keys: list[RSAKey] = [new_key()]
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / "provider.log"

    @property
    def signing_key(self) -> RSAKey:
        return self.keys[0]

    def start(self) -> None:
        jwks_file = self.folder / "jwks.json"
        jwks_file.write_text(json.dumps({"keys": [k.as_dict(private=True) for k in self.keys]}))
        env = {
            **os.environ,
            "PORT": str(self.port),
            "JWKS_FILE": str(jwks_file),
            "REDIRECT_URI": REDIRECT_URI,
            "NODE_ENV": "test",
        }
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                ["node", str(OIDC_DIR / "provider.mjs")],
                cwd=OIDC_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"oidc-provider exited:\n{self.log.read_text()}")
            try:
                url = f"{self.issuer}/.well-known/openid-configuration"
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"oidc-provider did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def rotate(self) -> RSAKey:
        """A new signing key first; the old one stays published (as IdPs rotate)."""
        self.stop()
        self.keys = [new_key(), *self.keys]
        self.start()
        return self.signing_key

    def published_jwks(self) -> dict[str, Any]:
        return httpx.get(f"{self.issuer}/jwks", timeout=5).json()

    def client_credentials(
        self, client_id: str, secret: str, *, scope: str | None = None, resource: str | None = None
    ) -> dict[str, Any]:
        data = {"grant_type": "client_credentials"}
        if scope:
            data["scope"] = scope
        if resource:
            data["resource"] = resource
        response = httpx.post(
            f"{self.issuer}/token", data=data, auth=(client_id, secret), timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    _install_provider()
    provider = Provider(tmp_path_factory.mktemp("oidc-provider"))
    provider.start()
    yield provider
    provider.stop()


def oidc_settings(database_url: str, idp: Provider, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "oidc_issuer": idp.issuer,
        "oidc_audience": "mdm-hub",
        "oidc_require_at_jwt": True,  # oidc-provider issues RFC 9068 tokens
        "oidc_leeway_seconds": 1,
        "oidc_jwks_min_refresh_seconds": 0.5,
        "oidc_introspection": True,
        "oidc_client_id": "console",
        "oidc_client_secret": "console-secret",
        "oidc_scopes": "openid profile email",
        "oidc_authorize_params": {"resource": "urn:mdm-hub"},
        "session_secret": "test-session-secret",
    }
    values.update(changes)
    return Settings(**values)


@pytest.fixture(scope="session")
async def oidc_app(database_url: str, idp: Provider) -> AsyncIterator[Any]:
    """The hub with oidc-provider as its issuer (and its console client)."""
    application = create_app(oidc_settings(database_url, idp))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def hub(oidc_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of that hub, with no credentials of its own."""
    transport = httpx.ASGITransport(app=oidc_app)
    async with httpx.AsyncClient(transport=transport, base_url=HUB) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
