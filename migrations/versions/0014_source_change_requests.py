"""governance: change requests held from source-system writes (the source record they belong to)
and the status `withdrawn` (a later write of that source no longer asks for the change)

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


def downgrade() -> None:
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
