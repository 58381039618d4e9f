"""registry links: which customer is which 法人番号 in the NTA registry (the registry as a
source), and what the registry last said of it (closed, successor, withdrawn); proposals from
name + address matching; the registry by postal code (the proposals' blocking)

Revision ID: 0013
Revises: 0014
Create Date: 2026-12-06 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registry_links",
        sa.Column("customer_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("corporate_number", sa.Text(), nullable=False),
        sa.Column("linked_by", sa.Text(), nullable=False),
        sa.Column("applied_update_date", sa.Date(), nullable=True),
        sa.Column("applied_process", sa.Text(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("close_cause", sa.Text(), nullable=True),
        sa.Column("successor_corporate_number", sa.Text(), nullable=True),
        sa.Column("successor_customer_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("withdrawn", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "linked_by IN ('corporate_number', 'match', 'steward')",
            name=op.f("ck_registry_links_linked_by"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_registry_links_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["successor_customer_id"],
            ["customers.id"],
            name=op.f("fk_registry_links_successor_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_registry_links")),
    )
    op.create_index(
        "ix_registry_links_corporate_number", "registry_links", ["corporate_number"], unique=False
    )

    op.create_table(
        "registry_proposals",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("customer_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("corporate_number", sa.Text(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("explanation", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'rejected', 'superseded')",
            name=op.f("ck_registry_proposals_status"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_registry_proposals_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_proposals")),
        sa.UniqueConstraint(
            "customer_id",
            "corporate_number",
            name=op.f("uq_registry_proposals_customer_id_corporate_number"),
        ),
    )
    op.create_index(
        "ix_registry_proposals_status", "registry_proposals", ["status", "id"], unique=False
    )
    op.create_index(
        "ix_nta_corporations_post_code", "nta_corporations", ["post_code"], unique=False
    )
    op.create_table(
        "registry_match_checks",
        sa.Column("customer_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_registry_match_checks_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_registry_match_checks")),
    )


def downgrade() -> None:
    op.drop_table("registry_match_checks")
    op.drop_index("ix_nta_corporations_post_code", table_name="nta_corporations")
    op.drop_index("ix_registry_proposals_status", table_name="registry_proposals")
    op.drop_table("registry_proposals")
    op.drop_index("ix_registry_links_corporate_number", table_name="registry_links")
    op.drop_table("registry_links")
