"""The change-event outbox, and the webhook endpoints, deliveries and attempts built on it.

Ordering and commit order
-------------------------
``seq`` (a sequence) is not commit order: a transaction may take a lower number and commit
after a higher one has been read. ``txid`` (the writer's transaction id, xid8) lets a reader
wait for such stragglers: every transaction with an id below the reader's snapshot ``xmin``
has finished, so rows with ``txid < pg_snapshot_xmin(pg_current_snapshot())`` are final.

``order_txid`` is what readers (change feed, webhook fan-out) order by: ``(order_txid, seq)``.
A trigger sets it to ``GREATEST(txid, order_txid of the customer's previous event)``, so that
one customer's events keep their commit order even when a later change of that customer was
made by a transaction with a lower id (a transaction can get its id, then wait for the
customer's row lock while another transaction changes the customer and commits). Readers only
read rows with ``order_txid < xmin``: such a row and everything before it in this order are
final, so a cursor ``(order_txid, seq)`` never skips an event.

The contract for writers (``append_event``): an event for a customer is appended by a
transaction that holds that customer's row lock (it inserted or updated the customer row).
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal, get_args

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

from mdm_hub.db import Base, SerialId, TimestampNow, Timestamps, one_of, partial_index

EventType = Literal[
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "customer.merged",
    "customer.unmerged",
    "customer.erased",
    "customer.relation_changed",
    "customer.invoice_registration_ended",
    "customer.registry_changed",
    "import.completed",
]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)


class Xid8(UserDefinedType[int]):
    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "xid8"


def xid8_param(name: str) -> str:
    """SQL for a bound integer parameter as xid8 (there is no direct bigint → xid8 cast)."""
    return f"CAST(CAST(CAST(:{name} AS bigint) AS text) AS xid8)"


class CustomerEvent(Base):
    """``seq`` orders events but is not commit order; ``txid`` lets readers wait for the gaps."""

    __tablename__ = "customer_events"

    seq: Mapped[SerialId]
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True, default=uuid.uuid4)
    type: Mapped[str]
    customer_id: Mapped[uuid.UUID]
    customer_version: Mapped[int] = mapped_column(Integer)
    changed_fields: Mapped[list[str]] = mapped_column(JSONB, default=list)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # False: in the change feed but sent to no webhook (an import's changes when the import
    # asked for one summary event instead; migration 0015).
    webhook: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    occurred_at: Mapped[TimestampNow]
    txid: Mapped[int] = mapped_column(
        Xid8(), server_default=text("pg_current_xact_id()"), nullable=False
    )
    # Set by the trigger customer_events_order_txid (migration 0003); see the module docstring.
    order_txid: Mapped[int] = mapped_column(
        Xid8(), server_default=text("pg_current_xact_id()"), nullable=False
    )

    __table_args__ = (
        Index("ix_customer_events_customer_id_seq", "customer_id", "seq"),
        Index("ix_customer_events_occurred_at", "occurred_at"),
        Index("ix_customer_events_order", "order_txid", "seq"),
    )


DeliveryStatus = StrEnum("DeliveryStatus", ["pending", "delivered", "dead", "failed"])
AttemptOutcome = StrEnum("AttemptOutcome", ["delivered", "retrying", "dead", "disabled", "failed"])


DeliveryKind = Literal["event", "replay", "test"]
DELIVERY_KINDS: tuple[DeliveryKind, ...] = get_args(DeliveryKind)


class WebhookEndpoint(Timestamps, Base):
    """A subscriber: where to send which events, and the secret(s) to sign them with."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    url: Mapped[str]
    description: Mapped[str | None]
    # NULL: every event type.
    event_types: Mapped[list[str] | None] = mapped_column(ARRAY(Text), nullable=True)
    # NULL: no filter. Kinds: customer kind; changed fields: JSON pointer prefixes.
    filter_kinds: Mapped[list[str] | None] = mapped_column(ARRAY(Text), nullable=True)
    filter_changed_fields: Mapped[list[str] | None] = mapped_column(ARRAY(Text), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None]
    secret: Mapped[str]
    previous_secret: Mapped[str | None]
    previous_secret_expires_at: Mapped[dt.datetime | None]


class WebhookFanoutCursor(Base):
    """One row: how far the fan-out has turned events into deliveries, as (order_txid, seq)."""

    __tablename__ = "webhook_fanout_cursor"

    id: Mapped[bool] = mapped_column(Boolean, primary_key=True, default=True)
    order_txid: Mapped[int] = mapped_column(BigInteger, default=0)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[TimestampNow]

    __table_args__ = (CheckConstraint("id", name="single_row"),)


# An endpoint's id as a foreign key: its queues and deliveries go when it is deleted.
EndpointId = Annotated[
    uuid.UUID, mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
]


class WebhookQueue(Base):
    """One row per (endpoint, customer): the head-of-line state and the worker lease.

    ``next_attempt_at`` is when the pair's oldest pending delivery is due (NULL: nothing
    pending). A worker claims a due pair by setting ``leased_until``; while leased, no other
    worker delivers for that pair, which keeps each customer's events in order per endpoint.
    """

    __tablename__ = "webhook_queues"

    endpoint_id: Mapped[EndpointId] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    next_attempt_at: Mapped[dt.datetime | None]
    leased_until: Mapped[dt.datetime | None]
    lease_token: Mapped[uuid.UUID | None]
    updated_at: Mapped[TimestampNow]

    __table_args__ = (
        partial_index(
            "ix_webhook_queues_due", "next_attempt_at", where="next_attempt_at IS NOT NULL"
        ),
    )


class WebhookDelivery(Base):
    """One message to one endpoint: an event (fan-out), a replayed event, or a test ping."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[SerialId]
    endpoint_id: Mapped[EndpointId]
    kind: Mapped[DeliveryKind] = mapped_column(Text, default="event")
    event_seq: Mapped[int | None]
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str]
    customer_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(Text, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    last_attempt_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    created_at: Mapped[TimestampNow]

    __table_args__ = (
        one_of("status", DeliveryStatus),
        one_of("kind", DELIVERY_KINDS),
        partial_index(
            "ix_webhook_deliveries_head",
            "endpoint_id",
            "customer_id",
            "event_seq",
            where="status = 'pending'",
        ),
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
        partial_index(
            "ix_webhook_deliveries_finished_at", "finished_at", where="status <> 'pending'"
        ),
    )


class WebhookAttempt(Base):
    """Every HTTP attempt of a delivery: the delivery log."""

    __tablename__ = "webhook_attempts"

    id: Mapped[SerialId]
    delivery_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    endpoint_id: Mapped[uuid.UUID]
    attempt: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[dt.datetime]
    outcome: Mapped[str]
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None]
    next_attempt_at: Mapped[dt.datetime | None]

    __table_args__ = (
        one_of("outcome", AttemptOutcome),
        Index("ix_webhook_attempts_endpoint_id_id", "endpoint_id", "id"),
        Index("ix_webhook_attempts_delivery_id", "delivery_id"),
    )
