"""Webhook endpoints: subscriptions, secrets, the delivery log, replay and test pings.

Services never commit; the request's session does, once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.audit.log import audit_record
from mdm_hub.audit.repository import record_audit
from mdm_hub.context import Actor
from mdm_hub.errors import FieldProblem, ProblemError, validation_problem
from mdm_hub.events import repository
from mdm_hub.events.dispatcher import NOTIFY_CHANNEL
from mdm_hub.events.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from mdm_hub.events.repository import AttemptFilters as AttemptFilters
from mdm_hub.events.schemas import EndpointIn, EndpointPatch, ReplayIn
from mdm_hub.events.signing import (
    AttemptResult,
    Sender,
    active_secrets,
    dumps,
    new_secret,
    ping_payload,
)
from mdm_hub.settings import Settings

ENTITY_TYPE = "webhook_endpoint"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def filter_dict(endpoint: WebhookEndpoint) -> dict[str, Any] | None:
    if endpoint.filter_kinds is None and endpoint.filter_changed_fields is None:
        return None
    return {"kinds": endpoint.filter_kinds, "changed_fields": endpoint.filter_changed_fields}


def _audit_view(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """What the audit log keeps of an endpoint: never its secrets."""
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "filter": filter_dict(endpoint),
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
    }


async def _notify(session: AsyncSession, what: str) -> None:
    """Wake workers when this transaction commits (a hint; they poll as well)."""
    await repository.notify(session, NOTIFY_CHANNEL, what)


@dataclass
class EndpointStats:
    pending: int = 0
    dead: int = 0


async def endpoint_stats(
    session: AsyncSession, ids: list[uuid.UUID]
) -> dict[uuid.UUID, EndpointStats]:
    stats = {i: EndpointStats() for i in ids}
    if not ids:
        return stats
    for endpoint_id, status, count in await repository.delivery_counts(session, ids):
        setattr(stats[endpoint_id], status, count)
    return stats


async def get_endpoint(
    session: AsyncSession, endpoint_id: uuid.UUID, *, lock: bool = False
) -> WebhookEndpoint:
    endpoint = await repository.find_endpoint(session, endpoint_id, lock=lock)
    if endpoint is None:
        raise ProblemError("not-found", f"No webhook endpoint {endpoint_id}")
    return endpoint


async def create_endpoint(session: AsyncSession, actor: Actor, body: EndpointIn) -> WebhookEndpoint:
    """A new subscription. It receives events that occur from now on."""
    now = _now()
    endpoint = WebhookEndpoint(
        id=uuid.uuid4(),
        url=body.url,
        description=body.description,
        event_types=list(body.event_types) if body.event_types else None,
        filter_kinds=list(body.filter.kinds) if body.filter and body.filter.kinds else None,
        filter_changed_fields=list(body.filter.changed_fields)
        if body.filter and body.filter.changed_fields
        else None,
        enabled=body.enabled,
        secret=new_secret(),
        created_at=now,
        updated_at=now,
    )
    await repository.insert_rows(session, endpoint)
    record_audit(
        session,
        audit_record(
            actor,
            action="webhook_endpoint.created",
            entity_type=ENTITY_TYPE,
            entity_id=str(endpoint.id),
            after=_audit_view(endpoint),
        ),
    )
    return endpoint


async def list_endpoints(
    session: AsyncSession, after: tuple[dt.datetime, uuid.UUID] | None, limit: int
) -> tuple[list[WebhookEndpoint], tuple[dt.datetime, uuid.UUID] | None]:
    rows = await repository.endpoints_after(session, after, limit + 1)
    last = (rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], last


async def update_endpoint(
    session: AsyncSession, actor: Actor, endpoint_id: uuid.UUID, patch: EndpointPatch
) -> WebhookEndpoint:
    endpoint = await get_endpoint(session, endpoint_id, lock=True)
    before = _audit_view(endpoint)
    given = patch.model_fields_set
    if "url" in given and patch.url is not None:
        endpoint.url = patch.url
    if "description" in given:
        endpoint.description = patch.description
    if "event_types" in given:
        endpoint.event_types = list(patch.event_types) if patch.event_types else None
    if "filter" in given:
        kinds = patch.filter.kinds if patch.filter else None
        endpoint.filter_kinds = list(kinds) if kinds is not None else None
        endpoint.filter_changed_fields = patch.filter.changed_fields if patch.filter else None
    if "enabled" in given and patch.enabled is not None and patch.enabled != endpoint.enabled:
        endpoint.enabled = patch.enabled
        if patch.enabled:
            endpoint.disabled_reason = None
            await _notify(session, "enabled")  # its pending deliveries resume
    after = _audit_view(endpoint)
    if after == before:
        return endpoint
    endpoint.updated_at = _now()
    await session.flush()
    record_audit(
        session,
        audit_record(
            actor,
            action="webhook_endpoint.updated",
            entity_type=ENTITY_TYPE,
            entity_id=str(endpoint.id),
            before=before,
            after=after,
        ),
    )
    return endpoint


async def delete_endpoint(session: AsyncSession, actor: Actor, endpoint_id: uuid.UUID) -> None:
    """Remove the subscription with its pending deliveries and delivery log."""
    endpoint = await get_endpoint(session, endpoint_id, lock=True)
    before = _audit_view(endpoint)
    await repository.delete_endpoint(session, endpoint)
    record_audit(
        session,
        audit_record(
            actor,
            action="webhook_endpoint.deleted",
            entity_type=ENTITY_TYPE,
            entity_id=str(endpoint_id),
            before=before,
        ),
    )


async def rotate_secret(
    session: AsyncSession, settings: Settings, actor: Actor, endpoint_id: uuid.UUID
) -> WebhookEndpoint:
    """A new secret; the old one keeps signing (second signature) for the overlap.

    Rotating again during an overlap drops the oldest secret at once.
    """
    endpoint = await get_endpoint(session, endpoint_id, lock=True)
    now = _now()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + dt.timedelta(
        seconds=settings.webhook_secret_overlap_seconds
    )
    endpoint.secret = new_secret()
    endpoint.updated_at = now
    await session.flush()
    record_audit(
        session,
        audit_record(
            actor,
            action="webhook_endpoint.secret_rotated",
            entity_type=ENTITY_TYPE,
            entity_id=str(endpoint.id),
            after={"previous_secret_expires_at": endpoint.previous_secret_expires_at.isoformat()},
        ),
    )
    return endpoint


# --------------------------------------------------------------------------------------------
# Delivery log
# --------------------------------------------------------------------------------------------


async def list_attempts(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    filters: AttemptFilters,
    before_id: int | None,
    limit: int,
) -> tuple[list[tuple[WebhookAttempt, WebhookDelivery]], int | None]:
    """Attempts of one endpoint, newest first, with their delivery."""
    await get_endpoint(session, endpoint_id)
    rows = await repository.attempts_before(session, endpoint_id, filters, before_id, limit + 1)
    next_before = rows[limit - 1][0].id if len(rows) > limit else None
    return rows[:limit], next_before


# --------------------------------------------------------------------------------------------
# Replay
# --------------------------------------------------------------------------------------------


async def replay(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    endpoint_id: uuid.UUID,
    body: ReplayIn,
) -> int:
    """Queue deliveries again; returns how many.

    From a time or an event: every event since then that the endpoint's event types and filter
    match (also events from before the endpoint existed, for a backfill), up to what has been
    fanned out (later events are on their way anyway). One dead letter: back to pending, with
    a fresh retry schedule.
    """
    endpoint = await get_endpoint(session, endpoint_id)
    if body.delivery_id is not None:
        queued = await _replay_dead_letter(session, endpoint, body.delivery_id)
    else:
        queued = await _replay_events(session, settings, endpoint, body)
    if queued:
        await _notify(session, "replay")
        record_audit(
            session,
            audit_record(
                actor,
                action="webhook_endpoint.replayed",
                entity_type=ENTITY_TYPE,
                entity_id=str(endpoint.id),
                after={**body.model_dump(mode="json", exclude_none=True), "queued": queued},
            ),
        )
    return queued


async def _replay_dead_letter(
    session: AsyncSession, endpoint: WebhookEndpoint, delivery_id: int
) -> int:
    delivery = await repository.lock_delivery(session, endpoint.id, delivery_id)
    if delivery is None:
        raise ProblemError("not-found", f"No delivery {delivery_id} for this endpoint")
    if delivery.status != "dead":
        raise ProblemError(
            "conflict", f"Delivery {delivery_id} is {delivery.status}; only dead letters replay"
        )
    await repository.requeue_delivery(session, delivery_id)
    return 1


async def _replay_events(
    session: AsyncSession, settings: Settings, endpoint: WebhookEndpoint, body: ReplayIn
) -> int:
    if body.since is None and not await repository.event_exists(session, body.from_event_id):
        raise ProblemError("not-found", f"No event {body.from_event_id}")
    selection = repository.replay_selection(endpoint.id, body.since, body.from_event_id)
    count = await repository.count_replay(session, selection)
    if count > settings.webhook_replay_max_events:
        raise validation_problem(
            [
                FieldProblem(
                    field="/since" if body.since is not None else "/from_event_id",
                    code="replay_too_large",
                    message=f"{count} events match; at most {settings.webhook_replay_max_events}"
                    " are replayed at once: start later, or replay in steps",
                )
            ]
        )
    if not count:
        return 0
    await repository.queue_replay(session, selection)
    return int(count)


# --------------------------------------------------------------------------------------------
# Test ping
# --------------------------------------------------------------------------------------------


async def send_test(
    session: AsyncSession, settings: Settings, endpoint_id: uuid.UUID
) -> tuple[WebhookAttempt, WebhookDelivery]:
    """Send a signed ``webhook.test`` message now, from the API, and log the attempt."""
    endpoint = await get_endpoint(session, endpoint_id)
    now = _now()
    message_id = uuid.uuid4()
    msg_id = str(message_id)
    body = dumps(ping_payload(endpoint.id, now))
    secrets = active_secrets(
        endpoint.secret, endpoint.previous_secret, endpoint.previous_secret_expires_at, now
    )
    async with Sender(settings) as sender:
        result: AttemptResult = await sender.post(endpoint.url, secrets, msg_id, body)
    finished = _now()
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        kind="test",
        event_seq=None,
        event_id=message_id,
        event_type="webhook.test",
        customer_id=None,
        status="delivered" if result.succeeded else "failed",
        attempts=1,
        last_attempt_at=result.attempted_at,
        finished_at=finished,
        created_at=now,
    )
    await repository.insert_rows(session, delivery)
    attempt = WebhookAttempt(
        delivery_id=delivery.id,
        endpoint_id=endpoint.id,
        attempt=1,
        attempted_at=result.attempted_at,
        outcome="delivered" if result.succeeded else "failed",
        response_status=result.response_status,
        latency_ms=result.latency_ms,
        error=result.error,
    )
    await repository.insert_rows(session, attempt)
    return attempt, delivery
