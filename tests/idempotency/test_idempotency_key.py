"""Idempotency-Key on POST: a retry answers what the first request answered and changes nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable

import asyncpg
import httpx

from mdm_hub.events.retention import prune
from mdm_hub.settings import Settings
from tests.conftest import _asyncpg_dsn
from tests.helpers import other_corporation

FIELD = {"key": "credit_limit", "label": "与信限度額", "type": "integer"}


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def _audit_actions(client: httpx.AsyncClient) -> list[str]:
    return [e["action"] for e in (await client.get("/v1/audit")).json()["items"]]


async def test_a_retried_post_replays_the_first_answer(client: httpx.AsyncClient) -> None:
    headers = _key()
    first = await client.post("/v1/custom-fields", json=FIELD, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await client.post("/v1/custom-fields", json=FIELD, headers=headers)
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == first.headers["content-type"]
    assert await _audit_actions(client) == ["custom_field.created"]
    # Without a key the same request is a new request: the field exists already.
    assert (await client.post("/v1/custom-fields", json=FIELD)).status_code == 409


async def test_unmerge_retried_with_its_key_moves_the_records_once(
    client: httpx.AsyncClient,
) -> None:
    a = (await client.put("/v1/sources/crm/records/A-1", json=other_corporation(1))).json()
    b = (await client.put("/v1/sources/billing/records/B-1", json=other_corporation(2))).json()
    a_id, b_id = a["customer"]["id"], b["customer"]["id"]
    merged = await client.post(
        f"/v1/customers/{a_id}/merge", json={"customer_ids": [b_id]}, headers=_key()
    )
    assert merged.status_code == 200, merged.text
    headers = _key()
    body = {"source_records": [{"system": "billing", "source_id": "B-1"}]}
    first = await client.post(f"/v1/customers/{a_id}/unmerge", json=body, headers=headers)
    assert first.status_code == 200, first.text
    retry = await client.post(f"/v1/customers/{a_id}/unmerge", json=body, headers=headers)
    assert (retry.status_code, retry.json()) == (200, first.json())
    assert retry.headers["idempotent-replayed"] == "true"
    unmerges = (await client.get("/v1/audit", params={"action": "customer.unmerged"})).json()
    assert len(unmerges["items"]) == 1
    # Without the key the second unmerge is a real one, and B-1 is no longer in a_id.
    assert (await client.post(f"/v1/customers/{a_id}/unmerge", json=body)).status_code == 422


async def test_the_same_key_for_another_request_is_a_422_naming_the_header(
    client: httpx.AsyncClient,
) -> None:
    headers = _key()
    assert (await client.post("/v1/custom-fields", json=FIELD, headers=headers)).status_code == 201
    other = {**FIELD, "key": "tier", "type": "string"}
    reused = await client.post("/v1/custom-fields", json=other, headers=headers)
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    problem = reused.json()
    assert problem["type"] == "/problems/idempotency-key-reused"
    assert problem["errors"] == [
        {
            "field": "Idempotency-Key",
            "location": "header",
            "code": "idempotency_key_reused",
            "message": "already used for a different request",
        }
    ]
    assert [d["key"] for d in (await client.get("/v1/custom-fields")).json()] == ["credit_limit"]


async def test_a_failed_request_stores_nothing_so_its_fix_runs(client: httpx.AsyncClient) -> None:
    headers = _key()
    bad = await client.post("/v1/custom-fields", json={**FIELD, "type": "colour"}, headers=headers)
    assert bad.status_code == 422
    fixed = await client.post("/v1/custom-fields", json=FIELD, headers=headers)
    assert fixed.status_code == 201, fixed.text
    assert "idempotent-replayed" not in fixed.headers


async def test_invalid_keys_are_422_naming_the_header(client: httpx.AsyncClient) -> None:
    for key in ("x" * 256, "has space", "ключ".encode()):
        response = await client.post(
            "/v1/custom-fields", json=FIELD, headers={"Idempotency-Key": key}
        )
        assert response.status_code == 422, key
        assert [(e["field"], e["location"]) for e in response.json()["errors"]] == [
            ("Idempotency-Key", "header")
        ]
    assert (await client.get("/v1/custom-fields")).json() == []


async def test_keys_belong_to_their_caller(
    client: httpx.AsyncClient, client_as: Callable[..., httpx.AsyncClient]
) -> None:
    headers = _key()
    assert (await client.post("/v1/custom-fields", json=FIELD, headers=headers)).status_code == 201
    async with client_as(subject="someone-else") as other:
        # Another caller's identical key is not a replay of the first caller's answer.
        response = await other.post("/v1/custom-fields", json=FIELD, headers=headers)
    assert response.status_code == 409
    assert "idempotent-replayed" not in response.headers


async def test_concurrent_retries_run_the_operation_once(client: httpx.AsyncClient) -> None:
    headers = _key()
    answers = await asyncio.gather(
        *(client.post("/v1/custom-fields", json=FIELD, headers=headers) for _ in range(8))
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.content for a in answers}) == 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 7
    assert await _audit_actions(client) == ["custom_field.created"]


async def test_answers_expire_and_are_pruned(client: httpx.AsyncClient, database_url: str) -> None:
    headers = _key()
    assert (await client.post("/v1/custom-fields", json=FIELD, headers=headers)).status_code == 201
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        await conn.execute(
            "UPDATE idempotency_keys SET created_at = $1",
            dt.datetime.now(dt.UTC) - dt.timedelta(hours=25),
        )
        # Past the 24 h default the key is free again: the request runs (and conflicts).
        assert (
            await client.post("/v1/custom-fields", json=FIELD, headers=headers)
        ).status_code == 409
        await conn.execute(
            "UPDATE idempotency_keys SET created_at = $1",
            dt.datetime.now(dt.UTC) - dt.timedelta(hours=25),
        )
        from mdm_hub.db import create_engine

        settings = Settings(database_url=database_url)
        engine = create_engine(database_url, settings)
        try:
            await prune(engine, settings)
        finally:
            await engine.dispose()
        assert await conn.fetchval("SELECT count(*) FROM idempotency_keys") == 0
    finally:
        await conn.close()


async def test_post_operations_document_the_header(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    posts = [
        (path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method == "post" and path.startswith("/v1/")
    ]
    assert posts
    for path, operation in posts:
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        assert "Idempotency-Key" in names, path
