"""HTTP for webhook endpoints (/v1/webhooks/endpoints) and the change feed (/v1/changes)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import Query, Request, Response, status

from mdm_hub.auth.masking import disclose
from mdm_hub.auth.roles import CustomersRead, WebhooksManage, WebhooksRead
from mdm_hub.context import settings_of
from mdm_hub.db import DbSession, attributes
from mdm_hub.errors import FieldProblem, problem_responses, validation_problem
from mdm_hub.events import feed, subscriptions
from mdm_hub.events.models import (
    AttemptOutcome,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from mdm_hub.events.schemas import (
    AttemptOut,
    AttemptPage,
    ChangePage,
    EndpointCreated,
    EndpointIn,
    EndpointOut,
    EndpointPage,
    EndpointPatch,
    ReplayIn,
    ReplayOut,
    SecretRotated,
)
from mdm_hub.idempotency.route import api_router
from mdm_hub.pagination import decode_cursor, encode_cursor
from mdm_hub.types import Id

router = api_router(tags=["webhooks"], prefix="/v1/webhooks")
changes_router = api_router(tags=["changes"])

CONFLICT_RESPONSES = problem_responses(409)
Limit = Annotated[int | None, Query(ge=1, le=500, description="Page size")]


def endpoint_out(
    endpoint: WebhookEndpoint, stats: subscriptions.EndpointStats | None = None
) -> dict[str, Any]:
    stats = stats or subscriptions.EndpointStats()
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "filter": subscriptions.filter_dict(endpoint),
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "previous_secret_expires_at": endpoint.previous_secret_expires_at,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
        "pending_deliveries": stats.pending,
        "dead_deliveries": stats.dead,
    }


async def _with_stats(session: DbSession, endpoint: WebhookEndpoint) -> EndpointOut:
    stats = await subscriptions.endpoint_stats(session, [endpoint.id])
    return EndpointOut.model_validate(endpoint_out(endpoint, stats[endpoint.id]))


def attempt_out(attempt: WebhookAttempt, delivery: WebhookDelivery) -> AttemptOut:
    return AttemptOut(
        **attributes(attempt, "id", "attempt", "attempted_at", "response_status", "latency_ms"),
        **attributes(attempt, "error", "next_attempt_at"),
        **attributes(delivery, "event_id", "event_type", "customer_id"),
        delivery_id=delivery.id,
        delivery_kind=delivery.kind,
        delivery_status=DeliveryStatus(delivery.status),
        outcome=AttemptOutcome(attempt.outcome),
    )


@router.post("/endpoints", status_code=status.HTTP_201_CREATED)
async def create_webhook_endpoint(
    body: EndpointIn,
    response: Response,
    session: DbSession,
    actor: WebhooksManage,
) -> EndpointCreated:
    """Subscribe a URL. The answer carries the signing secret; it is not shown again.

    The endpoint receives the events that occur from now on (replay reaches further back).
    """
    endpoint = await subscriptions.create_endpoint(session, actor, body)
    response.headers["Location"] = f"/v1/webhooks/endpoints/{endpoint.id}"
    return EndpointCreated.model_validate({**endpoint_out(endpoint), "secret": endpoint.secret})


@router.get("/endpoints")
async def list_webhook_endpoints(
    request: Request,
    session: DbSession,
    principal: WebhooksRead,
    cursor: str | None = None,
    limit: Limit = None,
) -> EndpointPage:
    """Endpoints, oldest first; follow `next_cursor`."""
    settings = settings_of(request)
    after = None
    if cursor:
        position = decode_cursor(cursor, "cursor", {"c": str, "i": str})
        try:
            after = (dt.datetime.fromisoformat(position["c"]), uuid.UUID(position["i"]))
        except ValueError as exc:
            raise validation_problem(
                [
                    FieldProblem(
                        field="cursor",
                        location="query",
                        code="invalid_cursor",
                        message="Not a cursor this API issued; start again without it",
                    )
                ]
            ) from exc
    rows, last = await subscriptions.list_endpoints(
        session, after, min(limit or settings.default_page_size, settings.max_page_size)
    )
    stats = await subscriptions.endpoint_stats(session, [e.id for e in rows])
    return EndpointPage(
        items=[EndpointOut.model_validate(endpoint_out(e, stats[e.id])) for e in rows],
        next_cursor=encode_cursor({"c": last[0].isoformat(), "i": str(last[1])}) if last else None,
    )


@router.get("/endpoints/{endpoint_id}")
async def get_webhook_endpoint(
    endpoint_id: uuid.UUID, session: DbSession, principal: WebhooksRead
) -> EndpointOut:
    """One endpoint, with how many deliveries are pending and dead-lettered."""
    return await _with_stats(session, await subscriptions.get_endpoint(session, endpoint_id))


@router.patch("/endpoints/{endpoint_id}")
async def update_webhook_endpoint(
    endpoint_id: uuid.UUID,
    body: EndpointPatch,
    session: DbSession,
    actor: WebhooksManage,
) -> EndpointOut:
    """Change URL, event types, filter, description, or enable/disable.

    Re-enabling (also after a 410 disabled it) resumes the pending deliveries in order.
    """
    endpoint = await subscriptions.update_endpoint(session, actor, endpoint_id, body)
    return await _with_stats(session, endpoint)


@router.delete("/endpoints/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook_endpoint(
    endpoint_id: uuid.UUID, session: DbSession, actor: WebhooksManage
) -> None:
    """Unsubscribe: the endpoint, its pending deliveries and its delivery log are removed."""
    await subscriptions.delete_endpoint(session, actor, endpoint_id)


@router.post("/endpoints/{endpoint_id}/rotate-secret")
async def rotate_webhook_secret(
    endpoint_id: uuid.UUID,
    request: Request,
    session: DbSession,
    actor: WebhooksManage,
) -> SecretRotated:
    """A new signing secret. Until `previous_secret_expires_at` every message is signed with
    both the new and the old secret, so receivers can switch without losing a message."""
    endpoint = await subscriptions.rotate_secret(session, settings_of(request), actor, endpoint_id)
    assert endpoint.previous_secret_expires_at is not None
    return SecretRotated(
        secret=endpoint.secret,
        previous_secret_expires_at=endpoint.previous_secret_expires_at,
    )


@router.get("/endpoints/{endpoint_id}/deliveries")
async def list_webhook_deliveries(
    endpoint_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: WebhooksRead,
    outcome: AttemptOutcome | None = None,
    delivery_status: Annotated[
        DeliveryStatus | None,
        Query(description="The delivery's current status, e.g. dead for the dead letters"),
    ] = None,
    event_id: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
    delivery_id: Id | None = None,
    cursor: str | None = None,
    limit: Limit = None,
) -> AttemptPage:
    """The delivery log: every attempt, newest first, with status, response code, latency and
    error. Filter `delivery_status=dead` for dead letters to replay."""
    settings = settings_of(request)
    before = decode_cursor(cursor, "cursor", {"b": int})["b"] if cursor else None
    rows, next_before = await subscriptions.list_attempts(
        session,
        endpoint_id,
        subscriptions.AttemptFilters(
            outcome=outcome.value if outcome else None,
            delivery_status=delivery_status.value if delivery_status else None,
            event_id=event_id,
            customer_id=customer_id,
            delivery_id=delivery_id,
        ),
        before,
        min(limit or settings.default_page_size, settings.max_page_size),
    )
    return AttemptPage(
        items=[attempt_out(a, d) for a, d in rows],
        next_cursor=encode_cursor({"b": next_before}) if next_before else None,
    )


@router.post(
    "/endpoints/{endpoint_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    responses=CONFLICT_RESPONSES,
)
async def replay_webhook_deliveries(
    endpoint_id: uuid.UUID,
    body: ReplayIn,
    request: Request,
    session: DbSession,
    actor: WebhooksManage,
) -> ReplayOut:
    """Send events again: every matching event `since` a time or `from_event_id` on (also
    from before the endpoint existed, as a backfill), or one dead-lettered `delivery_id`.
    Replayed messages keep their event's `webhook-id`, so receivers can recognise them."""
    queued = await subscriptions.replay(session, settings_of(request), actor, endpoint_id, body)
    return ReplayOut(queued=queued)


