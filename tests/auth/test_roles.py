"""Role mapping from the claims real IdPs send (docs/security.md's recipes), and token types."""

from __future__ import annotations

import pytest

from mdm_hub.auth.dev_issuer import DevIssuer, is_loopback
from mdm_hub.auth.oidc import TokenError, TokenValidator
from mdm_hub.auth.roles import Permission, principal_from_claims
from mdm_hub.settings import Settings


def _principal(claims: dict, roles_claim: str = "roles", role_map: dict | None = None):  # type: ignore[no-untyped-def]
    return principal_from_claims(
        claims,
        roles_claim=roles_claim,
        role_map=role_map if role_map is not None else Settings().oidc_role_map,
    )


def test_keycloak_realm_roles() -> None:
    claims = {"sub": "u1", "azp": "mdm-console", "realm_access": {"roles": ["steward", "x"]}}
    principal = _principal(claims, "realm_access.roles")
    assert principal.roles == {"steward"} and principal.client_id == "mdm-console"
    assert principal.can(Permission.customers_curate) and not principal.can("config:manage")


def test_entra_app_roles_and_groups() -> None:
    role_map = {"Hub.Admin": ["administrator"], "9f1c-group-guid": ["viewer"]}
    app = _principal({"sub": "s", "azp": "app-guid", "roles": ["Hub.Admin"]}, role_map=role_map)
    assert app.roles == {"administrator"} and app.client_id == "app-guid"
    user = _principal(
        {"sub": "s", "appid": "v1-app", "groups": ["9f1c-group-guid"]}, "groups", role_map
    )
    assert user.roles == {"viewer"} and user.client_id == "v1-app"


def test_okta_scp_list_and_cid() -> None:
    principal = _principal({"sub": "0oa1", "cid": "0oa1", "scp": ["customers:read", "pii:read"]})
    assert principal.client_id == "0oa1"
    assert principal.permissions == {
        Permission.customers_read,
        Permission.config_read,
        Permission.pii_read,
    }


def test_google_by_verified_email_and_domain() -> None:
    role_map = {"hd:example.co.jp": ["viewer"], "email:boss@example.co.jp": ["administrator"]}
    boss = {
        "sub": "1",
        "email": "Boss@example.co.jp",
        "email_verified": True,
        "hd": "example.co.jp",
    }
    assert _principal(boss, role_map=role_map).roles == {"viewer", "administrator"}
    unverified = {"sub": "2", "email": "boss@example.co.jp", "email_verified": False}
    assert _principal(unverified, role_map=role_map).roles == set()


def test_unknown_values_grant_nothing() -> None:
    principal = _principal({"sub": "x", "roles": ["root", "admin"], "scope": "openid email"})
    assert principal.roles == set() and principal.permissions == set()


@pytest.mark.parametrize(
    ("typ", "required", "accepted"),
    [
        ("at+jwt", True, True),
        ("application/at+jwt", True, True),
        ("application/okta-internal-at+jwt", True, True),
        ("JWT", False, True),
        ("JWT", True, False),
        (None, False, True),
        (None, True, False),
        ("logout+jwt", False, False),
        ("secevent+jwt", False, False),
        ("dpop+jwt", False, False),
    ],
)
async def test_token_types(typ: str | None, required: bool, accepted: bool) -> None:
    issuer = DevIssuer.ephemeral("http://hub.test/dev-issuer")
    settings = Settings(oidc_require_at_jwt=required)
    validator = TokenValidator(settings, issuer.issuer, static_jwks=issuer.jwks())
    token = issuer.mint()
    if typ != "at+jwt":
        from joserfc import jwt

        claims = jwt.decode(token, issuer.key).claims
        header = {"alg": "RS256", "kid": issuer.key.kid} | ({"typ": typ} if typ else {})
        token = jwt.encode(header, claims, issuer.key)
    if accepted:
        assert (await validator.validate(token))["sub"] == "dev-admin"
    else:
        with pytest.raises(TokenError):
            await validator.validate(token)


def test_symmetric_algorithms_cannot_be_configured() -> None:
    with pytest.raises(ValueError, match="HS256"):
        TokenValidator(Settings(oidc_algorithms=["RS256", "HS256"]), "http://issuer")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("hub.example.co.jp", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
