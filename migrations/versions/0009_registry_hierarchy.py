"""registry and hierarchy: the NTA 法人番号 and インボイス data as published (with history and
import checkpoints); links between customers (site → corporation, corporation → group parent)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 06:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.Text(), nullable=True)


def _date(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.Date(), nullable=True)


def _now(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "registry_imports",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("file_sha256", sa.Text(), nullable=False),
        sa.Column("member", sa.Text(), nullable=False),
        sa.Column("encoding", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("rows_read", sa.BigInteger(), nullable=False),
        sa.Column("rows_imported", sa.BigInteger(), nullable=False),
        sa.Column("rows_rejected", sa.BigInteger(), nullable=False),
        _now("started_at"),
        _now("updated_at"),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('nta', 'invoice')", name=op.f("ck_registry_imports_kind")),
        sa.CheckConstraint(
            "status IN ('running', 'done')", name=op.f("ck_registry_imports_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_imports")),
        sa.UniqueConstraint(
            "kind",
            "file_sha256",
            "member",
            name=op.f("uq_registry_imports_kind_file_sha256_member"),
        ),
    )
    op.create_table(
        "registry_import_rejects",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("import_id", sa.BigInteger(), nullable=False),
        sa.Column("row_number", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _text("column_name"),
        sa.Column("fields", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["registry_imports.id"],
            name=op.f("fk_registry_import_rejects_import_id_registry_imports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_import_rejects")),
    )
    op.create_index(
        "ix_registry_import_rejects_import_id", "registry_import_rejects", ["import_id"]
    )
    op.create_table(
        "nta_corporations",
        sa.Column("corporate_number", sa.Text(), nullable=False),
        sa.Column("sequence_number", sa.BigInteger(), nullable=False),
        sa.Column("process", sa.Text(), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=True),
        sa.Column("update_date", sa.Date(), nullable=False),
        _date("change_date"),
        _text("name"),
        _text("kind"),
        _text("prefecture_name"),
        _text("city_name"),
        _text("street_number"),
        _text("prefecture_code"),
        _text("city_code"),
        _text("post_code"),
        _text("address_outside"),
        _date("close_date"),
        _text("close_cause"),
        _text("successor_corporate_number"),
        _text("change_cause"),
        _date("assignment_date"),
        _text("en_name"),
        _text("en_prefecture_name"),
        _text("en_city_name"),
        _text("en_address_outside"),
        _text("furigana"),
        sa.Column("hihyoji", sa.Boolean(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("import_id", sa.BigInteger(), nullable=False),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("corporate_number", name=op.f("pk_nta_corporations")),
    )
    op.create_index(
        "ix_nta_corporations_successor", "nta_corporations", ["successor_corporate_number"]
    )
    op.create_index("ix_nta_corporations_updated_at", "nta_corporations", ["updated_at"])
    op.create_table(
        "nta_corporation_history",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("corporate_number", sa.Text(), nullable=False),
        sa.Column("process", sa.Text(), nullable=False),
        sa.Column("update_date", sa.Date(), nullable=False),
        _date("change_date"),
        sa.Column("fields", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("import_id", sa.BigInteger(), nullable=False),
        sa.Column("row_number", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "process IN ('01', '11', '12', '13', '21', '22', '71', '72', '81', '99')",
            name=op.f("ck_nta_corporation_history_process"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nta_corporation_history")),
        sa.UniqueConstraint(
            "corporate_number",
            "digest",
            name=op.f("uq_nta_corporation_history_corporate_number_digest"),
        ),
    )
    op.create_table(
        "invoice_registrations",
        sa.Column("registration_number", sa.Text(), nullable=False),
        _text("corporate_number"),
        sa.Column("sequence_number", sa.BigInteger(), nullable=False),
        sa.Column("process", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=True),
        _text("kind"),
        _text("country"),
        _date("registration_date"),
        sa.Column("update_date", sa.Date(), nullable=False),
        _date("disposal_date"),
        _date("expire_date"),
        _text("name"),
        _text("kana"),
        _text("address"),
        _text("address_prefecture_code"),
        _text("address_city_code"),
        _text("address_inside"),
        _text("trade_name"),
        _text("popular_name_previous_name"),
        sa.Column("import_id", sa.BigInteger(), nullable=False),
        _now("updated_at"),
        sa.CheckConstraint(
            "status IN ('registered', 'expired', 'revoked', 'deleted')",
            name=op.f("ck_invoice_registrations_status"),
        ),
        sa.PrimaryKeyConstraint("registration_number", name=op.f("pk_invoice_registrations")),
    )
    op.create_index(
        "ix_invoice_registrations_corporate_number", "invoice_registrations", ["corporate_number"]
    )
    op.create_table(
        "invoice_registration_history",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("registration_number", sa.Text(), nullable=False),
        sa.Column("process", sa.Text(), nullable=False),
        sa.Column("update_date", sa.Date(), nullable=False),
        sa.Column("fields", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("import_id", sa.BigInteger(), nullable=False),
        sa.Column("row_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_registration_history")),
        sa.UniqueConstraint(
            "registration_number",
            "digest",
            name=op.f("uq_invoice_registration_history_registration_number_digest"),
        ),
    )

    op.create_table(
        "customer_relations",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("child_id", sa.UUID(), nullable=False),
        sa.Column("parent_id", sa.UUID(), nullable=False),
        sa.Column("axis", sa.Text(), nullable=False),
        sa.Column("relation_type", sa.Text(), nullable=False),
        _date("valid_from"),
        _date("valid_to"),
        sa.Column("set_by", sa.Text(), nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.CheckConstraint("axis IN ('site', 'group')", name=op.f("ck_customer_relations_axis")),
        sa.CheckConstraint(
            "relation_type IN ('site', 'subsidiary', 'affiliate')",
            name=op.f("ck_customer_relations_relation_type"),
        ),
        sa.CheckConstraint(
            "(axis = 'site') = (relation_type = 'site')",
            name=op.f("ck_customer_relations_type_fits_axis"),
        ),
        sa.CheckConstraint("child_id <> parent_id", name=op.f("ck_customer_relations_not_self")),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_from IS NULL OR valid_from <= valid_to",
            name=op.f("ck_customer_relations_dates"),
        ),
        sa.ForeignKeyConstraint(
            ["child_id"], ["customers.id"], name=op.f("fk_customer_relations_child_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["customers.id"], name=op.f("fk_customer_relations_parent_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_relations")),
        sa.UniqueConstraint("child_id", "axis", name=op.f("uq_customer_relations_child_id_axis")),
    )
    op.create_index("ix_customer_relations_parent", "customer_relations", ["parent_id", "axis"])


def downgrade() -> None:
    op.drop_index("ix_customer_relations_parent", table_name="customer_relations")
    op.drop_table("customer_relations")
    op.drop_table("invoice_registration_history")
    op.drop_index("ix_invoice_registrations_corporate_number", table_name="invoice_registrations")
    op.drop_table("invoice_registrations")
    op.drop_table("nta_corporation_history")
    op.drop_index("ix_nta_corporations_updated_at", table_name="nta_corporations")
    op.drop_index("ix_nta_corporations_successor", table_name="nta_corporations")
    op.drop_table("nta_corporations")
    op.drop_index("ix_registry_import_rejects_import_id", table_name="registry_import_rejects")
    op.drop_table("registry_import_rejects")
    op.drop_table("registry_imports")
