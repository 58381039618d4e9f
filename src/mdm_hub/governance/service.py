"""Protected fields and change requests (承認フロー). Services never commit.

A steward's edit (PATCH) that touches a protected field becomes a change request instead of a
change: the whole patch waits, with who asked, when, the before/after of each field and a
reason. An administrator other than the requester approves it (the patch is then applied as
the approver's edit, with its audit entry and event) or rejects it (nothing changes).

A source system's write that would change a protected field of the golden record is stored,
but the source record keeps its last approved values of those fields (sources.protect); the
values it sent wait in a change request of that source record (one pending at a time: a later
write of the source replaces or withdraws it). Approval sets them on the source record and
recomputes the golden record; rejection leaves the source record as it is.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.audit.log import audit_record, replaced_audit
from mdm_hub.audit.repository import record_audit
from mdm_hub.auth.authn import principal_var
from mdm_hub.auth.masking import MASK
from mdm_hub.auth.roles import Permission
from mdm_hub.context import Actor
from mdm_hub.errors import ProblemError, found
from mdm_hub.governance import repository
from mdm_hub.governance.models import ChangeRequest, ProtectedField
from mdm_hub.governance.repository import RequestFilters
from mdm_hub.governance.schemas import (
    ChangeRequestOut,
    DecisionIn,
    HeldForApproval,
    ProtectedFields,
)
from mdm_hub.pagination import cut_page


def actor_name(actor: Actor) -> str:
    return actor.subject if actor.client_id is None else f"{actor.subject} ({actor.client_id})"


def is_requester(actor: Actor, request: ChangeRequest) -> bool:
    """Four eyes: the same person asked, through whatever client (the subject decides)."""
    by = request.requested_by
    return by == actor.subject or by.startswith(f"{actor.subject} (")


async def list_protected(session: AsyncSession) -> list[ProtectedField]:
    return await repository.protected_fields(session)


def protected_view(fields: list[ProtectedField]) -> list[dict[str, Any]]:
    return [
        {"pointer": f.pointer, "steward_edits": f.steward_edits, "systems": list(f.systems)}
        for f in fields
    ]


async def replace_protected(
    session: AsyncSession, actor: Actor, body: ProtectedFields
) -> list[ProtectedField]:
    before = protected_view(await list_protected(session))
    seen: set[str] = set()
    fields: list[ProtectedField] = []
    for field in body.fields:
        if field.pointer in seen:
            continue
        seen.add(field.pointer)
        fields.append(
            ProtectedField(
                pointer=field.pointer,
                steward_edits=field.steward_edits,
                systems=sorted(set(field.systems)),
            )
        )
    await repository.replace_protected_fields(session, fields)
    after = await list_protected(session)
    record_audit(
        session,
        replaced_audit(
            actor,
            "protected_fields",
            before={"fields": before},
            after={"fields": protected_view(after)},
        ),
    )
    return after


def protected_for_system(fields: list[ProtectedField], system: str) -> list[str]:
    """The protected pointers that apply to writes of source system ``system``."""
    return [f.pointer for f in fields if system in f.systems]


def touched(patch: dict[str, Any], fields: list[ProtectedField]) -> list[str]:
    """The protected pointers (that apply to steward edits) a merge patch changes."""
    found = []
    for field in fields:
        if not field.steward_edits:
            continue
        top, *rest = field.pointer.split("/")[1:]
        if top not in patch and not (top == "name" and "person_name" in patch):
            continue
        value = patch.get(top)
        if rest and isinstance(value, dict) and rest[0] not in value:
            continue
        found.append(field.pointer)
    return found


async def request_change(
    session: AsyncSession,
    actor: Actor,
    protected: list[str],
    *,
    customer_id: uuid.UUID,
    patch: dict[str, Any],
    changes: list[dict[str, Any]],
    reason: str | None,
    system: str | None = None,
    source_id: str | None = None,
) -> ChangeRequest:
    """A new pending change request by ``actor``, stored, and audited with the protected fields
    it holds: a steward's patch (the caller locked the customer, checked If-Match as for the
    edit, and gives each field's golden value before and normalized value after in
    ``changes``), or the values a write of source record (``system``, ``source_id``) sent."""
    request = ChangeRequest(
        customer_id=customer_id,
        status="pending",
        version=1,
        patch=patch,
        changes=changes,
        reason=reason,
        requested_by=actor_name(actor),
        requested_at=dt.datetime.now(dt.UTC),
        system=system,
        source_id=source_id,
    )
    await repository.add_request(session, request)
    _audit_request(
        session, actor, request, "created", after={**_view(request), "protected": protected}
    )
    return request


def _audit_request(
    session: AsyncSession,
    actor: Actor,
    request: ChangeRequest,
    action: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    customer_id: uuid.UUID | None = None,
) -> None:
    """The audit entry of ``change_request.<action>``; ``after`` (unless given) is the request
    as it is now, ``customer_id`` (unless given) its customer's."""
    record_audit(
        session,
        audit_record(
            actor,
            action=f"change_request.{action}",
            entity_type="change_request",
            entity_id=str(request.id),
            customer_id=customer_id or request.customer_id,
            before=before,
            after=_view(request) if after is None else after,
        ),
    )


