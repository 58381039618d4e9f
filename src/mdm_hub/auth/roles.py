"""Roles, integration scopes and permissions; the dependencies every route declares.

A token's roles (from the configurable roles claim) and scopes (``scope``/``scp``) are mapped
by ``oidc_role_map`` to hub roles and integration scopes; each of those grants permissions
(the tables below). Every route declares what it needs with one of the ``Annotated``
dependencies at the bottom; the few public routes declare :data:`Public`.
"""

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OpenIdConnect

from mdm_hub.context import Actor
from mdm_hub.errors import ProblemError


class Permission(StrEnum):
    customers_read = "customers:read"  # customers, source records, dry-run match, change feed
    customers_write = "customers:write"  # source records in, customer edits
    customers_curate = "customers:curate"  # review queue, merge, unmerge, delete (steward)
    pii_read = "pii:read"  # persons' phones, emails, addresses, birth date unmasked
    config_read = "config:read"  # custom field definitions, rank rules
    config_manage = "config:manage"  # change them
    webhooks_read = "webhooks:read"  # endpoints and the delivery log
    webhooks_manage = "webhooks:manage"  # subscribe, change, rotate, replay, test
    audit_read = "audit:read"  # the audit log
    privacy_manage = "privacy:manage"  # erasure, disclosure, the access log, held writes


P = Permission


class Role(StrEnum):
    administrator = "administrator"  # データ管理者
    steward = "steward"  # merge/unmerge/review
    data_entry = "data_entry"  # 入力者
    viewer = "viewer"  # 利用者


ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    Role.administrator: frozenset(Permission),
    Role.steward: frozenset(
        {
            P.customers_read,
            P.customers_write,
            P.customers_curate,
            P.pii_read,
            P.config_read,
            P.webhooks_read,
            P.audit_read,
        }
    ),
    Role.data_entry: frozenset({P.customers_read, P.customers_write, P.pii_read, P.config_read}),
    Role.viewer: frozenset({P.customers_read, P.config_read}),
}

# Integration clients (client credentials) get scopes rather than roles.
SCOPE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "customers:read": frozenset({P.customers_read, P.config_read}),
    "customers:write": frozenset({P.customers_write, P.config_read}),
    "webhooks:manage": frozenset({P.webhooks_read, P.webhooks_manage}),
    "pii:read": frozenset({P.pii_read}),
}

GRANTS: dict[str, frozenset[Permission]] = {**ROLE_PERMISSIONS, **SCOPE_PERMISSIONS}


@dataclass(frozen=True)
class Principal(Actor):
    """Who is calling: the audit log's actor, with what the token grants."""

    roles: frozenset[str] = frozenset()
    permissions: frozenset[Permission] = frozenset()
    via: str = "bearer"  # bearer | session

    def can(self, permission: Permission | str) -> bool:
        return permission in self.permissions


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def idp_values(claims: dict[str, Any], roles_claim: str) -> set[str]:
    """What the token says about the caller, as keys of ``oidc_role_map``."""
    values = set(_strings(_claim(claims, roles_claim)))
    values |= set(_strings(claims.get("scope"))) | set(_strings(claims.get("scp")))
    if isinstance(claims.get("sub"), str):
        values.add(f"sub:{claims['sub']}")
    if isinstance(claims.get("email"), str) and claims.get("email_verified") is not False:
        values.add(f"email:{claims['email'].lower()}")
    if isinstance(claims.get("hd"), str):
        values.add(f"hd:{claims['hd']}")
    return values


def grants_of(values: Iterable[str], role_map: dict[str, list[str]]) -> set[str]:
    grants: set[str] = set()
    for value in values:
        grants.update(g for g in role_map.get(value, ()) if g in GRANTS)
    return grants


