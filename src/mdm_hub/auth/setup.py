"""Wiring auth into the app: token validator, authenticator, session cookie, auth routes."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware

from mdm_hub.auth.authn import Authenticator
from mdm_hub.auth.dev_issuer import DevIssuer, is_loopback
from mdm_hub.auth.oidc import TokenValidator
from mdm_hub.auth.router import dev_router, make_oauth_client, router
from mdm_hub.settings import Settings

logger = logging.getLogger(__name__)

SESSION_COOKIE = "mdm_session"


def swagger_ui_init_oauth(settings: Settings) -> dict[str, Any] | None:
    """/docs signs in with authorization code + PKCE as the console client, when configured."""
    if not (settings.oidc_issuer and settings.oidc_client_id):
        return None
    return {
        "clientId": settings.oidc_client_id,
        "usePkceWithAuthorizationCodeGrant": True,
        "scopes": settings.oidc_scopes,
        "additionalQueryStringParams": settings.oidc_authorize_params,
    }


def install_auth(app: FastAPI, settings: Settings, dev_issuer: DevIssuer | None) -> None:
    """Every route then needs a valid token or session; with no issuer at all, none is valid
    (auth is never silently off)."""
    if settings.oidc_issuer and dev_issuer is not None:
        raise ValueError("the development issuer is only for when no MDM_OIDC_ISSUER is set")
    validator: TokenValidator | None = None
    if dev_issuer is not None:
        validator = TokenValidator(settings, dev_issuer.issuer, static_jwks=dev_issuer.jwks())
    elif settings.oidc_issuer:
        validator = TokenValidator(settings, settings.oidc_issuer)
    authenticator = Authenticator(settings, validator)
    app.state.authenticator = authenticator
    app.state.authenticate = authenticator
    app.state.dev_issuer = dev_issuer
    app.state.oauth_client = make_oauth_client(settings)
    secure = (
        settings.session_cookie_secure
        if settings.session_cookie_secure is not None
        else not is_loopback(settings.host)
    )
    app.state.session_cookie_secure = secure
    secret = settings.session_secret
    if not secret:
        if app.state.oauth_client is not None:
            logger.warning(
                "MDM_SESSION_SECRET is not set: console sessions end when this process stops "
                "and do not work across replicas"
            )
        secret = secrets.token_urlsafe(32)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_seconds,
        same_site="lax",
        https_only=secure,
    )
    app.include_router(router)
    if dev_issuer is not None:
        app.include_router(dev_router)
