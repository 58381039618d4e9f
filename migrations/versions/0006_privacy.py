"""privacy: erasures, suppressions, held writes, access log

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 05:50:16.454851
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pii_access_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "accessed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=True),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("customer_id", sa.UUID(), nullable=True),
        sa.Column("fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pii_access_log")),
    )
    op.create_index(
        op.f("ix_pii_access_log_accessed_at"), "pii_access_log", ["accessed_at"], unique=False
    )
    op.create_index(
        "ix_pii_access_log_customer_id", "pii_access_log", ["customer_id", "id"], unique=False
    )
    op.create_index("ix_pii_access_log_subject", "pii_access_log", ["subject", "id"], unique=False)
    op.create_table(
        "privacy_keys",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_privacy_keys")),
    )
    op.create_table(
        "erasures",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("customer_code", sa.Text(), nullable=False),
        sa.Column("erased_customer_ids", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("source_ids", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("erased_by", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column(
            "erased_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_erasures_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasures")),
    )
    op.create_index(op.f("ix_erasures_customer_id"), "erasures", ["customer_id"], unique=False)
    op.create_table(
        "held_writes",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("erasure_id", sa.UUID(), nullable=False),
        sa.Column("system", sa.Text(), nullable=False),
        sa.Column("source_id", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("matched", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("held_by", sa.Text(), nullable=False),
        sa.Column(
            "held_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["erasure_id"], ["erasures.id"], name=op.f("fk_held_writes_erasure_id_erasures")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_writes")),
    )
    op.create_index("ix_held_writes_status_id", "held_writes", ["status", "id"], unique=False)
    op.create_index(
        "uq_held_writes_waiting",
        "held_writes",
        ["system", "source_id"],
        unique=True,
        postgresql_where=sa.text("status = 'held'"),
    )
    op.create_table(
        "suppressions",
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("erasure_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["erasure_id"], ["erasures.id"], name=op.f("fk_suppressions_erasure_id_erasures")
        ),
        sa.PrimaryKeyConstraint("digest", "erasure_id", name=op.f("pk_suppressions")),
    )

    # The audit log stays append-only, with one exception the law requires: an erasure (or the
    # retention of payloads) may clear an entry's before/after, and change nothing else.
    op.execute(
        """
        CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND NEW.before IS NULL AND NEW.after IS NULL
               AND to_jsonb(NEW) - 'before' - 'after' = to_jsonb(OLD) - 'before' - 'after' THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'audit_log is append-only';
        END $$
        """
    )


def downgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only';
        END $$
        """
    )
    op.drop_table("suppressions")
    op.drop_index("uq_held_writes_waiting", table_name="held_writes")
    op.drop_index("ix_held_writes_status_id", table_name="held_writes")
    op.drop_table("held_writes")
    op.drop_index(op.f("ix_erasures_customer_id"), table_name="erasures")
    op.drop_table("erasures")
    op.drop_table("privacy_keys")
    op.drop_index("ix_pii_access_log_subject", table_name="pii_access_log")
    op.drop_index("ix_pii_access_log_customer_id", table_name="pii_access_log")
    op.drop_index(op.f("ix_pii_access_log_accessed_at"), table_name="pii_access_log")
    op.drop_table("pii_access_log")
