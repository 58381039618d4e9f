"""Changed source records in a batch (sources.service.write_batch, store.store_changed_batch):
stored together in a fixed number of statements (counted at the connection), with the same
customers, source records, keys, findings, audit and events as the same changes PUT one by
one in order."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import asyncpg
import httpx

from mdm_hub.app import create_app
from mdm_hub.db import json_loads
from mdm_hub.observability.statements import counted_statements
from mdm_hub.settings import Settings
from tests.helpers import batch_outcomes, corporation, other_corporation
from tests.imports.test_batch_write_path import (
    _canonical,
    _put_all,
    _rows,
    _state,
    _truncate,
)


def _changed(rows: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """Each row changed one of four ways: an amount (the golden record changes, not the
    keys), a new phone and a new address (new keys and findings), an e-mail with its case swapped
    (the stored record changes, its normalized record and so the golden one may not)."""
    out = []
    for n, (source_id, payload) in enumerate(rows):
        body = copy.deepcopy(payload)
        if n % 4 == 0:
            body["transactions"]["annual_amount"] = body["transactions"]["annual_amount"] + 1000
        elif n % 4 == 1:
            body["phones"] = [{"number": f"03-5555-{n:04d}", "purpose": "main"}]
        elif n % 4 == 2:
            body["emails"] = [{"address": e["address"].swapcase()} for e in body["emails"]]
        else:
            body["addresses"] = [
                {"postal_code": "100-0005", "full_text": f"東京都千代田区丸の内1-{n}-1"}
            ]
        out.append((source_id, body))
    return out


async def _more(database_url: str) -> dict[str, Any]:
    """Beyond ``_state``: each customer's golden record and version, each source record's
    normalized record, version and keys, the findings, and the audit log in its order (by
    source record and customer, free of ids and times)."""
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        sources = await conn.fetch(
            "SELECT id, system || '/' || source_id AS sid, customer_id, normalized, version, "
            "raw_payload FROM source_records ORDER BY id"
        )
        first: dict[Any, str] = {}
        for row in sources:
            first.setdefault(row["customer_id"], row["sid"])
        sid = {row["id"]: row["sid"] for row in sources}
        customers = sorted(
            (first[r["id"]], r["version"], _canonical(r["record"]), _canonical(r["lineage"]))
            for r in await conn.fetch("SELECT id, version, record, lineage FROM customers")
            if r["id"] in first
        )
        records = [
            (r["sid"], r["version"], _canonical(r["normalized"]), _canonical(r["raw_payload"]))
            for r in sources
        ]
        keys = sorted(
            (sid[r["source_record_id"]], r["kind"], r["value"], first[r["customer_id"]])
            for r in await conn.fetch("SELECT * FROM match_keys")
        )
        findings = sorted(
            (sid[r["source_record_id"]], r["rule"], r["field"])
            for r in await conn.fetch("SELECT source_record_id, rule, field FROM quality_findings")
        )
        audit = []
        for r in await conn.fetch(
            "SELECT action, entity_type, entity_id, customer_id, before, after "
            "FROM audit_log ORDER BY id"
        ):
            after = json_loads(r["after"]) if r["after"] is not None else {}
            before = json_loads(r["before"]) if r["before"] is not None else {}
            entity = r["entity_id"] if r["entity_type"] != "customer" else "customer"
            audit.append(
                (
                    r["action"],
                    entity,
                    first.get(r["customer_id"]),
                    before.get("version"),
                    after.get("version"),
                    _canonical_value(after.get("raw_payload")),
                )
            )
    finally:
        await conn.close()
    return {
        "customers": customers,
        "records": records,
        "keys": keys,
        "findings": findings,
        "audit": audit,
    }


def _canonical_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


async def test_changed_records_in_a_batch_equal_one_by_one_puts(
    client: httpx.AsyncClient, database_url: str
) -> None:
    existing, rows = _rows()
    rows = rows[:200]
    changed = _changed(rows)
    await _put_all(client, "billing", existing)
    await _put_all(client, "crm", rows)
    await _put_all(client, "crm", changed)
    one_by_one = (await _state(database_url), await _more(database_url))

    await _truncate(database_url)
    await _put_all(client, "billing", existing)
    await _put_all(client, "crm", rows)
    # An app of its own whose data keys are not reloaded meanwhile (see
    # test_batch_write_path's count).
    settings = Settings(database_url=database_url, field_key_refresh_seconds=3600)
    app = create_app(settings)
    totals = []
    async with app.router.lifespan_context(app):
        for chunk in (changed[:20], changed[20:]):
            with counted_statements(app.state.engine, width=100) as seen:
                outcomes = await batch_outcomes(app, "crm", chunk)
            assert set(outcomes) == {"updated"}, outcomes
            # A new connection's set-up (asyncpg's catalogue query, the pool's jit setting).
            ours = {s: n for s, n in seen.items() if "typeinfo_tree" not in s and "'jit'" not in s}
            totals.append(sum(ours.values()))
            writes = {s: n for s, n in ours.items() if "UPDATE source_records" in s}
            assert list(writes.values()) == [1], writes
    # 180 changed records cost what 20 cost: BEGIN, the advisory locks, the stored records,
    # the erasures, the customers' and the source rows' locks, the hierarchy probe, the store,
    # COMMIT (one by one, each record cost its row locks, savepoint, keys, sources' read and
    # store: about ten).
    assert totals[1] == totals[0], totals
    assert totals[1] <= 9, totals
    batched = (await _state(database_url), await _more(database_url))

    state, more = one_by_one
    # The changes really changed golden records (events), keys and findings.
    assert state["audit"]["customer.updated"] > 0
    assert state["audit"]["source_record.updated"] == len(changed)
    assert batched[0] == state
    for part in ("customers", "records", "keys", "findings", "audit"):
        assert batched[1][part] == more[part], part


async def test_two_changes_of_one_customer_in_a_batch_are_both_kept(
    client: httpx.AsyncClient, app: Any, database_url: str
) -> None:
    """Two records of one customer changed in the same batch: the second's golden record
    sees the first's change (two versions, two events), as two PUTs in that order."""
    body = {
        "name": "株式会社白鷺建設",
        "phones": [{"number": "075-457-8044"}],
        "addresses": [{"postal_code": "100-0005", "full_text": "東京都千代田区丸の内1-1-1"}],
        "kind": "corporation",
    }
    for source_id in ("A", "B"):
        answer = await client.put(f"/v1/sources/crm/records/{source_id}", json=body)
        assert answer.status_code == 201, answer.text
    assert answer.json()["decision"]["outcome"] == "merged"
    customer_id = answer.json()["customer"]["id"]
    first = {**body, "emails": [{"address": "a@example.co.jp"}]}
    second = {**body, "emails": [{"address": "b@example.co.jp"}]}
    outcomes = await batch_outcomes(app, "crm", [("A", first), ("B", second)])
    assert outcomes == ["updated", "updated"]
    customer = (await client.get(f"/v1/customers/{customer_id}")).json()
    assert customer["version"] == 4
    assert sorted(e["address"] for e in customer["emails"]) == [
        "a@example.co.jp",
        "b@example.co.jp",
    ]
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        versions = [
            r["customer_version"]
            for r in await conn.fetch(
                "SELECT customer_version FROM customer_events WHERE customer_id = $1 ORDER BY seq",
                uuid.UUID(customer_id),
            )
        ]
    finally:
        await conn.close()
    assert versions[-2:] == [3, 4], versions


