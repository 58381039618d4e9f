"""Access tokens from a real OIDC provider (oidc-provider): what is accepted, what answers 401."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.auth.conftest import Provider, bearer, new_key
from tests.helpers import corporation


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
        signature,
    )


def forged(
    idp: Provider, key: RSAKey | None = None, header: dict | None = None, **claims: Any
) -> str:
    """A token signed with the IdP's own signing key (or ``key``), with these claims."""
    key = key or idp.signing_key
    now = int(time.time())
    values = {
        "iss": idp.issuer,
        "aud": "mdm-hub",
        "sub": "crm",
        "client_id": "crm",
        "scope": "customers:read",
        "iat": now,
        "exp": now + 300,
        "jti": "forged",
    }
    values.update(claims)
    values = {k: v for k, v in values.items() if v is not None}
    return jwt.encode(
        {"alg": "RS256", "typ": "at+jwt", "kid": key.kid, **(header or {})}, values, key
    )


async def _rejected(hub: httpx.AsyncClient, token: str, reason: str) -> None:
    response = await hub.get("/v1/customers", headers=bearer(token))
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/unauthorized"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge
    assert reason in problem["detail"], problem["detail"]


async def test_client_credentials_token_is_accepted(hub: httpx.AsyncClient, idp: Provider) -> None:
    token = idp.client_credentials("crm", "crm-secret", scope="customers:read customers:write")
    header, claims, _ = _parts(token["access_token"])
    assert header["typ"] == "at+jwt" and claims["aud"] == "mdm-hub"

    me = (await hub.get("/auth/me", headers=bearer(token["access_token"]))).json()
    assert me["subject"] == "crm" and me["client_id"] == "crm"
    assert set(me["roles"]) == {"customers:read", "customers:write"}
    assert "pii:read" not in me["permissions"]

    created = await hub.put(
        "/v1/sources/crm/records/A1", json=corporation(), headers=bearer(token["access_token"])
    )
    assert created.status_code == 201, created.text
    listed = await hub.get("/v1/customers", headers=bearer(token["access_token"]))
    assert listed.status_code == 200 and len(listed.json()["items"]) == 1
    # A scope the client was not given: 403, with the permission it lacks.
    denied = await hub.post(
        "/v1/custom-fields",
        json={"key": "x", "label": "x", "type": "string"},
        headers=bearer(token["access_token"]),
    )
    assert denied.status_code == 403
    assert denied.json()["required_permission"] == "config:manage"
    assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]


async def test_no_token_is_401_with_a_challenge(hub: httpx.AsyncClient) -> None:
    response = await hub.get("/v1/customers")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="mdm-hub"'
    assert (
        await hub.get("/v1/customers", headers={"Authorization": "Basic eDp5"})
    ).status_code == 401
    assert (await hub.get("/healthz")).status_code == 200  # public


async def test_wrong_issuer(hub: httpx.AsyncClient, idp: Provider) -> None:
    await _rejected(hub, forged(idp, iss="http://127.0.0.1:1"), "wrong issuer")
    await _rejected(hub, forged(idp, iss=None), "iss")


async def test_wrong_audience(hub: httpx.AsyncClient, idp: Provider) -> None:
    # A real token of the same IdP, for another resource server.
    other = idp.client_credentials(
        "crm", "crm-secret", scope="customers:read", resource="urn:other-api"
    )
    assert _parts(other["access_token"])[1]["aud"] == "other-api"
    await _rejected(hub, other["access_token"], "wrong audience")
    await _rejected(hub, forged(idp, aud=["other-api", "another"]), "wrong audience")


async def test_expired(hub: httpx.AsyncClient, idp: Provider) -> None:
    short = idp.client_credentials(
        "crm", "crm-secret", scope="customers:read", resource="urn:mdm-hub:short"
    )
    assert (
        await hub.get("/v1/customers", headers=bearer(short["access_token"]))
    ).status_code == 200
    await asyncio.sleep(3.2)  # 1 s lifetime + 1 s leeway, and a second boundary
    await _rejected(hub, short["access_token"], "expired")
    await _rejected(hub, forged(idp, exp=int(time.time()) - 60), "expired")
    await _rejected(hub, forged(idp, exp=None), "exp")


async def test_not_yet_valid(hub: httpx.AsyncClient, idp: Provider) -> None:
    await _rejected(hub, forged(idp, nbf=int(time.time()) + 120), "not yet valid")
    await _rejected(hub, forged(idp, iat=int(time.time()) + 120), "future")
    # Within the leeway (1 s here) a skewed clock is tolerated.
    assert (
        await hub.get("/v1/customers", headers=bearer(forged(idp, nbf=int(time.time()))))
    ).status_code == 200


async def test_tampered_signature(hub: httpx.AsyncClient, idp: Provider) -> None:
    token = idp.client_credentials("crm", "crm-secret", scope="customers:read")["access_token"]
    header, payload, signature = token.split(".")
    claims = _parts(token)[1]
    claims["scope"] = "customers:read webhooks:manage pii:read"
    tampered = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    await _rejected(hub, tampered, "invalid signature")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    await _rejected(hub, f"{header}.{payload}.{flipped}", "invalid signature")


