"""import memory (issue 16): a job's file is staged and written in chunks of rows in file order,
so that staging keeps one chunk's keys in memory, not the whole file's

``import_jobs.staged_line``: the file's line of the last row staged (NULL: none yet); the next
chunk starts after it. ``import_jobs.staged_all``: the whole file is staged (the job is done when
its partitions are). Jobs staged before this revision were staged whole.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("import_jobs", sa.Column("staged_line", sa.Integer(), nullable=True))
    op.add_column(
        "import_jobs",
        sa.Column("staged_all", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute("UPDATE import_jobs SET staged_all = true WHERE status NOT IN ('queued', 'staging')")


def downgrade() -> None:
    op.drop_column("import_jobs", "staged_all")
    op.drop_column("import_jobs", "staged_line")
