"""Retention of personal data: the access log, old audit before/after and old event payloads,
pruned by the worker (``mdm_hub.housekeeping``) as the settings say."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mdm_hub.privacy import repository
from mdm_hub.settings import Settings


async def apply_retention(engine: AsyncEngine, settings: Settings) -> dict[str, int]:
    """Prune and clear what is past its retention, in one transaction of its own."""
    now = dt.datetime.now(dt.UTC)
    async with AsyncSession(engine) as session, session.begin():
        done = {
            "access_log": await repository.prune(
                session, older_than=now - dt.timedelta(days=settings.access_log_retention_days)
            ),
            "audit_payloads": 0,
            "event_payloads": 0,
        }
        if settings.audit_payload_retention_days is not None:
            done["audit_payloads"] = await repository.clear_audit_payloads(
                session, older_than=now - dt.timedelta(days=settings.audit_payload_retention_days)
            )
        if settings.event_payload_retention_days is not None:
            done["event_payloads"] = await repository.clear_event_payloads(
                session, older_than=now - dt.timedelta(days=settings.event_payload_retention_days)
            )
    return done
