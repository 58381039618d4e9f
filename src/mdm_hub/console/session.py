"""Signing in and out of the console, and the language switch.

With the company IdP (MDM_OIDC_ISSUER and MDM_OIDC_CLIENT_ID) the sign-in page links to the
authorization-code + PKCE login of ``mdm_hub.auth.router``. With the development issuer of
`make run` (no issuer configured, loopback only) it offers a role picker instead: the hub mints
a token for the chosen role and keeps it in the session cookie, exactly where the IdP login
keeps its token; the token itself is never shown.
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from mdm_hub.auth.dev_issuer import DevIssuer
from mdm_hub.auth.roles import Authenticated, Public, Role
from mdm_hub.auth.router import CSRF_COOKIE, _safe_next, start_session
from mdm_hub.console.i18n import LANG_COOKIE, language
from mdm_hub.console.web import PREFIX, form_data, render
from mdm_hub.settings import Settings

router = APIRouter(prefix=PREFIX, include_in_schema=False)

LOGIN_CSRF = "login_csrf"
ROLES = [Role.administrator, Role.steward, Role.data_entry, Role.viewer]
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")


def _console_next(value: str | None) -> str:
    target = _safe_next(value)
    return target if target.startswith(PREFIX) else PREFIX


@router.get("/login", dependencies=[Public])
async def login_page(
    request: Request,
    next_path: Annotated[str | None, Query(alias="next")] = None,
    error: str | None = None,
) -> Response:
    token = request.session.get(LOGIN_CSRF) or secrets.token_urlsafe(32)
    request.session[LOGIN_CSRF] = token
    return render(
        request,
        "login.html",
        {
            "dev": request.app.state.dev_issuer is not None,
            "idp": request.app.state.oauth_client is not None,
            "roles": ROLES,
            "next": _console_next(next_path),
            "login_csrf": token,
            "error": error,
        },
    )


@router.post("/login", dependencies=[Public])
async def dev_login(request: Request) -> Response:
    """The development issuer's sign-in: a token for the chosen role, kept in the session."""
    dev: DevIssuer | None = request.app.state.dev_issuer
    if dev is None:
        return RedirectResponse(f"{PREFIX}/login", status_code=303)
    form = await form_data(request)
    expected = str(request.session.get(LOGIN_CSRF, ""))
    sent = form.get("csrf", "")
    role = form.get("role", "")
    name = form.get("name", "").strip().lower()
    next_path = _console_next(form.get("next"))
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return RedirectResponse(f"{PREFIX}/login?error=csrf", status_code=303)
    if role not in {r.value for r in ROLES} or (name and not _NAME.fullmatch(name)):
        return RedirectResponse(f"{PREFIX}/login?error=input", status_code=303)
    settings: Settings = request.app.state.settings
    subject = name or f"dev-{role}"
    token = dev.mint(
        subject=subject, roles=[role], lifetime_seconds=settings.session_max_age_seconds
    )
    return start_session(request, token, subject, next_path)


@router.post("/logout")
async def logout(request: Request, principal: Authenticated) -> Response:
    """Ends the console session (the CSRF header is checked by authentication)."""
    request.session.clear()
    response = Response(status_code=204, headers={"HX-Redirect": f"{PREFIX}/login"})
    response.delete_cookie(CSRF_COOKIE)
    return response


@router.get("/lang", dependencies=[Public])
async def switch_language(
    request: Request,
    to: str,
    next_path: Annotated[str | None, Query(alias="next")] = None,
) -> Response:
    response = RedirectResponse(_console_next(next_path), status_code=303)
    response.set_cookie(
        LANG_COOKIE, language(to), max_age=365 * 24 * 3600, samesite="lax", httponly=True
    )
    return response
