"""The per-source-system figures of GET /v1/quality/kpis (completeness of each field and no
transaction for N days, counted over that system's source records by their own values) and the
customers their links list (GET /v1/customers?source_system=…&source_missing=… /
source_no_transaction_days=…): the same count, also when a customer's golden record and one of
its source records disagree — where the golden-record filters (missing, no_transaction_days)
count something else."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import httpx
import pytest

from mdm_hub.customers.models import MISSING
from tests.helpers import PERSON, corporation, errors_by_field, listed_codes, other_corporation


async def _put(client: httpx.AsyncClient, system: str, source_id: str, body: Any) -> str:
    answer = await client.put(f"/v1/sources/{system}/records/{source_id}", json=body)
    assert answer.status_code in (200, 201), answer.text
    return str(answer.json()["customer"]["customer_code"])


async def _kpis(client: httpx.AsyncClient) -> dict[str, Any]:
    answer = await client.get("/v1/quality/kpis")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def _check_every_figure(client: httpx.AsyncClient) -> dict[str, Any]:
    """Each per-system figure (records without each field; no transaction) equals the number
    of customers its link lists."""
    kpis = await _kpis(client)
    days = kpis["parameters"]["no_transaction_days"]
    for system, slices in kpis["completeness_by_system"].items():
        records = slices["all"]["records"]
        for field, figure in slices["all"]["fields"].items():
            listed = await listed_codes(client, source_system=system, source_missing=field)
            assert len(listed) == records - figure["filled"], (system, field)
        old = kpis["freshness_by_system"][system]["no_transaction"]
        listed = await listed_codes(client, source_system=system, source_no_transaction_days=days)
        assert len(listed) == old, system
    return kpis


async def test_each_per_system_figure_lists_as_many_customers(client: httpx.AsyncClient) -> None:
    long_ago = (dt.date.today() - dt.timedelta(days=2000)).isoformat()
    recent = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    # One record per customer per system.
    full = await _put(client, "crm", "C-1", corporation())
    no_phone = await _put(client, "crm", "C-2", other_corporation(2, phones=[]))
    stale = await _put(
        client, "web", "W-3", other_corporation(3, transactions={"last_transaction_on": long_ago})
    )
    person = await _put(client, "web", "W-4", PERSON)
    kpis = await _check_every_figure(client)
    assert kpis["completeness_by_system"]["crm"]["all"]["fields"]["phone"]["filled"] == 1
    assert await listed_codes(client, source_system="crm", source_missing="phone") == {no_phone}
    assert await listed_codes(client, source_system="web", source_missing="corporate_number") == {
        stale,
        person,
    }
    days = kpis["parameters"]["no_transaction_days"]
    assert await listed_codes(client, source_system="web", source_no_transaction_days=days) == {
        stale
    }
    # Several fields: the record lacks all of them; with both conditions, one record has both.
    assert await listed_codes(
        client, source_system="web", source_missing="corporate_number,birth_date"
    ) == {stale}
    assert await listed_codes(
        client,
        source_system="web",
        source_missing=["corporate_number"],
        source_no_transaction_days=days,
    ) == {stale}
    assert await listed_codes(client, source_system="crm", source_missing="corporate_number") == {
        no_phone
    }

    # A customer with records from two systems whose values differ from its golden record: web
    # sends no phone and an old 最終取引日, crm a phone and a recent one.
    web_body = corporation(phones=[], transactions={"last_transaction_on": long_ago})
    merged = await _put(client, "web", "W-1", web_body)
    assert merged == full
    crm_body = corporation(transactions={"last_transaction_on": recent})
    assert await _put(client, "crm", "C-1", crm_body) == full
    kpis = await _check_every_figure(client)
    web = kpis["completeness_by_system"]["web"]["all"]
    assert web["records"] - web["fields"]["phone"]["filled"] == 1
    assert await listed_codes(client, source_system="web", source_missing="phone") == {full}
    # The golden-record filter (what the per-system link used before) finds no one: the figure
    # counts the web record's own phone.
    assert await listed_codes(client, source_system="web", missing="phone") == set()
    assert await listed_codes(client, source_system="web", source_no_transaction_days=days) == {
        stale,
        full,
    }
    assert await listed_codes(client, source_system="crm", source_no_transaction_days=days) == set()
    assert set(MISSING) == set(web["fields"]), "the filter takes every field the figure has"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"source_missing": "phone"}, "source_system"),
        ({"source_no_transaction_days": 30}, "source_system"),
        ({"source_system": "crm", "source_missing": "phone,fax"}, "source_missing"),
        ({"source_system": "crm", "source_missing": "nothing"}, "source_missing"),
        ({"source_system": "crm", "source_no_transaction_days": -1}, "source_no_transaction_days"),
        ({"source_system": "crm", "source_no_transaction_days": "x"}, "source_no_transaction_days"),
    ],
)
async def test_bad_source_value_filters_are_named(
    client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    answer = await client.get("/v1/customers", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert field in errors_by_field(answer.json())


async def test_the_per_system_not_written_figure_lists_its_records(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """'Not written for N days' per system counts that system's source records by their own
    write time; its link (source_not_updated_days) lists their customers, also when another
    system wrote the customer since — where not_updated_days (the golden record's) does not."""
    shared = await _put(client, "web", "W-1", corporation())
    assert await _put(client, "crm", "C-1", corporation()) == shared
    alone = await _put(client, "web", "W-2", other_corporation(2))
    await _put(client, "web", "W-3", other_corporation(3))
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:  # web wrote W-1 and W-2 long ago; crm wrote the shared customer just now
        await conn.execute(
            "UPDATE source_records SET updated_at = now() - interval '400 days' "
            "WHERE system = 'web' AND source_id IN ('W-1', 'W-2')"
        )
        await conn.execute(
            "UPDATE customers SET updated_at = now() - interval '400 days' "
            "WHERE customer_code = $1",
            alone,
        )
    finally:
        await conn.close()
    kpis = await _kpis(client)
    days = kpis["parameters"]["stale_days"]
    for system, figures in kpis["freshness_by_system"].items():
        listed = await listed_codes(client, source_system=system, source_not_updated_days=days)
        assert len(listed) == figures["not_updated"], system
    assert kpis["freshness_by_system"]["web"]["not_updated"] == 2
    assert await listed_codes(client, source_system="web", source_not_updated_days=days) == {
        shared,
        alone,
    }
    assert await listed_codes(client, source_system="web", not_updated_days=days) == {alone}
    bad = await client.get("/v1/customers", params={"source_not_updated_days": 30})
    assert bad.status_code == 422
    assert "source_system" in errors_by_field(bad.json())