@router.post("/endpoints/{endpoint_id}/test")
async def test_webhook_endpoint(
    endpoint_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: WebhooksManage,
) -> AttemptOut:
    """Send a signed `webhook.test` message now and answer with how it went (also logged)."""
    attempt, delivery = await subscriptions.send_test(session, settings_of(request), endpoint_id)
    return attempt_out(attempt, delivery)


@changes_router.get("/changes")
async def list_changes(
    request: Request,
    session: DbSession,
    principal: CustomersRead,
    after: Annotated[
        str | None,
        Query(description="`next_cursor` of the previous answer; omitted: from the beginning"),
    ] = None,
    limit: Limit = None,
) -> ChangePage:
    """The change feed, for systems that pull: every customer event, each customer's in order.

    Keep `next_cursor` and ask again with `after=`; no change is ever skipped, also one whose
    transaction commits after a later-numbered one was read (it is served once final).
    """
    settings = settings_of(request)
    position = feed.Position.decode(after) if after else feed.Position()
    items, position, has_more = await feed.read_changes(
        session, position, min(limit or settings.default_page_size, settings.max_page_size)
    )
    items = [disclose(i, i["data"]["customer_id"], what="change") for i in items]  # pii:read?
    return ChangePage.model_validate(
        {"items": items, "next_cursor": position.encode(), "has_more": has_more}
    )
