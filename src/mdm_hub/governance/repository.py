"""The SQL of governance: protected fields and change requests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.db import IdOrderedPages
from mdm_hub.governance.models import ChangeRequest, ProtectedField


async def protected_fields(session: AsyncSession) -> list[ProtectedField]:
    rows = await session.scalars(select(ProtectedField).order_by(ProtectedField.pointer))
    return list(rows.all())


async def replace_protected_fields(session: AsyncSession, fields: list[ProtectedField]) -> None:
    await session.execute(delete(ProtectedField))
    session.add_all(fields)
    await session.flush()


async def add_request(session: AsyncSession, request: ChangeRequest) -> None:
    """Insert a change request (its id is set)."""
    session.add(request)
    await session.flush()


async def get_request(
    session: AsyncSession, request_id: int, *, lock: bool = False
) -> ChangeRequest | None:
    return await session.get(
        ChangeRequest, request_id, with_for_update=lock, populate_existing=lock
    )


async def pending_source_request(
    session: AsyncSession, system: str, source_id: str, *, lock: bool = False
) -> ChangeRequest | None:
    """The change request waiting for source record (system, source_id), if any."""
    query = select(ChangeRequest).where(
        ChangeRequest.system == system,
        ChangeRequest.source_id == source_id,
        ChangeRequest.status == "pending",
    )
    return await session.scalar(query.with_for_update() if lock else query)


@dataclass(frozen=True)
class RequestFilters:
    """Which change requests a listing shows (None: any)."""

    status: str | None = None
    customer_id: uuid.UUID | None = None


# Up to ``limit`` change requests in id order after ``after_id``.
list_requests = IdOrderedPages(ChangeRequest)