async def test_a_refused_change_in_a_batch_leaves_its_record_as_stored(
    client: httpx.AsyncClient, app: Any
) -> None:
    """A changed record whose customer's golden record would lack a required custom field is
    refused (as its own PUT would be: 422) and leaves its source record and customer as
    stored; the batch's other changed record is stored."""
    field = {"key": "sales_owner", "label": "営業担当", "type": "string", "required": True}
    assert (await client.post("/v1/custom-fields", json=field)).status_code == 201
    first = corporation(custom_fields={"sales_owner": "佐藤"})
    second = other_corporation(1, custom_fields={"sales_owner": "鈴木"})
    for source_id, body in (("A", first), ("B", second)):
        answer = await client.put(f"/v1/sources/crm/records/{source_id}", json=body)
        assert answer.status_code == 201, answer.text
    stored = (await client.get("/v1/sources/crm/records/A")).json()
    refused = {**first, "custom_fields": {}, "emails": [{"address": "a@example.co.jp"}]}
    kept = {**second, "emails": [{"address": "b@example.co.jp"}]}
    assert await batch_outcomes(app, "crm", [("A", refused), ("B", kept)]) == [
        "rejected",
        "updated",
    ]
    assert (await client.get("/v1/sources/crm/records/A")).json() == stored
    alone = await client.put("/v1/sources/crm/records/A", json=refused)
    assert alone.status_code == 422, alone.text
    written = (await client.get("/v1/sources/crm/records/B")).json()
    assert written["version"] == 2
    assert written["raw_payload"]["emails"] == [{"address": "b@example.co.jp"}]
