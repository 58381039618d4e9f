"""Webhook endpoints, the delivery log, replay and the change feed: what goes in and out."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mdm_hub.events.models import AttemptOutcome, DeliveryKind, DeliveryStatus, EventType
from mdm_hub.types import Id, SafeStr

FieldPointer = Annotated[
    str,
    Field(
        pattern=r"^(/[a-z0-9_]+)+$",
        max_length=200,
        examples=["/billing", "/addresses"],
        description="JSON pointer prefix of the customer, e.g. /billing or /billing/closing_day",
    ),
]

EXAMPLE_URL = "https://billing.example.co.jp/hooks/mdm"
EXAMPLE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class EndpointFilter(BaseModel):
    """Narrows what an endpoint gets, on top of ``event_types``. Every given condition must hold.

    - ``kinds``: only customers of these kinds.
    - ``changed_fields``: ``customer.updated`` events only when one of their changed fields is
      at or below one of these pointers (``/billing`` matches ``/billing/closing_day``). Other
      event types are not narrowed by it (use ``event_types`` for that).
    """

    model_config = ConfigDict(extra="forbid")

    kinds: list[Literal["corporation", "person"]] | None = Field(
        default=None, min_length=1, examples=[["corporation"]]
    )
    changed_fields: list[FieldPointer] | None = Field(
        default=None, min_length=1, max_length=100, examples=[["/billing", "/addresses"]]
    )


def _check_url(value: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials; the signature authenticates the hub")
    return value


class EndpointIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": EXAMPLE_URL,
                    "description": "請求システム: 請求先と支払条件の変更",
                    "event_types": ["customer.created", "customer.updated"],
                    "filter": {"kinds": ["corporation"], "changed_fields": ["/billing"]},
                }
            ]
        },
    )

    url: SafeStr = Field(max_length=2000, examples=[EXAMPLE_URL])
    description: SafeStr | None = Field(default=None, max_length=500)
    event_types: list[EventType] | None = Field(
        default=None, min_length=1, description="Omitted or null: every event type"
    )
    filter: EndpointFilter | None = None
    enabled: bool = True

    _url = field_validator("url")(_check_url)


class EndpointPatch(BaseModel):
    """Fields to change; ``null`` clears ``description``, ``event_types`` and ``filter``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"enabled": True}]})

    url: SafeStr | None = Field(default=None, max_length=2000)
    description: SafeStr | None = Field(default=None, max_length=500)
    event_types: list[EventType] | None = Field(default=None, min_length=1)
    filter: EndpointFilter | None = None
    enabled: bool | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("url cannot be null")
        return _check_url(value)

    @field_validator("enabled")
    @classmethod
    def _enabled(cls, value: bool | None) -> bool | None:
        if value is None:
            raise ValueError("enabled cannot be null")
        return value


class EndpointOut(BaseModel):
    id: uuid.UUID
    url: str = Field(examples=[EXAMPLE_URL])
    description: str | None
    event_types: list[str] | None = Field(description="null: every event type")
    filter: EndpointFilter | None
    enabled: bool
    disabled_reason: str | None = Field(
        description="Why the hub disabled it (a 410 Gone answer); cleared when re-enabled",
        examples=[None],
    )
    previous_secret_expires_at: dt.datetime | None = Field(
        description="Until then the previous secret also signs (after a rotation)"
    )
    created_at: dt.datetime
    updated_at: dt.datetime
    pending_deliveries: int = Field(description="Deliveries waiting or retrying")
    dead_deliveries: int = Field(description="Dead-lettered deliveries still kept")


class EndpointCreated(EndpointOut):
    secret: str = Field(
        description="Signing secret; shown only now and on rotation", examples=[EXAMPLE_SECRET]
    )


