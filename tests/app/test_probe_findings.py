"""What a probe of the running hub found (issue 14): NUL characters, ids beyond bigint, source ids
that collide or carry control characters. Each answer is a 4xx problem naming the field."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from tests.helpers import corporation

TOO_BIG = str(2**63)


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


def _fields(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem.get("errors", [])}


async def test_nul_characters_in_configuration_and_webhooks_are_422(
    client: httpx.AsyncClient,
) -> None:
    bad = "A\x00B"
    answer = await client.put("/v1/rank-rules", json={"rules": [{"rank": bad, "min_amount": 1}]})
    assert _fields(_problem(answer, 422)) == {"/rules/0/rank"}
    field = {"key": "credit", "label": bad, "type": "string", "description": bad}
    answer = await client.post("/v1/custom-fields", json=field)
    assert _fields(_problem(answer, 422)) == {"/label", "/description"}
    answer = await client.post(
        "/v1/custom-fields",
        json={"key": "tier", "label": "Tier", "type": "enum", "allowed_values": ["a", bad]},
    )
    assert _fields(_problem(answer, 422)) == {"/allowed_values/1"}
    created = await client.post(
        "/v1/custom-fields", json={"key": "k", "label": "K", "type": "string"}
    )
    assert created.status_code == 201
    answer = await client.patch("/v1/custom-fields/k", json={"label": bad, "description": bad})
    assert _fields(_problem(answer, 422)) == {"/label", "/description"}

    url = "https://hooks.example.jp/h"
    answer = await client.post(
        "/v1/webhooks/endpoints", json={"url": url + "\x00", "description": bad}
    )
    assert _fields(_problem(answer, 422)) == {"/url", "/description"}
    endpoint = (await client.post("/v1/webhooks/endpoints", json={"url": url})).json()
    answer = await client.patch(
        f"/v1/webhooks/endpoints/{endpoint['id']}", json={"url": url + "\x00", "description": bad}
    )
    assert _fields(_problem(answer, 422)) == {"/url", "/description"}


async def test_ids_beyond_bigint_are_422(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        f"/v1/match-candidates/{TOO_BIG}/decision", json={"decision": "merge"}
    )
    assert _problem(answer, 422)["errors"][0]["field"] == "candidate_id"
    endpoint = (
        await client.post("/v1/webhooks/endpoints", json={"url": "https://h.example/"})
    ).json()
    base = f"/v1/webhooks/endpoints/{endpoint['id']}"
    answer = await client.get(f"{base}/deliveries", params={"delivery_id": TOO_BIG})
    assert _problem(answer, 422)["errors"][0]["field"] == "delivery_id"
    answer = await client.post(f"{base}/replay", json={"delivery_id": 2**63})
    assert _fields(_problem(answer, 422)) == {"/delivery_id"}
    # The largest bigint is an id like any other: not found, not an error.
    answer = await client.post(f"{base}/replay", json={"delivery_id": 2**63 - 1})
    assert answer.status_code in (404, 409), answer.text


async def test_source_ids_with_invalid_utf8_are_400_not_a_replacement_character(
    client: httpx.AsyncClient,
) -> None:
    # %FF and %FE both decoded to U+FFFD before: two ids, one record.
    for raw in ("%FF", "%FE", "A%C3", "%ED%A0%80"):
        answer = await client.put(f"/v1/sources/crm/records/{raw}", json=corporation())
        assert "UTF-8" in _problem(answer, 400)["detail"]
    assert (await client.get("/v1/customers")).json()["items"] == []
    # Percent-encoded UTF-8 is an id like any other.
    answer = await client.put("/v1/sources/crm/records/%E9%A1%A7%E5%AE%A2-1", json=corporation())
    assert answer.status_code == 201
    assert answer.json()["source_record"]["source_id"] == "顧客-1"


@pytest.mark.parametrize(
    "raw", ["A%0DB", "A%0AB", "%09", "A%1FB", "A%7FB", "A%C2%85B", "A%C2%9FB", "%20", "%20%20%20"]
)
async def test_source_ids_with_control_characters_or_blank_are_422(
    client: httpx.AsyncClient, raw: str
) -> None:
    answer = await client.put(f"/v1/sources/crm/records/{raw}", json=corporation())
    assert _problem(answer, 422)["errors"][0]["field"] == "source_id"
    answer = await client.get(f"/v1/sources/crm/records/{raw}")
    assert _problem(answer, 422)["errors"][0]["field"] == "source_id"


def test_the_source_id_rule_is_in_the_openapi_document() -> None:
    from mdm_hub.cli import openapi_document
    from mdm_hub.types import SOURCE_ID_PATTERN

    operation = openapi_document()["paths"]["/v1/sources/{system}/records/{source_id}"]["put"]
    (parameter,) = [p for p in operation["parameters"] if p["name"] == "source_id"]
    assert parameter["schema"]["pattern"] == SOURCE_ID_PATTERN
    assert "400" in operation["responses"]


async def test_a_database_error_logs_no_parameters_secrets_or_personal_data(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """The traceback of an unhandled database error printed the statement's parameters, a
    fresh whsec_ secret among them; PostgreSQL's own DETAIL quotes values too."""
    import asyncpg

    from mdm_hub.observability.logs import JsonFormatter, SafeTextFormatter
    from tests.conftest import _asyncpg_dsn

    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    await conn.execute(
        """
        CREATE FUNCTION refuse_endpoint() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'refused %', NEW.description USING DETAIL = 'secret ' || NEW.secret;
        END $$;
        CREATE TRIGGER refuse_endpoint BEFORE INSERT ON webhook_endpoints
          FOR EACH ROW EXECUTE FUNCTION refuse_endpoint();
        """
    )
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        answer = await client.post(
            "/v1/webhooks/endpoints",
            json={"url": "https://hooks.example.jp/h?token=tok-4711", "description": "山田太郎様"},
        )
    finally:
        root.removeHandler(handler)
        await conn.execute(
            "DROP TRIGGER refuse_endpoint ON webhook_endpoints; DROP FUNCTION refuse_endpoint()"
        )
        await conn.close()
    assert _problem(answer, 500)["type"] == "/problems/internal-error"
    assert any(r.exc_info for r in records), "the error was not logged"
    for formatter in (JsonFormatter(), SafeTextFormatter("%(message)s")):
        text = "\n".join(formatter.format(r) for r in records)
        assert "Traceback" in text and "sqlstate=P0001" in text
        for leaked in ("whsec_", "tok-4711", "山田太郎", "hooks.example.jp"):
            assert leaked not in text, f"{leaked} in the log:\n{text}"
