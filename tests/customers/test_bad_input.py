"""Every bad input gets a clear problem+json answer naming the field, and nothing is stored."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.helpers import corporation, errors_by_field

URL = "/v1/sources/crm/records/BAD-1"


async def _nothing_stored(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/customers")).json()["items"] == []
    assert (await client.get("/v1/audit")).json()["items"] == []
    assert (await client.get("/v1/sources/crm/records/BAD-1")).status_code == 404


def _problem(response: httpx.Response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert body["title"]
    return body


async def test_malformed_json(client: httpx.AsyncClient) -> None:
    response = await client.put(
        URL, content=b'{"kind": "corporation",', headers={"content-type": "application/json"}
    )
    _problem(response, 400, "malformed-json")
    await _nothing_stored(client)


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({"name": "x"}, "/kind", "missing"),
        (corporation(kind="company"), "/kind", "enum"),
        (corporation(phones="03-1234-5678"), "/phones", "list_type"),
        (corporation(colour="red"), "/colour", "extra_forbidden"),
        (corporation(billing={"closing_day": 32}), "/billing/closing_day", "day_of_month"),
        (
            corporation(transactions={"annual_amount": -1}),
            "/transactions/annual_amount",
            "greater_than_equal",
        ),
        (
            corporation(company_profile={"employees": "many"}),
            "/company_profile/employees",
            "int_parsing",
        ),
        (corporation(name="x" * 201), "/name", "string_too_long"),
    ],
)
async def test_schema_errors_name_the_field(
    client: httpx.AsyncClient, payload: dict, field: str, code: str
) -> None:
    body = _problem(await client.put(URL, json=payload), 422, "validation-error")
    assert errors_by_field(body).get(field) == code, body
    await _nothing_stored(client)


async def test_normalization_errors_name_every_field(client: httpx.AsyncClient) -> None:
    payload = corporation(
        corporate_number="7000012050003",
        phones=[{"number": "03-1234-5678"}, {"number": "not a phone"}],
        emails=[{"address": "nobody@"}],
    )
    body = _problem(await client.put(URL, json=payload), 422, "validation-error")
    fields = set(errors_by_field(body))
    assert {"/corporate_number", "/phones/1/number", "/emails/0/address"} <= fields
    await _nothing_stored(client)


async def test_unknown_custom_field(client: httpx.AsyncClient) -> None:
    body = _problem(
        await client.put(URL, json=corporation(custom_fields={"credit": 5})),
        422,
        "validation-error",
    )
    assert errors_by_field(body) == {"/custom_fields/credit": "unknown_custom_field"}
    await _nothing_stored(client)


async def test_wrong_media_type(client: httpx.AsyncClient) -> None:
    response = await client.put(
        URL, content=json.dumps(corporation()).encode(), headers={"content-type": "text/plain"}
    )
    _problem(response, 415, "unsupported-media-type")
    await _nothing_stored(client)


async def test_oversized_body(client: httpx.AsyncClient) -> None:
    payload = corporation(custom_fields={"x": "y" * 70_000})
    _problem(await client.put(URL, json=payload), 413, "payload-too-large")
    await _nothing_stored(client)


async def test_bad_path_and_query_parameters(client: httpx.AsyncClient) -> None:
    body = _problem(
        await client.put("/v1/sources/CRM!/records/1", json=corporation()), 422, "validation-error"
    )
    assert body["errors"][0]["location"] == "path"
    _problem(await client.get("/v1/customers/not-a-uuid"), 422, "validation-error")
    _problem(await client.get("/v1/customers", params={"limit": "0"}), 422, "validation-error")
    _problem(await client.get("/v1/customers", params={"status": "gone"}), 422, "validation-error")


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    _problem(await client.get("/v1/nothing-here"), 404, "not-found")
    _problem(await client.post("/v1/customers", json={}), 405, "method-not-allowed")
    # Three routes serve /v1/customers/{id}: the Allow header names every method (RFC 9110).
    answer = await client.put(f"/v1/customers/{uuid.uuid4()}", json={})
    _problem(answer, 405, "method-not-allowed")
    assert answer.headers["Allow"] == "DELETE, GET, HEAD, PATCH"


async def test_an_unknown_problem_type_is_a_documented_404(client: httpx.AsyncClient) -> None:
    _problem(await client.get("/problems/no-such-problem"), 404, "not-found")


async def test_problem_types_are_documented(client: httpx.AsyncClient) -> None:
    response = await client.get("/problems/validation-error")
    assert response.status_code == 200
    assert response.json()["status"] == 422


async def test_nul_characters_are_refused_not_a_500(client: httpx.AsyncClient) -> None:
    """PostgreSQL cannot store NUL in text or jsonb: refuse it with the field named."""
    body = _problem(
        await client.put(URL, json=corporation(name="株式会社\u0000ABC")), 422, "validation-error"
    )
    assert errors_by_field(body) == {"/name": "nul_character"}
    custom = await client.put(URL, json=corporation(custom_fields={"a\u0000": 1}))
    assert custom.status_code == 422
    _problem(
        await client.put("/v1/sources/crm/records/a%00b", json=corporation()), 400, "bad-request"
    )
    _problem(
        await client.get("/v1/customers", params={"name_prefix": "\u0000"}), 400, "bad-request"
    )
    await _nothing_stored(client)
