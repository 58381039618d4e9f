"""What a batch of the write path works out once: a new customer's golden record is its one
source record's normalized document (sealed once for both rows), and the pass that follows
the reading of the customers a batch joins computes again only the golden records of those
customers (``sources.decide``)."""

from __future__ import annotations

import copy
import datetime as dt
import re
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from mdm_hub.customers.survivorship import SourceView
from mdm_hub.sources import decide
from tests.helpers import PERSON, batch_outcomes, corporation, other_corporation

SEALED = re.compile(r'"enc:v1:[A-Za-z0-9]+:[A-Za-z0-9+/]*=*"')


async def test_a_new_customers_record_is_sealed_once_with_its_source_record(
    app: Any, database_url: str
) -> None:
    person = copy.deepcopy(PERSON)
    person["addresses"] = [
        {"postal_code": "100-0005", "prefecture": "東京都", "city": "千代田区", "town": "丸の内"}
    ]
    assert await batch_outcomes(app, "crm", [("P-1", person)]) == ["new_customer"]
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        row = await conn.fetchrow(
            "SELECT s.normalized::text AS normalized, c.record::text AS record "
            "FROM source_records s JOIN customers c ON c.id = s.customer_id "
            "WHERE s.system = 'crm' AND s.source_id = 'P-1'"
        )
    finally:
        await conn.close()
    assert row is not None
    in_source = SEALED.findall(row["normalized"])
    # A person's name, birth date, phones, e-mails and addresses are sealed (lists whole):
    # the customer's record holds the very texts its source record holds (one sealing).
    assert len(in_source) >= 3
    assert sorted(SEALED.findall(row["record"])) == sorted(in_source)


async def test_the_second_pass_computes_only_the_golden_records_of_customers_read_since(
    app: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = await client.put("/v1/sources/billing/records/B-1", json=corporation())
    assert answer.status_code == 201, answer.text
    computed: list[list[str]] = []
    golden_columns_of = decide.golden_columns_of

    def counted(settings: Any, sources: Any, config: Any, *, only: Any = None) -> Any:
        computed.append([f"{s.system}/{s.source_id}" for s in sources])
        return golden_columns_of(settings, sources, config, only=only)

    monkeypatch.setattr(decide, "golden_columns_of", counted)
    items = [
        ("C-1", corporation()),  # joins billing's customer: read, then a second pass
        ("C-2", other_corporation(1)),
        ("C-3", other_corporation(2)),
        ("C-4", other_corporation(1)),  # joins C-2's new customer, in the batch
    ]
    assert await batch_outcomes(app, "crm", items) == [
        "merged",
        "new_customer",
        "new_customer",
        "merged",
    ]
    # One golden record per item: the first pass's three (C-1 waited for its customer) are
    # kept for the second, which computes only C-1's customer's.
    assert sorted(computed) == [
        ["billing/B-1", "crm/C-1"],
        ["crm/C-2"],
        ["crm/C-2", "crm/C-4"],
        ["crm/C-3"],
    ]


def _memo_with_item_at(at: dt.datetime) -> decide._Memo:
    memo = decide._Memo()
    view = SourceView("crm", "C-1", at, {"name": "A"})
    memo.items[0] = decide._Item(compared=None, stored={"name": "A"}, view=view)  # type: ignore[arg-type]
    memo.goldens[(id(view),)] = ([view], None, {})
    return memo


def test_the_batch_keeps_its_first_times_unless_a_customer_read_since_is_as_recent() -> None:
    """The batch's records are the most recent of the customers they join: a customer read
    after the first pass whose source record is not older than the batch's first time (another
    writer's, stored meanwhile) makes every item take a new time."""
    at = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
    older = [(None, [SourceView("billing", "B-1", at - dt.timedelta(microseconds=1), {})])]
    memo = _memo_with_item_at(at)
    memo.check_times(older)
    assert list(memo.items) == [0] and memo.goldens
    as_recent = [(uuid.uuid4(), [SourceView("billing", "B-2", at, {})])]
    memo.check_times(as_recent)
    assert not memo.items and not memo.goldens
