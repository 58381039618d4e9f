"""The SQL of governance: protected fields and change requests."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.db import equal_where_given
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


async def list_requests(
    session: AsyncSession,
    *,
    status: str | None,
    customer_id: uuid.UUID | None,
    after_id: int | None,
    limit: int,
) -> list[ChangeRequest]:
    """Up to ``limit`` change requests in id order after ``after_id``."""
    query = (
        select(ChangeRequest)
        .where(
            *equal_where_given(
                (ChangeRequest.status, status), (ChangeRequest.customer_id, customer_id)
            )
        )
        .order_by(ChangeRequest.id)
        .limit(limit)
    )
    if after_id is not None:
        query = query.where(ChangeRequest.id > after_id)
    return list((await session.scalars(query)).all())
