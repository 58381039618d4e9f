"""The console's list paging (console/paging.py): the next page's query keeps the page's filters
and starts after the last id shown; a cursor the hub did not issue is a problem naming it."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from mdm_hub.console.paging import next_page, page_after
from mdm_hub.errors import ProblemError


def test_the_next_page_keeps_the_filters_and_starts_after_the_last_id() -> None:
    query = next_page({"status": "pending", "rule": None, "field": ""}, 42)
    assert query is not None
    params = dict(parse_qsl(query))
    assert set(params) == {"status", "cursor"}  # empty filters are left out
    assert params["status"] == "pending"
    assert page_after(params["cursor"]) == 42


def test_the_first_and_the_last_page() -> None:
    assert page_after(None) is None
    assert page_after("") is None
    assert next_page({"status": "pending"}, None) is None


@pytest.mark.parametrize("cursor", ["not-a-cursor", "eyJjb2RlIjogIkMxIn0"])  # {"code": "C1"}
def test_a_cursor_the_hub_did_not_issue_names_the_parameter(cursor: str) -> None:
    with pytest.raises(ProblemError) as caught:
        page_after(cursor)
    assert [e.field for e in caught.value.errors or []] == ["cursor"]
