"""HTTP for privacy: erasure, disclosure, held writes and the access log (管理者 only)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from fastapi import Request

from mdm_hub.auth.masking import disclose
from mdm_hub.auth.roles import PrivacyManage
from mdm_hub.context import settings_of
from mdm_hub.db import DbSession
from mdm_hub.idempotency.route import api_router
from mdm_hub.pagination import IdPaging
from mdm_hub.privacy import repository, service
from mdm_hub.privacy.schemas import (
    AccessLogPage,
    DisclosureOut,
    ErasureIn,
    ErasureOut,
    HeldWriteOut,
    HeldWritePage,
)
from mdm_hub.types import Id

router = api_router(tags=["privacy"])


@router.post("/customers/{customer_id}/erase")
async def erase_customer(
    customer_id: uuid.UUID,
    body: ErasureIn,
    request: Request,
    session: DbSession,
    actor: PrivacyManage,
) -> ErasureOut:
    """Erase a person on request (利用停止・消去): their data leaves the golden record, every
    source record (of customers merged into it too), blocking keys, review candidates, audit
    before/after and event payloads. A tombstone stays; `customer.erased` goes to every
    subscriber; later writes carrying the person's phone, e-mail or name with birth date are
    held for a 管理者 (`/v1/privacy/held-writes`)."""
    erasure = await service.erase_customer(
        session, settings_of(request), actor, customer_id, body.reason
    )
    return ErasureOut.model_validate(erasure)


@router.get("/customers/{customer_id}/erasure")
async def get_erasure(
    customer_id: uuid.UUID, session: DbSession, principal: PrivacyManage
) -> ErasureOut:
    """The tombstone of an erased customer: who erased it, when, why, which source ids."""
    return ErasureOut.model_validate(await service.tombstone(session, customer_id))


@router.get("/customers/{customer_id}/disclosure")
async def get_disclosure(
    customer_id: uuid.UUID, session: DbSession, principal: PrivacyManage
) -> DisclosureOut:
    """Everything the hub holds about the person (開示請求): golden record, source records with
    their systems, history, and which downstream systems received it. Logged as an access."""
    document = await service.disclosure(session, customer_id)
    document["customer"] = disclose(document["customer"], customer_id, what="disclosure")
    return DisclosureOut.model_validate(document)


@router.get("/privacy/held-writes")
async def list_held_writes(
    session: DbSession,
    principal: PrivacyManage,
    page: IdPaging,
    status: Literal["held", "released", "rejected"] | None = "held",
) -> HeldWritePage:
    """Source writes held because they carried an erased person's identifying values."""
    rows = await repository.held_writes(
        session, status=status, after_id=page.position or 0, limit=page.limit + 1
    )
    return page.answer(HeldWritePage, rows)


@router.post("/privacy/held-writes/{held_id}/reject")
async def reject_held_write(held_id: Id, session: DbSession, actor: PrivacyManage) -> HeldWriteOut:
    """Drop a held write: the person stays erased and the write's data is discarded."""
    return HeldWriteOut.model_validate(
        await service.decide_held_write(session, actor, held_id, "rejected")
    )


@router.get("/access-log")
async def list_access_log(
    session: DbSession,
    principal: PrivacyManage,
    page: IdPaging,
    customer_id: uuid.UUID | None = None,
    subject: str | None = None,
    since: dt.datetime | None = None,
) -> AccessLogPage:
    """Who saw a person's unmasked data, newest first: subject, client, request id, customer,
    fields and endpoint. Reads by masked roles are not logged (they saw nothing personal)."""
    rows = await repository.access_entries(
        session,
        customer_id=customer_id,
        subject=subject,
        since=since,
        before_id=page.position,
        limit=page.limit + 1,
    )
    return page.answer(AccessLogPage, rows)
