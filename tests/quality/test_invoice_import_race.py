"""A merge racing an インボイス registry import on the same customers (real PostgreSQL, two
connections): the import's T-number trigger (migration 0021) locks the customers before their
registry state rows, in the write path's order (customers, then source records, then the
states), so neither side waits for the other in a cycle and both commit.

The merge holds its customers (as matching.merge does: FOR UPDATE in id order) while the import
runs; once the import waits, the merge moves the absorbed customer's source record (whose
trigger reads the survivor's registry state FOR SHARE) and marks it merged. Had the import
locked the state rows first, PostgreSQL would abort one of them (deadlock detected)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from mdm_hub.db import sqlalchemy_url
from mdm_hub.registry.importer import import_file
from tests.conftest import _asyncpg_dsn
from tests.helpers import corporation, other_corporation
from tests.registry.files import corporate_number, invoice_row, write_csv

X_NUMBER, Y_NUMBER = "T7000012050002", "T" + corporate_number(700002)


async def _put(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> uuid.UUID:
    answer = await client.put(f"/v1/sources/{path}", json=body)
    assert answer.status_code in (200, 201), answer.text
    return uuid.UUID(answer.json()["customer"]["id"])


async def _wait_for_lock_wait(conn: asyncpg.Connection, other_than: int) -> None:
    for _ in range(600):
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND pid <> $1 AND datname = current_database()",
            other_than,
        )
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the import never waited for the merge's locks")


async def test_a_merge_and_an_invoice_import_on_the_same_customers_both_commit(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    survivor = await _put(
        client, "crm/records/X", corporation(invoice_registration_number=X_NUMBER)
    )
    absorbed = await _put(
        client, "web/records/Y", other_corporation(2, invoice_registration_number=Y_NUMBER)
    )
    dsn = _asyncpg_dsn(database_url)
    setup = await asyncpg.connect(dsn)
    try:
        await setup.execute(
            "INSERT INTO invoice_registrations (registration_number, corporate_number, "
            "sequence_number, process, status, update_date, import_id) VALUES "
            "($1, '7000012050002', 1, '01', 'registered', DATE '2026-11-01', 0), "
            "($2, NULL, 1, '01', 'registered', DATE '2026-11-01', 0)",
            X_NUMBER,
            Y_NUMBER,
        )
    finally:
        await setup.close()
    # The registry revokes both numbers.
    revoked = write_csv(
        tmp_path / "invoice.csv",
        [
            invoice_row(1, X_NUMBER, "04", disposal_date="2026-11-28"),
            invoice_row(2, Y_NUMBER, "04", disposal_date="2026-11-28"),
        ],
    )  # fmt: skip

    merge = await asyncpg.connect(dsn)
    watcher = await asyncpg.connect(dsn)
    try:
        merge_pid = await merge.fetchval("SELECT pg_backend_pid()")
        transaction = merge.transaction()
        await transaction.start()
        await merge.execute(
            "SELECT id FROM customers WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE",
            [survivor, absorbed],
        )
        importing = asyncio.create_task(
            import_file(
                sqlalchemy_url(database_url).replace("postgresql+asyncpg://", "postgresql://"),
                revoked,
                "invoice",
                workers=0,
            )
        )
        await _wait_for_lock_wait(watcher, merge_pid)
        try:
            await merge.execute(
                "UPDATE source_records SET customer_id = $1 WHERE customer_id = $2",
                survivor,
                absorbed,
            )
            await merge.execute(
                "UPDATE customers SET status = 'merged', merged_into_id = $1, "
                "version = version + 1 WHERE id = $2",
                survivor,
                absorbed,
            )
        except Exception:
            await transaction.rollback()
            raise
        await transaction.commit()
        results = await asyncio.wait_for(importing, timeout=60)
        assert results, "the import read nothing"

        rows = await watcher.fetch(
            "SELECT registration_number, status FROM invoice_registrations ORDER BY 1"
        )
        assert {r["registration_number"]: r["status"] for r in rows} == {
            Y_NUMBER: "revoked",
            X_NUMBER: "revoked",
        }
        status = await watcher.fetchval("SELECT status FROM customers WHERE id = $1", absorbed)
        assert status == "merged"
    finally:
        await merge.close()
        await watcher.close()

    # Both changes counted: the survivor's revoked number, from both systems' records.
    kpis = (await client.get("/v1/quality/kpis")).json()
    assert kpis["invoice_registration"]["by_status"]["revoked"] == 1
    assert kpis["invoice_registration"]["with_number"] == 1
    by_system = kpis["invoice_registration_by_system"]
    assert by_system["web"]["corporation"]["by_status"]["revoked"] == 1
    assert by_system["crm"]["corporation"]["by_status"]["revoked"] == 1
