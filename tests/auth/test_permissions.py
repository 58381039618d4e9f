"""Every route declares a permission; each role and scope gets exactly what the table grants."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from mdm_hub.auth.roles import (
    AUTHENTICATED,
    PUBLIC,
    ROLE_PERMISSIONS,
    SCOPE_PERMISSIONS,
    Permission,
    Role,
    declared_permission,
)

# Routes anyone may call, on purpose: probes, metrics, problem types, sign-in, issuer keys.
EXPECTED_PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/problems/{slug}"),
    ("GET", "/auth/openid-configuration"),
    ("GET", "/auth/login"),
    ("GET", "/auth/callback"),
    ("POST", "/auth/logout"),
    ("GET", "/dev-issuer/.well-known/openid-configuration"),
    ("GET", "/dev-issuer/jwks"),
    # The console's sign-in page (role picker with the development issuer) and language switch.
    ("GET", "/console/login"),
    ("POST", "/console/login"),
    ("GET", "/console/lang"),
}
# Starlette routes FastAPI adds for the docs (no APIRoute, no dependencies): public too.
DOCS_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
# The console's vendored script and styles (a StaticFiles mount): public.
STATIC_MOUNTS = {"/console/static"}


def _operations(app: Any) -> Iterator[tuple[str, RouteContext]]:
    """Every (method, route) of the app, with the dependencies its routers added."""
    count = 0
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute):
            for method in sorted(route.methods - {"HEAD"}):
                count += 1
                yield method, route
    assert count > 30, "the app's routes were not found"


def _url(route: RouteContext) -> str:
    path = route.path_format
    for param in route.dependant.path_params:
        annotation = param.field_info.annotation
        value = (
            str(uuid.uuid4())
            if annotation is uuid.UUID
            else "1"
            if annotation is int
            else "not-found"
            if param.name == "slug"
            else "crm"
            if param.name == "system"
            else "abc"
        )
        path = path.replace("{" + param.name + "}", value)
    return path


def test_every_route_declares_its_permission(app: Any) -> None:
    document = app.openapi()
    declared = {(m, r.path): declared_permission(r.dependant) for m, r in _operations(app)}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            permission = declared.get((method.upper(), path))
            assert permission is not None, f"{method.upper()} {path} declares no permission"
            if permission != PUBLIC:
                scopes = [] if permission == AUTHENTICATED else [permission]
                assert operation["security"] == [{"bearer": scopes}, {"oidc": scopes}], path
                assert {"401", "403"} <= set(operation["responses"]) or path == "/auth/me"
    missing = [key for key, permission in declared.items() if permission is None]
    assert not missing, f"routes without a declared permission: {missing}"
    public = {key for key, permission in declared.items() if permission == PUBLIC}
    assert public == EXPECTED_PUBLIC
    known = {p.value for p in Permission} | {PUBLIC, AUTHENTICATED}
    assert set(declared.values()) <= known
    others = {
        r.path
        for r in iter_route_contexts(app.routes)
        if not isinstance(r.original_route, APIRoute)
    }
    assert others <= DOCS_ROUTES | STATIC_MOUNTS, f"routes outside FastAPI's dependencies: {others}"


# The console's 個人情報 pages mirror the privacy API: privacy:manage, which only 管理者 holds.
PRIVACY_CONSOLE_ROUTES = {
    ("POST", "/console/customers/{customer_id}/erase"),
    ("GET", "/console/customers/{customer_id}/disclosure"),
    ("GET", "/console/access-log"),
}


def test_console_privacy_pages_need_privacy_manage(app: Any) -> None:
    declared = {(m, r.path): declared_permission(r.dependant) for m, r in _operations(app)}
    for key in PRIVACY_CONSOLE_ROUTES:
        assert declared[key] == Permission.privacy_manage, key
    holders = {r for r in Role if Permission.privacy_manage in ROLE_PERMISSIONS[r]}
    assert holders == {Role.administrator}


PRINCIPALS: list[tuple[str, dict[str, Any], frozenset[Permission]]] = [
    *((f"role {r.value}", {"roles": [r.value]}, ROLE_PERMISSIONS[r]) for r in Role),
    *(
        (f"scope {s}", {"roles": [], "scopes": [s]}, permissions)
        for s, permissions in SCOPE_PERMISSIONS.items()
    ),
    ("no grants", {"roles": []}, frozenset()),
]


@pytest.mark.parametrize(
    ("name", "grants", "permissions"), PRINCIPALS, ids=[p[0] for p in PRINCIPALS]
)
async def test_role_route_matrix(
    app: Any,
    client_as: Callable[..., httpx.AsyncClient],
    name: str,
    grants: dict[str, Any],
    permissions: frozenset[Permission],
) -> None:
    wrong: list[str] = []
    statuses: list[int] = []
    async with client_as(**grants) as client:
        for method, route in _operations(app):
            required = declared_permission(route.dependant)
            body = {} if method in ("POST", "PUT", "PATCH") else None
            response = await client.request(method, _url(route), json=body)
            allowed = required in (PUBLIC, AUTHENTICATED) or required in permissions
            denied = response.status_code == 403
            statuses.append(response.status_code)
            if response.status_code == 401 or allowed == denied:
                wrong.append(f"{method} {route.path} ({required}): {response.status_code}")
    assert not wrong, f"{name}: " + "; ".join(wrong)
    assert (403 in statuses) == (permissions != frozenset(Permission))


async def test_every_protected_route_needs_a_token(
    app: Any, client_as: Callable[..., httpx.AsyncClient]
) -> None:
    async with client_as(None) as anonymous:
        for method, route in _operations(app):
            required = declared_permission(route.dependant)
            body = {} if method in ("POST", "PUT", "PATCH") else None
            response = await anonymous.request(method, _url(route), json=body)
            if required == PUBLIC:
                assert response.status_code != 401, f"{method} {route.path}"
            elif route.path.startswith("/console"):
                # A browser without a session is sent to the console's sign-in page.
                assert response.status_code == 303, f"{method} {route.path}"
                assert response.headers["location"].startswith("/console/login?next=")
            else:
                assert response.status_code == 401, f"{method} {route.path}"
                assert response.headers["www-authenticate"].startswith("Bearer")
