"""Single sign-on and access control: OIDC token validation, roles, masking, console login.

See docs/security.md.
"""
