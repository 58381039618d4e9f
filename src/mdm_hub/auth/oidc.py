"""Access-token validation: JWT access tokens (RFC 9068) checked against the issuer's keys.

The issuer's discovery document and JWKS are fetched with httpx and cached. A token signed
with a key id the cache does not know refetches the JWKS (a key rotation at the IdP), at most
once per ``oidc_jwks_min_refresh_seconds`` so that a stream of forged key ids cannot turn the
hub into a load generator against the IdP. Only the asymmetric algorithms in
``oidc_algorithms`` are accepted: never ``none``, never an HS* algorithm (whose "secret" an
attacker would take from the public JWKS). Signature and claims are checked with joserfc, the
JOSE library authlib 1.x builds on and recommends.

Opaque (non-JWT) tokens are accepted only when introspection (RFC 7662) is switched on.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import KeySet

from mdm_hub.settings import Settings

logger = logging.getLogger(__name__)

FORBIDDEN_ALGORITHMS = {"none", "HS256", "HS384", "HS512"}
# Tokens whose signature was verified, kept with the key set that verified them: a client sends
# the same token with every request until it expires, and the signature check is most of the
# cost of validating it. Bounded; the oldest entry leaves first.
VERIFIED_TOKENS_KEPT = 1024
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


class TokenError(Exception):
    """The token is not acceptable; ``description`` says why (safe to show the caller)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class IssuerUnavailable(TokenError):
    """The issuer's discovery document or keys could not be fetched."""


def unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, not yet verified (to pick the key and check alg)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("not a signed JWT")
    try:
        padded = parts[0] + "=" * (-len(parts[0]) % 4)
        header = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenError("malformed token header") from exc
    if not isinstance(header, dict):
        raise TokenError("malformed token header")
    return header


_T = TypeVar("_T")


@dataclass
class _Cached(Generic[_T]):
    value: _T | None = None
    fetched_at: float = float("-inf")


