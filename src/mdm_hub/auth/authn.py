"""Who is calling: a bearer token, or the console's session cookie (with its CSRF token)."""

from __future__ import annotations

import hmac
import logging
from contextvars import ContextVar

from fastapi import Request

from mdm_hub.auth.oidc import IssuerUnavailable, TokenError, TokenValidator
from mdm_hub.auth.roles import Principal, principal_from_claims
from mdm_hub.errors import ProblemError
from mdm_hub.settings import Settings

logger = logging.getLogger(__name__)

principal_var: ContextVar[Principal | None] = ContextVar("principal", default=None)

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_HEADER = "X-CSRF-Token"
SESSION_TOKEN = "access_token"
SESSION_CSRF = "csrf"


def unauthorized(description: str | None) -> ProblemError:
    """401 with the RFC 6750 challenge: no error code when no credentials were sent."""
    if description is None:
        challenge = 'Bearer realm="mdm-hub"'
        detail = "Send an access token: Authorization: Bearer <token>"
    else:
        safe = description.replace('"', "'")
        challenge = f'Bearer realm="mdm-hub", error="invalid_token", error_description="{safe}"'
        detail = f"Invalid access token: {description}"
    return ProblemError("unauthorized", detail, headers={"WWW-Authenticate": challenge})


class Authenticator:
    """Turns a request into a :class:`Principal`, once per request (cached on its state)."""

    def __init__(self, settings: Settings, validator: TokenValidator | None) -> None:
        self.settings = settings
        self.validator = validator

    async def principal_from_token(
        self, token: str, request_id: str | None, via: str = "bearer"
    ) -> Principal:
        if self.validator is None:
            # Auth is never silently off: with no issuer, no token is valid.
            raise unauthorized("no token issuer is configured (set MDM_OIDC_ISSUER)")
        try:
            claims = await self.validator.validate(token)
        except IssuerUnavailable as exc:
            raise ProblemError(
                "service-unavailable", f"Cannot check the token: {exc.description}"
            ) from exc
        except TokenError as exc:
            logger.info("token rejected: %s", exc.description)
            raise unauthorized(exc.description) from exc
        return principal_from_claims(
            claims,
            roles_claim=self.settings.oidc_roles_claim,
            role_map=self.settings.oidc_role_map,
            request_id=request_id,
            via=via,
        )

    async def __call__(self, request: Request) -> Principal:
        cached: Principal | None = getattr(request.state, "principal", None)
        if cached is not None:
            return cached
        request_id = getattr(request.state, "request_id", None)
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise unauthorized("use the Bearer scheme")
            principal = await self.principal_from_token(token.strip(), request_id)
        else:
            session = request.scope.get("session") or {}
            session_token: str | None = session.get(SESSION_TOKEN)
            if not session_token:
                raise unauthorized(None)
            principal = await self.principal_from_token(session_token, request_id, via="session")
            if request.method not in SAFE_METHODS:
                sent = request.headers.get(CSRF_HEADER, "")
                expected = session.get(SESSION_CSRF, "")
                if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
                    raise ProblemError(
                        "forbidden",
                        f"Cookie-authenticated changes need the {CSRF_HEADER} header "
                        "(the csrf_token of /auth/me)",
                    )
        request.state.principal = principal
        request.state.subject = principal.subject  # the access log's subject
        principal_var.set(principal)
        return principal
