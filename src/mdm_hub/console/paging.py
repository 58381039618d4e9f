"""Paging a console list by id: where a page starts and the query of the next one."""

from __future__ import annotations

from typing import Any

from mdm_hub.console.web import query_string
from mdm_hub.pagination import decode_cursor, encode_cursor


def page_after(cursor: str | None) -> int | None:
    """The id a list's page starts after (its ``cursor`` parameter); None on the first page."""
    return decode_cursor(cursor, "cursor", {"id": int})["id"] if cursor else None


def next_page(values: dict[str, Any], last: int | None) -> str | None:
    """The query of a list's next page: its filters and the cursor after ``last``, the id the
    page ended with (None: this was the last page)."""
    if last is None:
        return None
    return query_string({**values, "cursor": encode_cursor({"id": last})})