async def test_alg_none(hub: httpx.AsyncClient, idp: Provider) -> None:
    token = idp.client_credentials("crm", "crm-secret", scope="customers:read")["access_token"]
    _, payload, _ = token.split(".")
    for alg in ("none", "None", "NONE"):
        header = _b64(json.dumps({"alg": alg, "typ": "at+jwt"}).encode())
        await _rejected(hub, f"{header}.{payload}.", "not accepted")


async def test_hs256_signed_with_the_public_key(hub: httpx.AsyncClient, idp: Provider) -> None:
    """The classic key-confusion attack: HMAC keyed with the issuer's public key."""
    token = idp.client_credentials("crm", "crm-secret", scope="customers:read")["access_token"]
    _, payload, _ = token.split(".")
    jwks = idp.published_jwks()
    public = RSAKey.import_key(jwks["keys"][0])
    for secret in (
        public.as_pem(private=False),
        json.dumps(jwks["keys"][0]).encode(),
    ):
        header = _b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": public.kid}).encode())
        signing_input = f"{header}.{payload}".encode()
        mac = _b64(hmac.new(secret, signing_input, hashlib.sha256).digest())
        await _rejected(hub, f"{header}.{payload}.{mac}", "not accepted")


async def test_unknown_kid_and_the_refresh_rate_limit(
    hub: httpx.AsyncClient, idp: Provider, oidc_app: Any
) -> None:
    rogue = new_key()
    validator = oidc_app.state.authenticator.validator
    await asyncio.sleep(0.6)  # past the refresh rate limit of the test settings (0.5 s)
    before = validator.jwks_fetches
    await _rejected(hub, forged(idp, key=rogue), "unknown signing key")
    assert validator.jwks_fetches == before + 1, "an unknown kid refetches the JWKS"
    started = time.monotonic()
    for _ in range(20):  # a flood of unknown kids: at most one fetch per interval (0.5 s)
        await _rejected(hub, forged(idp, key=rogue), "unknown signing key")
    intervals = int((time.monotonic() - started) / 0.5)  # > 0 only on a very loaded machine
    assert before + 1 <= validator.jwks_fetches <= before + 1 + intervals
    # The rogue key under a kid the IdP does publish: the signature check fails.
    await _rejected(
        hub, forged(idp, key=rogue, header={"kid": idp.signing_key.kid}), "invalid signature"
    )


async def test_typ_must_be_at_jwt_when_required(hub: httpx.AsyncClient, idp: Provider) -> None:
    await _rejected(hub, forged(idp, header={"typ": "JWT"}), "at+jwt")
    await _rejected(hub, forged(idp, header={"typ": "logout+jwt"}), "not an access token")


async def test_key_rotation_is_picked_up_without_a_restart(
    hub: httpx.AsyncClient, idp: Provider, oidc_app: Any
) -> None:
    old = idp.client_credentials("crm", "crm-secret", scope="customers:read")["access_token"]
    assert (await hub.get("/v1/customers", headers=bearer(old))).status_code == 200
    new_key_ = await asyncio.to_thread(idp.rotate)
    await asyncio.sleep(0.6)  # past the refresh rate limit
    new = idp.client_credentials("crm", "crm-secret", scope="customers:read")["access_token"]
    assert _parts(new)[0]["kid"] == new_key_.kid != _parts(old)[0]["kid"]
    response = await hub.get("/v1/customers", headers=bearer(new))
    assert response.status_code == 200, response.text
    # The old key is still published during the rotation: its tokens stay valid until expiry.
    assert (await hub.get("/v1/customers", headers=bearer(old))).status_code == 200


async def test_opaque_token_by_introspection(hub: httpx.AsyncClient, idp: Provider) -> None:
    opaque = idp.client_credentials(
        "billing", "billing-secret", scope="customers:read pii:read", resource="urn:mdm-hub:opaque"
    )["access_token"]
    assert opaque.count(".") == 0
    me = await hub.get("/auth/me", headers=bearer(opaque))
    assert me.status_code == 200, me.text
    assert me.json()["client_id"] == "billing"
    assert "pii:read" in me.json()["permissions"]
    await _rejected(hub, "not-a-token-the-idp-issued", "not active")


async def test_audit_entries_record_subject_and_client(
    hub: httpx.AsyncClient, idp: Provider, client: httpx.AsyncClient
) -> None:
    token = idp.client_credentials("crm", "crm-secret", scope="customers:write")["access_token"]
    created = await hub.put(
        "/v1/sources/crm/records/AUD", json=corporation(), headers=bearer(token)
    )
    assert created.status_code == 201, created.text
    entries = (await client.get("/v1/audit")).json()["items"]
    assert entries and all(e["actor"] == "crm (crm)" for e in entries)
    # In-process tests' own issuer: the administrator token of tests/conftest.py.
    await client.put("/v1/sources/sfa/records/AUD", json=corporation())
    actors = {e["actor"] for e in (await client.get("/v1/audit")).json()["items"]}
    assert "test-admin (test-client)" in actors
