"""hierarchy: each corporation's sites summed (customer_site_totals), kept by a trigger on
customer_relations, so that a group's roll-up adds one row per company instead of reading one
closure row per site

Revision ID: 0027
Revises: 0025
Create Date: 2026-12-06 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A row per corporation and validity interval of its site links (-infinity / infinity for an
# open end, so that the key has no NULL): how many links, how many of them to an active site,
# and those sites' 取引金額. Links with the same interval share a row; a row goes when its last
# link goes. Whether a row is in effect is decided when it is read (the day moves on).
#
# A change appends its delta to customer_site_total_deltas (an INSERT: writers never wait for
# each other there), then folds the corporation's deltas into its totals unless another
# transaction is folding them (a try lock, never waited for): the folder's totals rows stay
# locked until it commits, and a writer that would wait for them leaves its delta for the next
# fold instead. Readers add the two tables.
_FUNCTIONS = [
    """
CREATE FUNCTION hierarchy_site_totals_add(corporation uuid, link_from date, link_to date,
                                          add_links integer, add_sites integer,
                                          add_amount numeric)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO customer_site_total_deltas
        (corporation_id, valid_from, valid_to, links, sites, amount)
    VALUES (corporation, COALESCE(link_from, '-infinity'), COALESCE(link_to, 'infinity'),
            add_links, add_sites, add_amount);
    IF pg_try_advisory_xact_lock(
           hashtextextended('hierarchy_site_totals:' || corporation::text, 0)) THEN
        WITH moved AS (
            DELETE FROM customer_site_total_deltas d WHERE d.corporation_id = corporation
            RETURNING d.valid_from, d.valid_to, d.links, d.sites, d.amount
        )
        INSERT INTO customer_site_totals AS t
            (corporation_id, valid_from, valid_to, links, sites, amount)
        SELECT corporation, m.valid_from, m.valid_to, sum(m.links), sum(m.sites),
               sum(m.amount)
        FROM moved m GROUP BY m.valid_from, m.valid_to
        ON CONFLICT (corporation_id, valid_from, valid_to) DO UPDATE
        SET links = t.links + EXCLUDED.links, sites = t.sites + EXCLUDED.sites,
            amount = t.amount + EXCLUDED.amount;
        DELETE FROM customer_site_totals t WHERE t.corporation_id = corporation AND t.links = 0;
    END IF;
END $$""",
    """
CREATE FUNCTION hierarchy_site_totals_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.axis = 'site' AND NEW.axis = 'site'
       AND (OLD.parent_id, OLD.valid_from, OLD.valid_to)
           IS NOT DISTINCT FROM (NEW.parent_id, NEW.valid_from, NEW.valid_to) THEN
        -- the same row: only the site's status or 取引金額 changed
        PERFORM hierarchy_site_totals_add(
            NEW.parent_id, NEW.valid_from, NEW.valid_to, 0,
            NEW.child_active::integer - OLD.child_active::integer,
            CASE WHEN NEW.child_active THEN NEW.child_amount ELSE 0 END
                - CASE WHEN OLD.child_active THEN OLD.child_amount ELSE 0 END);
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.axis = 'site' THEN
        PERFORM hierarchy_site_totals_add(
            OLD.parent_id, OLD.valid_from, OLD.valid_to, -1, -OLD.child_active::integer,
            CASE WHEN OLD.child_active THEN -OLD.child_amount ELSE 0 END);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.axis = 'site' THEN
        PERFORM hierarchy_site_totals_add(
            NEW.parent_id, NEW.valid_from, NEW.valid_to, 1, NEW.child_active::integer,
            CASE WHEN NEW.child_active THEN NEW.child_amount ELSE 0 END);
    END IF;
    RETURN NULL;
END $$""",
    """CREATE TRIGGER customer_relations_site_totals_insert
    AFTER INSERT ON customer_relations FOR EACH ROW WHEN (NEW.axis = 'site')
    EXECUTE FUNCTION hierarchy_site_totals_follow()""",
    """CREATE TRIGGER customer_relations_site_totals_delete
    AFTER DELETE ON customer_relations FOR EACH ROW WHEN (OLD.axis = 'site')
    EXECUTE FUNCTION hierarchy_site_totals_follow()""",
    """CREATE TRIGGER customer_relations_site_totals_update
    AFTER UPDATE ON customer_relations FOR EACH ROW
    WHEN ((OLD.axis = 'site' OR NEW.axis = 'site')
          AND (OLD.parent_id, OLD.axis, OLD.valid_from, OLD.valid_to, OLD.child_active,
               OLD.child_amount)
              IS DISTINCT FROM (NEW.parent_id, NEW.axis, NEW.valid_from, NEW.valid_to,
                                NEW.child_active, NEW.child_amount))
    EXECUTE FUNCTION hierarchy_site_totals_follow()""",
]

# The totals recomputed from the links (the tests compare the table with the same query).
BACKFILL = """
INSERT INTO customer_site_totals (corporation_id, valid_from, valid_to, links, sites, amount)
SELECT parent_id, COALESCE(valid_from, '-infinity'), COALESCE(valid_to, 'infinity'), count(*),
       count(*) FILTER (WHERE child_active),
       COALESCE(sum(child_amount) FILTER (WHERE child_active), 0)
FROM customer_relations WHERE axis = 'site'
GROUP BY 1, 2, 3
"""


def upgrade() -> None:
    op.create_table(
        "customer_site_total_deltas",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("corporation_id", sa.UUID(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("links", sa.Integer(), nullable=False),
        sa.Column("sites", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_site_total_deltas")),
    )
    op.create_index(
        "ix_customer_site_total_deltas_corporation",
        "customer_site_total_deltas",
        ["corporation_id"],
    )
    op.create_table(
        "customer_site_totals",
        sa.Column("corporation_id", sa.UUID(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("links", sa.Integer(), nullable=False),
        sa.Column("sites", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint(
            "corporation_id", "valid_from", "valid_to", name=op.f("pk_customer_site_totals")
        ),
    )
    # The table is filled before the trigger exists: the migration runs in one transaction and
    # takes this lock first, so no link changes between the two.
    op.execute("LOCK TABLE customer_relations IN SHARE ROW EXCLUSIVE MODE")
    op.execute(BACKFILL)
    for statement in _FUNCTIONS:
        op.execute(statement)


def downgrade() -> None:
    for trigger in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER customer_relations_site_totals_{trigger} ON customer_relations")
    op.execute("DROP FUNCTION hierarchy_site_totals_follow()")
    op.execute(
        "DROP FUNCTION hierarchy_site_totals_add(uuid, date, date, integer, integer, numeric)"
    )
    op.drop_table("customer_site_totals")
    op.drop_table("customer_site_total_deltas")
