"""The batch write path (sources.service.write_batch): the same customers, decisions, audit and
events as the same records PUT one by one; the same whatever the batch size; multi-row
statements (counted at the connection); deterministic partitions with existing customers."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from mdm_hub.app import create_app
from mdm_hub.db import json_loads
from mdm_hub.imports import service as import_service
from mdm_hub.imports.mapping import map_header, map_row
from mdm_hub.imports.sample import LIST_HEADER, generated_rows
from mdm_hub.observability.statements import counted_statements
from mdm_hub.settings import Settings
from mdm_hub.sources.prepare import use_processes
from tests.helpers import batch_outcomes, corporation

EXISTING = 80  # rows PUT from another system first: the file meets customers already there
ROWS = 320


def _bodies(count: int, seed: int, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    header = map_header(LIST_HEADER)
    out = []
    for line, (values, _) in enumerate(generated_rows(count, seed, prefix=prefix), start=2):
        mapped = map_row(line, values, header)
        assert mapped.source_id is not None and not mapped.problems
        out.append((mapped.source_id, mapped.payload))
    return out


def _rows() -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]]]:
    """Existing records (system billing) and the file's (system crm): the same entities (one
    seed), so the file has duplicates within itself and of existing customers."""
    both = _bodies(EXISTING + ROWS, 7, "R")
    return both[:EXISTING], both[EXISTING:]


async def _state(database_url: str) -> dict[str, Any]:
    """What the writes left, free of ids and times: clusters of source records, each
    record's outcome, reason, probability and candidates (as source ids), the review pairs,
    audit actions and events per type."""
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        sources = await conn.fetch(
            "SELECT system || '/' || source_id AS sid, customer_id, decision, normalized "
            "FROM source_records ORDER BY id"
        )
        first = {}
        for row in sources:  # a customer by its first source record
            first.setdefault(row["customer_id"], row["sid"])
        clusters: dict[str, set[str]] = {}
        for row in sources:
            clusters.setdefault(first[row["customer_id"]], set()).add(row["sid"])
        codes = {
            r["customer_code"]: first.get(r["id"])
            for r in await conn.fetch("SELECT id, customer_code FROM customers")
        }
        decisions = {}
        for row in sources:
            d = json_loads(row["decision"])
            decisions[row["sid"]] = (
                d["outcome"],
                d["reason"],
                d["probability"],
                first[row["customer_id"]],
                [(codes[c["customer_code"]], c["probability"]) for c in d["candidates"]],
            )
        reviews = sorted(
            (*sorted((first[r["customer_a_id"]], first[r["customer_b_id"]])), r["probability"])
            for r in await conn.fetch(
                "SELECT customer_a_id, customer_b_id, probability FROM match_candidates"
            )
        )
        audit = Counter(
            r["action"] for r in await conn.fetch("SELECT action FROM audit_log ORDER BY id")
        )
        # Payloads decrypted (each encryption has its own nonce), in one canonical form.
        events = sorted(
            (first[r["customer_id"]], r["type"], r["customer_version"], _canonical(r["payload"]))
            for r in await conn.fetch(
                "SELECT customer_id, type, customer_version, "
                "payload - 'id' - 'created_at' - 'updated_at' - 'customer_code' AS payload "
                "FROM customer_events"
            )
        )
        keys = await conn.fetchval("SELECT count(*) FROM match_keys")
    finally:
        await conn.close()
    return {
        "clusters": sorted(sorted(c) for c in clusters.values()),
        "decisions": decisions,
        "reviews": reviews,
        "audit": audit,
        "events": events,
        "keys": keys,
    }


def _canonical(payload: str) -> str:
    return json.dumps(json_loads(payload), ensure_ascii=False, sort_keys=True)


async def _truncate(database_url: str) -> None:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('alembic_version', 'data_keys')"
        )
        await conn.execute(f"TRUNCATE {', '.join(t['tablename'] for t in tables)} CASCADE")
    finally:
        await conn.close()


async def _put_all(client: httpx.AsyncClient, system: str, rows: list[Any]) -> None:
    for source_id, payload in rows:
        answer = await client.put(f"/v1/sources/{system}/records/{source_id}", json=payload)
        assert answer.status_code in (200, 201), answer.text


async def _batches(app: Any, system: str, rows: list[Any], size: int) -> list[str]:
    outcomes = []
    for start in range(0, len(rows), size):
        outcomes += await batch_outcomes(app, system, rows[start : start + size])
    return outcomes


async def test_batch_equals_one_by_one_puts_whatever_the_batch_size(
    client: httpx.AsyncClient, app: Any, database_url: str
) -> None:
    existing, rows = _rows()
    states = []
    await _put_all(client, "billing", existing)
    await _put_all(client, "crm", rows)
    states.append(await _state(database_url))
    # Batches of 500 are normalized in a pool of two processes (the import workers' setting).
    for size, processes in ((500, 2), (1, 1), (37, 1)):
        await _truncate(database_url)
        await _put_all(client, "billing", existing)
        use_processes(processes)
        try:
            outcomes = await _batches(app, "crm", rows, size)
        finally:
            use_processes(1)
        states.append(await _state(database_url))
        assert set(outcomes) >= {"new_customer", "merged"}
    one_by_one = states[0]
    # The file really meets itself and the existing customers, and the queue is not empty.
    crm_merged_into_billing = [
        c
        for c in one_by_one["clusters"]
        if any(s.startswith("billing/") for s in c) and any(s.startswith("crm/") for s in c)
    ]
    crm_among_themselves = [
        c for c in one_by_one["clusters"] if sum(s.startswith("crm/") for s in c) > 1
    ]
    assert crm_merged_into_billing and crm_among_themselves
    for state in states[1:]:
        assert state["clusters"] == one_by_one["clusters"]
        assert state["decisions"] == one_by_one["decisions"]
        assert state["reviews"] == one_by_one["reviews"]
        assert state["audit"] == one_by_one["audit"]
        assert state["events"] == one_by_one["events"]
        assert state["keys"] == one_by_one["keys"]


async def test_a_batch_runs_a_fixed_number_of_statements(
    client: httpx.AsyncClient, database_url: str
) -> None:
    existing, rows = _rows()
    await _put_all(client, "billing", existing)
    # An app of its own whose data keys are not reloaded meanwhile: the counter counts every
    # statement on the engine, and a reload (BEGIN, SELECT, COMMIT) on a slow machine would
    # count with the batch's.
    settings = Settings(database_url=database_url, field_key_refresh_seconds=3600)
    app = create_app(settings)
    totals = []
    async with app.router.lifespan_context(app):
        for chunk in (rows[:20], rows[20:220]):
            with counted_statements(app.state.engine, width=60) as seen:
                await _batches(app, "crm", chunk, 500)
            # A new connection's first use of a type: asyncpg's own catalogue query, not ours.
            ours = {s: n for s, n in seen.items() if "typeinfo_tree" not in s}
            totals.append(sum(ours.values()))
            inserts = {s: n for s, n in ours.items() if "INSERT INTO" in s or s.startswith("WITH")}
            assert all(n == 1 for n in inserts.values()), inserts
    # 200 rows (merges into existing customers among them) cost what 20 rows cost, give or
    # take the pass that reads the customers they join: the stores are multi-row.
    assert totals[1] <= totals[0] + 2, totals
    assert totals[1] <= 12, totals


async def test_a_put_reads_governance_with_its_stored_record_and_updates_a_joined_customer(
    client: httpx.AsyncClient, app: Any
) -> None:
    """A PUT's statements (the PUT regression noted on issue 15): whether governance protects
    fields of the system is read in the statement that reads the stored source record, not
    in one of its own; a write that joins an existing customer updates that customer without
    an INSERT ... ON CONFLICT, which fires the insert statement triggers (the quality counts')
    besides the update ones; a new customer is inserted."""
    writes = {}
    for system in ("billing", "crm"):
        with counted_statements(app.state.engine, width=100_000) as seen:
            answer = await client.put(f"/v1/sources/{system}/records/S1", json=corporation())
        assert answer.status_code == 201, answer.text
        writes[answer.json()["decision"]["outcome"]] = seen
    assert set(writes) == {"new_customer", "merged"}
    for seen in writes.values():
        assert not any("FROM protected_fields" in s and "source_records" not in s for s in seen)
        assert any("FROM protected_fields" in s and "source_records" in s for s in seen)
    (created,) = [s for s in writes["new_customer"] if "INSERT INTO source_records" in s]
    (merged,) = [s for s in writes["merged"] if "INSERT INTO source_records" in s]
    assert "INSERT INTO customers" in created and "UPDATE customers" not in created
    assert "UPDATE customers" in merged and "INSERT INTO customers" not in merged
    assert "ON CONFLICT (id)" not in created + merged


async def test_partitions_follow_existing_customers(
    client: httpx.AsyncClient, app: Any, tmp_path: Path, database_url: str, monkeypatch: Any
) -> None:
    """Two rows that share no key with each other but both find one existing customer are
    written in one partition (in file order): otherwise the second row's score against that
    customer would depend on whether the other partition ran first."""
    existing = {
        "kind": "corporation",
        "name": "株式会社山田製作所",
        "phones": [{"number": "03-3123-4567"}],
        "emails": [{"address": "info@yamada-ss.co.jp"}],
    }
    answer = await client.put("/v1/sources/billing/records/B1", json=existing)
    assert answer.status_code == 201, answer.text
    header = ["顧客コード", "会社名", "電話番号", "メールアドレス", "郵便番号"]
    data = [
        ["C1", "山田製作所", "03-3123-4567", "", "1000001"],
        ["C2", "ヤマダ製作所株式会社", "", "info@yamada-ss.co.jp", "5300001"],
        ["C3", "大阪商事株式会社", "06-6123-0000", "", "5300002"],
    ]
    path = tmp_path / "p.csv"
    path.write_text("\r\n".join(",".join(r) for r in [header, *data]) + "\r\n", "utf-8")
    monkeypatch.setattr(import_service, "PARTITION_ROWS", 1)  # as many partitions as rows
    with path.open("rb") as f:
        job = await client.post(
            "/v1/imports",
            files={"file": (path.name, f, "text/csv")},
            data={"system": "crm"},
        )
    assert job.status_code == 202, job.text
    await import_service.Runner(app.state.sessionmaker, app.state.settings).run_until_idle()
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        partitions = dict(
            await conn.fetch(
                "SELECT source_id, partition FROM import_rows WHERE job_id = $1",
                uuid.UUID(job.json()["id"]),
            )
        )
    finally:
        await conn.close()
    assert partitions["C1"] == partitions["C2"]
    assert len(set(partitions.values())) == 2  # C3 meets nobody: a partition of its own


async def _import(client: httpx.AsyncClient, app: Any, path: Path, **form: str) -> str:
    with path.open("rb") as f:
        job = await client.post(
            "/v1/imports",
            files={"file": (path.name, f, "text/csv")},
            data={"system": "crm", **form},
        )
    assert job.status_code == 202, job.text
    await import_service.Runner(app.state.sessionmaker, app.state.settings).run_until_idle()
    return str(job.json()["id"])


async def test_summary_event_instead_of_per_customer_webhooks(
    client: httpx.AsyncClient, app: Any, tmp_path: Path, database_url: str
) -> None:
    from mdm_hub.events.dispatcher import Dispatcher

    endpoint = await client.post("/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/hook"})
    assert endpoint.status_code == 201, endpoint.text
    header = ",".join(LIST_HEADER)
    lines = [",".join(v) for v, _ in generated_rows(30, 3, prefix="S")]
    first = tmp_path / "first.csv"
    first.write_text("\r\n".join([header, *lines[:15]]) + "\r\n", "utf-8")
    second = tmp_path / "second.csv"
    second.write_text("\r\n".join([header, *lines[15:]]) + "\r\n", "utf-8")
    await _import(client, app, first)  # webhooks as usual
    job_id = await _import(client, app, second, summary_event="true")
    dispatcher = Dispatcher(app.state.engine, app.state.settings)
    await dispatcher.fan_out_once()  # on a fresh database this makes the fan-out's cursor
    while await dispatcher.fan_out_once():
        pass
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        events = await conn.fetch(
            "SELECT e.type, e.webhook, e.customer_id, e.payload, "
            "(SELECT count(*) FROM webhook_deliveries d WHERE d.event_id = e.event_id) AS sent "
            "FROM customer_events e ORDER BY e.seq"
        )
    finally:
        await conn.close()
    summary = [e for e in events if e["type"] == "import.completed"]
    assert len(summary) == 1 and summary[0]["webhook"] and summary[0]["sent"] == 1
    assert str(summary[0]["customer_id"]) == job_id
    assert json.loads(summary[0]["payload"])["rows_done"] == 15
    customer_events = [e for e in events if e["type"] != "import.completed"]
    quiet = [e for e in customer_events if not e["webhook"]]
    loud = [e for e in customer_events if e["webhook"]]
    # The change feed has every change of both imports; only the first one's were sent.
    assert quiet and loud
    assert all(e["sent"] == 0 for e in quiet) and all(e["sent"] == 1 for e in loud)
    feed = await client.get("/v1/changes", params={"limit": 500})
    assert feed.status_code == 200, feed.text
    assert [i["type"] for i in feed.json()["items"]] == [e["type"] for e in customer_events]
