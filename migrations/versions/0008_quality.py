"""quality and governance: rule policies, findings, KPI counts and snapshots; protected
fields and change requests

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 06:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The counts behind the KPIs, kept by statement-level triggers with transition tables: one
# INSERT into quality_count_deltas per statement (never an UPDATE, so concurrent writers never
# wait for each other), whatever the number of rows (a bulk INSERT ... SELECT included).
_DAY = "to_char(now() AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD')"

_FUNCTIONS = [
    """
CREATE FUNCTION quality_customer_facts(
    kind text, status text, corporate_number text, phones text[], emails text[],
    name_kana text, record jsonb
) RETURNS TABLE (scope text, metric text)
LANGUAGE sql IMMUTABLE AS $$
    SELECT s.scope, m.metric
    FROM (VALUES ('all'), ('kind:' || kind)) AS s (scope)
    CROSS JOIN LATERAL (
        SELECT 'status:' || status
        UNION ALL
        SELECT 'filled:' || f.name
        FROM (VALUES
            ('corporate_number', corporate_number IS NOT NULL),
            ('invoice_registration_number',
                record ->> 'invoice_registration_number' IS NOT NULL),
            ('phone', cardinality(phones) > 0),
            ('email', cardinality(emails) > 0),
            ('address', jsonb_array_length(coalesce(record -> 'addresses', '[]')) > 0),
            ('address_with_postal_code',
                jsonb_path_exists(record, '$.addresses[*].postal_code ? (@ != null)')),
            ('name_kana', name_kana IS NOT NULL),
            ('industry', record #>> '{classification,industry}' IS NOT NULL),
            ('rank', record #>> '{classification,rank}' IS NOT NULL),
            ('last_transaction_on',
                record #>> '{transactions,last_transaction_on}' IS NOT NULL),
            ('birth_date', record ->> 'birth_date' IS NOT NULL)
        ) AS f (name, filled)
        WHERE f.filled AND status = 'active'
    ) AS m (metric)
$$
""",
    """
CREATE FUNCTION quality_count_customers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO quality_count_deltas (scope, metric, value)
        SELECT f.scope, f.metric, count(*)
        FROM new_rows AS n CROSS JOIN LATERAL quality_customer_facts(
            n.kind, n.status, n.corporate_number, n.phones, n.emails, n.name_kana,
            n.record) AS f
        GROUP BY 1, 2;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO quality_count_deltas (scope, metric, value)
        SELECT scope, metric, sum(d) FROM (
            SELECT f.scope, f.metric, 1 AS d
            FROM new_rows AS n CROSS JOIN LATERAL quality_customer_facts(
            n.kind, n.status, n.corporate_number, n.phones, n.emails, n.name_kana,
            n.record) AS f
            UNION ALL
            SELECT f.scope, f.metric, -1
            FROM old_rows AS o CROSS JOIN LATERAL quality_customer_facts(
            o.kind, o.status, o.corporate_number, o.phones, o.emails, o.name_kana,
            o.record) AS f
        ) AS changes
        GROUP BY 1, 2 HAVING sum(d) <> 0;
    ELSE
        INSERT INTO quality_count_deltas (scope, metric, value)
        SELECT f.scope, f.metric, -count(*)
        FROM old_rows AS o CROSS JOIN LATERAL quality_customer_facts(
            o.kind, o.status, o.corporate_number, o.phones, o.emails, o.name_kana,
            o.record) AS f
        GROUP BY 1, 2;
    END IF;
    RETURN NULL;
END
$$
""",
    f"""
CREATE FUNCTION quality_count_source_records() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO quality_count_deltas (scope, metric, value)
        SELECT scope, metric, count(*) FROM (
            SELECT 'system:' || n.system AS scope, 'source_records' AS metric FROM new_rows AS n
            UNION ALL
            SELECT 'daily:' || {_DAY} || ':' || n.system, m.metric
            FROM new_rows AS n
            CROSS JOIN LATERAL (VALUES ('writes'), (coalesce(n.decision ->> 'outcome', 'none')))
                AS m (metric)
        ) AS facts
        GROUP BY 1, 2;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO quality_count_deltas (scope, metric, value)
        SELECT 'daily:' || {_DAY} || ':' || n.system, 'writes', count(*)
        FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
        WHERE n.version <> o.version
        GROUP BY 1, 2;
    ELSE
        INSERT INTO quality_count_deltas (scope, metric, value)
        SELECT 'system:' || o.system, 'source_records', -count(*)
        FROM old_rows AS o
        GROUP BY 1, 2;
    END IF;
    RETURN NULL;
END
$$
""",
    """
CREATE FUNCTION quality_count_findings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A source record's findings are always replaced whole, so distinct (record, rule) pairs
    -- counted here are records with a finding of that rule.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO quality_count_deltas (scope, metric, value)
        SELECT 'system:' || system, metric, count(DISTINCT source_record_id)
        FROM new_rows CROSS JOIN LATERAL (VALUES ('finding:' || rule), ('findings')) AS m (metric)
        GROUP BY 1, 2;
    ELSE
        INSERT INTO quality_count_deltas (scope, metric, value)
        SELECT 'system:' || system, metric, -count(DISTINCT source_record_id)
        FROM old_rows CROSS JOIN LATERAL (VALUES ('finding:' || rule), ('findings')) AS m (metric)
        GROUP BY 1, 2;
    END IF;
    RETURN NULL;
END
$$
""",
    f"""
CREATE FUNCTION quality_count_merges() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO quality_count_deltas (scope, metric, value)
    SELECT 'daily:' || {_DAY} || ':', 'steward_merges', count(*) FROM new_rows
    HAVING count(*) > 0;
    RETURN NULL;
END
$$
""",
]

_TRIGGERS = [
    (table, function, event)
    for table, function in (
        ("customers", "quality_count_customers"),
        ("source_records", "quality_count_source_records"),
        ("quality_findings", "quality_count_findings"),
    )
    for event in ("INSERT", "UPDATE", "DELETE")
    if not (table == "quality_findings" and event == "UPDATE")
] + [("merge_log", "quality_count_merges", "INSERT")]


def _trigger_sql(table: str, function: str, event: str) -> str:
    transitions = {
        "INSERT": "NEW TABLE AS new_rows",
        "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "DELETE": "OLD TABLE AS old_rows",
    }[event]
    return (
        f"CREATE TRIGGER {table}_quality_{event.lower()} AFTER {event} ON {table} "
        f"REFERENCING {transitions} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
    )


# The counts of the rows that exist when the triggers are created.
_BACKFILL = """
INSERT INTO quality_counts (scope, metric, value)
SELECT scope, metric, count(*) FROM (
    SELECT f.scope, f.metric FROM customers AS c CROSS JOIN LATERAL quality_customer_facts(
            c.kind, c.status, c.corporate_number, c.phones, c.emails, c.name_kana,
            c.record) AS f
    UNION ALL
    SELECT 'system:' || system, 'source_records' FROM source_records
) AS facts
GROUP BY 1, 2
"""


def upgrade() -> None:
    op.add_column(
        "source_records",
        sa.Column(
            "findings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.create_table(
        "quality_rule_policies",
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "policy IN ('reject', 'flag', 'ignore')", name=op.f("ck_quality_rule_policies_policy")
        ),
        sa.PrimaryKeyConstraint("rule", name=op.f("pk_quality_rule_policies")),
    )
    op.create_table(
        "quality_findings",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("source_record_id", sa.BigInteger(), nullable=False),
        sa.Column("system", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("field", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("value", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["source_record_id"],
            ["source_records.id"],
            name=op.f("fk_quality_findings_source_record_id_source_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_findings")),
    )
    op.create_index(
        "ix_quality_findings_source_record_id", "quality_findings", ["source_record_id"]
    )
    op.create_index("ix_quality_findings_rule_id", "quality_findings", ["rule", "id"])
    op.create_index("ix_quality_findings_system_id", "quality_findings", ["system", "id"])
    op.create_table(
        "quality_kpi_snapshots",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("figures", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_quality_kpi_snapshots")),
    )
    op.create_table(
        "quality_counts",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "metric", name=op.f("pk_quality_counts")),
    )
    op.create_table(
        "quality_count_deltas",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_count_deltas")),
    )
    op.create_index(
        "ix_quality_count_deltas_scope_metric", "quality_count_deltas", ["scope", "metric"]
    )
    op.create_index(
        "ix_customers_active_kind_updated_at",
        "customers",
        ["kind", "updated_at"],
        postgresql_where=sa.text("status = 'active'"),
    )
    op.add_column(
        "customers",
        sa.Column(
            "last_transaction_on",
            sa.Text(),
            sa.Computed("record #>> '{transactions,last_transaction_on}'", persisted=True),
            nullable=True,
        ),
    )
    op.create_index(
        "ix_customers_active_kind_last_transaction",
        "customers",
        ["kind", "last_transaction_on"],
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "protected_fields",
        sa.Column("pointer", sa.Text(), nullable=False),
        sa.Column("steward_edits", sa.Boolean(), nullable=False),
        sa.Column("systems", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("pointer", name=op.f("pk_protected_fields")),
    )
    op.create_table(
        "change_requests",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("customer_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("patch", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.Text(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected')",
            name=op.f("ck_change_requests_status"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_change_requests_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_requests")),
    )
    op.create_index("ix_change_requests_status_id", "change_requests", ["status", "id"])
    op.create_index("ix_change_requests_customer_id", "change_requests", ["customer_id"])
    for function in _FUNCTIONS:
        op.execute(function)
    op.execute(_BACKFILL)
    for table, function, event in _TRIGGERS:
        op.execute(_trigger_sql(table, function, event))


def downgrade() -> None:
    op.drop_index("ix_change_requests_customer_id", table_name="change_requests")
    op.drop_index("ix_change_requests_status_id", table_name="change_requests")
    op.drop_table("change_requests")
    op.drop_table("protected_fields")
    for table, _, event in _TRIGGERS:
        op.execute(f"DROP TRIGGER {table}_quality_{event.lower()} ON {table}")
    for function in (
        "quality_count_merges()",
        "quality_count_findings()",
        "quality_count_source_records()",
        "quality_count_customers()",
        "quality_customer_facts(text, text, text, text[], text[], text, jsonb)",
    ):
        op.execute(f"DROP FUNCTION {function}")
    op.drop_index("ix_customers_active_kind_last_transaction", table_name="customers")
    op.drop_column("customers", "last_transaction_on")
    op.drop_index("ix_customers_active_kind_updated_at", table_name="customers")
    op.drop_index("ix_quality_count_deltas_scope_metric", table_name="quality_count_deltas")
    op.drop_table("quality_count_deltas")
    op.drop_table("quality_counts")
    op.drop_table("quality_kpi_snapshots")
    op.drop_index("ix_quality_findings_system_id", table_name="quality_findings")
    op.drop_index("ix_quality_findings_rule_id", table_name="quality_findings")
    op.drop_index("ix_quality_findings_source_record_id", table_name="quality_findings")
    op.drop_table("quality_findings")
    op.drop_table("quality_rule_policies")
    op.drop_column("source_records", "findings")
