"""Prometheus metrics (`/metrics`) and the access-log/latency middleware."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.pool import QueuePool
from starlette.types import Message, Receive, Scope, Send

from mdm_hub.auth.roles import Public
from mdm_hub.middleware import HTTPMiddleware
from mdm_hub.observability import repository
from mdm_hub.settings import Settings

logger = logging.getLogger("mdm_hub.access")

REGISTRY = CollectorRegistry(auto_describe=True)


def _gauge(name: str, documentation: str, *labels: str) -> Gauge:
    return Gauge(name, documentation, labels, registry=REGISTRY)


def _counter(name: str, documentation: str, *labels: str) -> Counter:
    return Counter(name, documentation, labels, registry=REGISTRY)


# The labelled quality gauges: set_quality_gauges clears them before it sets them, so that a
# label set gone from the KPI document (a deleted rule, a retired system) goes from /metrics.
_QUALITY_LABELLED: list[Gauge] = []


def _quality_gauge(name: str, documentation: str, *labels: str) -> Gauge:
    gauge = _gauge(name, documentation, *labels)
    if labels:
        _QUALITY_LABELLED.append(gauge)
    return gauge


REQUEST_LATENCY = Histogram(
    "mdm_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
MATCH_DECISIONS = _counter(
    "mdm_match_decisions_total", "Decisions of the write path for new source records", "outcome"
)
REVIEW_QUEUE = _gauge("mdm_review_queue_size", "Match candidates waiting for a steward")
OUTBOX_LAG = _gauge(
    "mdm_outbox_lag_seconds",
    "Age of the oldest change event not yet handed to every enabled endpoint: not fanned "
    "out yet (worker down or behind) or with a delivery still pending",
)
DELIVERIES = _gauge(
    "mdm_webhook_deliveries",
    "Webhook deliveries kept in the delivery log, by endpoint and status",
    "endpoint",
    "status",
)
POOL_IN_USE = _gauge("mdm_db_pool_connections_in_use", "Database connections checked out")
POOL_SIZE = _gauge("mdm_db_pool_size", "Database pool size (persistent)")

# Quality KPIs (quality/kpis.py; the same figures as GET /v1/quality/kpis).
QUALITY_COMPLETENESS = _quality_gauge(
    "mdm_quality_completeness_ratio",
    "Share of active customers with the field filled",
    "kind",
    "field",
)
QUALITY_ERROR_RATE = _quality_gauge(
    "mdm_quality_error_rate_ratio",
    'Share of source records with a finding of the rule (rule="any": any finding)',
    "system",
    "rule",
)
QUALITY_MERGES_PER_1000_WRITES = _quality_gauge(
    "mdm_quality_merges_per_1000_writes",
    'Merges per 1,000 source record writes in the KPI window (system="all": every merge)',
    "system",
)
QUALITY_MERGED_AWAY = _quality_gauge(
    "mdm_quality_customers_merged_away", "Customers merged into another"
)
QUALITY_STALE = _quality_gauge(
    "mdm_quality_customers_not_updated",
    "Active customers not updated for MDM_QUALITY_STALE_DAYS",
    "kind",
)
QUALITY_NO_TRANSACTION = _quality_gauge(
    "mdm_quality_customers_no_transaction",
    "Active customers whose 最終取引日 is older than MDM_QUALITY_NO_TRANSACTION_DAYS",
    "kind",
)
QUALITY_WRITES_PER_DAY = _quality_gauge(
    "mdm_quality_writes_per_day",
    "Source record writes per day in the KPI window, by source system",
    "system",
)

QUALITY_ERROR_RATE_BY_KIND = _quality_gauge(
    "mdm_quality_error_rate_by_kind_ratio",
    'Share of source records of the kind with a finding of the rule (rule="any": any finding)',
    "kind",
    "rule",
)
QUALITY_SOURCE_COMPLETENESS = _quality_gauge(
    "mdm_quality_source_completeness_ratio",
    'Share of a source system\'s records with the field filled (kind="all": every kind)',
    "system",
    "kind",
    "field",
)
QUALITY_SOURCES_NOT_UPDATED = _quality_gauge(
    "mdm_quality_source_records_not_updated",
    "Source records not written again for MDM_QUALITY_STALE_DAYS, by source system",
    "system",
)

QUALITY_ENRICHMENT = _quality_gauge(
    "mdm_quality_enrichment_customers",
    "Active corporations by 法人番号 coverage: confirmed (linked to the NTA registry), "
    "suggested (a pending registry proposal), withdrawn (linked to a withdrawn number), unknown",
    "state",
)
QUALITY_CLOSED_ACTIVE = _quality_gauge(
    "mdm_quality_customers_closed_still_active",
    "Active customers whose registry link records a closure (閉鎖)",
)
QUALITY_INVOICE_NOT_CONFIRMED = _quality_gauge(
    "mdm_quality_invoice_numbers_not_confirmed",
    "Active customers whose T-number the インボイス registry does not confirm as registered, "
    "by what it says (not_registered, expired, revoked, deleted)",
    "status",
)
QUALITY_SOURCES_NO_TRANSACTION = _quality_gauge(
    "mdm_quality_source_records_no_transaction",
    "Source records whose 最終取引日 (as the system sent it) is older than "
    "MDM_QUALITY_NO_TRANSACTION_DAYS, by source system",
    "system",
)
QUALITY_ENRICHMENT_BY_KIND = _quality_gauge(
    "mdm_quality_enrichment_by_kind_customers",
    "Active customers of the kind by 法人番号 coverage (confirmed, suggested, withdrawn, unknown)",
    "kind",
    "state",
)
QUALITY_ENRICHMENT_BY_SYSTEM = _quality_gauge(
    "mdm_quality_enrichment_source_records",
    "A source system's records (of active customers) by their customer's 法人番号 coverage "
    '(kind="all": every kind)',
    "system",
    "kind",
    "state",
)

QUALITY_INVOICE_BY_KIND = _quality_gauge(
    "mdm_quality_invoice_numbers_by_kind_customers",
    "Active customers of the kind carrying a T-number, by what the インボイス registry says of "
    "it (registered, not_registered, expired, revoked, deleted)",
    "kind",
    "status",
)
QUALITY_INVOICE_BY_SYSTEM = _quality_gauge(
    "mdm_quality_invoice_numbers_source_records",
    "A source system's records (of active customers carrying a T-number) by their customer's "
    'T-number status (kind="all": every kind)',
    "system",
    "kind",
    "status",
)


def set_quality_gauges(figures: dict[str, Any]) -> None:
    """Set the quality gauges from a KPI document (quality.kpis.compute)."""
    for gauge in _QUALITY_LABELLED:
        gauge.clear()
    for kind, fields in figures["completeness"].items():
        for field, value in fields.items():
            if value["share"] is not None:
                QUALITY_COMPLETENESS.labels(kind, field).set(value["share"])
    error_rate = figures["error_rate"]
    for system, rate in [("all", error_rate["all"]), *error_rate["by_system"].items()]:
        if rate["share"] is not None:
            QUALITY_ERROR_RATE.labels(system, "any").set(rate["share"])
        for rule, by_rule in rate["by_rule"].items():
            if by_rule["share"] is not None:
                QUALITY_ERROR_RATE.labels(system, rule).set(by_rule["share"])
    duplicates = figures["duplicates"]
    if duplicates["merges_per_1000_writes"] is not None:
        QUALITY_MERGES_PER_1000_WRITES.labels("all").set(duplicates["merges_per_1000_writes"])
    for system, by_system in duplicates["by_system"].items():
        if by_system["merges_per_1000_writes"] is not None:
            QUALITY_MERGES_PER_1000_WRITES.labels(system).set(by_system["merges_per_1000_writes"])
    QUALITY_MERGED_AWAY.set(duplicates["merged_away"])
    for kind, freshness in figures["freshness"].items():
        QUALITY_STALE.labels(kind).set(freshness["not_updated"])
        QUALITY_NO_TRANSACTION.labels(kind).set(freshness["no_transaction"])
    for system, frequency in figures["update_frequency"].items():
        QUALITY_WRITES_PER_DAY.labels(system).set(frequency["writes_per_day"])
    for kind, rate in error_rate.get("by_kind", {}).items():
        if rate["share"] is not None:
            QUALITY_ERROR_RATE_BY_KIND.labels(kind, "any").set(rate["share"])
        for rule, by_rule in rate["by_rule"].items():
            if by_rule["share"] is not None:
                QUALITY_ERROR_RATE_BY_KIND.labels(kind, rule).set(by_rule["share"])
    for system, kinds in figures.get("completeness_by_system", {}).items():
        for kind, slice_ in kinds.items():
            for field, value in slice_["fields"].items():
                if value["share"] is not None:
                    QUALITY_SOURCE_COMPLETENESS.labels(system, kind, field).set(value["share"])
    for system, freshness in figures.get("freshness_by_system", {}).items():
        QUALITY_SOURCES_NOT_UPDATED.labels(system).set(freshness["not_updated"])
        if "no_transaction" in freshness:
            QUALITY_SOURCES_NO_TRANSACTION.labels(system).set(freshness["no_transaction"])
    states = ("confirmed", "suggested", "withdrawn", "unknown")
    for kind, coverage in figures.get("enrichment_by_kind", {}).items():
        for state in states:
            QUALITY_ENRICHMENT_BY_KIND.labels(kind, state).set(coverage[state])
    for system, kinds in figures.get("enrichment_by_system", {}).items():
        for kind, coverage in kinds.items():
            for state in states:
                QUALITY_ENRICHMENT_BY_SYSTEM.labels(system, kind, state).set(coverage[state])
    enrichment = figures.get("enrichment")
    if enrichment:
        for state in ("confirmed", "suggested", "withdrawn", "unknown"):
            QUALITY_ENRICHMENT.labels(state).set(enrichment[state])
        QUALITY_CLOSED_ACTIVE.set(enrichment["closed_still_active"])
    invoice = figures.get("invoice_registration")
    if invoice:
        for status, n in invoice["by_status"].items():
            QUALITY_INVOICE_NOT_CONFIRMED.labels(status).set(n)
    for kind, figures_ in figures.get("invoice_registration_by_kind", {}).items():
        _set_invoice(QUALITY_INVOICE_BY_KIND, (kind,), figures_)
    for system, kinds in figures.get("invoice_registration_by_system", {}).items():
        for kind, figures_ in kinds.items():
            _set_invoice(QUALITY_INVOICE_BY_SYSTEM, (system, kind), figures_)


def _set_invoice(gauge: Gauge, labels: tuple[str, ...], invoice: dict[str, Any]) -> None:
    gauge.labels(*labels, "registered").set(invoice["registered"])
    for status, n in invoice["by_status"].items():
        gauge.labels(*labels, status).set(n)


class AccessLogMiddleware(HTTPMiddleware):
    """Times every request: one JSON access line and one histogram sample, by route template.

    The line carries the path template (never the query string: filters hold phones and
    emails), the status, the latency, the request id (from the log formatter) and the subject.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
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


