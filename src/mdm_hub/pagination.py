"""Opaque cursors for keyset pagination, and the query parameters of a listing in id order."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel

from mdm_hub.context import settings_of
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


T = TypeVar("T")
P = TypeVar("P", bound=BaseModel)


def cut_page(rows: Sequence[T], limit: int) -> tuple[list[T], T | None]:
    """``rows`` read as ``limit + 1``: the page, and its last row when more follow (else None)."""
    page = list(rows[:limit])
    return page, page[-1] if len(rows) > limit else None


def id_cursor(last_id: int | None) -> str | None:
    """The cursor of the page after the one ending at ``last_id`` (None: no page follows)."""
    return encode_cursor({"id": last_id}) if last_id is not None else None


@dataclass(frozen=True)
class IdPage:
    """One page of a listing in id order, as asked: the cursor (None: from the start), the size."""

    cursor: str | None
    limit: int

    @property
    def position(self) -> int | None:
        """The id the cursor carries (a cursor that is not ours: 422 naming ``cursor``)."""
        if not self.cursor:
            return None
        position: int = decode_cursor(self.cursor, "cursor", {"id": int})["id"]
        return position

    def answer(self, page_type: type[P], rows: Sequence[Mapping[str, Any]]) -> P:
        """``page_type`` (``items``, ``next_cursor``) for ``rows`` read as ``limit + 1``."""
        items, last = cut_page(rows, self.limit)
        return page_type.model_validate(
            {"items": items, "next_cursor": id_cursor(last["id"] if last else None)}
        )


def id_page(cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> IdPage:
    return IdPage(cursor, limit)


def configured_id_page(request: Request, page: Annotated[PageQuery, Depends()]) -> IdPage:
    """The page size the client asks for, else the configured default; at most the maximum."""
    return IdPage(page.cursor, page.size(settings_of(request)))


# ``cursor`` and ``limit`` (1-500, default 100) of a listing in id order.
IdPaging = Annotated[IdPage, Depends(id_page)]
# The same with the configured default page size (``default_page_size``, ``max_page_size``).
ConfiguredIdPaging = Annotated[IdPage, Depends(configured_id_page)]
