"""quality (issue 18): the registry KPIs kept by triggers (法人番号 coverage per kind and per
source system, closed companies still active), the 最終取引日 of each source record counted per
day (customers with no transaction for N days per source system), and the partial indexes of
the customer search's quality filters (customers missing a field, by customer code)

Revision ID: 0016
Revises: 0020
Create Date: 2026-12-06 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same conditions as quality_customer_facts (0008) and customers.models.MISSING: a figure
# of the completeness KPI and the customers its link lists are the same rows.
MISSING = {
    "corporate_number": "corporate_number IS NULL",
    "invoice_registration_number": "invoice_registration_number IS NULL",
    "phone": "cardinality(phones) = 0",
    "email": "cardinality(emails) = 0",
    "address": "jsonb_array_length(COALESCE(record -> 'addresses', '[]'::jsonb)) = 0",
    "address_with_postal_code": (
        "NOT jsonb_path_exists(record, '$.addresses[*].postal_code ? (@ != null)'::jsonpath)"
    ),
    "name_kana": "name_kana IS NULL",
    "industry": "(record #>> '{classification,industry}'::text[]) IS NULL",
    "rank": "(record #>> '{classification,rank}'::text[]) IS NULL",
    "last_transaction_on": "last_transaction_on IS NULL",
    "birth_date": "(record ->> 'birth_date') IS NULL",
}

# One row per customer (quality_registry_states): its kind, whether it is active, its
# 法人番号 coverage (confirmed: linked to the NTA registry; withdrawn: linked to a number the
# registry withdrew; suggested: not linked, a pending proposal; unknown: the rest) and whether
# its link records a closure; and one row per source record (quality_registry_source_states)
# with its system and its customer's state. Each row is what was last counted: a trigger
# recomputes the rows a statement may have changed from the tables they are made of, and the
# state tables' own statement triggers turn the difference into count deltas (as 0008 does for
# the master): per kind (scope registry:{kind}) and per source system and kind
# (registry-source:{system}:{kind}). Recomputing, never adding, keeps the counts exact whatever
# order the triggers of one statement fire in (a merge moves source records and changes a
# customer's status in one statement).
_REFRESH_STATES = """
CREATE FUNCTION quality_registry_refresh(ids uuid[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO quality_registry_states AS s (customer_id, kind, active, state, closed)
    SELECT c.id, c.kind, c.status = 'active',
           CASE WHEN l.customer_id IS NOT NULL AND l.withdrawn THEN 'withdrawn'
                WHEN l.customer_id IS NOT NULL THEN 'confirmed'
                WHEN EXISTS (SELECT 1 FROM registry_proposals AS p
                             WHERE p.customer_id = c.id AND p.status = 'pending')
                    THEN 'suggested'
                ELSE 'unknown' END,
           l.closed_on IS NOT NULL
    FROM (SELECT DISTINCT a.id FROM unnest(ids) AS a (id)) AS a
    JOIN customers AS c ON c.id = a.id
    LEFT JOIN registry_links AS l ON l.customer_id = c.id
    ORDER BY c.id
    ON CONFLICT (customer_id) DO UPDATE SET
        kind = EXCLUDED.kind, active = EXCLUDED.active, state = EXCLUDED.state,
        closed = EXCLUDED.closed
    WHERE (s.kind, s.active, s.state, s.closed)
        IS DISTINCT FROM (EXCLUDED.kind, EXCLUDED.active, EXCLUDED.state, EXCLUDED.closed);
    DELETE FROM quality_registry_states AS s
    USING unnest(ids) AS a (id)
    WHERE s.customer_id = a.id
      AND NOT EXISTS (SELECT 1 FROM customers AS c WHERE c.id = s.customer_id);
$$
"""

# The customers' states read are locked (FOR SHARE) until commit, so that a registry change of
# the same customer at the same time waits, then sees these source records.
_REFRESH_SOURCE_STATES = """
CREATE FUNCTION quality_registry_source_refresh(ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM quality_registry_states AS s
    WHERE s.customer_id IN (SELECT r.customer_id FROM unnest(ids) AS a (id)
                            JOIN source_records AS r ON r.id = a.id)
    ORDER BY s.customer_id
    FOR SHARE;
    INSERT INTO quality_registry_source_states AS t (
        source_record_id, system, kind, active, state, closed)
    SELECT r.id, r.system, s.kind, s.active, s.state, s.closed
    FROM (SELECT DISTINCT a.id FROM unnest(ids) AS a (id)) AS a
    JOIN source_records AS r ON r.id = a.id
    JOIN quality_registry_states AS s ON s.customer_id = r.customer_id
    WHERE r.system <> '_steward'
    ORDER BY r.id
    ON CONFLICT (source_record_id) DO UPDATE SET
        system = EXCLUDED.system, kind = EXCLUDED.kind, active = EXCLUDED.active,
        state = EXCLUDED.state, closed = EXCLUDED.closed
    WHERE (t.system, t.kind, t.active, t.state, t.closed) IS DISTINCT FROM
        (EXCLUDED.system, EXCLUDED.kind, EXCLUDED.active, EXCLUDED.state, EXCLUDED.closed);
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
CREATE FUNCTION quality_registry_facts(active boolean, state text, closed boolean)
RETURNS TABLE (metric text) LANGUAGE sql IMMUTABLE AS $$
    SELECT m.metric FROM (VALUES ('state:' || state), ('closed')) AS m (metric)
    WHERE active AND (m.metric <> 'closed' OR closed)
$$
"""

_TRANSITIONS = {
    "INSERT": "NEW TABLE AS new_rows",
    "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "OLD TABLE AS old_rows",
}


def _changes(event: str, scope: str) -> str:
    """The count deltas of a state table's statement: its rows' facts in and out."""
    parts = []
    if event in ("INSERT", "UPDATE"):
        parts.append(
            f"SELECT {scope.format(t='n')} AS scope, f.metric, 1 AS d FROM new_rows AS n "
            "CROSS JOIN LATERAL quality_registry_facts(n.active, n.state, n.closed) AS f"
        )
    if event in ("DELETE", "UPDATE"):
        parts.append(
            f"SELECT {scope.format(t='o')} AS scope, f.metric, -1 AS d FROM old_rows AS o "
            "CROSS JOIN LATERAL quality_registry_facts(o.active, o.state, o.closed) AS f"
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
CREATE FUNCTION quality_count_registry_states_{event.lower()}() RETURNS trigger
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
CREATE FUNCTION quality_count_registry_source_states_{event.lower()}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    {_changes(event, "'registry-source:' || {t}.system || ':' || {t}.kind")}
    RETURN NULL;
END
$$
"""


# What a statement may have changed, from each table a state is made of: (refresh function,
# type of its ids) and the ids per event.
_REFRESH: dict[str, tuple[str, str, dict[str, str]]] = {
    "customers": (
        "quality_registry_refresh",
        "uuid",
        {
            "INSERT": "SELECT array_agg(id) FROM new_rows",
            "UPDATE": (
                "SELECT array_agg(n.id) FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id "
                "WHERE n.status <> o.status OR n.kind <> o.kind"
            ),
            "DELETE": "SELECT array_agg(id) FROM old_rows",
        },
    ),
    "registry_links": (
        "quality_registry_refresh",
        "uuid",
        {
            "INSERT": "SELECT array_agg(customer_id) FROM new_rows",
            # Only the links whose facts changed (the registry's updates rewrite many links'
            # dates): the rows of one side not found unchanged on the other.
            "UPDATE": (
                "SELECT array_agg(DISTINCT customer_id) FROM ("
                "(SELECT customer_id, withdrawn, closed_on IS NULL FROM new_rows "
                "EXCEPT SELECT customer_id, withdrawn, closed_on IS NULL FROM old_rows) "
                "UNION ALL "
                "(SELECT customer_id, withdrawn, closed_on IS NULL FROM old_rows "
                "EXCEPT SELECT customer_id, withdrawn, closed_on IS NULL FROM new_rows)"
                ") AS changed (customer_id, withdrawn, open)"
            ),
            "DELETE": "SELECT array_agg(customer_id) FROM old_rows",
        },
    ),
    "registry_proposals": (
        "quality_registry_refresh",
        "uuid",
        {
            "INSERT": "SELECT array_agg(customer_id) FROM new_rows WHERE status = 'pending'",
            "UPDATE": (
                "SELECT array_agg(customer_id) FROM (SELECT n.customer_id FROM new_rows AS n "
                "JOIN old_rows AS o ON o.id = n.id "
                "WHERE n.status <> o.status OR n.customer_id <> o.customer_id "
                "UNION SELECT o.customer_id FROM new_rows AS n JOIN old_rows AS o "
                "ON o.id = n.id WHERE n.status <> o.status OR n.customer_id <> o.customer_id"
                ") AS changed"
            ),
            "DELETE": "SELECT array_agg(customer_id) FROM old_rows WHERE status = 'pending'",
        },
    ),
    "source_records": (
        "quality_registry_source_refresh",
        "bigint",
        {
            "INSERT": "SELECT array_agg(id) FROM new_rows",
            "UPDATE": (
                "SELECT array_agg(n.id) FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id "
                "WHERE n.customer_id <> o.customer_id OR n.system <> o.system"
            ),
            "DELETE": "SELECT array_agg(id) FROM old_rows",
        },
    ),
}


def _refresh_function(table: str, event: str) -> str:
    refresh, id_type, ids = _REFRESH[table]
    return f"""
CREATE FUNCTION quality_registry_{table}_{event.lower()}() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids {id_type}[];
BEGIN
    {ids[event]} INTO ids;
    IF ids IS NOT NULL THEN
        PERFORM {refresh}(ids);
    END IF;
    RETURN NULL;
END
$$
"""


# 最終取引日 of each source record (as its system sent it), counted per system, kind and day
# (scope transactions:{system}:{kind}, metric the day): customers with no transaction for N days
# per source system are the sum of the days before the cutoff, whatever N is.
_TRANSACTION_FACTS = """
CREATE FUNCTION quality_transaction_facts(system text, normalized jsonb)
RETURNS TABLE (scope text, metric text) LANGUAGE sql IMMUTABLE AS $$
    SELECT 'transactions:' || system || ':' || coalesce(normalized ->> 'kind', 'unknown'), d.day
    FROM (SELECT normalized #>> '{transactions,last_transaction_on}' AS day) AS d
    WHERE system <> '_steward' AND d.day ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'
$$
"""

_COUNT_TRANSACTIONS = """
CREATE FUNCTION quality_count_transactions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO quality_count_deltas (scope, metric, value)
        SELECT f.scope, f.metric, count(*)
        FROM new_rows AS n CROSS JOIN LATERAL quality_transaction_facts(n.system, n.normalized) f
        GROUP BY 1, 2;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO quality_count_deltas (scope, metric, value)
        SELECT scope, metric, sum(d) FROM (
            SELECT f.scope, f.metric, 1 AS d
            FROM new_rows AS n
            CROSS JOIN LATERAL quality_transaction_facts(n.system, n.normalized) AS f
            UNION ALL
            SELECT f.scope, f.metric, -1
            FROM old_rows AS o
            CROSS JOIN LATERAL quality_transaction_facts(o.system, o.normalized) AS f
        ) AS changes
        GROUP BY 1, 2 HAVING sum(d) <> 0;
    ELSE
        INSERT INTO quality_count_deltas (scope, metric, value)
        SELECT f.scope, f.metric, -count(*)
        FROM old_rows AS o CROSS JOIN LATERAL quality_transaction_facts(o.system, o.normalized) f
        GROUP BY 1, 2;
    END IF;
    RETURN NULL;
END
$$
"""

_BACKFILL_TRANSACTIONS = """
INSERT INTO quality_count_deltas (scope, metric, value)
SELECT f.scope, f.metric, count(*)
FROM source_records AS s CROSS JOIN LATERAL quality_transaction_facts(s.system, s.normalized) f
GROUP BY 1, 2
"""


def _trigger(name: str, table: str, event: str, function: str) -> str:
    return (
        f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {_TRANSITIONS[event]} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
    )


def _state_table(name: str, key: str, key_type: sa.types.TypeEngine[object]) -> None:
    op.create_table(
        name,
        sa.Column(key, key_type, nullable=False),
        *([sa.Column("system", sa.Text(), nullable=False)] if key == "source_record_id" else []),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint(key, name=op.f(f"pk_{name}")),
    )


def upgrade() -> None:
    _state_table("quality_registry_states", "customer_id", sa.Uuid())
    # The customer search's registry status filter.
    op.create_index(
        "ix_quality_registry_states_active_state",
        "quality_registry_states",
        ["state", "customer_id"],
        postgresql_where=sa.text("active"),
    )
    _state_table("quality_registry_source_states", "source_record_id", sa.BigInteger())
    for sql in (_REFRESH_STATES, _REFRESH_SOURCE_STATES, _FACTS):
        op.execute(sql)
    for event in _TRANSITIONS:
        for table, function in (
            ("quality_registry_states", _count_states_function),
            ("quality_registry_source_states", _count_source_states_function),
        ):
            op.execute(function(event))
            op.execute(
                _trigger(
                    f"{table}_count_{event.lower()}",
                    table,
                    event,
                    f"quality_count_{table.removeprefix('quality_')}_{event.lower()}",
                )
            )
    # Every customer's state and every source record's now (their insert triggers count them).
    op.execute("SELECT quality_registry_refresh(array_agg(id)) FROM customers HAVING count(*) > 0")
    for table in _REFRESH:
        for event in _TRANSITIONS:
            op.execute(_refresh_function(table, event))
            op.execute(
                _trigger(
                    f"{table}_quality_registry_{event.lower()}",
                    table,
                    event,
                    f"quality_registry_{table}_{event.lower()}",
                )
            )

    op.execute(_TRANSACTION_FACTS)
    op.execute(_COUNT_TRANSACTIONS)
    for event in _TRANSITIONS:
        op.execute(
            _trigger(
                f"source_records_quality_transactions_{event.lower()}",
                "source_records",
                event,
                "quality_count_transactions",
            )
        )
    op.execute(_BACKFILL_TRANSACTIONS)

    for field, condition in MISSING.items():
        op.create_index(
            f"ix_customers_missing_{field}",
            "customers",
            ["customer_code"],
            postgresql_where=sa.text(f"status = 'active' AND {condition}"),
        )


def downgrade() -> None:
    for field in MISSING:
        op.drop_index(f"ix_customers_missing_{field}", table_name="customers")
    for event in _TRANSITIONS:
        op.execute(
            f"DROP TRIGGER source_records_quality_transactions_{event.lower()} ON source_records"
        )
    op.execute("DROP FUNCTION quality_count_transactions()")
    op.execute("DROP FUNCTION quality_transaction_facts(text, jsonb)")
    for table in _REFRESH:
        for event in _TRANSITIONS:
            op.execute(f"DROP TRIGGER {table}_quality_registry_{event.lower()} ON {table}")
            op.execute(f"DROP FUNCTION quality_registry_{table}_{event.lower()}()")
    op.drop_table("quality_registry_source_states")
    op.drop_index("ix_quality_registry_states_active_state", table_name="quality_registry_states")
    op.drop_table("quality_registry_states")
    for event in _TRANSITIONS:
        op.execute(f"DROP FUNCTION quality_count_registry_states_{event.lower()}()")
        op.execute(f"DROP FUNCTION quality_count_registry_source_states_{event.lower()}()")
    op.execute("DROP FUNCTION quality_registry_facts(boolean, text, boolean)")
    op.execute("DROP FUNCTION quality_registry_source_refresh(bigint[])")
    op.execute("DROP FUNCTION quality_registry_refresh(uuid[])")
    for prefix in ("registry:", "registry-source:", "transactions:"):
        for table in ("quality_count_deltas", "quality_counts"):
            op.execute(f"DELETE FROM {table} WHERE left(scope, {len(prefix)}) = '{prefix}'")
