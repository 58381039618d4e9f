"""customer_events outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:55:26.877829
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("customer_version", sa.Integer(), nullable=False),
        sa.Column("changed_fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_customer_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_customer_events_event_id")),
    )
    # The writer's transaction id: the change feed waits for in-flight lower ones (commit order).
    op.execute(
        "ALTER TABLE customer_events ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id()"
    )
    op.create_index(
        "ix_customer_events_customer_id_seq",
        "customer_events",
        ["customer_id", "seq"],
        unique=False,
    )
    op.create_index(
        "ix_customer_events_occurred_at", "customer_events", ["occurred_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_customer_events_occurred_at", table_name="customer_events")
    op.drop_index("ix_customer_events_customer_id_seq", table_name="customer_events")
    op.drop_table("customer_events")
