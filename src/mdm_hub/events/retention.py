"""Retention, run by the webhook worker (the hub's one periodic job): old deliveries and their
attempts, idle queue rows, stored Idempotency-Key answers."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncEngine

from mdm_hub.events import repository
from mdm_hub.idempotency.repository import prune as prune_idempotency_keys
from mdm_hub.settings import Settings


async def prune(engine: AsyncEngine, settings: Settings) -> int:
    """Retention: delivered (and failed test) deliveries after ``webhook_retention_days``,
    dead letters after ``webhook_dead_letter_retention_days``; attempts go with them; stored
    Idempotency-Key answers after ``idempotency_key_ttl_hours``."""
    deleted = 0
    async with engine.begin() as conn:
        for statuses, days in (
            (["delivered", "failed"], settings.webhook_retention_days),
            (["dead"], settings.webhook_dead_letter_retention_days),
        ):
            deleted += await repository.prune_deliveries(conn, statuses, days * 86400)
        await repository.prune_idle_queues(conn, settings.webhook_retention_days * 86400)
        # The worker is the hub's one periodic job, so it also forgets old idempotency answers.
        await prune_idempotency_keys(conn, dt.timedelta(hours=settings.idempotency_key_ttl_hours))
    return deleted
