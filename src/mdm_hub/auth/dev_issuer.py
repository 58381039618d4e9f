"""The built-in development issuer: `make run` works with no IdP, and auth is still on.

`mdm-hub serve` starts it only when no ``MDM_OIDC_ISSUER`` is configured AND the server is
bound to a loopback address; bound to any other address without an issuer, serve refuses to
start. It keeps an RSA key in the data folder (``<data_dir>/dev-issuer/key.json``, mode 0600),
publishes its discovery document and JWKS under ``/dev-issuer/`` on the hub itself, and mints
tokens at start (the administrator token printed and written to ``<data_dir>/admin-token``),
with `mdm-hub dev-token`, and for the console's sign-in page (``mdm_hub.console.session``: pick
a role, the token goes into the session cookie and is never shown). So whoever can reach the
loopback port can sign in to the console with any role, as whoever can read the data folder
can mint tokens; that is why the issuer only runs on a loopback address. It has no token
endpoint an API client could call.
"""

from __future__ import annotations

import ipaddress
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

DEV_ISSUER_PATH = "/dev-issuer"
DEV_CLIENT_ID = "mdm-hub-dev"
ADMIN_TOKEN_FILE = "admin-token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class DevIssuer:
    def __init__(self, key: RSAKey, issuer: str, audience: str) -> None:
        self.key = key
        self.issuer = issuer
        self.audience = audience

    @classmethod
    def ephemeral(cls, issuer: str, audience: str = "mdm-hub") -> DevIssuer:
        """A key in memory only (tests)."""
        return cls(RSAKey.generate_key(2048, {"use": "sig", "alg": "RS256"}), issuer, audience)

    @classmethod
    def load_or_create(cls, data_dir: Path, issuer: str, audience: str) -> DevIssuer:
        folder = data_dir / "dev-issuer"
        path = folder / "key.json"
        if path.exists():
            key = RSAKey.import_key(json.loads(path.read_text()))
        else:
            folder.mkdir(parents=True, exist_ok=True)
            key = RSAKey.generate_key(2048, {"use": "sig", "alg": "RS256"})
            key.ensure_kid()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(key.as_dict(private=True), f)
        return cls(key, issuer, audience)

    @staticmethod
    def url_for(host: str, port: int) -> str:
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}{DEV_ISSUER_PATH}"

    def jwks(self) -> dict[str, Any]:
        self.key.ensure_kid()
        public = self.key.as_dict(private=False)
        public.update({"use": "sig", "alg": "RS256"})
        return {"keys": [public]}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": [],
            "grant_types_supported": [],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": [
                "customers:read",
                "customers:write",
                "webhooks:manage",
                "pii:read",
            ],
            "mdm_hub_note": "development issuer: tokens are minted by `mdm-hub dev-token` only",
        }

    def mint(
        self,
        *,
        subject: str = "dev-admin",
        roles: list[str] | tuple[str, ...] = ("administrator",),
        scopes: list[str] | tuple[str, ...] = (),
        lifetime_seconds: int = 24 * 3600,
        client_id: str = DEV_CLIENT_ID,
        **extra: Any,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "client_id": client_id,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_seconds,
            "jti": uuid.uuid4().hex,
            "roles": list(roles),
        }
        if scopes:
            claims["scope"] = " ".join(scopes)
        claims.update(extra)
        self.key.ensure_kid()
        header = {"alg": "RS256", "typ": "at+jwt", "kid": self.key.kid}
        return jwt.encode(header, claims, self.key)

    def write_admin_token(self, data_dir: Path) -> tuple[str, Path]:
        token = self.mint()
        path = data_dir / ADMIN_TOKEN_FILE
        data_dir.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        return token, path
