"""The verified-token cache of mdm_hub.auth.oidc.TokenValidator: a token's signature is checked
once, while the key set that verified it is current; its expiry is checked at every use; a
key the issuer no longer publishes stops its tokens; another token is verified on its own."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from joserfc import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mdm_hub.auth import oidc
from mdm_hub.auth.dev_issuer import DevIssuer
from mdm_hub.auth.oidc import TokenError, TokenValidator
from mdm_hub.settings import Settings

ISSUER = "http://idp.test/realm"


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def signatures_checked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature joserfc checked, in order (the real check runs)."""
    checked: list[str] = []
    decode: Callable[..., Any] = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        checked.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(oidc.jwt, "decode", counting)
    return checked


def _exp(token: str) -> int:
    payload = token.split(".")[1]
    return int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])


async def test_a_token_is_verified_once_and_its_expiry_checked_at_every_use(
    signatures_checked: list[str],
) -> None:
    issuer = DevIssuer.ephemeral(ISSUER)
    token = issuer.mint(subject="crm", lifetime_seconds=600)
    clock = Clock(_exp(token) - 600)
    validator = TokenValidator(Settings(), ISSUER, static_jwks=issuer.jwks(), clock=clock)

    for _ in range(3):
        assert (await validator.validate(token))["sub"] == "crm"
    assert signatures_checked == [token]  # verified once, then served from the cache

    clock.now = _exp(token) + Settings().oidc_leeway_seconds + 1  # past exp and the leeway
    with pytest.raises(TokenError, match="token expired"):
        await validator.validate(token)
    with pytest.raises(TokenError, match="token expired"):
        await validator.validate(token)  # dropped from the cache, verified again, still expired
    assert signatures_checked == [token, token]


async def test_another_token_is_verified_on_its_own(signatures_checked: list[str]) -> None:
    issuer = DevIssuer.ephemeral(ISSUER)
    validator = TokenValidator(Settings(), ISSUER, static_jwks=issuer.jwks())
    crm = issuer.mint(subject="crm", roles=["data_entry"])
    sfa = issuer.mint(subject="sfa", roles=["viewer"])
    assert (await validator.validate(crm))["roles"] == ["data_entry"]
    assert (await validator.validate(sfa))["roles"] == ["viewer"]
    assert (await validator.validate(crm))["sub"] == "crm"
    assert signatures_checked == [crm, sfa]

    # The same header and claims with another signature are another token: checked, refused.
    header, payload, signature = crm.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    with pytest.raises(TokenError, match="invalid signature"):
        await validator.validate(forged)
    assert signatures_checked == [crm, sfa, forged]


async def test_the_cached_claims_are_not_the_callers_to_change() -> None:
    issuer = DevIssuer.ephemeral(ISSUER)
    validator = TokenValidator(Settings(), ISSUER, static_jwks=issuer.jwks())
    token = issuer.mint(subject="crm", roles=["viewer"])
    (await validator.validate(token))["roles"] = ["administrator"]
    claims = await validator.validate(token)
    claims["roles"].append("administrator")
    assert (await validator.validate(token))["roles"] == ["viewer"]


def _idp(published: list[DevIssuer]) -> httpx.AsyncBaseTransport:
    """The issuer's discovery document and JWKS over HTTP (an ASGI app); the JWKS lists the
    keys of ``published`` at the time of each fetch."""

    async def discovery(request: Request) -> JSONResponse:
        return JSONResponse({"issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks"})

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse({"keys": [key for i in published for key in i.jwks()["keys"]]})

    app = Starlette(
        routes=[
            Route("/realm/.well-known/openid-configuration", discovery),
            Route("/realm/jwks", jwks),
        ]
    )
    return httpx.ASGITransport(app=app)


async def test_a_key_the_issuer_withdrew_stops_its_cached_tokens(
    signatures_checked: list[str],
) -> None:
    old, new = DevIssuer.ephemeral(ISSUER), DevIssuer.ephemeral(ISSUER)
    published = [old]
    # A JWKS cache of 0 s: every validation asks the issuer for its current keys.
    settings = Settings(oidc_jwks_cache_seconds=0, oidc_jwks_min_refresh_seconds=0)
    validator = TokenValidator(settings, ISSUER, transport=_idp(published))
    token = old.mint(subject="crm")
    assert (await validator.validate(token))["sub"] == "crm"
    assert validator.jwks_fetches == 1

    published[:] = [old, new]  # rotation: both keys published; the old token stays valid
    assert (await validator.validate(token))["sub"] == "crm"
    assert (await validator.validate(new.mint(subject="sfa")))["sub"] == "sfa"
    # A refreshed key set verifies the token anew: the signature was checked again.
    assert signatures_checked.count(token) == 2

    published[:] = [new]  # the old key withdrawn (rotated out, or revoked)
    with pytest.raises(TokenError, match="unknown signing key"):
        await validator.validate(token)


async def test_a_key_set_kept_serves_the_cached_token_without_fetching(
    signatures_checked: list[str],
) -> None:
    issuer = DevIssuer.ephemeral(ISSUER)
    validator = TokenValidator(Settings(), ISSUER, transport=_idp([issuer]))
    token = issuer.mint(subject="crm")
    for _ in range(3):
        assert (await validator.validate(token))["sub"] == "crm"
    assert validator.jwks_fetches == 1
    assert signatures_checked == [token]
