"""Email addresses: syntax checked with ``email-validator`` (no DNS: a write must not depend on
the network), full-width characters and a ``mailto:`` prefix cleaned up, domain lower-cased.

The local part is kept as the source wrote it: RFC 5321 lets a mail server treat ``Taro`` and
``taro`` as different mailboxes, so lower-casing it could change where mail goes. (email-validator
itself lower-cases only the RFC 2142 role names such as ``info`` and ``postmaster``, which are
case-insensitive by definition.) Matching compares addresses case-insensitively instead.
"""

from __future__ import annotations

import re
from functools import lru_cache

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from .base import InvalidValue
from .text import normalize_text

_MAILTO = re.compile(r"^mailto:", re.IGNORECASE)


@lru_cache(maxsize=8192)
def clean_email(text: str) -> str:
    """The stored form of an email address; raises InvalidValue when its syntax is invalid or
    its domain cannot exist."""
    address, problem = check_email(text)
    if problem is not None:
        raise InvalidValue("invalid_email", f"{text!r} is not a valid email address: {problem}")
    return address


@lru_cache(maxsize=8192)
def check_email(text: str) -> tuple[str, str | None]:
    """(stored form, why its domain cannot exist or None); raises InvalidValue when the
    address is malformed.

    Malformed: no ``@``, an empty or illegal local part, illegal characters in the domain. A
    well-formed address whose domain cannot exist on the Internet (no dot, a numeric
    top-level domain, a special-use name such as ``localhost``, ``.test``, ``.invalid``) is
    returned with the reason: a plausibility finding. No DNS is asked.
    """
    candidate = _MAILTO.sub("", normalize_text(text)).strip("<>")
    try:
        result = validate_email(candidate, check_deliverability=False)
        return f"{result.local_part}@{result.domain}", None
    except EmailNotValidError as exc:
        reason = str(exc)
    try:
        result = validate_email(candidate, check_deliverability=False, globally_deliverable=False)
    except EmailNotValidError:
        local, at, domain = candidate.rpartition("@")
        folded = domain.lower().rstrip(".")
        if not (at and local and _special_use(folded)):
            raise InvalidValue(
                "invalid_email", f"{text!r} is not a valid email address: {reason}"
            ) from None
        try:
            result = validate_email(f"{local}@example.com", check_deliverability=False)
        except EmailNotValidError as exc:
            raise InvalidValue(
                "invalid_email", f"{text!r} is not a valid email address: {exc}"
            ) from None
        return f"{result.local_part}@{folded}", reason
    return f"{result.local_part}@{result.domain}", reason


def _special_use(domain: str) -> bool:
    return any(domain == d or domain.endswith(f".{d}") for d in SPECIAL_USE_DOMAIN_NAMES)


def normalize_email_address(text: str) -> str:
    """Stored form of an email address, also one whose domain cannot exist (stored with a
    finding); raises NormalizationError (field "") when malformed."""
    try:
        return check_email(text)[0]
    except InvalidValue as exc:
        raise exc.as_error() from None
