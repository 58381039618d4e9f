"""A steward's edits of a customer: PATCH (merge patch, kept as the steward's own source) and
soft delete, with If-Match."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.audit.log import source_record_audit
from mdm_hub.audit.repository import record_audit
from mdm_hub.context import Actor
from mdm_hub.custom_fields.service import Configuration, current_configuration
from mdm_hub.customers.golden import (
    bump_version,
    customer_view,
    now,
    recompute_after,
    recompute_golden,
    record_customer_change,
)
from mdm_hub.customers.models import STEWARD_SYSTEM, Customer, CustomerStatus, SourceRecord
from mdm_hub.customers.prepare import Normalized, canonical_hash, normalize_payload
from mdm_hub.customers.repository import (
    add_source,
    get_source_record,
    lock_customer,
    lock_source_row,
    lock_steward_source,
)
from mdm_hub.customers.survivorship import SCALAR_GROUPS, set_pointer
from mdm_hub.customers.views import source_view
from mdm_hub.errors import FieldProblem, ProblemError, json_pointer, validation_problem
from mdm_hub.governance import service as governance
from mdm_hub.governance.models import ChangeRequest
from mdm_hub.normalize import as_input
from mdm_hub.quality.repository import findings_writes
from mdm_hub.record import OBJECT_INPUT_FIELDS, CustomerIn, CustomerRecord
from mdm_hub.settings import Settings


def etag(customer: Customer) -> str:
    return f'"{customer.version}"'


def check_if_match(customer: Customer, if_match: str | None, *, required: bool) -> None:
    if if_match is None:
        if required:
            raise ProblemError(
                "precondition-required",
                "Send If-Match with the ETag from GET /v1/customers/{id}",
                headers={"ETag": etag(customer)},
            )
        return
    candidates = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    if "*" not in candidates and etag(customer) not in candidates:
        raise ProblemError(
            "precondition-failed",
            f"The customer is at version {customer.version}; If-Match was {if_match}",
            headers={"ETag": etag(customer)},
        )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _override_pointers(
    patch: dict[str, Any], normalized: dict[str, Any], current: dict[str, Any]
) -> dict[str, Any]:
    """The fields a steward's patch sets, with their normalized values (pointer → value)."""
    overrides: dict[str, Any] = {}
    for key, value in patch.items():
        if key in SCALAR_GROUPS or key == "person_name":
            group = SCALAR_GROUPS["name" if key == "person_name" else key]
            for member in group:
                overrides[f"/{member}"] = normalized.get(member)
        elif key in OBJECT_INPUT_FIELDS or key == "custom_fields":
            if key in OBJECT_INPUT_FIELDS:
                leaves = list(OBJECT_INPUT_FIELDS[key].model_fields)
            else:
                leaves = list(current.get("custom_fields") or {})
            if isinstance(value, dict):
                leaves = list(value)
            for leaf in leaves:
                overrides[f"/{key}/{leaf}"] = (normalized.get(key) or {}).get(leaf)
        else:
            overrides[f"/{key}"] = normalized.get(key)
    return overrides


async def normalize_patch(
    session: AsyncSession,
    customer: Customer,
    patch: dict[str, Any],
    config: Configuration | None = None,
) -> Normalized:
    """The customer's record with a steward's merge patch applied, normalized and checked as
    the edit is (422 naming the field otherwise)."""
    for forbidden in ("id", "customer_code", "status", "version"):
        if forbidden in patch:
            raise validation_problem(
                [
                    FieldProblem(
                        field=json_pointer([forbidden]),
                        code="read_only",
                        message=f"{forbidden} cannot be changed with PATCH",
                    )
                ]
            )
    current = as_input(CustomerRecord.model_validate(customer.record))
    merged = merge_patch(current.model_dump(mode="json", exclude_none=True), patch)
    try:
        payload = CustomerIn.model_validate(merged)
    except ValidationError as exc:
        raise validation_problem(
            [
                FieldProblem(field=json_pointer(e["loc"]), code=e["type"], message=e["msg"])
                for e in exc.errors()
            ]
        ) from exc
    if config is None:
        config = await current_configuration(session)
    return await normalize_payload(session, payload, config, derive_rank=False)


