"""hierarchy: links waiting for their target (named by source records), site proposals from
matching, the links a merge changed (for the unmerge), and the child's 取引金額 and status on
each link, kept by triggers, so that a roll-up reads the links only

Revision ID: 0012
Revises: 0015
Create Date: 2026-12-06 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AMOUNT = "COALESCE((c.record -> 'transactions' ->> 'annual_amount')::numeric, 0)"

_FUNCTIONS = [
    f"""
CREATE FUNCTION hierarchy_copy_child() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT {_AMOUNT}, c.status = 'active' INTO NEW.child_amount, NEW.child_active
    FROM customers c WHERE c.id = NEW.child_id;
    RETURN NEW;
END $$""",
    """CREATE FUNCTION hierarchy_follow_customer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE customer_relations r
    SET child_amount = COALESCE((NEW.record -> 'transactions' ->> 'annual_amount')::numeric, 0),
        child_active = NEW.status = 'active'
    WHERE r.child_id = NEW.id;
    RETURN NULL;
END $$""",
    """CREATE TRIGGER customer_relations_copy_child
    BEFORE INSERT OR UPDATE OF child_id ON customer_relations
    FOR EACH ROW EXECUTE FUNCTION hierarchy_copy_child()""",
    """CREATE TRIGGER customers_hierarchy_follow
    AFTER UPDATE OF status, record ON customers
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR (OLD.record -> 'transactions' ->> 'annual_amount')
             IS DISTINCT FROM (NEW.record -> 'transactions' ->> 'annual_amount'))
    EXECUTE FUNCTION hierarchy_follow_customer()""",
]


def _now(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.add_column(
        "customer_relations",
        sa.Column("child_amount", sa.Numeric(), server_default="0", nullable=False),
    )
    op.add_column(
        "customer_relations",
        sa.Column("child_active", sa.Boolean(), server_default="true", nullable=False),
    )
    op.execute(
        f"UPDATE customer_relations r SET child_amount = {_AMOUNT},"
        " child_active = c.status = 'active' FROM customers c WHERE c.id = r.child_id"
    )
    op.drop_index("ix_customer_relations_parent", table_name="customer_relations")
    op.create_index(
        "ix_customer_relations_parent",
        "customer_relations",
        ["parent_id", "axis"],
        postgresql_include=["child_id", "child_active", "child_amount", "valid_from", "valid_to"],
    )
    for statement in _FUNCTIONS:
        op.execute(statement)
    op.add_column(
        "merge_log",
        sa.Column(
            "moved_links",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
    )
    op.create_table(
        "customer_relation_pending",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("child_id", sa.UUID(), nullable=False),
        sa.Column("axis", sa.Text(), nullable=False),
        sa.Column("relation_type", sa.Text(), nullable=False),
        sa.Column("target_kind", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("set_by", sa.Text(), nullable=False),
        _now("created_at"),
        sa.CheckConstraint(
            "target_kind IN ('customer_code', 'source', 'corporate_number')",
            name=op.f("ck_customer_relation_pending_target_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["child_id"],
            ["customers.id"],
            name=op.f("fk_customer_relation_pending_child_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_relation_pending")),
        sa.UniqueConstraint(
            "child_id", "axis", name=op.f("uq_customer_relation_pending_child_id_axis")
        ),
    )
    op.create_index(
        "ix_customer_relation_pending_target",
        "customer_relation_pending",
        ["target_kind", "target"],
    )
    op.create_table(
        "hierarchy_proposals",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("child_id", sa.UUID(), nullable=False),
        sa.Column("parent_id", sa.UUID(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        _now("created_at"),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'rejected', 'superseded')",
            name=op.f("ck_hierarchy_proposals_status"),
        ),
        sa.ForeignKeyConstraint(
            ["child_id"], ["customers.id"], name=op.f("fk_hierarchy_proposals_child_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["customers.id"],
            name=op.f("fk_hierarchy_proposals_parent_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hierarchy_proposals")),
        sa.UniqueConstraint(
            "child_id", "parent_id", name=op.f("uq_hierarchy_proposals_child_id_parent_id")
        ),
    )
    op.create_index("ix_hierarchy_proposals_status", "hierarchy_proposals", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_hierarchy_proposals_status", table_name="hierarchy_proposals")
    op.drop_table("hierarchy_proposals")
    op.drop_index("ix_customer_relation_pending_target", table_name="customer_relation_pending")
    op.drop_table("customer_relation_pending")
    op.drop_column("merge_log", "moved_links")
    op.execute("DROP TRIGGER customers_hierarchy_follow ON customers")
    op.execute("DROP TRIGGER customer_relations_copy_child ON customer_relations")
    op.execute("DROP FUNCTION hierarchy_follow_customer()")
    op.execute("DROP FUNCTION hierarchy_copy_child()")
    op.drop_index("ix_customer_relations_parent", table_name="customer_relations")
    op.create_index("ix_customer_relations_parent", "customer_relations", ["parent_id", "axis"])
    op.drop_column("customer_relations", "child_active")
    op.drop_column("customer_relations", "child_amount")
