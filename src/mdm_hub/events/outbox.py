"""Appending change events. Called by services inside the transaction that made the change."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.db import WritePart, write_together
from mdm_hub.encryption import sealed_json
from mdm_hub.events import repository
from mdm_hub.events.models import EVENT_TYPES
from mdm_hub.record import OBJECT_FIELDS


def changed_fields(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[str]:
    """JSON pointers of what differs: top-level fields, and objects leaf by leaf."""
    before = before or {}
    pointers: list[str] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key in (*OBJECT_FIELDS, "custom_fields") and isinstance(old or {}, dict):
            old_obj, new_obj = old or {}, new or {}
            for leaf in sorted(set(old_obj) | set(new_obj)):
                if old_obj.get(leaf) != new_obj.get(leaf):
                    pointers.append(f"/{key}/{leaf}")
        else:
            pointers.append(f"/{key}")
    return pointers


def customer_payload(customer: Any) -> dict[str, Any]:
    """The customer as it now is, in the same shape as GET /v1/customers/{id}."""
    return {**customer.record, **to_jsonable_python(customer.identity())}


def event_insert(*, event_type: str, customer: Any, changed: list[str]) -> WritePart:
    """The change event of ``customer`` as it now is, for ``db.write_together``.

    The caller holds the customer's row lock (see ``events.models``: the writers' contract).
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type}")
    return repository.insert_event(
        {
            "event_id": uuid.uuid4(),
            "type": event_type,
            "customer_id": customer.id,
            "customer_version": customer.version,
            "changed_fields": json.dumps(changed, ensure_ascii=False),
            "payload": sealed_json(customer_payload(customer)),
            "occurred_at": dt.datetime.now(dt.UTC),
        },
    )


def event_row(
    event_type: str, customer: Any, changed: list[str], payload: Any = None
) -> dict[str, Any]:
    """One change event of ``customer`` as it now is, for ``repository.insert_events``
    (``payload``: its :func:`customer_payload` when the caller has made it, sealed or not)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type}")
    return {
        "event_id": uuid.uuid4(),
        "type": event_type,
        "customer_id": customer.id,
        "customer_version": customer.version,
        "changed_fields": changed,
        "payload": customer_payload(customer) if payload is None else payload,
        "occurred_at": dt.datetime.now(dt.UTC),
    }


async def append_event(
    session: AsyncSession, *, event_type: str, customer: Any, changed: list[str]
) -> None:
    """Append the change event (after flushing the session's ORM changes, which come first)."""
    await session.flush()
    await write_together(
        session, event_insert(event_type=event_type, customer=customer, changed=changed)
    )
