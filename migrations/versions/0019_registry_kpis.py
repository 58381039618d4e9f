"""registry KPIs: the customer's T-number kept by PostgreSQL (an index-only count of the
T-numbers the インボイス registry does not confirm), and the closed links (closed companies still
active)

Revision ID: 0019
Revises: 0012
Create Date: 2026-12-06 10:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "customers",
        sa.Column(
            "invoice_registration_number",
            sa.Text(),
            sa.Computed("record ->> 'invoice_registration_number'", persisted=True),
            nullable=True,
        ),
    )
    op.create_index(
        "ix_customers_active_invoice_registration_number",
        "customers",
        ["invoice_registration_number"],
        postgresql_where=sa.text("status = 'active' AND invoice_registration_number IS NOT NULL"),
    )
    op.create_index(
        "ix_registry_links_closed",
        "registry_links",
        ["customer_id"],
        postgresql_where=sa.text("closed_on IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_registry_links_closed", table_name="registry_links")
    op.drop_index("ix_customers_active_invoice_registration_number", table_name="customers")
    op.drop_column("customers", "invoice_registration_number")
