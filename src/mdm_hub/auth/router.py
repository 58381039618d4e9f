"""Console sign-in (authorization code + PKCE), the session, and the issuer documents.

- ``GET /auth/login?next=/path``: redirect to the IdP (PKCE S256, state and nonce kept in the
  session cookie).
- ``GET /auth/callback``: authlib checks state, exchanges the code with the code verifier and
  checks the ID token; the hub then validates the access token exactly like a bearer token
  (issuer, audience, signature) and keeps it in the session with a fresh CSRF token.
- ``GET /auth/me``: who is signed in, the roles, permissions and the CSRF token.
- ``POST /auth/logout``: ends the session (needs ``X-CSRF-Token`` when a session exists) and
  answers the IdP's end-session URL, if it has one.

The session is a signed cookie (``mdm_session``: HttpOnly, SameSite=Lax, Secure unless the hub
is bound to loopback). Cookie-authenticated calls that change anything need the
``X-CSRF-Token`` header; the value is in the session, in /auth/me and in the readable
``mdm_csrf`` cookie (double submit). Bearer-token calls need no CSRF token.
"""

from __future__ import annotations

import hmac
import secrets
import warnings
from typing import Annotated, Any
from urllib.parse import urlencode

from authlib.deprecate import AuthlibDeprecationWarning
from authlib.integrations.base_client import OAuthError
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from mdm_hub.auth.authn import CSRF_HEADER, SESSION_CSRF, SESSION_TOKEN, Authenticator
from mdm_hub.auth.dev_issuer import DevIssuer
from mdm_hub.auth.roles import Authenticated, Public
from mdm_hub.errors import ProblemError
from mdm_hub.settings import Settings

with warnings.catch_warnings():
    # authlib 1.9 prefers httpx2 and warns when it falls back to httpx, which it fully supports.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.starlette_client import OAuth

router = APIRouter(prefix="/auth", tags=["auth"])
dev_router = APIRouter(prefix="/dev-issuer", dependencies=[Public], include_in_schema=False)

CSRF_COOKIE = "mdm_csrf"
SESSION_NEXT = "next"


class Me(BaseModel):
    subject: str
    client_id: str | None
    roles: list[str] = Field(description="Hub roles and integration scopes the token grants")
    permissions: list[str]
    via: str = Field(description="bearer (Authorization header) or session (console cookie)")
    csrf_token: str | None = Field(
        default=None, description="Send as X-CSRF-Token on cookie-authenticated changes"
    )


class LoggedOut(BaseModel):
    end_session_url: str | None = Field(
        default=None, description="Open this to end the IdP session as well"
    )


def _oauth(request: Request) -> Any:
    client = getattr(request.app.state, "oauth_client", None)
    if client is None:
        raise ProblemError(
            "not-found",
            "Console sign-in is not configured: set MDM_OIDC_ISSUER and MDM_OIDC_CLIENT_ID "
            "(with the development issuer, send the token in .data/admin-token instead)",
        )
    return client


def _safe_next(value: str | None) -> str:
    # Only paths on this hub: never an absolute URL or //host (open redirect).
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@router.get("/openid-configuration", dependencies=[Public])
async def openid_configuration(request: Request) -> JSONResponse:
    """The issuer's discovery document (so /docs can sign in with OpenID Connect)."""
    validator = request.app.state.authenticator.validator
    if validator is None:
        raise ProblemError("not-found", "No token issuer is configured (MDM_OIDC_ISSUER)")
    dev: DevIssuer | None = request.app.state.dev_issuer
    return JSONResponse(dev.discovery() if dev else await validator.discovery())


@router.get("/login", include_in_schema=False, dependencies=[Public])
async def login(
    request: Request,
    next_path: Annotated[str | None, Query(alias="next", description="Path to return to")] = None,
) -> Response:
    """Start signing in at the IdP (authorization code + PKCE)."""
    client = _oauth(request)
    request.session[SESSION_NEXT] = _safe_next(next_path)
    settings: Settings = request.app.state.settings
    redirect_uri = str(request.url_for("auth_callback"))
    response: Response = await client.authorize_redirect(
        request, redirect_uri, **settings.oidc_authorize_params
    )
    return response


