"""GET /v1/audit: read the audit log."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from mdm_hub.audit import repository
from mdm_hub.auth.masking import disclose
from mdm_hub.auth.roles import AuditRead
from mdm_hub.db import DbSession
from mdm_hub.errors import PROBLEM_RESPONSES
from mdm_hub.pagination import IdPaging, cut_page, id_cursor

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=PROBLEM_RESPONSES)


class AuditEntryOut(BaseModel):
    id: int
    occurred_at: dt.datetime
    actor: str = Field(examples=["crm-sync (crm-sync)"], description="subject (client id)")
    action: str = Field(examples=["customer.updated"])
    entity_type: str = Field(examples=["customer"])
    entity_id: str
    customer_id: uuid.UUID | None
    request_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


@router.get("")
async def list_audit_entries(
    session: DbSession,
    principal: AuditRead,
    filters: Annotated[repository.AuditFilters, Depends()],
    page: IdPaging,
) -> AuditPage:
    """Audit entries, oldest first: who changed what, when, with the before and after."""
    rows, last = cut_page(
        await repository.list_entries(
            session,
            filters,
            after_id=page.position,
            limit=page.limit + 1,
        ),
        page.limit,
    )
    return AuditPage(
        items=[
            AuditEntryOut.model_validate(
                {
                    **{k: getattr(r, k) for k in AuditEntryOut.model_fields},
                    # customer records in before/after: masked without pii:read
                    "before": disclose(r.before, r.customer_id, what="audit"),
                    "after": disclose(r.after, r.customer_id, what="audit"),
                }
            )
            for r in rows
        ],
        next_cursor=id_cursor(last.id if last else None),
    )
