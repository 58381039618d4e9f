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

from email_validator import EmailNotValidError, validate_email

from .base import InvalidValue
from .text import normalize_text

_MAILTO = re.compile(r"^mailto:", re.IGNORECASE)


@lru_cache(maxsize=65536)
def clean_email(text: str) -> str:
    """The stored form of an email address; raises InvalidValue when its syntax is invalid."""
    candidate = _MAILTO.sub("", normalize_text(text)).strip("<>")
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidValue(
            "invalid_email", f"{text!r} is not a valid email address: {exc}"
        ) from None
    return f"{result.local_part}@{result.domain}"


def normalize_email_address(text: str) -> str:
    """Stored form of an email address; raises NormalizationError (field "")."""
    try:
        return clean_email(text)
    except InvalidValue as exc:
        raise exc.as_error() from None
