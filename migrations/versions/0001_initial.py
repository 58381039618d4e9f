"""customers, source records, custom fields, rank rules, audit log

Revision ID: 0001
Revises:
Create Date: 2026-11-23 18:52:11.717488
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("customer_code_seq")))
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("entity_type", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=True),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_customer_id_id", "audit_log", ["customer_id", "id"], unique=False)
    op.create_index(
        "ix_audit_log_entity", "audit_log", ["entity_type", "entity_id", "id"], unique=False
    )
    # The audit log is append-only: entries can be added, never changed or removed.
    op.execute(
        """
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only';
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
        """
    )
    op.create_table(
        "custom_field_definitions",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("allowed_values", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
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
            "type IN ('string', 'integer', 'number', 'boolean', 'date', 'enum')",
            name=op.f("ck_custom_field_definitions_type"),
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_custom_field_definitions")),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("customer_code", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("merged_into_id", sa.UUID(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_key", sa.Text(), nullable=False),
        sa.Column("name_kana", sa.Text(), nullable=True),
        sa.Column("corporate_number", sa.Text(), nullable=True),
        sa.Column("phones", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("emails", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("record", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("lineage", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
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
        sa.CheckConstraint("kind IN ('corporation', 'person')", name=op.f("ck_customers_kind")),
        sa.CheckConstraint(
            "status IN ('active', 'merged', 'deleted', 'erased')", name=op.f("ck_customers_status")
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["customers.id"], name=op.f("fk_customers_merged_into_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("customer_code", name=op.f("uq_customers_customer_code")),
    )
    op.create_index(
        op.f("ix_customers_corporate_number"), "customers", ["corporate_number"], unique=False
    )
    op.create_index(
        "ix_customers_emails", "customers", ["emails"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        "ix_customers_name",
        "customers",
        ["name"],
        unique=False,
        postgresql_ops={"name": "text_pattern_ops"},
    )
    op.create_index(
        "ix_customers_name_key",
        "customers",
        ["name_key"],
        unique=False,
        postgresql_ops={"name_key": "text_pattern_ops"},
    )
    op.create_index(
        "ix_customers_phones", "customers", ["phones"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        "ix_customers_status_code", "customers", ["status", "customer_code"], unique=False
    )
    op.create_index(op.f("ix_customers_updated_at"), "customers", ["updated_at"], unique=False)
    op.create_table(
        "rank_rules",
        sa.Column("rank", sa.Text(), nullable=False),
        sa.Column("min_amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("rank", name=op.f("pk_rank_rules")),
    )
    op.create_table(
        "source_records",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("system", sa.Text(), nullable=False),
        sa.Column("source_id", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("raw_payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("payload_hash", sa.Text(), nullable=False),
        sa.Column("normalized", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("decision", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_source_records_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_records")),
        sa.UniqueConstraint("system", "source_id", name=op.f("uq_source_records_system_source_id")),
    )
    op.create_index(
        op.f("ix_source_records_customer_id"), "source_records", ["customer_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_source_records_customer_id"), table_name="source_records")
    op.drop_table("source_records")
    op.drop_table("rank_rules")
    op.drop_index(op.f("ix_customers_updated_at"), table_name="customers")
    op.drop_index("ix_customers_status_code", table_name="customers")
    op.drop_index("ix_customers_phones", table_name="customers", postgresql_using="gin")
    op.drop_index(
        "ix_customers_name_key",
        table_name="customers",
        postgresql_ops={"name_key": "text_pattern_ops"},
    )
    op.drop_index(
        "ix_customers_name", table_name="customers", postgresql_ops={"name": "text_pattern_ops"}
    )
    op.drop_index("ix_customers_emails", table_name="customers", postgresql_using="gin")
    op.drop_index(op.f("ix_customers_corporate_number"), table_name="customers")
    op.drop_table("customers")
    op.drop_table("custom_field_definitions")
    op.drop_index("ix_audit_log_entity", table_name="audit_log")
    op.drop_index("ix_audit_log_customer_id_id", table_name="audit_log")
    op.drop_table("audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
    op.execute(sa.schema.DropSequence(sa.Sequence("customer_code_seq")))
