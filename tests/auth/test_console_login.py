"""Console sign-in end to end: authorization code + PKCE against oidc-provider, driven by httpx.

The browser's part is played by two httpx clients: one talks to the hub (in process), one to
the IdP (over real HTTP), each keeping its own cookies, following redirects by hand.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import httpx

from tests.auth.conftest import Provider
from tests.helpers import corporation


def _form_action(html: str) -> str:
    match = re.search(r'<form[^>]*action="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def _sign_in_at_idp(idp: Provider, authorize_url: str, login: str) -> str:
    """Follow the IdP's pages (login, consent) until it redirects back to the hub."""
    async with httpx.AsyncClient(timeout=10) as browser:
        url = authorize_url
        for _ in range(12):
            response = await browser.get(url)
            if response.status_code in (302, 303):
                url = urljoin(url, response.headers["location"])
                if url.startswith("http://hub.test/"):
                    return url
                continue
            assert response.status_code == 200, response.text
            action = urljoin(url, _form_action(response.text))
            form = (
                {"prompt": "login", "login": login, "password": "any"}
                if 'name="login"' in response.text
                else {"prompt": "consent"}
            )
            posted = await browser.post(action, data=form)
            assert posted.status_code in (302, 303), posted.text
            url = urljoin(action, posted.headers["location"])
            if url.startswith("http://hub.test/"):
                return url
    raise AssertionError("the IdP never redirected back")


async def test_console_login_with_pkce_session_csrf_and_logout(
    hub: httpx.AsyncClient, idp: Provider, oidc_app: Any
) -> None:
    start = await hub.get("/auth/login", params={"next": "/auth/me"})
    assert start.status_code == 302
    authorize = start.headers["location"]
    query = parse_qs(urlparse(authorize).query)
    assert authorize.startswith(f"{idp.issuer}/auth?")
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["response_type"] == ["code"] and query["state"][0] and query["nonce"][0]
    assert query["resource"] == ["urn:mdm-hub"]
    assert "code_verifier" not in authorize  # the verifier stays in the hub's session

    callback = await _sign_in_at_idp(idp, authorize, "alice.steward")
    assert callback.startswith("http://hub.test/auth/callback?")
    done = await hub.get(callback)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/auth/me"
    cookies = done.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("mdm_session="))
    assert "httponly" in session_cookie.lower() and "samesite=lax" in session_cookie.lower()
    assert "secure" not in session_cookie.lower()  # the hub is bound to loopback here
    assert any(c.startswith("mdm_csrf=") for c in cookies)

    me = await hub.get("/auth/me")
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["subject"] == "alice.steward" and body["via"] == "session"
    assert body["roles"] == ["steward"]
    assert "customers:curate" in body["permissions"]
    assert "config:manage" not in body["permissions"]
    csrf = body["csrf_token"]
    assert csrf and hub.cookies.get("mdm_csrf") == csrf

    # Reads with the cookie alone; changes need the CSRF header too.
    assert (await hub.get("/v1/customers")).status_code == 200
    no_csrf = await hub.put("/v1/sources/console/records/1", json=corporation())
    assert no_csrf.status_code == 403 and "X-CSRF-Token" in no_csrf.json()["detail"]
    wrong = await hub.put(
        "/v1/sources/console/records/1", json=corporation(), headers={"X-CSRF-Token": "x" * 43}
    )
    assert wrong.status_code == 403
    ok = await hub.put(
        "/v1/sources/console/records/1", json=corporation(), headers={"X-CSRF-Token": csrf}
    )
    assert ok.status_code == 201, ok.text
    # The steward role grants no configuration changes.
    assert (
        await hub.put("/v1/rank-rules", json={"rules": []}, headers={"X-CSRF-Token": csrf})
    ).status_code == 403

    assert (await hub.post("/auth/logout")).status_code == 403  # CSRF on logout too
    out = await hub.post("/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 200
    assert out.json()["end_session_url"].startswith(f"{idp.issuer}/session/end")
    assert (await hub.get("/auth/me")).status_code == 401


async def test_callback_rejects_a_forged_state(hub: httpx.AsyncClient, idp: Provider) -> None:
    start = await hub.get("/auth/login")
    callback = await _sign_in_at_idp(idp, start.headers["location"], "mallory.viewer")
    forged = re.sub(r"state=[^&]+", "state=forged", callback)
    response = await hub.get(forged)
    assert response.status_code == 401
    assert (await hub.get("/auth/me")).status_code == 401


async def test_login_only_returns_to_paths_on_the_hub(
    hub: httpx.AsyncClient, idp: Provider
) -> None:
    start = await hub.get("/auth/login", params={"next": "https://evil.example/"})
    callback = await _sign_in_at_idp(idp, start.headers["location"], "bob.viewer")
    done = await hub.get(callback)
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert (await hub.get("/auth/me")).json()["roles"] == ["viewer"]
