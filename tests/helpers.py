"""Payloads and small helpers shared by API tests."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from mdm_hub.context import Actor
from mdm_hub.record import CustomerIn
from mdm_hub.sources.service import write_batch

CORPORATION: dict[str, Any] = {
    "kind": "corporation",
    "name": "株式会社ABC商事",
    "name_kana": "エービーシーショウジ",
    "corporate_number": "7000012050002",
    "addresses": [
        {
            "purpose": "head_office",
            "postal_code": "100-0005",
            "prefecture": "東京都",
            "city": "千代田区",
            "town": "丸の内",
            "street": "1-2-3",
            "building": "丸の内ビル5F",
        }
    ],
    "phones": [{"number": "03-1234-5678"}],
    "emails": [{"address": "info@abc-shoji.example.jp"}],
    "billing": {"closing_day": "end_of_month", "payment_month_offset": 1, "payment_day": 25},
    "transactions": {"started_on": "2020-04-01", "annual_amount": 12_000_000},
    "classification": {"industry": "卸売業", "region": "関東"},
    "company_profile": {"employees": 120, "capital": 50_000_000, "established_on": "1998-06-01"},
}

PERSON: dict[str, Any] = {
    "kind": "person",
    "person_name": {"family_name": "山田", "given_name": "太郎"},
    "birth_date": "1980-05-05",
    "phones": [{"number": "090-1234-5678", "purpose": "mobile"}],
    "emails": [{"address": "taro.yamada@example.jp"}],
}


def corporation(**changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(CORPORATION)
    payload.update(changes)
    return payload


def errors_by_field(problem: dict[str, Any]) -> dict[str, str]:
    return {e["field"]: e["code"] for e in problem.get("errors", [])}


def other_corporation(i: int, **changes: Any) -> dict[str, Any]:
    """A corporation that shares nothing with CORPORATION or with other_corporation(j != i)."""
    payload = corporation(
        name=f"株式会社テスト{i:03d}工業",
        name_kana=None,
        corporate_number=None,
        addresses=[
            {
                "postal_code": "530-0001",
                "prefecture": "大阪府",
                "city": "大阪市北区",
                "town": "梅田",
                "street": f"{i % 3 + 1}-{i + 1}-{i % 7 + 1}",
            }
        ],
        phones=[{"number": f"06-{6000 + i:04d}-{1000 + i:04d}"}],
        emails=[{"address": f"contact{i}@test{i}.example.jp"}],
    )
    payload.pop("name_kana")
    payload.update(changes)
    return payload


async def listed_codes(client: httpx.AsyncClient, **params: Any) -> set[str]:
    """Every customer code GET /v1/customers lists with these filters, page after page (two to
    a page, so that the cursor carries the filters too)."""
    codes: set[str] = set()
    cursor = None
    while True:
        query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        answer = await client.get("/v1/customers", params=query)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        codes |= {c["customer_code"] for c in page["items"]}
        cursor = page["next_cursor"]
        if not cursor:
            return codes


async def batch_outcomes(
    app: Any, system: str, items: list[tuple[str, dict[str, Any]]]
) -> list[str]:
    """``sources.service.write_batch`` of ``(source_id, payload)`` items in one transaction, as
    the import and the batch endpoint call it; the outcome of each item."""
    async with app.state.sessionmaker() as session, session.begin():
        done = await write_batch(
            session,
            app.state.settings,
            Actor(subject="tester"),
            system,
            [(s, CustomerIn.model_validate(p)) for s, p in items],
        )
    return [d.outcome for d in done]
