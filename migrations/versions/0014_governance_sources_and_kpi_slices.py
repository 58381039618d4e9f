"""governance and quality (issue 18): change requests held from source-system writes (the source
record they belong to) and the status `withdrawn`; the KPI slices per source system and kind
(counts of source records, their findings and filled fields, kept by a statement trigger as in
0008) and the index for the freshness per source system

Revision ID: 0014
Revises: 0009
Create Date: 2026-12-06 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_SOURCE_FACTS = """
CREATE FUNCTION quality_source_facts(system text, normalized jsonb, findings jsonb)
RETURNS TABLE (scope text, metric text)
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'source:' || system || ':' || coalesce(normalized ->> 'kind', 'unknown'), m.metric
    FROM (
        SELECT 'records'
        UNION ALL
        SELECT 'findings' WHERE jsonb_typeof(findings) = 'array'
            AND jsonb_array_length(findings) > 0
        UNION ALL
        SELECT DISTINCT 'finding:' || (f ->> 'rule')
        FROM jsonb_array_elements(
            CASE WHEN jsonb_typeof(findings) = 'array' THEN findings ELSE '[]' END) AS f
        UNION ALL
        SELECT 'filled:' || x.name
        FROM (VALUES
            ('corporate_number', normalized ->> 'corporate_number' IS NOT NULL),
            ('invoice_registration_number',
                normalized ->> 'invoice_registration_number' IS NOT NULL),
            ('phone', jsonb_path_exists(normalized, '$.phones[*]')),
            ('email', jsonb_path_exists(normalized, '$.emails[*]')),
            ('address', jsonb_path_exists(normalized, '$.addresses[*]')),
            ('address_with_postal_code',
                jsonb_path_exists(normalized, '$.addresses[*].postal_code ? (@ != null)')),
            ('name_kana', normalized ->> 'name_kana' IS NOT NULL),
            ('industry', normalized #>> '{classification,industry}' IS NOT NULL),
            ('rank', normalized #>> '{classification,rank}' IS NOT NULL),
            ('last_transaction_on',
                normalized #>> '{transactions,last_transaction_on}' IS NOT NULL),
            ('birth_date', normalized ->> 'birth_date' IS NOT NULL)
        ) AS x (name, filled)
        WHERE x.filled
    ) AS m (metric)
    WHERE system <> '_steward'
$$
"""

_COUNT_SOURCE_FACTS = """
CREATE FUNCTION quality_count_source_facts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO quality_count_deltas (scope, metric, value)
        SELECT f.scope, f.metric, count(*)
        FROM new_rows AS n
        CROSS JOIN LATERAL quality_source_facts(n.system, n.normalized, n.findings) AS f
        GROUP BY 1, 2;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO quality_count_deltas (scope, metric, value)
        SELECT scope, metric, sum(d) FROM (
            SELECT f.scope, f.metric, 1 AS d
            FROM new_rows AS n
            CROSS JOIN LATERAL quality_source_facts(n.system, n.normalized, n.findings) AS f
            UNION ALL
            SELECT f.scope, f.metric, -1
            FROM old_rows AS o
            CROSS JOIN LATERAL quality_source_facts(o.system, o.normalized, o.findings) AS f
        ) AS changes
        GROUP BY 1, 2 HAVING sum(d) <> 0;
    ELSE
        INSERT INTO quality_count_deltas (scope, metric, value)
        SELECT f.scope, f.metric, -count(*)
        FROM old_rows AS o
        CROSS JOIN LATERAL quality_source_facts(o.system, o.normalized, o.findings) AS f
        GROUP BY 1, 2;
    END IF;
    RETURN NULL;
END
$$
"""

_TRANSITIONS = {
    "INSERT": "NEW TABLE AS new_rows",
    "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "OLD TABLE AS old_rows",
}

_BACKFILL = """
INSERT INTO quality_count_deltas (scope, metric, value)
SELECT f.scope, f.metric, count(*)
FROM source_records AS s
CROSS JOIN LATERAL quality_source_facts(s.system, s.normalized, s.findings) AS f
GROUP BY 1, 2
"""


def upgrade() -> None:
    op.add_column("change_requests", sa.Column("system", sa.Text(), nullable=True))
    op.add_column("change_requests", sa.Column("source_id", sa.Text(), nullable=True))
    op.drop_constraint(op.f("ck_change_requests_status"), "change_requests", type_="check")
    op.create_check_constraint(
        op.f("ck_change_requests_status"),
        "change_requests",
        "status IN ('pending', 'approved', 'rejected', 'withdrawn')",
    )
    op.create_index(
        "ix_change_requests_source_pending",
        "change_requests",
        ["system", "source_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending' AND system IS NOT NULL"),
    )
    op.create_index(
        "ix_source_records_system_updated_at", "source_records", ["system", "updated_at"]
    )
    op.execute(_SOURCE_FACTS)
    op.execute(_COUNT_SOURCE_FACTS)
    for event, transitions in _TRANSITIONS.items():
        op.execute(
            f"CREATE TRIGGER source_records_quality_facts_{event.lower()} AFTER {event} "
            f"ON source_records REFERENCING {transitions} FOR EACH STATEMENT "
            "EXECUTE FUNCTION quality_count_source_facts()"
        )
    op.execute(_BACKFILL)


def downgrade() -> None:
    for event in _TRANSITIONS:
        op.execute(f"DROP TRIGGER source_records_quality_facts_{event.lower()} ON source_records")
    op.execute("DROP FUNCTION quality_count_source_facts()")
    op.execute("DROP FUNCTION quality_source_facts(text, jsonb, jsonb)")
    op.execute("DELETE FROM quality_count_deltas WHERE left(scope, 7) = 'source:'")
    op.execute("DELETE FROM quality_counts WHERE left(scope, 7) = 'source:'")
    op.drop_index("ix_source_records_system_updated_at", table_name="source_records")
    op.drop_index("ix_change_requests_source_pending", table_name="change_requests")
    op.execute("UPDATE change_requests SET status = 'rejected' WHERE status = 'withdrawn'")
    op.drop_constraint(op.f("ck_change_requests_status"), "change_requests", type_="check")
    op.create_check_constraint(
        op.f("ck_change_requests_status"),
        "change_requests",
        "status IN ('pending', 'approved', 'rejected')",
    )
    op.drop_column("change_requests", "source_id")
    op.drop_column("change_requests", "system")