@dataclass
class TokenValidator:
    """Validates access tokens for one issuer and audience.

    ``static_jwks``: a fixed key set (the built-in development issuer); no HTTP then.
    ``clock``: the current time in whole seconds, against which exp, nbf and iat are checked.
    """

    settings: Settings
    issuer: str
    static_jwks: dict[str, Any] | None = None
    transport: httpx.AsyncBaseTransport | None = None
    _discovery: _Cached[dict[str, Any]] = field(default_factory=_Cached)
    _jwks: _Cached[KeySet] = field(default_factory=_Cached)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _introspected: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    # token -> (the key set that verified it, its kid, its claims as JSON text)
    _verified: dict[str, tuple[KeySet, str | None, str]] = field(default_factory=dict)
    jwks_fetches: int = 0
    clock: Callable[[], int] = field(default=lambda: int(time.time()))

    def __post_init__(self) -> None:
        bad = FORBIDDEN_ALGORITHMS & set(self.settings.oidc_algorithms)
        if bad:
            raise ValueError(f"oidc_algorithms must not contain {sorted(bad)}")
        if self.static_jwks is not None:
            self._jwks = _Cached(_key_set(self.static_jwks), float("inf"))
        # Built once: the expected values are this validator's; "now" is read at each check.
        self._claims_registry = jwt.JWTClaimsRegistry(
            now=self.clock,
            leeway=self.settings.oidc_leeway_seconds,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.settings.oidc_audience},
            exp={"essential": True},
        )

    # -- fetching -------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self.settings.oidc_http_timeout_seconds,
            transport=self.transport,
            follow_redirects=False,
            headers={"Accept": "application/json"},
        )

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._client() as client:
                response = await client.get(url)
                response.raise_for_status()
                data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("oidc: cannot fetch %s: %s", url, type(exc).__name__)
            raise IssuerUnavailable("the token issuer cannot be reached") from exc
        if not isinstance(data, dict):
            raise IssuerUnavailable("the token issuer answered something unexpected")
        return data

    async def discovery(self) -> dict[str, Any]:
        """The issuer's discovery document (cached); its ``issuer`` must be ours exactly."""
        cached = self._discovery
        age = time.monotonic() - cached.fetched_at
        if cached.value is not None and age < self.settings.oidc_jwks_cache_seconds:
            return cached.value
        document = await self._get_json(
            self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        )
        if document.get("issuer") != self.issuer:
            # OIDC Discovery §4.3: a document naming another issuer is not to be used.
            raise IssuerUnavailable("the discovery document names another issuer")
        self._discovery = _Cached(document, time.monotonic())
        return document

    async def _fetch_jwks(self) -> KeySet:
        uri = self.settings.oidc_jwks_uri or (await self.discovery()).get("jwks_uri")
        if not uri:
            raise IssuerUnavailable("the issuer publishes no jwks_uri")
        data = await self._get_json(uri)
        self.jwks_fetches += 1
        try:
            return _key_set(data)
        except (JoseError, KeyError, TypeError, ValueError) as exc:
            raise IssuerUnavailable("the issuer's JWKS holds no usable key") from exc

    async def keys(self, kid: str | None) -> KeySet:
        """The key set, refreshed when stale, or (rate-limited) when ``kid`` is not in it."""
        cached = self._jwks
        age = time.monotonic() - cached.fetched_at
        # An unknown kid refetches, but not more often than the rate limit allows.
        if (
            cached.value is not None
            and age < self.settings.oidc_jwks_cache_seconds
            and (_has_kid(cached.value, kid) or age < self.settings.oidc_jwks_min_refresh_seconds)
        ):
            return cached.value
        async with self._lock:
            refreshed = self._jwks.value
            if self._jwks is not cached and refreshed is not None:  # refreshed meanwhile
                return refreshed
            try:
                key_set = await self._fetch_jwks()
            except IssuerUnavailable:
                if cached.value is None:
                    raise
                # Keep serving with the keys we have; retry after the rate-limit interval.
                self._jwks = _Cached(cached.value, time.monotonic())
                return cached.value
            self._jwks = _Cached(key_set, time.monotonic())
            return key_set

    # -- validation -----------------------------------------------------------------------

    async def validate(self, token: str) -> dict[str, Any]:
        """The token's claims, or TokenError.

        A token verified before is not verified again while the key set that verified it is
        still the current one (a refreshed JWKS verifies every token anew); its claims (expiry,
        not-before, ...) are checked on every use.
        """
        verified = self._verified.get(token)
        if verified is not None:
            key_set, kid, kept = verified
            if await self.keys(kid) is key_set:
                # A copy of every nested value too: the kept claims stay as verified.
                claims: dict[str, Any] = json.loads(kept)
                try:
                    self.check_claims(claims)
                except TokenError:
                    self._verified.pop(token, None)
                    raise
                return claims
            self._verified.pop(token, None)
        if token.count(".") != 2:
            if self.settings.oidc_introspection and self.static_jwks is None:
                return await self.introspect(token)
            raise TokenError("not a signed JWT")
        header = unverified_header(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.settings.oidc_algorithms:
            raise TokenError(f"algorithm {alg!r} is not accepted")
        typ = header.get("typ")
        if typ is not None:
            # RFC 9068 access tokens say at+jwt (some IdPs a vendor-prefixed ...at+jwt); most
            # IdPs say JWT. Any other explicit type (logout+jwt, secevent+jwt, dpop+jwt, ...)
            # is another kind of token and never an access token.
            kind = str(typ).lower().removeprefix("application/")
            is_at_jwt = kind == "at+jwt" or kind.endswith("-at+jwt")
            if not (is_at_jwt or kind == "jwt"):
                raise TokenError(f"token type {typ!r} is not an access token")
            if self.settings.oidc_require_at_jwt and not is_at_jwt:
                raise TokenError("token type must be at+jwt")
        elif self.settings.oidc_require_at_jwt:
            raise TokenError("token type must be at+jwt")
        if "crit" in header or "jku" in header or "x5u" in header or "jwk" in header:
            raise TokenError("token header parameters not accepted (crit, jku, x5u, jwk)")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenError("malformed kid")
        key_set = await self.keys(kid)
        key = _pick_key(key_set, kid, alg)
        try:
            decoded = jwt.decode(token, key, algorithms=[alg])
        except JoseError as exc:
            raise TokenError("invalid signature") from exc
        claims = decoded.claims
        self.check_claims(claims)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            self._verified.pop(next(iter(self._verified)))
        self._verified[token] = (key_set, kid, json.dumps(claims))
        return claims

    def check_claims(self, claims: dict[str, Any]) -> None:
        try:
            self._claims_registry.validate(claims)
        except ExpiredTokenError as exc:
            raise TokenError("token expired") from exc
        except JoseError as exc:
            claim = getattr(exc, "claim", None) or "claims"
            message = {
                "iss": "wrong issuer",
                "aud": "wrong audience",
                "nbf": "token not yet valid",
                "iat": "token issued in the future",
                "exp": "token expired",
            }.get(claim, f"invalid claim {claim}")
            raise TokenError(message) from exc

    async def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662 introspection of an opaque token (results cached briefly)."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        hit = self._introspected.get(digest)
        if hit and now - hit[0] < self.settings.oidc_introspection_cache_seconds:
            claims = hit[1]
        else:
            endpoint = (await self.discovery()).get("introspection_endpoint")
            if not endpoint or not self.settings.oidc_client_id:
                raise TokenError("opaque tokens cannot be introspected here")
            try:
                async with self._client() as client:
                    response = await client.post(
                        endpoint,
                        data={"token": token, "token_type_hint": "access_token"},
                        auth=(self.settings.oidc_client_id, self.settings.oidc_client_secret or ""),
                    )
                    response.raise_for_status()
                    claims = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise IssuerUnavailable("the token issuer cannot be reached") from exc
            if len(self._introspected) > 10_000:
                self._introspected.clear()
            self._introspected[digest] = (now, claims)
        if not isinstance(claims, dict) or claims.get("active") is not True:
            raise TokenError("token is not active")
        claims = {"iss": self.issuer, **claims}
        self.check_claims(claims)
        return claims


def _key_set(data: dict[str, Any]) -> KeySet:
    keys = [k for k in data["keys"] if k.get("use", "sig") == "sig"]
    # Symmetric keys never verify tokens here, whatever a JWKS lists.
    keys = [k for k in keys if k.get("kty") in ("RSA", "EC", "OKP")]
    return KeySet.import_key_set({"keys": keys})


def _has_kid(key_set: KeySet, kid: str | None) -> bool:
    return kid is None or any(k.kid == kid for k in key_set.keys)


def _pick_key(key_set: KeySet, kid: str | None, alg: str) -> Any:
    kty = _KEY_TYPES.get(alg[:2])
    candidates = [k for k in key_set.keys if k.key_type == kty and k.get("alg") in (None, alg)]
    if kid is not None:
        candidates = [k for k in candidates if k.kid == kid]
        if not candidates:
            raise TokenError("unknown signing key (kid)")
    elif len(candidates) != 1:
        raise TokenError("token has no kid and the issuer has several keys")
    return candidates[0]
