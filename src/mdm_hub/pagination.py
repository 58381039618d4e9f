"""Opaque cursors for keyset pagination."""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Query

from mdm_hub.errors import FieldProblem, validation_problem
from mdm_hub.settings import Settings
from mdm_hub.types import BIGINT_MAX


@dataclass
class PageQuery:
    """A list's ``cursor`` and ``limit`` query parameters (a FastAPI dependency: ``Depends()``),
    the page size defaulting to MDM_DEFAULT_PAGE_SIZE."""

    cursor: str | None = None
    limit: Annotated[int | None, Query(ge=1, le=500)] = None

    def size(self, settings: Settings) -> int:
        """``limit``, else MDM_DEFAULT_PAGE_SIZE; at most MDM_MAX_PAGE_SIZE."""
        return min(self.limit or settings.default_page_size, settings.max_page_size)


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
            item = value.get(name)
            if not isinstance(item, kind) or isinstance(item, bool):
                raise ValueError(f"missing {name}")
            # What the database could not take must not get that far (a forged cursor).
            if isinstance(item, int) and not -BIGINT_MAX <= item <= BIGINT_MAX:
                raise ValueError(f"{name} out of range")
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"{name} not finite")
            if isinstance(item, str) and "\x00" in item:
                raise ValueError(f"{name} holds NUL")
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
