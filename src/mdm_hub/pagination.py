"""Opaque cursors for keyset pagination."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from mdm_hub.errors import FieldProblem, validation_problem


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, parameter: str, fields: dict[str, type]) -> dict[str, Any]:
    """Decode a cursor and check it carries ``fields`` with the given types."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(value, dict):
            raise ValueError("not an object")
        for name, kind in fields.items():
            if not isinstance(value.get(name), kind):
                raise ValueError(f"missing {name}")
        return value
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise validation_problem(
            [
                FieldProblem(
                    field=parameter,
                    location="query",
                    code="invalid_cursor",
                    message="Not a cursor this API issued; start again without it",
                )
            ]
        ) from exc
