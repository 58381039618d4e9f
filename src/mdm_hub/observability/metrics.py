"""Prometheus metrics (`/metrics`) and the access-log/latency middleware."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mdm_hub.auth.roles import Public

logger = logging.getLogger("mdm_hub.access")

REGISTRY = CollectorRegistry(auto_describe=True)

REQUEST_LATENCY = Histogram(
    "mdm_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
MATCH_DECISIONS = Counter(
    "mdm_match_decisions_total",
    "Decisions of the write path for new source records",
    ["outcome"],
    registry=REGISTRY,
)
REVIEW_QUEUE = Gauge(
    "mdm_review_queue_size", "Match candidates waiting for a steward", registry=REGISTRY
)
OUTBOX_LAG = Gauge(
    "mdm_outbox_lag_seconds",
    "Age of the oldest change event not yet handed to every enabled endpoint: not fanned "
    "out yet (worker down or behind) or with a delivery still pending",
    registry=REGISTRY,
)
DELIVERIES = Gauge(
    "mdm_webhook_deliveries",
    "Webhook deliveries kept in the delivery log, by endpoint and status",
    ["endpoint", "status"],
    registry=REGISTRY,
)
POOL_IN_USE = Gauge(
    "mdm_db_pool_connections_in_use", "Database connections checked out", registry=REGISTRY
)
POOL_SIZE = Gauge("mdm_db_pool_size", "Database pool size (persistent)", registry=REGISTRY)


class AccessLogMiddleware:
    """Times every request: one JSON access line and one histogram sample, by route template.

    The line carries the path template (never the query string: filters hold phones and
    emails), the status, the latency, the request id (from the log formatter) and the subject.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            REQUEST_LATENCY.labels(scope["method"], template, str(status)).observe(elapsed)
            if template not in ("/healthz", "/readyz", "/metrics"):
                state = scope.get("state", {})
                logger.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "route": template,
                        "status": status,
                        "latency_ms": round(elapsed * 1000, 2),
                        "subject": state.get("subject", "anonymous"),
                    },
                )


router = APIRouter(tags=["operations"], dependencies=[Public])  # scraped without token


async def refresh_gauges(engine: AsyncEngine) -> None:
    """Set the gauges that come from the database (and this process's pool)."""
    pool = engine.pool
    assert isinstance(pool, QueuePool)  # db.create_engine's pool
    POOL_SIZE.set(pool.size())
    POOL_IN_USE.set(pool.checkedout())
    async with engine.connect() as conn:
        REVIEW_QUEUE.set(
            await conn.scalar(
                text("SELECT count(*) FROM match_candidates WHERE status = 'pending'")
            )
            or 0
        )
        # The oldest event not yet handed to every endpoint: one the fan-out has not reached
        # (no worker running, or behind), or one with a delivery still pending.
        lag = await conn.scalar(
            text(
                """
                SELECT EXTRACT(EPOCH FROM now() - LEAST(
                    (SELECT e.occurred_at FROM customer_events e
                     WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled)
                       AND (e.order_txid, e.seq) > (
                           COALESCE((SELECT CAST(CAST(order_txid AS text) AS xid8)
                                     FROM webhook_fanout_cursor), CAST('0' AS xid8)),
                           COALESCE((SELECT seq FROM webhook_fanout_cursor), 0))
                     ORDER BY e.order_txid, e.seq LIMIT 1),
                    (SELECT min(e.occurred_at)
                     FROM webhook_deliveries d JOIN customer_events e ON e.seq = d.event_seq
                     WHERE d.status = 'pending')))
                """
            )
        )
        OUTBOX_LAG.set(float(lag or 0))
        DELIVERIES.clear()
        rows = await conn.execute(
            text("SELECT endpoint_id, status, count(*) FROM webhook_deliveries GROUP BY 1, 2")
        )
        for endpoint_id, status, count in rows:
            DELIVERIES.labels(str(endpoint_id), status).set(count)


@router.get("/metrics", response_class=Response, include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus exposition format."""
    try:
        await refresh_gauges(request.app.state.engine)
    except Exception:  # the process metrics still matter when the database does not answer
        logger.warning("metrics: database gauges unavailable", exc_info=True)
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)


def exposition() -> bytes:
    return generate_latest(REGISTRY)
