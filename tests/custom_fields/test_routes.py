"""Every route of /v1/custom-fields and /v1/rank-rules: answers, errors, permissions, races."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.helpers import corporation, errors_by_field, other_corporation

PROBLEM = "application/problem+json"


async def _define(client: httpx.AsyncClient, **definition: Any) -> dict[str, Any]:
    response = await client.post("/v1/custom-fields", json=definition)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    return dict(response.json())


# --- POST /v1/custom-fields ---------------------------------------------------------------


async def test_create_answers_the_definition(client: httpx.AsyncClient) -> None:
    created = await _define(
        client,
        key="tier",
        label="区分",
        type="enum",
        allowed_values=["gold", "silver"],
        required=True,
        description="営業区分",
    )
    assert {k: created[k] for k in ("key", "label", "type", "required", "allowed_values")} == {
        "key": "tier",
        "label": "区分",
        "type": "enum",
        "required": True,
        "allowed_values": ["gold", "silver"],
    }
    assert created["description"] == "営業区分"
    assert created["created_at"] == created["updated_at"]


def _field(**changes: Any) -> dict[str, Any]:
    return {"key": "k", "label": "x", "type": "string", **changes}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"label": "x", "type": "string"}, {"/key": "missing"}),
        (_field(key="9lives"), {"/key": "string_pattern_mismatch"}),
        (_field(key="a" * 64), {"/key": "string_pattern_mismatch"}),
        (_field(label=""), {"/label": "string_too_short"}),
        (_field(type="money"), {"/type": "literal_error"}),
        (_field(unit="円"), {"/unit": "extra_forbidden"}),
        (_field(required="sometimes"), {"/required": "bool_parsing"}),
        (_field(type="enum"), {"": "value_error"}),
        (_field(type="enum", allowed_values=[]), {"/allowed_values": "too_short"}),
        (_field(allowed_values=["a"]), {"": "value_error"}),
        (_field(description="x" * 2001), {"/description": "string_too_long"}),
    ],
)
async def test_create_refuses_bad_definitions(
    client: httpx.AsyncClient, body: dict[str, Any], errors: dict[str, str]
) -> None:
    problem = _problem(await client.post("/v1/custom-fields", json=body), 422)
    assert errors_by_field(problem) == errors
    assert (await client.get("/v1/custom-fields")).json() == []


async def test_create_refuses_malformed_json_and_a_duplicate(client: httpx.AsyncClient) -> None:
    malformed = await client.post(
        "/v1/custom-fields", content=b"{", headers={"content-type": "application/json"}
    )
    _problem(malformed, 400)
    await _define(client, key="owner", label="担当", type="string")
    duplicate = await client.post(
        "/v1/custom-fields", json={"key": "owner", "label": "別", "type": "integer"}
    )
    assert _problem(duplicate, 409)["detail"] == "Custom field 'owner' already exists"
    assert (await client.get("/v1/custom-fields/owner")).json()["label"] == "担当"


async def test_concurrent_creates_of_one_key_one_wins_the_others_conflict(
    client: httpx.AsyncClient,
) -> None:
    """Bug: the creates that passed the existence check together hit the primary key: 500."""
    body = {"key": "owner", "label": "担当", "type": "string"}
    answers = await asyncio.gather(*[client.post("/v1/custom-fields", json=body) for _ in range(6)])
    assert sorted(a.status_code for a in answers) == [201] + [409] * 5
    for answer in answers:
        if answer.status_code == 409:
            _problem(answer, 409)
    audit = (await client.get("/v1/audit", params={"action": "custom_field.created"})).json()
    assert len(audit["items"]) == 1


# --- GET /v1/custom-fields and /v1/custom-fields/{key} -----------------------------------


async def test_list_in_key_order_and_get_one(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/custom-fields")).json() == []
    for key in ("zone", "amount", "owner"):
        await _define(client, key=key, label=key, type="string")
    listed = (await client.get("/v1/custom-fields")).json()
    assert [d["key"] for d in listed] == ["amount", "owner", "zone"]
    one = await client.get("/v1/custom-fields/owner")
    assert one.status_code == 200 and one.json() == listed[1]


@pytest.mark.parametrize(
    ("method", "body"), [("GET", None), ("PATCH", {"label": "x"}), ("DELETE", None)]
)
async def test_one_definition_routes_answer_404_and_422(
    client: httpx.AsyncClient, method: str, body: dict[str, Any] | None
) -> None:
    missing = await client.request(method, "/v1/custom-fields/nothing", json=body)
    assert _problem(missing, 404)["detail"] == "No custom field 'nothing'"
    bad_key = await client.request(method, "/v1/custom-fields/Not-A-Key", json=body)
    assert errors_by_field(_problem(bad_key, 422)) == {"key": "string_pattern_mismatch"}


# --- PATCH /v1/custom-fields/{key} --------------------------------------------------------


async def test_patch_changes_only_what_it_names(client: httpx.AsyncClient) -> None:
    created = await _define(
        client, key="tier", label="区分", type="enum", allowed_values=["a"], description="d"
    )
    patched = await client.patch(
        "/v1/custom-fields/tier", json={"allowed_values": ["a", "b"], "required": True}
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["label"], body["allowed_values"], body["required"]) == ("区分", ["a", "b"], True)
    assert body["created_at"] == created["created_at"]
    assert dt.datetime.fromisoformat(body["updated_at"]) > dt.datetime.fromisoformat(
        created["updated_at"]
    )
    # null leaves label and requiredness alone but clears the description
    cleared = await client.patch(
        "/v1/custom-fields/tier", json={"label": None, "required": None, "description": None}
    )
    assert (cleared.json()["label"], cleared.json()["required"]) == ("区分", True)
    assert cleared.json()["description"] is None
    # the new allowed value is accepted on writes, required is enforced
    ok = await client.put(
        "/v1/sources/crm/records/1", json=corporation(custom_fields={"tier": "b"})
    )
    assert ok.status_code == 201, ok.text
    missing = await client.put("/v1/sources/crm/records/2", json=other_corporation(1))
    assert errors_by_field(_problem(missing, 422)) == {"/custom_fields/tier": "missing"}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"allowed_values": ["a"]}, {"/allowed_values": "not_enum"}),
        ({"type": "integer"}, {"/type": "extra_forbidden"}),
        ({"label": ""}, {"/label": "string_too_short"}),
        ({"required": "sometimes"}, {"/required": "bool_parsing"}),
    ],
)
async def test_patch_refuses_bad_changes_and_changes_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], errors: dict[str, str]
) -> None:
    before = await _define(client, key="owner", label="担当", type="string")
    problem = _problem(await client.patch("/v1/custom-fields/owner", json=body), 422)
    assert errors_by_field(problem) == errors
    assert (await client.get("/v1/custom-fields/owner")).json() == before
    actions = [e["action"] for e in (await client.get("/v1/audit")).json()["items"]]
    assert actions == ["custom_field.created"]


# --- DELETE /v1/custom-fields/{key} -------------------------------------------------------


async def test_delete_then_values_are_refused_and_the_key_can_be_defined_again(
    client: httpx.AsyncClient,
) -> None:
    await _define(client, key="owner", label="担当", type="string")
    stored = await client.put(
        "/v1/sources/crm/records/1", json=corporation(custom_fields={"owner": "佐藤"})
    )
    assert stored.status_code == 201
    deleted = await client.delete("/v1/custom-fields/owner")
    assert deleted.status_code == 204 and deleted.content == b""
    assert "content-type" not in deleted.headers
    _problem(await client.delete("/v1/custom-fields/owner"), 404)
    refused = await client.put(
        "/v1/sources/crm/records/1", json=corporation(custom_fields={"owner": "鈴木"})
    )
    assert errors_by_field(_problem(refused, 422)) == {
        "/custom_fields/owner": "unknown_custom_field"
    }
    again = await _define(client, key="owner", label="担当者", type="string")
    assert again["label"] == "担当者"


# --- values of each type ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("definition", "good", "bad"),
    [
        ({"type": "string"}, "x" * 2000, "x" * 2001),
        ({"type": "string"}, "佐藤", 3),
        ({"type": "integer"}, 10**18, 1.5),
        ({"type": "integer"}, -3, True),
        ({"type": "number"}, 1.5, "1.5"),
        ({"type": "number"}, 0, False),
        ({"type": "boolean"}, False, "false"),
        ({"type": "date"}, "2024-02-29", "2023-02-29"),
        ({"type": "date"}, "2024-01-01", 20240101),
        ({"type": "enum", "allowed_values": ["a", "b"]}, "b", "c"),
    ],
)
async def test_values_of_each_type(
    client: httpx.AsyncClient, definition: dict[str, Any], good: Any, bad: Any
) -> None:
    await _define(client, key="value", label="値", **definition)
    refused = await client.put(
        "/v1/sources/crm/records/1", json=corporation(custom_fields={"value": bad})
    )
    assert errors_by_field(_problem(refused, 422)) == {
        "/custom_fields/value": "invalid_custom_value"
    }
    accepted = await client.put(
        "/v1/sources/crm/records/1", json=corporation(custom_fields={"value": good})
    )
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["customer"]["custom_fields"] == {"value": good}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
async def test_a_number_must_be_finite(client: httpx.AsyncClient, literal: str) -> None:
    """Bug: Python's JSON reader accepts NaN and Infinity; the write answered 201 and stored
    the value as null (silently lost)."""
    await _define(client, key="score", label="点", type="number")
    body = json.dumps(corporation(custom_fields={"score": 1})).replace(
        '"score": 1', f'"score": {literal}'
    )
    assert literal in body
    response = await client.put(
        "/v1/sources/crm/records/1", content=body, headers={"content-type": "application/json"}
    )
    assert errors_by_field(_problem(response, 422)) == {
        "/custom_fields/score": "invalid_custom_value"
    }
    assert (await client.get("/v1/customers")).json()["items"] == []


# --- GET and PUT /v1/rank-rules -----------------------------------------------------------


async def test_rank_rules_start_empty_and_are_replaced_whole(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/rank-rules")).json() == {"rules": []}
    rules = [{"rank": "B", "min_amount": 1_000_000}, {"rank": "A", "min_amount": 10_000_000}]
    put = await client.put("/v1/rank-rules", json={"rules": rules})
    assert put.json()["rules"] == rules[::-1]  # highest threshold first
    assert (await client.get("/v1/rank-rules")).json()["rules"] == rules[::-1]
    emptied = await client.put("/v1/rank-rules", json={"rules": []})
    assert emptied.status_code == 200 and emptied.json() == {"rules": []}
    audit = (await client.get("/v1/audit", params={"action": "rank_rules.replaced"})).json()
    last = audit["items"][-1]
    assert (last["before"], last["after"]) == ({"rules": rules[::-1]}, {"rules": []})


def _rule(rank: Any = "A", min_amount: Any = 1, **extra: Any) -> dict[str, Any]:
    return {"rank": rank, "min_amount": min_amount, **extra}


@pytest.mark.parametrize(
    ("rules", "errors"),
    [
        (None, {"/rules": "missing"}),
        ([_rule(min_amount=-1)], {"/rules/0/min_amount": "greater_than_equal"}),
        ([_rule(min_amount=10**16 + 1)], {"/rules/0/min_amount": "less_than_equal"}),
        ([_rule(min_amount=1.5)], {"/rules/0/min_amount": "int_from_float"}),
        ([_rule(rank="")], {"/rules/0/rank": "string_too_short"}),
        ([_rule(x=1)], {"/rules/0/x": "extra_forbidden"}),
        ([_rule(), _rule(min_amount=2)], {"/rules": "duplicate_rank"}),
        ([_rule(f"R{i}", i) for i in range(51)], {"/rules": "too_long"}),
    ],
)
async def test_bad_rank_rules_are_refused_and_change_nothing(
    client: httpx.AsyncClient, rules: list[dict[str, Any]] | None, errors: dict[str, str]
) -> None:
    body = {} if rules is None else {"rules": rules}
    kept = {"rules": [{"rank": "A", "min_amount": 5}]}
    assert (await client.put("/v1/rank-rules", json=kept)).status_code == 200
    problem = _problem(await client.put("/v1/rank-rules", json=body), 422)
    assert errors_by_field(problem) == errors
    assert (await client.get("/v1/rank-rules")).json() == kept


async def test_concurrent_rank_rule_replacements_one_after_the_other(
    client: httpx.AsyncClient,
) -> None:
    """Bug: concurrent PUTs each deleted the old rules and inserted theirs: duplicate ranks, 500."""
    bodies = [
        {"rules": [{"rank": "A", "min_amount": 100 + i}, {"rank": "B", "min_amount": i}]}
        for i in range(6)
    ]
    answers = await asyncio.gather(*[client.put("/v1/rank-rules", json=b) for b in bodies])
    assert [a.status_code for a in answers] == [200] * 6
    final = (await client.get("/v1/rank-rules")).json()
    assert final in [{"rules": b["rules"]} for b in bodies]
    audit = (await client.get("/v1/audit", params={"action": "rank_rules.replaced"})).json()
    entries = audit["items"]
    assert len(entries) == 6
    # each replacement saw the one before it: the audit log is one chain
    assert entries[0]["before"] == {"rules": []}
    for previous, entry in itertools.pairwise(entries):
        assert entry["before"] == {"rules": previous["after"]["rules"]}
    assert entries[-1]["after"] == final


# --- permissions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grant", "reads", "writes"),
    [
        ({"roles": ["administrator"]}, 200, True),
        ({"roles": ["steward"]}, 200, False),
        ({"roles": ["data_entry"]}, 200, False),
        ({"roles": ["viewer"]}, 200, False),
        ({"roles": [], "scopes": ["customers:read"]}, 200, False),
        ({"roles": [], "scopes": ["webhooks:manage"]}, 403, False),
        (None, 401, False),
    ],
)
async def test_who_may_read_and_change_the_configuration(
    client: httpx.AsyncClient,
    client_as: Callable[..., httpx.AsyncClient],
    grant: dict[str, Any] | None,
    reads: int,
    writes: bool,
) -> None:
    await _define(client, key="owner", label="担当", type="string")
    denied = 401 if grant is None else 403
    attempts = [
        ("GET", "/v1/custom-fields", None, reads),
        ("GET", "/v1/custom-fields/owner", None, reads),
        ("GET", "/v1/rank-rules", None, reads),
        ("POST", "/v1/custom-fields", {"key": "x", "label": "x", "type": "string"}, 201),
        ("PATCH", "/v1/custom-fields/owner", {"label": "y"}, 200),
        ("PUT", "/v1/rank-rules", {"rules": []}, 200),
        ("DELETE", "/v1/custom-fields/owner", None, 204),
    ]
    async with client_as(None) if grant is None else client_as(**grant) as c:
        for method, url, body, allowed in attempts:
            write = method != "GET"
            expected = (allowed if writes else denied) if write else allowed
            response = await c.request(method, url, json=body)
            assert response.status_code == expected, (method, url, response.text)
    if not writes:
        assert (await client.get("/v1/custom-fields/owner")).json()["label"] == "担当"
