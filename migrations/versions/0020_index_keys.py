"""field encryption: the blind-index key stored wrapped by the KEK (so the KEK can be replaced)

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-06 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Empty here: the hub stores the key the first time it loads its keys (it needs the KEK).
    op.create_table(
        "index_keys",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_index_keys")),
    )


def downgrade() -> None:
    # The key stays derivable from the KEK it was first derived from; a KEK replaced since
    # cannot be downgraded past (the hashes would no longer match).
    op.drop_table("index_keys")