def principal_from_claims(
    claims: dict[str, Any],
    *,
    roles_claim: str,
    role_map: dict[str, list[str]],
    request_id: str | None = None,
    via: str = "bearer",
) -> Principal:
    client_id = next(
        # RFC 9068 client_id; azp (OIDC, Keycloak, Entra v2); appid (Entra v1); cid (Okta)
        (claims[c] for c in ("client_id", "azp", "appid", "cid") if isinstance(claims.get(c), str)),
        None,
    )
    subject = claims.get("sub") if isinstance(claims.get("sub"), str) else client_id
    grants = grants_of(idp_values(claims, roles_claim), role_map)
    permissions: set[Permission] = set()
    for grant in grants:
        permissions |= GRANTS[grant]
    return Principal(
        subject=subject or "unknown",
        client_id=client_id,
        request_id=request_id,
        roles=frozenset(grants),
        permissions=frozenset(permissions),
        via=via,
    )


# ---------------------------------------------------------------------------------------------
# Dependencies
# ---------------------------------------------------------------------------------------------

bearer_scheme = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="JWT",
    description="An access token (JWT) from the configured OIDC issuer; with the built-in "
    "development issuer, the token in `.data/admin-token`.",
    auto_error=False,
)
oidc_scheme = OpenIdConnect(
    openIdConnectUrl="/auth/openid-configuration",
    scheme_name="oidc",
    description="Sign in at the company IdP (authorization code + PKCE).",
    auto_error=False,
)


async def authenticate(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    _oidc: Annotated[str | None, Security(oidc_scheme)],
) -> Principal:
    """The caller, from a bearer token or the console session; 401 otherwise."""
    authenticator: Callable[[Request], Awaitable[Principal]] = request.app.state.authenticate
    return await authenticator(request)


def _declare(dependency: Callable[..., Any], permission: str) -> None:
    """Mark a dependency with the permission it checks (read by :func:`declared_permission`).

    FastAPI takes the dependency as a plain function, so the mark is a function attribute."""
    dependency.__dict__["permission"] = permission


def require(permission: Permission | None) -> Callable[..., Awaitable[Principal]]:
    """A dependency that answers 403 unless the caller holds ``permission``.

    ``None``: any authenticated caller. The permission is also listed in the route's OpenAPI
    security requirement.
    """
    scopes = [permission.value] if permission else []

    async def dependency(
        principal: Annotated[Principal, Security(authenticate, scopes=scopes)],
    ) -> Principal:
        if permission is not None and not principal.can(permission):
            raise ProblemError(
                "forbidden",
                f"This call needs the permission {permission.value}",
                headers={
                    "WWW-Authenticate": f'Bearer error="insufficient_scope", '
                    f'scope="{permission.value}"'
                },
                extra={"required_permission": permission.value},
            )
        return principal

    _declare(dependency, permission.value if permission else AUTHENTICATED)
    dependency.__name__ = f"require_{permission.value if permission else 'authenticated'}"
    return dependency


AUTHENTICATED = "authenticated"
PUBLIC = "public"


async def public() -> None:
    """Marks a route as deliberately open to anyone (probes, metrics, problem types, login)."""


_declare(public, PUBLIC)

Public = Depends(public)

Authenticated = Annotated[Principal, Depends(require(None))]
CustomersRead = Annotated[Principal, Depends(require(P.customers_read))]
CustomersWrite = Annotated[Principal, Depends(require(P.customers_write))]
CustomersCurate = Annotated[Principal, Depends(require(P.customers_curate))]
ConfigRead = Annotated[Principal, Depends(require(P.config_read))]
ConfigManage = Annotated[Principal, Depends(require(P.config_manage))]
WebhooksRead = Annotated[Principal, Depends(require(P.webhooks_read))]
WebhooksManage = Annotated[Principal, Depends(require(P.webhooks_manage))]
AuditRead = Annotated[Principal, Depends(require(P.audit_read))]
PrivacyManage = Annotated[Principal, Depends(require(P.privacy_manage))]


def declared_permission(dependant: Any) -> str | None:
    """The permission a route's dependency tree declares (for tests and docs)."""
    for dep in dependant.dependencies:
        found: str | None = getattr(dep.call, "permission", None)
        if found is not None:
            return found
        nested = declared_permission(dep)
        if nested is not None:
            return nested
    return None
