"""連携: webhook endpoints with their health, the delivery log, replay, test ping, rotation."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from mdm_hub.auth.roles import WebhooksManage, WebhooksRead
from mdm_hub.console import repository
from mdm_hub.console.i18n import translate
from mdm_hub.console.web import PREFIX, form_data, lang_of, message, render
from mdm_hub.db import DbSession
from mdm_hub.errors import ProblemError
from mdm_hub.events import subscriptions
from mdm_hub.events.schemas import ReplayIn
from mdm_hub.idempotency.route import IdempotentRoute

router = APIRouter(
    prefix=f"{PREFIX}/webhooks", include_in_schema=False, route_class=IdempotentRoute
)
LOG_SIZE = 50


@router.get("")
async def endpoints(request: Request, session: DbSession, principal: WebhooksRead) -> Response:
    rows, _ = await subscriptions.list_endpoints(session, None, 200)
    ids = [e.id for e in rows]
    return render(
        request,
        "webhooks.html",
        {
            "endpoints": rows,
            "stats": await subscriptions.endpoint_stats(session, ids),
            "health": await repository.endpoint_health(session, ids),
        },
    )


@router.get("/{endpoint_id}")
async def endpoint_log(
    endpoint_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: WebhooksRead,
    status: Annotated[str | None, Query(pattern="^(|pending|delivered|dead|failed)$")] = None,
    replayed: int | None = None,
) -> Response:
    endpoint = await subscriptions.get_endpoint(session, endpoint_id)
    attempts, _ = await subscriptions.list_attempts(
        session,
        endpoint_id,
        subscriptions.AttemptFilters(delivery_status=status or None),
        None,
        LOG_SIZE,
    )
    stats = await subscriptions.endpoint_stats(session, [endpoint_id])
    health = await repository.endpoint_health(session, [endpoint_id])
    return render(
        request,
        "webhook.html",
        {
            "endpoint": endpoint,
            "attempts": attempts,
            "stats": stats[endpoint_id],
            "health": health[endpoint_id],
            "status": status or "",
            "replayed": replayed,
        },
    )


@router.post("/{endpoint_id}/replay")
async def replay(
    endpoint_id: uuid.UUID,
    request: Request,
    session: DbSession,
    actor: WebhooksManage,
) -> Response:
    """Replay one dead letter (the same service as POST .../replay with delivery_id)."""
    form = await form_data(request)
    try:
        delivery_id = int(form.get("delivery_id", ""))
    except ValueError as exc:
        raise ProblemError("bad-request", "delivery_id must be a number") from exc
    queued = await subscriptions.replay(
        session,
        request.app.state.settings,
        actor,
        endpoint_id,
        ReplayIn(delivery_id=delivery_id),
    )
    return Response(
        status_code=204,
        headers={"HX-Redirect": f"{PREFIX}/webhooks/{endpoint_id}?replayed={queued}"},
    )


@router.post("/{endpoint_id}/test")
async def test_ping(
    endpoint_id: uuid.UUID, request: Request, session: DbSession, principal: WebhooksManage
) -> Response:
    attempt, _ = await subscriptions.send_test(session, request.app.state.settings, endpoint_id)
    text = translate(
        lang_of(request),
        "webhooks.tested",
        outcome=attempt.outcome,
        status=attempt.response_status or attempt.error or "—",
    )
    return message(request, "info" if attempt.outcome == "delivered" else "warning", text)


@router.post("/{endpoint_id}/rotate-secret")
async def rotate(
    endpoint_id: uuid.UUID,
    request: Request,
    session: DbSession,
    actor: WebhooksManage,
) -> Response:
    endpoint = await subscriptions.rotate_secret(
        session, request.app.state.settings, actor, endpoint_id
    )
    return message(
        request, "info", translate(lang_of(request), "webhooks.rotated"), secret=endpoint.secret
    )
