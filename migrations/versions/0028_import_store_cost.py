"""import speed (issue 16), PostgreSQL's side: the bulk-written tables keep rows of up to 8 KB
whole (no compression attempt), and the registry state triggers of an INSERT skip the clean-up
that only an update or a delete can need

1. ``toast_tuple_target = 8160`` on source_records, customers, audit_log, customer_events and
   import_rows. Their rows are 2–4 KB (JSON documents whose personal values are sealed, that
   is, random text), so PostgreSQL's default (2 KB) made every insert try pglz on each large
   column — most attempts fail on the sealed values, and the failed ones then go out of line
   anyway. Profiled during an import it was the largest single cost of PostgreSQL's CPU
   (8 % in pglz_compress, beside the TOAST writes). Rows above 8 KB are still compressed and
   moved out of line as before; only where a row lives changes, not what it holds.
2. The INSERT triggers of customers (0016), source_records (0016) and
   quality_registry_states (0021) refreshed the state rows of the new rows with the functions
   every event shares, whose last step deletes the state rows of ids that no longer have a
   customer or a source record — a probe per id that an insert never needs (an inserted id's
   row exists; the states of a new source record, or of the source records of a customer that
   just got its state, cannot exist yet: the delete triggers remove them with their rows). They
   now call insert-only functions: the same upsert, without the delete.

The figures are unchanged (tests/quality/test_import_figures.py recounts them from the tables
after bulk imports).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 18:10:00.000000
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("source_records", "customers", "audit_log", "customer_events", "import_rows")


def _migration(number: str) -> ModuleType:
    """An earlier migration, whose functions the downgrade restores."""
    path = next(Path(__file__).parent.glob(f"{number}_*.py"))
    spec = importlib.util.spec_from_file_location(f"mdm_hub_migration_{number}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# 0021's quality_registry_refresh without its delete (the ids are customers just inserted).
_INSERT_STATES = """
CREATE FUNCTION quality_registry_insert(ids uuid[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO quality_registry_states AS s (customer_id, kind, active, state, closed, invoice)
    SELECT c.id, c.kind, c.status = 'active',
           CASE WHEN l.customer_id IS NOT NULL AND l.withdrawn THEN 'withdrawn'
                WHEN l.customer_id IS NOT NULL THEN 'confirmed'
                WHEN EXISTS (SELECT 1 FROM registry_proposals AS p
                             WHERE p.customer_id = c.id AND p.status = 'pending')
                    THEN 'suggested'
                ELSE 'unknown' END,
           l.closed_on IS NOT NULL,
           CASE WHEN c.invoice_registration_number IS NOT NULL
                THEN COALESCE(i.status, 'not_registered') END
    FROM (SELECT DISTINCT a.id FROM unnest(ids) AS a (id)) AS a
    JOIN customers AS c ON c.id = a.id
    LEFT JOIN registry_links AS l ON l.customer_id = c.id
    LEFT JOIN invoice_registrations AS i ON i.registration_number = c.invoice_registration_number
    ORDER BY c.id
    ON CONFLICT (customer_id) DO UPDATE SET
        kind = EXCLUDED.kind, active = EXCLUDED.active, state = EXCLUDED.state,
        closed = EXCLUDED.closed, invoice = EXCLUDED.invoice
    WHERE (s.kind, s.active, s.state, s.closed, s.invoice)
        IS DISTINCT FROM (EXCLUDED.kind, EXCLUDED.active, EXCLUDED.state, EXCLUDED.closed,
                          EXCLUDED.invoice);
$$
"""

# 0021's quality_registry_source_refresh without its delete (the ids are source records just
# inserted, or those of customers whose state was just inserted). The customers' states are
# locked FOR SHARE first, as there (a registry change of one of them waits for this commit).
_INSERT_SOURCE_STATES = """
CREATE FUNCTION quality_registry_source_insert(ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM quality_registry_states AS s
    WHERE s.customer_id IN (SELECT r.customer_id FROM unnest(ids) AS a (id)
                            JOIN source_records AS r ON r.id = a.id)
    ORDER BY s.customer_id
    FOR SHARE;
    INSERT INTO quality_registry_source_states AS t (
        source_record_id, system, kind, active, state, closed, invoice)
    SELECT r.id, r.system, s.kind, s.active, s.state, s.closed, s.invoice
    FROM (SELECT DISTINCT a.id FROM unnest(ids) AS a (id)) AS a
    JOIN source_records AS r ON r.id = a.id
    JOIN quality_registry_states AS s ON s.customer_id = r.customer_id
    WHERE r.system <> '_steward'
    ORDER BY r.id
    ON CONFLICT (source_record_id) DO UPDATE SET
        system = EXCLUDED.system, kind = EXCLUDED.kind, active = EXCLUDED.active,
        state = EXCLUDED.state, closed = EXCLUDED.closed, invoice = EXCLUDED.invoice
    WHERE (t.system, t.kind, t.active, t.state, t.closed, t.invoice) IS DISTINCT FROM
        (EXCLUDED.system, EXCLUDED.kind, EXCLUDED.active, EXCLUDED.state, EXCLUDED.closed,
         EXCLUDED.invoice);
END
$$
"""


def _refresh_trigger_function(table: str, id_type: str, refresh: str) -> str:
    """0016's INSERT trigger function of ``table``, calling ``refresh``."""
    return f"""
CREATE OR REPLACE FUNCTION quality_registry_{table}_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids {id_type}[];
BEGIN
    SELECT array_agg(id) FROM new_rows INTO ids;
    IF ids IS NOT NULL THEN
        PERFORM {refresh}(ids);
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (toast_tuple_target = 8160)")
    op.execute(_INSERT_STATES)
    op.execute(_INSERT_SOURCE_STATES)
    op.execute(_refresh_trigger_function("customers", "uuid", "quality_registry_insert"))
    op.execute(
        _refresh_trigger_function("source_records", "bigint", "quality_registry_source_insert")
    )
    # 0021's function of the states' INSERT trigger, with the insert-only refresh.
    states_insert = _migration("0021")._count_states_function("INSERT")
    old = "PERFORM quality_registry_source_refresh(ids)"
    assert old in states_insert
    op.execute(states_insert.replace(old, "PERFORM quality_registry_source_insert(ids)"))


def downgrade() -> None:
    m0016, m0021 = _migration("0016"), _migration("0021")
    op.execute(m0021._count_states_function("INSERT"))
    for table in ("customers", "source_records"):
        op.execute(
            m0016._refresh_function(table, "INSERT").replace(
                "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1
            )
        )
    op.execute("DROP FUNCTION quality_registry_source_insert(bigint[])")
    op.execute("DROP FUNCTION quality_registry_insert(uuid[])")
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (toast_tuple_target)")
