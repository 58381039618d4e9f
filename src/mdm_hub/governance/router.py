"""/v1/protected-fields and /v1/change-requests (承認フロー)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from mdm_hub.auth.roles import ConfigManage, ConfigRead, CustomersCurate
from mdm_hub.db import DbSession
from mdm_hub.governance import service
from mdm_hub.governance.repository import RequestFilters
from mdm_hub.governance.schemas import (
    ChangeRequestOut,
    ChangeRequestPage,
    ChangeRequestStatus,
    ProtectedFieldIn,
    ProtectedFields,
)
from mdm_hub.idempotency.route import api_router
from mdm_hub.pagination import ConfiguredIdPaging, id_cursor
from mdm_hub.types import Id
from mdm_hub.web import ReviewFilter

router = api_router(tags=["governance"])


@router.get("/protected-fields")
async def list_protected_fields(
    session: DbSession, principal: ConfigRead
) -> list[ProtectedFieldIn]:
    """The fields whose changes need a second 管理者's approval."""
    fields = await service.list_protected(session)
    return [ProtectedFieldIn.model_validate(f) for f in service.protected_view(fields)]


@router.put("/protected-fields")
async def replace_protected_fields(
    body: ProtectedFields, session: DbSession, actor: ConfigManage
) -> list[ProtectedFieldIn]:
    """Replace the protected fields (audited). Pending change requests stay as they are."""
    fields = await service.replace_protected(session, actor, body)
    return [ProtectedFieldIn.model_validate(f) for f in service.protected_view(fields)]


@router.get("/change-requests")
async def list_change_requests(
    session: DbSession,
    principal: CustomersCurate,
    filters: Annotated[ReviewFilter[ChangeRequestStatus], Query()],
    page: ConfiguredIdPaging,
) -> ChangeRequestPage:
    """Change requests, oldest first (default: those waiting); follow `next_cursor`."""
    rows, last = await service.list_requests(
        session,
        RequestFilters(status=filters.status, customer_id=filters.customer_id),
        after_id=page.position,
        limit=page.limit,
    )
    return ChangeRequestPage(
        items=[service.change_request_out(r) for r in rows], next_cursor=id_cursor(last)
    )


@router.get("/change-requests/{request_id}")
async def get_change_request(
    request_id: Id, response: Response, session: DbSession, principal: CustomersCurate
) -> ChangeRequestOut:
    """One change request, with its ETag (for the decision's If-Match)."""
    change = await service.get_request(session, request_id)
    response.headers["ETag"] = service.etag(change)
    return service.change_request_out(change)
