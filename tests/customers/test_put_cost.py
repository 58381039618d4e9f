"""What a single PUT costs PostgreSQL (docs/benchmarks.md, "A matched PUT's cost"): its
candidates read in the statement that reads its stored record, and its transaction's prepared
statements and trigger functions run with cached generic plans — that transaction only."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from mdm_hub.context import Actor
from mdm_hub.observability.statements import counted_statements
from mdm_hub.record import CustomerIn
from mdm_hub.sources.service import write_batch
from tests.helpers import corporation, other_corporation


def _dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg", "postgresql")


async def test_a_put_of_a_new_source_record_reads_its_candidates_with_its_stored_record(
    client: httpx.AsyncClient, app: Any
) -> None:
    """One statement reads the stored record (none), the configuration's fingerprint,
    governance's flag and the candidates of the record's keys; a changed record (stored: no
    candidates needed) and a new one after it still answer as before."""
    first = await client.put("/v1/sources/billing/records/S1", json=corporation())
    assert first.status_code == 201, first.text
    with counted_statements(app.state.engine, width=100_000) as seen:
        matched = await client.put("/v1/sources/crm/records/S1", json=corporation())
    assert matched.status_code == 201, matched.text
    assert matched.json()["decision"]["outcome"] == "merged"
    assert matched.json()["customer"]["id"] == first.json()["customer"]["id"]
    reads = [s for s in seen if "JOIN match_keys" in s]
    assert len(reads) == 1, reads
    assert "FROM protected_fields" in reads[0] and "source_records AS s" in reads[0]
    # BEGIN, the locks, stored record with candidates, the customer's row lock, the hierarchy
    # probe, the store, COMMIT
    assert sum(seen.values()) == 7, seen

    changed = corporation(phones=[{"number": "03-1234-9999"}])
    with counted_statements(app.state.engine, width=100_000) as seen:
        again = await client.put("/v1/sources/crm/records/S1", json=changed)
    assert again.status_code == 200, again.text
    assert again.json()["customer"]["id"] == first.json()["customer"]["id"]
    # the same statement (its candidates' part reads nothing: the record is stored), no other
    reads = [s for s in seen if "JOIN match_keys" in s]
    assert len(reads) == 1 and "FROM protected_fields" in reads[0], reads

    other = await client.put("/v1/sources/crm/records/S2", json=other_corporation(1))
    assert other.status_code == 201, other.text
    assert other.json()["decision"]["outcome"] == "new_customer"


async def test_a_put_runs_with_generic_plans_in_its_own_transaction_only(
    client: httpx.AsyncClient, app: Any, database_url: str
) -> None:
    """A trigger records the plan_cache_mode its statement runs with: a PUT's transaction
    forces generic plans; a batch written in a transaction of its own, and the transaction
    that follows a PUT on the pool's connections, keep the server's setting."""
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        await conn.execute(
            """
            CREATE TABLE put_cost_plan_modes (mode text);
            CREATE FUNCTION put_cost_plan_mode() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO put_cost_plan_modes VALUES (current_setting('plan_cache_mode'));
                RETURN NULL;
            END $$;
            CREATE TRIGGER put_cost_plan_mode AFTER INSERT ON source_records
                FOR EACH STATEMENT EXECUTE FUNCTION put_cost_plan_mode();
            """
        )
        answer = await client.put("/v1/sources/crm/records/S1", json=corporation())
        assert answer.status_code == 201, answer.text
        async with app.state.sessionmaker() as session, session.begin():
            (done,) = await write_batch(
                session,
                app.state.settings,
                Actor(subject="tester"),
                "billing",
                [("B1", CustomerIn.model_validate(other_corporation(2)))],
            )
        assert done.outcome == "new_customer"
        modes = [r["mode"] for r in await conn.fetch("SELECT mode FROM put_cost_plan_modes")]
        assert modes == ["force_generic_plan", "auto"]
        for _ in range(3):  # the pool's connections after the PUT's transaction ended
            async with app.state.engine.connect() as connection:
                assert (await connection.exec_driver_sql("SHOW plan_cache_mode")).scalar() == (
                    "auto"
                )
    finally:
        await conn.execute(
            "DROP TRIGGER IF EXISTS put_cost_plan_mode ON source_records;"
            "DROP FUNCTION IF EXISTS put_cost_plan_mode();"
            "DROP TABLE IF EXISTS put_cost_plan_modes"
        )
        await conn.close()
