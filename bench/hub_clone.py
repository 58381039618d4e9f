"""A large hub for the import bench: the customers a real import stored, cloned in SQL.

Building a 1M-customer hub through the write path takes about an hour of CPU on this machine,
so bench/import.py ``--hub N`` imports crm.csv for real and then clones its customers until
the hub holds N. Clone k of a customer gets a new id and customer code; its name, name key,
phones, e-mail addresses, source ids and match-key values carry a tag of its own (``〔k〕``)
and it has no 法人番号 or T-number, so clones never match each other nor the rows of the
files: the timed import then finds the same candidates as against the small hub, while every
index, foreign-key check and trigger it runs works at the large hub's size. Cloned: the
customers, their source records, match keys and quality findings (every column, read through
``to_jsonb`` so that columns added later are cloned too). Not cloned: the audit log, change
events and hierarchy, which the import only appends to.
"""

from __future__ import annotations

import time

import asyncpg

_ROUND = """
CREATE TEMP TABLE clone_customers ON COMMIT DROP AS
SELECT o.id AS old_id, gen_random_uuid() AS new_id
FROM bench_clone_originals o ORDER BY o.id LIMIT $1
"""
_SOURCES = """
CREATE TEMP TABLE clone_sources ON COMMIT DROP AS
SELECT s.id AS old_id, nextval(pg_get_serial_sequence('source_records', 'id')) AS new_id,
       m.new_id AS customer_id
FROM source_records s JOIN clone_customers m ON m.old_id = s.customer_id
"""


async def _columns(conn: asyncpg.Connection, table: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1 "
        "AND is_generated = 'NEVER' AND table_schema = current_schema() ORDER BY ordinal_position",
        table,
    )
    return [r["column_name"] for r in rows]


async def _copy(
    conn: asyncpg.Connection, table: str, alias: str, source: str, overrides: str
) -> None:
    """INSERT every column of ``table``'s rows ``source`` selects (as ``alias``), with the
    ``overrides`` (a jsonb_build_object's arguments) applied."""
    columns = ", ".join(f'"{c}"' for c in await _columns(conn, table))
    await conn.execute(
        f"INSERT INTO {table} ({columns}) SELECT p.* FROM {source}, LATERAL (SELECT {columns} "
        f"FROM jsonb_populate_record(NULL::{table}, to_jsonb({alias}) || "
        f"jsonb_build_object({overrides}))) AS p"
    )


async def clone_hub(dsn: str, customers: int) -> str:
    """Clone the hub's customers (those with no ``merged_into_id``) until it holds
    ``customers``; returns a line saying what was done and how long it took."""
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        have = await conn.fetchval("SELECT count(*) FROM customers")
        await conn.execute(
            "CREATE TABLE bench_clone_originals AS "
            "SELECT id FROM customers WHERE merged_into_id IS NULL"
        )
        originals = await conn.fetchval("SELECT count(*) FROM bench_clone_originals")
        k = 0
        while have < customers and originals:
            k += 1
            tag = f"〔{k}〕"
            async with conn.transaction():
                await conn.execute(_ROUND, min(originals, customers - have))
                await _copy(
                    conn, "customers", "c",
                    "customers c JOIN clone_customers m ON m.old_id = c.id",
                    f"'id', m.new_id, 'customer_code', 'K{k}-' || c.customer_code, "
                    f"'name', '{tag}' || c.name, 'name_key', '{tag}' || c.name_key, "
                    "'corporate_number', NULL, 'invoice_registration_number', NULL, "
                    f"'phones', (SELECT coalesce(jsonb_agg('+0{k}' || p), '[]') "
                    "FROM unnest(c.phones) p), "
                    f"'emails', (SELECT coalesce(jsonb_agg('k{k}.' || e), '[]') "
                    "FROM unnest(c.emails) e)",
                )  # fmt: skip
                await conn.execute(_SOURCES)
                await _copy(
                    conn, "source_records", "s",
                    "source_records s JOIN clone_sources m ON m.old_id = s.id",
                    f"'id', m.new_id, 'customer_id', m.customer_id, "
                    f"'source_id', s.source_id || '{tag}'",
                )  # fmt: skip
                await conn.execute(
                    "INSERT INTO match_keys (kind, value, source_record_id, customer_id) "
                    f"SELECT k.kind, k.value || '{tag}', m.new_id, m.customer_id "
                    "FROM match_keys k JOIN clone_sources m ON m.old_id = k.source_record_id"
                )
                await _copy(
                    conn, "quality_findings", "f",
                    "quality_findings f JOIN clone_sources m ON m.old_id = f.source_record_id",
                    "'id', nextval(pg_get_serial_sequence('quality_findings', 'id')), "
                    "'source_record_id', m.new_id",
                )  # fmt: skip
            have = await conn.fetchval("SELECT count(*) FROM customers")
        await conn.execute("DROP TABLE bench_clone_originals")
        await conn.execute("VACUUM ANALYZE")  # what autovacuum leaves a hub that has grown
        keys = await conn.fetchval("SELECT count(*) FROM match_keys")
        sources = await conn.fetchval("SELECT count(*) FROM source_records")
    finally:
        await conn.close()
    return (
        f"hub cloned to {have:,} customers ({k} rounds over {originals:,} imported ones; "
        f"{sources:,} source records, {keys:,} match keys) in "
        f"{time.perf_counter() - started:,.0f} s"
    )