def requested_changes(
    customer: Customer, patch: dict[str, Any], normalized: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each patched field's golden value now and its value after the edit, normalized as the
    edit would store it (a change request's before/after)."""
    return [
        {"field": f"/{key}", "before": customer.record.get(key), "after": normalized.get(key)}
        for key in patch
    ]


async def _lock_for_edit(
    session: AsyncSession, customer_id: uuid.UUID, if_match: str | None
) -> Customer:
    """The customer locked for a steward's edit: If-Match required and matching, and active."""
    customer = await lock_customer(session, customer_id)
    check_if_match(customer, if_match, required=True)
    if customer.status != CustomerStatus.active.value:
        raise ProblemError("conflict", f"Customer {customer_id} is {customer.status}")
    return customer


async def edit_customer(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    customer_id: uuid.UUID,
    patch: dict[str, Any],
    if_match: str | None,
    reason: str | None = None,
) -> Customer | ChangeRequest:
    """A steward's edit as ``PATCH /v1/customers/{id}`` and the console make it: applied, or,
    when it touches a protected field (issue 18), a change request waiting for another
    管理者's approval (nothing changes yet)."""
    protected = governance.touched(patch, await governance.list_protected(session))
    locked = await _lock_for_edit(session, customer_id, if_match)
    if not protected:
        return await apply_edit(session, settings, actor, locked, patch)
    done = await normalize_patch(session, locked, patch)
    changes = requested_changes(locked, patch, done.record)
    return await governance.request_change(
        session,
        actor,
        protected,
        customer_id=locked.id,
        patch=patch,
        changes=changes,
        reason=reason,
    )


async def apply_edit(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    customer: Customer,
    patch: dict[str, Any],
) -> Customer:
    """A steward's edit of the customer (locked by :func:`_lock_for_edit`): kept as the
    steward's own source, so survivorship lets it win."""
    config = await current_configuration(session)
    done = await normalize_patch(session, customer, patch, config)
    normalized = done.record
    # quality (issue 18): the findings of the values this edit sets (the rest are its sources').
    findings = [f for f in done.findings if f["field"].split("/")[1] in patch]

    steward = await lock_steward_source(session, customer.id)
    edited_at = now()
    if steward is None:
        steward = SourceRecord(
            system=STEWARD_SYSTEM,
            source_id=str(customer.id),
            customer_id=customer.id,
            raw_payload={},
            payload_hash="",
            normalized={"overrides": {}},
            changes=[],
            findings=[],
            decision={},
            version=0,
            created_at=edited_at,
            updated_at=edited_at,
        )
        add_source(session, steward)
    before = source_view(steward) if steward.version else None
    steward.raw_payload = merge_patch(steward.raw_payload, patch) if patch else steward.raw_payload
    steward.payload_hash = canonical_hash(steward.raw_payload)
    overrides = dict(steward.normalized.get("overrides", {}))
    overrides.update(_override_pointers(patch, normalized, customer.record))
    steward.normalized = {"overrides": overrides}
    steward.version += 1
    steward.updated_at = edited_at
    steward.findings = findings
    await session.flush()
    record_audit(
        session,
        source_record_audit(
            actor,
            "customer.overridden",
            STEWARD_SYSTEM,
            str(customer.id),
            customer.id,
            before=before,
            after={**source_view(steward), "overrides": overrides},
        ),
    )
    await recompute_golden(
        session,
        settings,
        actor,
        customer,
        config=config,
        writes=findings_writes(steward.id, STEWARD_SYSTEM, findings, replace=True),
    )
    return customer


async def delete_customer(
    session: AsyncSession, actor: Actor, customer_id: uuid.UUID, if_match: str | None
) -> None:
    """Soft delete: the customer stays readable with status ``deleted``."""
    customer = await lock_customer(session, customer_id)
    check_if_match(customer, if_match, required=False)
    if customer.status == CustomerStatus.deleted.value:
        return
    if customer.status not in (CustomerStatus.active.value, CustomerStatus.closed.value):
        raise ProblemError("conflict", f"Customer {customer_id} is {customer.status}")
    before = customer_view(customer)
    customer.status = CustomerStatus.deleted.value
    bump_version(customer)
    await record_customer_change(
        session, actor, customer, action="customer.deleted", before=before, changed=["/status"]
    )


async def apply_held_values(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    system: str,
    source_id: str,
    values: dict[str, Any],
) -> Customer:
    """An approved change request of a source write: its held values (pointer → normalized
    value) set on the source record, and the golden record recomputed (audited, its event)."""
    found = await get_source_record(session, system, source_id)
    # Lock order: the customer, then its source row (as merges and writes do).
    customer = await lock_customer(session, found.customer_id)
    source = await lock_source_row(session, found.id)
    if source.customer_id != customer.id:  # moved by a merge or unmerge meanwhile
        customer = await lock_customer(session, source.customer_id)
    if customer.status != CustomerStatus.active.value:
        raise ProblemError("conflict", f"Customer {customer.id} is {customer.status}")
    before = {**source_view(source), "normalized": source.normalized}
    normalized = dict(source.normalized)
    for pointer, value in values.items():
        set_pointer(normalized, pointer, value)
    source.normalized = CustomerRecord.model_validate(normalized).model_dump(mode="json")
    source.version += 1
    source.updated_at = now()  # the approved values count as of now (survivorship's recency)
    await session.flush()
    entry = source_record_audit(
        actor,
        "source_record.approved",
        system,
        source_id,
        customer.id,
        before=before,
        after={**source_view(source), "normalized": source.normalized},
    )
    await recompute_after(session, settings, actor, customer, entry)
    return customer


def change_request_applier(
    session: AsyncSession, settings: Settings, actor: Actor
) -> Callable[[ChangeRequest], Awaitable[None]]:
    """What approving a change request does (governance.service.decide's ``apply``): a
    steward's patch as the approver's edit, or a source write's held values on its record."""

    async def apply(change: ChangeRequest) -> None:
        if change.system is not None and change.source_id is not None:
            await apply_held_values(
                session, settings, actor, change.system, change.source_id, change.patch
            )
        else:
            locked = await _lock_for_edit(session, change.customer_id, "*")
            await apply_edit(session, settings, actor, locked, change.patch)

    return apply