async def hold_source_change(
    session: AsyncSession,
    actor: Actor,
    customer_id: uuid.UUID,
    system: str,
    source_id: str,
    changes: list[dict[str, Any]],
    values: dict[str, Any],
) -> ChangeRequest | None:
    """The pending change request of source record (system, source_id): created, replaced
    with the values this write sent (``values``: pointer → value to set on the source record
    on approval; ``changes``: before/after per protected field), or withdrawn when the write
    holds nothing any more. The caller holds the source record's lock."""
    pending = await repository.pending_source_request(session, system, source_id, lock=True)
    if pending is None and not changes:
        return None
    if pending is not None:
        before = _view(pending)
        if not changes:
            pending.status = "withdrawn"
            pending.decided_by = actor_name(actor)
            pending.decided_at = dt.datetime.now(dt.UTC)
            pending.comment = "A later write of the source no longer changes a protected field"
        elif pending.changes == changes and pending.patch == values:
            return pending
        else:
            pending.customer_id = customer_id
            pending.changes = changes
            pending.patch = values
            pending.requested_by = actor_name(actor)
            pending.requested_at = dt.datetime.now(dt.UTC)
        pending.version += 1
        await session.flush()
        action = "replaced" if changes else "withdrawn"
        _audit_request(session, actor, pending, action, before=before, customer_id=customer_id)
        return pending if changes else None
    return await request_change(
        session,
        actor,
        [c["field"] for c in changes],
        customer_id=customer_id,
        patch=values,
        changes=changes,
        reason=None,  # the source record (system, source_id) says where it comes from
        system=system,
        source_id=source_id,
    )


async def pending_source_change(
    session: AsyncSession, system: str, source_id: str
) -> ChangeRequest | None:
    return await repository.pending_source_request(session, system, source_id)


def _view(request: ChangeRequest) -> dict[str, Any]:
    return ChangeRequestOut.model_validate(request, from_attributes=True).model_dump(mode="json")


def etag(request: ChangeRequest) -> str:
    return f'"{request.version}"'


async def get_request(session: AsyncSession, request_id: int) -> ChangeRequest:
    return found(
        await repository.get_request(session, request_id), f"No change request {request_id}"
    )


async def decide(
    session: AsyncSession,
    actor: Actor,
    request_id: int,
    body: DecisionIn,
    if_match: str | None,
    apply: Callable[[ChangeRequest], Awaitable[None]],
) -> ChangeRequest:
    """Approve (``apply`` it: the customers feature's steward edit, or the held values set on
    the source record) or reject a pending change request; four eyes, If-Match."""
    request = await repository.get_request(session, request_id, lock=True)
    if request is None:
        raise ProblemError("not-found", f"No change request {request_id}")
    if if_match is None:
        raise ProblemError(
            "precondition-required",
            "Send If-Match with the ETag from GET /v1/change-requests/{id}",
            headers={"ETag": etag(request)},
        )
    tags = [t.strip().removeprefix("W/") for t in if_match.split(",")]
    if etag(request) not in tags:
        raise ProblemError(
            "precondition-failed",
            f"The change request is at version {request.version}; If-Match was {if_match}",
            headers={"ETag": etag(request)},
        )
    if request.status != "pending":
        raise ProblemError("conflict", f"Change request {request_id} is {request.status}")
    if is_requester(actor, request):
        raise ProblemError(
            "forbidden",
            "Four eyes: a change request is decided by someone other than its requester",
        )
    before = _view(request)
    if body.decision == "approve":
        # Applied as the approver's change: its own audit entry and change event.
        await apply(request)
    request.status = "approved" if body.decision == "approve" else "rejected"
    request.version += 1
    request.decided_by = actor_name(actor)
    request.decided_at = dt.datetime.now(dt.UTC)
    request.comment = body.comment
    await session.flush()
    _audit_request(session, actor, request, request.status, before=before)
    return request


async def list_requests(
    session: AsyncSession, filters: RequestFilters, *, after_id: int | None, limit: int
) -> tuple[list[ChangeRequest], int | None]:
    rows, last = cut_page(
        await repository.list_requests(session, filters, after_id=after_id, limit=limit + 1),
        limit,
    )
    return rows, last.id if last else None


# Personal data in a patch (see auth/masking.py), hidden without pii:read.
_PERSONAL = ("phones", "emails", "addresses", "birth_date", "contacts")


def change_request_out(request: ChangeRequest) -> ChangeRequestOut:
    out = ChangeRequestOut.model_validate(request, from_attributes=True)
    principal = principal_var.get()
    if principal is not None and principal.can(Permission.pii_read):
        return out
    patch: dict[str, Any] = {
        k: (MASK if k.lstrip("/").split("/")[0] in _PERSONAL else v) for k, v in out.patch.items()
    }
    for change in out.changes:
        if change.field.lstrip("/").split("/")[0] in _PERSONAL:
            change.before = MASK if change.before is not None else None
            change.after = MASK if change.after is not None else None
    return out.model_copy(update={"patch": patch})


def held_for_approval(change: ChangeRequest | None) -> HeldForApproval | None:
    """A write answer's part for the change request it made (None: nothing held)."""
    if change is None:
        return None
    return HeldForApproval(change_request_id=change.id, fields=[c["field"] for c in change.changes])
