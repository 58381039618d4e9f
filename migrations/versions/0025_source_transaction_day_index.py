"""quality (issue 18): the customers behind a per-source-system no-transaction figure, by index —
the source record's 最終取引日 as one scalar SQL function, quality_source_transaction_day, that
0016's quality_transaction_facts (the trigger's count) now calls, that the customer search's
source_no_transaction_days filter calls, and that an index on source_records (system, day)
is built on, so the figure and its link read the same definition and a rare condition is an
index range instead of a walk over the master

Revision ID: 0025
Revises: 0022
Create Date: 2026-12-06 16:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DAY = """
CREATE FUNCTION quality_source_transaction_day(system text, normalized jsonb)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN system <> '_steward'
            AND (normalized #>> '{transactions,last_transaction_on}')
                ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'
        THEN normalized #>> '{transactions,last_transaction_on}'
    END
$$
"""

_FACTS = """
CREATE OR REPLACE FUNCTION quality_transaction_facts(system text, normalized jsonb)
RETURNS TABLE (scope text, metric text) LANGUAGE sql IMMUTABLE AS $$
    SELECT 'transactions:' || system || ':' || coalesce(normalized ->> 'kind', 'unknown'), d.day
    FROM (SELECT quality_source_transaction_day(system, normalized) AS day) AS d
    WHERE d.day IS NOT NULL
$$
"""

# 0016's body, for the downgrade.
_FACTS_0016 = """
CREATE OR REPLACE FUNCTION quality_transaction_facts(system text, normalized jsonb)
RETURNS TABLE (scope text, metric text) LANGUAGE sql IMMUTABLE AS $$
    SELECT 'transactions:' || system || ':' || coalesce(normalized ->> 'kind', 'unknown'), d.day
    FROM (SELECT normalized #>> '{transactions,last_transaction_on}' AS day) AS d
    WHERE system <> '_steward' AND d.day ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'
$$
"""


def upgrade() -> None:
    op.execute(_DAY)
    op.execute(_FACTS)
    op.execute(
        "CREATE INDEX ix_source_records_system_transaction_day ON source_records "
        "(system, quality_source_transaction_day(system, normalized))"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_source_records_system_transaction_day")
    op.execute(_FACTS_0016)
    op.execute("DROP FUNCTION quality_source_transaction_day(text, jsonb)")
