"""import speed: import rows keep what staging prepared (normalized record, changes, findings,
keys, and the configuration's fingerprint), so that a row is normalized once per import; change
events may be kept out of webhooks (customer_events.webhook: an initial load's summary event)

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-06 09:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "import_rows",
        sa.Column("prepared", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column(
        "customer_events",
        sa.Column("webhook", sa.Boolean(), server_default=sa.text("true"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("customer_events", "webhook")
    op.drop_column("import_rows", "prepared")