class EndpointPage(BaseModel):
    items: list[EndpointOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class SecretRotated(BaseModel):
    secret: str = Field(description="The new signing secret", examples=[EXAMPLE_SECRET])
    previous_secret_expires_at: dt.datetime = Field(
        description="Until then messages carry a signature with the old secret as well"
    )


class AttemptOut(BaseModel):
    """One HTTP attempt of one delivery."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 812,
                    "delivery_id": 455,
                    "delivery_kind": "event",
                    "delivery_status": "pending",
                    "event_id": "5f1c0c1e-3a55-4f77-9a43-2f0d3f4c9b10",
                    "event_type": "customer.updated",
                    "customer_id": "0b7e3c2a-9a7d-4c3e-8d7e-6a1d2b3c4d5e",
                    "attempt": 2,
                    "attempted_at": "2026-11-24T01:02:03.456Z",
                    "outcome": "retrying",
                    "response_status": 503,
                    "latency_ms": 84,
                    "error": "HTTP 503: maintenance",
                    "next_attempt_at": "2026-11-24T01:07:03Z",
                }
            ]
        }
    )

    id: int
    delivery_id: int
    delivery_kind: DeliveryKind
    delivery_status: DeliveryStatus = Field(description="The delivery's status now")
    event_id: uuid.UUID
    event_type: str
    customer_id: uuid.UUID | None
    attempt: int = Field(description="1 for the first attempt of this delivery")
    attempted_at: dt.datetime
    outcome: AttemptOutcome
    response_status: int | None = Field(description="HTTP status; null: no answer")
    latency_ms: int
    error: str | None = Field(description="Timeout, connection error, or the non-2xx answer")
    next_attempt_at: dt.datetime | None = Field(description="When the retry is due")


class AttemptPage(BaseModel):
    items: list[AttemptOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page")


class ReplayIn(BaseModel):
    """Exactly one of: ``since`` (a time), ``from_event_id``, or ``delivery_id`` (dead)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"since": "2026-11-24T00:00:00+09:00"},
                {"from_event_id": "5f1c0c1e-3a55-4f77-9a43-2f0d3f4c9b10"},
                {"delivery_id": 455},
            ]
        },
    )

    since: dt.datetime | None = Field(
        default=None, description="Every matching event that occurred at or after this time"
    )
    from_event_id: uuid.UUID | None = Field(
        default=None, description="This event and every matching one after it (feed order)"
    )
    delivery_id: Id | None = Field(default=None, description="One dead-lettered delivery")

    @model_validator(mode="after")
    def _exactly_one(self) -> ReplayIn:
        given = [v for v in (self.since, self.from_event_id, self.delivery_id) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of since, from_event_id, delivery_id")
        if self.since is not None and self.since.tzinfo is None:
            raise ValueError("since needs a time zone (RFC 3339)")
        return self


class ReplayOut(BaseModel):
    queued: int = Field(description="Deliveries queued (or re-queued)", examples=[42])


class ChangeData(BaseModel):
    event_id: uuid.UUID
    customer_id: uuid.UUID
    customer_version: int = Field(description="The customer's version after this change")
    changed_fields: list[str] = Field(
        description="JSON pointers of what changed", examples=[["/billing/closing_day"]]
    )
    customer: dict[str, Any] = Field(
        description="The customer as it is after this change (as GET /v1/customers/{id})"
    )


class Change(BaseModel):
    """One change: the same JSON a webhook carries (Standard Webhooks payload)."""

    type: EventType
    timestamp: dt.datetime = Field(description="When the change happened")
    data: ChangeData


class ChangePage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "type": "customer.updated",
                            "timestamp": "2026-11-24T01:02:03.456Z",
                            "data": {
                                "event_id": "5f1c0c1e-3a55-4f77-9a43-2f0d3f4c9b10",
                                "customer_id": "0b7e3c2a-9a7d-4c3e-8d7e-6a1d2b3c4d5e",
                                "customer_version": 3,
                                "changed_fields": ["/billing/closing_day"],
                                "customer": {"id": "0b7e3c2a-…", "name": "株式会社ABC商事"},
                            },
                        }
                    ],
                    "next_cursor": "eyJ0IjoxMjM0LCJzIjo1Nn0",
                    "has_more": False,
                }
            ]
        }
    )

    items: list[Change]
    next_cursor: str = Field(
        description="Pass as `after` next time, also when `items` is empty; it never skips a "
        "change committed later"
    )
    has_more: bool = Field(description="More changes can be read at once with `next_cursor`")