async def refresh_gauges(engine: AsyncEngine, settings: Settings | None = None) -> None:
    """Set the gauges that come from the database (and this process's pool); with
    ``settings``, the quality KPIs too."""
    pool = engine.pool
    assert isinstance(pool, QueuePool)  # db.create_engine's pool
    POOL_SIZE.set(pool.size())
    POOL_IN_USE.set(pool.checkedout())
    async with engine.connect() as conn:
        REVIEW_QUEUE.set(await repository.pending_candidates(conn))
        OUTBOX_LAG.set(await repository.outbox_lag_seconds(conn))
        DELIVERIES.clear()
        for endpoint_id, status, count in await repository.deliveries_by_status(conn):
            DELIVERIES.labels(str(endpoint_id), status).set(count)
    if settings is not None:
        # Imported here: the frame's metrics read a feature's figures, not the other way round.
        from mdm_hub.quality.kpis import compute

        async with AsyncSession(engine) as session:
            set_quality_gauges(await compute(session, settings))


@router.get("/metrics", response_class=Response, include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus exposition format."""
    try:
        await refresh_gauges(request.app.state.engine, request.app.state.settings)
    except Exception:  # the process metrics still matter when the database does not answer
        logger.warning("metrics: database gauges unavailable", exc_info=True)
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)


def exposition() -> bytes:
    return generate_latest(REGISTRY)
