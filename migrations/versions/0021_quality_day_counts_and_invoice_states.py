"""quality (issue 18): the freshness KPIs read from per-day counts kept by triggers (active
customers by the day of their last update and of their 最終取引日, source records by the day of
their last write), and the T-number (インボイス) status of each customer kept in the registry
state tables of 0016, so that it is counted per kind and per source system

Revision ID: 0021
Revises: 0018
Create Date: 2026-12-06 15:00:00.000000
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TRANSITIONS = {
    "INSERT": "NEW TABLE AS new_rows",
    "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "OLD TABLE AS old_rows",
}


def _m0016() -> ModuleType:
    """Migration 0016, whose functions the downgrade restores."""
    path = next(Path(__file__).parent.glob("0016_*.py"))
    spec = importlib.util.spec_from_file_location("mdm_hub_migration_0016", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- per-day counts (scopes days:…, metric the day as YYYY-MM-DD) -----------------------------
# A range count "updated before the cutoff" is the sum of the days before the cutoff's day (a
# few hundred rows of quality_counts) plus an index range count over the cutoff's own day: the
# same figure, whatever N is, without scanning the stale part of the master. Days of a
# timestamp are UTC days. 最終取引日 is counted by its text, the column the search compares.

_CUSTOMER_DAYS = """
    SELECT s.scope, s.metric, {sign} AS d FROM {rows} AS r
    CROSS JOIN LATERAL (VALUES
        ('days:customer-updated:' || r.kind,
            to_char(r.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')),
        ('days:customer-transactions:' || r.kind, r.last_transaction_on)
    ) AS s (scope, metric)
    WHERE r.status = 'active' AND s.metric IS NOT NULL"""

_SOURCE_DAYS = """
    SELECT 'days:source-updated:' || r.system AS scope,
           to_char(r.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS metric, {sign} AS d
    FROM {rows} AS r WHERE r.system <> '_steward'"""


def _days_function(name: str, facts: str, changed: str) -> str:
    """A statement trigger's function appending the per-day deltas of its rows. An update
    compares only the rows whose counted columns changed (most writes of the registry and the
    merges change none of them)."""
    new = facts.format(sign="1", rows="new_rows")
    old = facts.format(sign="-1", rows="old_rows")
    new_changed = facts.format(
        sign="1",
        rows=f"(SELECT n.* FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id WHERE {changed})",
    )
    old_changed = facts.format(
        sign="-1",
        rows=f"(SELECT o.* FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id WHERE {changed})",
    )
    return f"""
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO quality_count_deltas (scope, metric, value)
        SELECT scope, metric, count(*) FROM ({new}) AS f GROUP BY 1, 2;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO quality_count_deltas (scope, metric, value)
        SELECT scope, metric, sum(d) FROM ({new_changed} UNION ALL {old_changed}) AS f
        GROUP BY 1, 2 HAVING sum(d) <> 0;
    ELSE
        INSERT INTO quality_count_deltas (scope, metric, value)
        SELECT scope, metric, -count(*) FROM ({old}) AS f GROUP BY 1, 2;
    END IF;
    RETURN NULL;
END
$$
"""


_DAY_TRIGGERS = {
    "customers": (
        "quality_count_customer_days",
        _CUSTOMER_DAYS,
        "(n.status, n.kind, n.updated_at, n.last_transaction_on) IS DISTINCT FROM "
        "(o.status, o.kind, o.updated_at, o.last_transaction_on)",
    ),
    "source_records": (
        "quality_count_source_days",
        _SOURCE_DAYS,
        "(n.system, n.updated_at) IS DISTINCT FROM (o.system, o.updated_at)",
    ),
}

# --- the T-number in the registry states of 0016 ---------------------------------------------
# invoice: NULL without a T-number, else what the インボイス registry says of it (registered,
# expired, revoked, deleted, or not_registered when it does not publish it), as the join of
# GET /v1/quality/kpis did. Counted as invoice:{status} under registry:{kind} and
# registry-source:{system}:{kind}.

_REFRESH_STATES = """
CREATE OR REPLACE FUNCTION quality_registry_refresh(ids uuid[]) RETURNS void LANGUAGE sql AS $$
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
    DELETE FROM quality_registry_states AS s
    USING unnest(ids) AS a (id)
    WHERE s.customer_id = a.id
      AND NOT EXISTS (SELECT 1 FROM customers AS c WHERE c.id = s.customer_id);
$$
"""

_REFRESH_SOURCE_STATES = """
CREATE OR REPLACE FUNCTION quality_registry_source_refresh(ids bigint[]) RETURNS void
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
    DELETE FROM quality_registry_source_states AS t
    USING unnest(ids) AS a (id)
    WHERE t.source_record_id = a.id
      AND NOT EXISTS (SELECT 1 FROM source_records AS r
                      JOIN quality_registry_states AS s ON s.customer_id = r.customer_id
                      WHERE r.id = t.source_record_id AND r.system <> '_steward');
END
$$
"""

_FACTS = """
CREATE FUNCTION quality_registry_facts(active boolean, state text, closed boolean, invoice text)
RETURNS TABLE (metric text) LANGUAGE sql IMMUTABLE AS $$
    SELECT m.metric FROM (VALUES ('state:' || state), ('closed'), ('invoice:' || invoice))
        AS m (metric)
    WHERE active AND m.metric IS NOT NULL AND (m.metric <> 'closed' OR closed)
$$
"""


def _changes(event: str, scope: str) -> str:
    parts = []
    if event in ("INSERT", "UPDATE"):
        parts.append(
            f"SELECT {scope.format(t='n')} AS scope, f.metric, 1 AS d FROM new_rows AS n "
            "CROSS JOIN LATERAL quality_registry_facts(n.active, n.state, n.closed, n.invoice) "
            "AS f"
        )
    if event in ("DELETE", "UPDATE"):
        parts.append(
            f"SELECT {scope.format(t='o')} AS scope, f.metric, -1 AS d FROM old_rows AS o "
            "CROSS JOIN LATERAL quality_registry_facts(o.active, o.state, o.closed, o.invoice) "
            "AS f"
        )
    return f"""
    INSERT INTO quality_count_deltas (scope, metric, value)
    SELECT scope, metric, sum(d) FROM ({" UNION ALL ".join(parts)}) AS changes
    GROUP BY 1, 2 HAVING sum(d) <> 0;"""


def _count_states_function(event: str) -> str:
    customers = {
        "INSERT": "SELECT customer_id FROM new_rows",
        "UPDATE": "SELECT customer_id FROM new_rows UNION SELECT customer_id FROM old_rows",
        "DELETE": "SELECT customer_id FROM old_rows",
    }[event]
    return f"""
CREATE OR REPLACE FUNCTION quality_count_registry_states_{event.lower()}() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    {_changes(event, "'registry:' || {t}.kind")}
    SELECT array_agg(r.id) INTO ids
    FROM source_records AS r WHERE r.customer_id IN ({customers});
    IF ids IS NOT NULL THEN
        PERFORM quality_registry_source_refresh(ids);
    END IF;
    RETURN NULL;
END
$$
"""


def _count_source_states_function(event: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION quality_count_registry_source_states_{event.lower()}()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_changes(event, "'registry-source:' || {t}.system || ':' || {t}.kind")}
    RETURN NULL;
END
$$
"""


_CUSTOMERS_UPDATE = """
CREATE OR REPLACE FUNCTION quality_registry_customers_update() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids uuid[];
BEGIN
    SELECT array_agg(n.id) FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
    WHERE n.status <> o.status OR n.kind <> o.kind
       OR n.invoice_registration_number IS DISTINCT FROM o.invoice_registration_number
    INTO ids;
    IF ids IS NOT NULL THEN
        PERFORM quality_registry_refresh(ids);
    END IF;
    RETURN NULL;
END
$$
"""

# The registry's statements: the active customers carrying a registration number whose status
# a statement set, changed or removed (the registry's updates rewrite dates and names of many
# rows; only a status that changed refreshes anything).
_INVOICE_IDS = {
    "INSERT": "SELECT registration_number FROM new_rows",
    "UPDATE": (
        "SELECT registration_number FROM ("
        "(SELECT registration_number, status FROM new_rows "
        "EXCEPT SELECT registration_number, status FROM old_rows) "
        "UNION ALL "
        "(SELECT registration_number, status FROM old_rows "
        "EXCEPT SELECT registration_number, status FROM new_rows)) AS changed"
    ),
    "DELETE": "SELECT registration_number FROM old_rows",
}


def _invoice_function(event: str) -> str:
    # The customers are locked first, in id order, as the write path and the merges lock them
    # (customers, then source records, then the state rows through their triggers): a merge
    # holding them waits for nothing this statement holds. Those the batch's next statement
    # (registry.repository._ENDED_CUSTOMERS) updates without a T-number of their own — T + their
    # 法人番号 — are locked here too, so that every customer the import touches is locked in
    # one ordered pass.
    implicit = (
        " OR (c.invoice_registration_number IS NULL AND c.corporate_number IN ("
        "SELECT substr(n.registration_number, 2) FROM numbers AS n"
        " WHERE left(n.registration_number, 1) = 'T'))"
        if event == "UPDATE"
        else ""
    )
    return f"""
CREATE FUNCTION quality_registry_invoice_registrations_{event.lower()}() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids uuid[];
BEGIN
    WITH numbers AS MATERIALIZED ({_INVOICE_IDS[event]}),
    locked AS (
        SELECT c.id, c.invoice_registration_number IS NOT NULL AS numbered FROM customers AS c
        WHERE c.status = 'active'
          AND (c.invoice_registration_number IN (SELECT registration_number FROM numbers)
               {implicit})
        ORDER BY c.id
        FOR NO KEY UPDATE OF c
    )
    SELECT array_agg(id) FILTER (WHERE numbered) INTO ids FROM locked;
    IF ids IS NOT NULL THEN
        PERFORM quality_registry_refresh(ids);
    END IF;
    RETURN NULL;
END
$$
"""


def _trigger(name: str, table: str, event: str, function: str) -> str:
    return (
        f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {_TRANSITIONS[event]} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
    )


def upgrade() -> None:
    for table, (function, facts, changed) in _DAY_TRIGGERS.items():
        op.execute(_days_function(function, facts, changed))
        for event in _TRANSITIONS:
            op.execute(_trigger(f"{table}_quality_days_{event.lower()}", table, event, function))
        # The rows that exist now.
        op.execute(
            "INSERT INTO quality_count_deltas (scope, metric, value) "
            f"SELECT scope, metric, count(*) FROM ({facts.format(sign='1', rows=table)}) AS f "
            "GROUP BY 1, 2"
        )

    for name in ("quality_registry_states", "quality_registry_source_states"):
        op.add_column(name, sa.Column("invoice", sa.Text(), nullable=True))
    op.execute(_FACTS)
    for event in _TRANSITIONS:
        op.execute(_count_states_function(event))
        op.execute(_count_source_states_function(event))
    op.execute(_REFRESH_STATES)
    op.execute(_REFRESH_SOURCE_STATES)
    op.execute(_CUSTOMERS_UPDATE)
    for event in _TRANSITIONS:
        op.execute(_invoice_function(event))
        op.execute(
            _trigger(
                f"invoice_registrations_quality_registry_{event.lower()}",
                "invoice_registrations",
                event,
                f"quality_registry_invoice_registrations_{event.lower()}",
            )
        )
    # The customers search's invoice_status filter.
    op.create_index(
        "ix_quality_registry_states_active_invoice",
        "quality_registry_states",
        ["invoice", "customer_id"],
        postgresql_where=sa.text("active AND invoice IS NOT NULL"),
    )
    # Every customer carrying a T-number now (the state tables' triggers count the change).
    op.execute(
        "SELECT quality_registry_refresh(array_agg(id)) FROM customers "
        "WHERE invoice_registration_number IS NOT NULL HAVING count(*) > 0"
    )


def downgrade() -> None:
    m0016 = _m0016()
    op.drop_index("ix_quality_registry_states_active_invoice", table_name="quality_registry_states")
    for event in _TRANSITIONS:
        op.execute(
            f"DROP TRIGGER invoice_registrations_quality_registry_{event.lower()} "
            "ON invoice_registrations"
        )
        op.execute(f"DROP FUNCTION quality_registry_invoice_registrations_{event.lower()}()")

    def restore(sql: str) -> None:
        op.execute(sql.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))

    restore(m0016._REFRESH_STATES)
    restore(m0016._REFRESH_SOURCE_STATES)
    restore(m0016._refresh_function("customers", "UPDATE"))
    for event in _TRANSITIONS:
        restore(m0016._count_states_function(event))
        restore(m0016._count_source_states_function(event))
    op.execute("DROP FUNCTION quality_registry_facts(boolean, text, boolean, text)")
    for name in ("quality_registry_states", "quality_registry_source_states"):
        op.drop_column(name, "invoice")
    for table, (function, _, _) in _DAY_TRIGGERS.items():
        for event in _TRANSITIONS:
            op.execute(f"DROP TRIGGER {table}_quality_days_{event.lower()} ON {table}")
        op.execute(f"DROP FUNCTION {function}()")
    for table in ("quality_count_deltas", "quality_counts"):
        op.execute(f"DELETE FROM {table} WHERE left(scope, 5) = 'days:'")
        op.execute(
            f"DELETE FROM {table} WHERE left(metric, 8) = 'invoice:' "
            "AND (left(scope, 9) = 'registry:' OR left(scope, 16) = 'registry-source:')"
        )
