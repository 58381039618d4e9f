"""Paging a console list by id: where a page starts and the query of the next one."""

# No ``from __future__ import annotations``: FastAPI reads the annotations of ``status_page``'s
# dependency, which name its closure's patterns.
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query

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


@dataclass(frozen=True)
class StatusPage:
    """The query of a console list of proposals or requests by status: the ``status`` shown,
    the id its page starts ``after`` (None: the first page) and the decision just ``done``
    (shown as a message)."""

    status: str
    after: int | None
    done: str | None


def status_page(statuses: tuple[str, ...], decisions: tuple[str, ...]) -> Any:
    """That query as a dependency: ``status`` one of ``statuses`` (the first by default),
    ``cursor``, ``done`` one of ``decisions``."""
    status_pattern = f"^({'|'.join(statuses)})$"
    done_pattern = f"^({'|'.join(decisions)})$"

    def query(
        status: Annotated[str, Query(pattern=status_pattern)] = statuses[0],
        cursor: str | None = None,
        done: Annotated[str | None, Query(pattern=done_pattern)] = None,
    ) -> StatusPage:
        return StatusPage(status, page_after(cursor), done)

    return Depends(query)
