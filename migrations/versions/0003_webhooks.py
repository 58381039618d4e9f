"""webhooks: endpoints, deliveries, attempts, queues, fan-out cursor; events' order_txid

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 19:02:48.190771
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("event_types", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("filter_kinds", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("filter_changed_fields", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("previous_secret", sa.Text(), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_table(
        "webhook_fanout_cursor",
        sa.Column("id", sa.Boolean(), nullable=False),
        sa.Column("order_txid", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("id", name=op.f("ck_webhook_fanout_cursor_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_fanout_cursor")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("endpoint_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=True),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('event', 'replay', 'test')", name=op.f("ck_webhook_deliveries_kind")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'dead', 'failed')",
            name=op.f("ck_webhook_deliveries_status"),
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint_id_id",
        "webhook_deliveries",
        ["endpoint_id", "id"],
        unique=False,
    )
    op.create_index(
        "ix_webhook_deliveries_finished_at",
        "webhook_deliveries",
        ["finished_at"],
        unique=False,
        postgresql_where=sa.text("status <> 'pending'"),
    )
    op.create_index(
        "ix_webhook_deliveries_head",
        "webhook_deliveries",
        ["endpoint_id", "customer_id", "event_seq"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "webhook_queues",
        sa.Column("endpoint_id", sa.UUID(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_token", sa.UUID(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_queues_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("endpoint_id", "customer_id", name=op.f("pk_webhook_queues")),
    )
    op.create_index(
        "ix_webhook_queues_due",
        "webhook_queues",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("next_attempt_at IS NOT NULL"),
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("endpoint_id", sa.UUID(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('delivered', 'retrying', 'dead', 'disabled', 'failed')",
            name=op.f("ck_webhook_attempts_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index(
        "ix_webhook_attempts_delivery_id", "webhook_attempts", ["delivery_id"], unique=False
    )
    op.create_index(
        "ix_webhook_attempts_endpoint_id_id",
        "webhook_attempts",
        ["endpoint_id", "id"],
        unique=False,
    )
    # Readers order events by (order_txid, seq): the customer's commit order, see
    # mdm_hub.events.models. Existing rows keep their own transaction id.
    op.execute("ALTER TABLE customer_events ADD COLUMN order_txid xid8")
    op.execute("UPDATE customer_events SET order_txid = txid")
    op.execute(
        "ALTER TABLE customer_events ALTER COLUMN order_txid SET DEFAULT pg_current_xact_id(), "
        "ALTER COLUMN order_txid SET NOT NULL"
    )
    op.create_index(
        "ix_customer_events_order", "customer_events", ["order_txid", "seq"], unique=False
    )
    op.execute(
        """
        CREATE FUNCTION customer_events_order_txid() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            previous xid8;
        BEGIN
            SELECT order_txid INTO previous FROM customer_events
                WHERE customer_id = NEW.customer_id ORDER BY seq DESC LIMIT 1;
            NEW.order_txid := GREATEST(NEW.txid, previous);
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER customer_events_order_txid BEFORE INSERT ON customer_events
            FOR EACH ROW EXECUTE FUNCTION customer_events_order_txid()
        """
    )
    # Wakes webhook workers (LISTEN mdm_hub_webhooks); they poll as well, so this is a hint.
    op.execute(
        """
        CREATE FUNCTION customer_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('mdm_hub_webhooks', 'events');
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER customer_events_notify AFTER INSERT ON customer_events
            FOR EACH STATEMENT EXECUTE FUNCTION customer_events_notify()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER customer_events_notify ON customer_events")
    op.execute("DROP FUNCTION customer_events_notify()")
    op.execute("DROP TRIGGER customer_events_order_txid ON customer_events")
    op.execute("DROP FUNCTION customer_events_order_txid()")
    op.drop_index("ix_customer_events_order", table_name="customer_events")
    op.drop_column("customer_events", "order_txid")
    op.drop_index("ix_webhook_attempts_endpoint_id_id", table_name="webhook_attempts")
    op.drop_index("ix_webhook_attempts_delivery_id", table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
    op.drop_index(
        "ix_webhook_queues_due",
        table_name="webhook_queues",
        postgresql_where=sa.text("next_attempt_at IS NOT NULL"),
    )
    op.drop_table("webhook_queues")
    op.drop_index(
        "ix_webhook_deliveries_head",
        table_name="webhook_deliveries",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index(
        "ix_webhook_deliveries_finished_at",
        table_name="webhook_deliveries",
        postgresql_where=sa.text("status <> 'pending'"),
    )
    op.drop_index("ix_webhook_deliveries_endpoint_id_id", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_fanout_cursor")
    op.drop_table("webhook_endpoints")