@router.get("/callback", name="auth_callback", include_in_schema=False, dependencies=[Public])
async def callback(request: Request) -> Response:
    """Where the IdP sends the browser back; starts the session."""
    client = _oauth(request)
    settings: Settings = request.app.state.settings
    extra = {k: v for k, v in settings.oidc_authorize_params.items() if k == "resource"}
    try:
        token = await client.authorize_access_token(request, **extra)
    except OAuthError as exc:
        raise ProblemError(
            "unauthorized", f"Sign-in failed: {exc.error}", headers={"WWW-Authenticate": "Bearer"}
        ) from exc
    access_token = token.get(settings.oidc_session_token)
    if not access_token:
        raise ProblemError(
            "unauthorized", f"Sign-in failed: the IdP sent no {settings.oidc_session_token}"
        )
    authenticator: Authenticator = request.app.state.authenticator
    principal = await authenticator.principal_from_token(
        access_token, getattr(request.state, "request_id", None), via="session"
    )
    next_path = _safe_next(request.session.get(SESSION_NEXT))
    return start_session(request, access_token, principal.subject, next_path)


def start_session(request: Request, token: str, subject: str, next_path: str) -> RedirectResponse:
    """Sign the browser in with ``token`` (IdP login, or the console's development sign-in):
    a fresh session, a new CSRF token in its cookie, and a redirect to ``next_path``."""
    settings: Settings = request.app.state.settings
    request.session.clear()  # no state from before sign-in survives it (session fixation)
    csrf = secrets.token_urlsafe(32)
    request.session.update({SESSION_TOKEN: token, SESSION_CSRF: csrf, "sub": subject})
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=settings.session_max_age_seconds,
        secure=request.app.state.session_cookie_secure,
        samesite="lax",
        httponly=False,  # the console's script reads it and sends it back as X-CSRF-Token
    )
    return response


@router.post("/logout", dependencies=[Public])
async def logout(request: Request, response: Response) -> LoggedOut:
    """End the console session (send X-CSRF-Token)."""
    session = request.session
    if session.get(SESSION_TOKEN):
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), str(session.get(SESSION_CSRF, "")).encode()):
            raise ProblemError("forbidden", f"Logging out needs the {CSRF_HEADER} header")
    session.clear()
    response.delete_cookie(CSRF_COOKIE)
    end_session_url = None
    client = getattr(request.app.state, "oauth_client", None)
    if client is not None:
        metadata = await client.load_server_metadata()
        endpoint = metadata.get("end_session_endpoint")
        if endpoint:
            end_session_url = f"{endpoint}?{urlencode({'client_id': client.client_id})}"
    return LoggedOut(end_session_url=end_session_url)


@router.get("/me")
async def me(request: Request, principal: Authenticated) -> Me:
    """Who is calling, with which roles and permissions."""
    return Me(
        subject=principal.subject,
        client_id=principal.client_id,
        roles=sorted(principal.roles),
        permissions=sorted(p.value for p in principal.permissions),
        via=principal.via,
        csrf_token=request.session.get(SESSION_CSRF) if principal.via == "session" else None,
    )


@dev_router.get("/.well-known/openid-configuration")
async def dev_discovery(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.dev_issuer.discovery())


@dev_router.get("/jwks")
async def dev_jwks(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.dev_issuer.jwks())


def make_oauth_client(settings: Settings) -> Any:
    """authlib's Starlette OAuth client for the console, or None when not configured."""
    if not (settings.oidc_issuer and settings.oidc_client_id):
        return None
    oauth = OAuth()
    return oauth.register(
        name="oidc",
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": settings.oidc_scopes,
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": (
                "client_secret_basic" if settings.oidc_client_secret else "none"
            ),
            "timeout": settings.oidc_http_timeout_seconds,
        },
    )
