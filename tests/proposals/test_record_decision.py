"""``proposals.repository.record_decision``: the one decision of a proposal that enrichment's
registry proposals and hierarchy's site proposals both write, each in its own table."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from mdm_hub.db import sqlalchemy_url
from mdm_hub.proposals.repository import record_decision

COLUMNS = "id, status, decided_by, decided_at IS NOT NULL AS decided"


async def _customer(client: httpx.AsyncClient, source_id: str, name: str) -> uuid.UUID:
    put = await client.put(
        f"/v1/sources/crm/records/{source_id}", json={"kind": "corporation", "name": name}
    )
    assert put.status_code == 201, put.text
    return uuid.UUID(put.json()["customer"]["id"])


async def test_the_decision_is_written_to_the_named_table_and_row_only(
    client: httpx.AsyncClient, database_url: str
) -> None:
    a = await _customer(client, "RD-1", "株式会社決定商事")
    b = await _customer(client, "RD-2", "有限会社別件工業")
    engine = create_async_engine(sqlalchemy_url(database_url))
    try:
        # Never committed: the connection's transaction is rolled back when it closes.
        async with engine.connect() as conn:
            session = AsyncSession(bind=conn)
            registry = [
                (
                    await session.execute(
                        text(
                            "INSERT INTO registry_proposals"
                            " (customer_id, corporate_number, probability, explanation, status)"
                            " VALUES (:c, :n, 0.9, CAST('{}' AS jsonb), 'pending') RETURNING id"
                        ),
                        {"c": a, "n": number},
                    )
                ).scalar_one()
                for number in ("1000000000001", "1000000000002")
            ]
            sites = [
                (
                    await session.execute(
                        text(
                            "INSERT INTO hierarchy_proposals (child_id, parent_id, reason)"
                            " VALUES (:c, :p, 'test') RETURNING id"
                        ),
                        {"c": child, "p": parent},
                    )
                ).scalar_one()
                for child, parent in ((a, b), (b, a))
            ]

            await record_decision(session, "registry_proposals", registry[0], "rejected", "s1")
            await record_decision(session, "hierarchy_proposals", sites[1], "accepted", "s2")

            async def stored(table: str) -> dict[int, tuple[object, ...]]:
                rows = await session.execute(text(f"SELECT {COLUMNS} FROM {table} ORDER BY id"))
                return {r.id: tuple(r)[1:] for r in rows}

            assert await stored("registry_proposals") == {
                registry[0]: ("rejected", "s1", True),
                registry[1]: ("pending", None, False),
            }
            assert await stored("hierarchy_proposals") == {
                sites[0]: ("pending", None, False),
                sites[1]: ("accepted", "s2", True),
            }

            other: Any = "customers"  # an untyped caller's table: refused before any SQL
            with pytest.raises(ValueError, match="not a proposal table"):
                await record_decision(session, other, 1, "accepted", "s3")
    finally:
        await engine.dispose()
