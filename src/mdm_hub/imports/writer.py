"""The one place imports meet the write path (mdm_hub.sources).

Every row goes through exactly what ``PUT /v1/sources/{system}/records/{source_id}`` runs —
normalize, keys and locks, candidates, decision, store, audit, change event — inside a
savepoint, so a row that fails leaves nothing behind and the rows around it still count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.context import Actor
from mdm_hub.custom_fields.service import Configuration, current_configuration
from mdm_hub.customers.models import Customer, SourceRecord
from mdm_hub.errors import FieldProblem, ProblemError, json_pointer
from mdm_hub.governance.models import ChangeRequest
from mdm_hub.privacy.service import WriteHeld
from mdm_hub.record import CustomerIn
from mdm_hub.settings import Settings
from mdm_hub.sources import service as sources
from mdm_hub.sources.prepare import Prepared, prepare

Outcome = str  # new_customer | merged | review | updated | unchanged | held | rejected


@dataclass
class RowWrite:
    outcome: Outcome
    created: bool  # a new source record (PUT's 201)
    customer: Customer | None = None
    source: SourceRecord | None = None
    problem: ProblemError | None = None
    held: dict[str, Any] | None = None  # a person record held as an erased person's (privacy)
    change_request: ChangeRequest | None = None  # protected values waiting (governance)


def validate_payload(payload: dict[str, Any]) -> CustomerIn | list[FieldProblem]:
    """The body as the PUT endpoint validates it, or its problems (field pointers)."""
    try:
        return CustomerIn.model_validate(payload)
    except ValidationError as exc:
        return [
            FieldProblem(field=json_pointer(e["loc"]), code=e["type"], message=e["msg"])
            for e in exc.errors()
        ]


async def configuration(session: AsyncSession) -> Configuration:
    return await current_configuration(session)


async def prepare_keys(
    session: AsyncSession, settings: Settings, payload: CustomerIn, config: Configuration
) -> list[str] | list[FieldProblem]:
    """The row's blocking keys as the write path computes them (``kind:value``), or the
    normalization and custom-field problems that would make the PUT answer 422."""
    (prepared,) = await prepare(session, settings, [payload], config)
    if not isinstance(prepared, Prepared):
        return list(prepared.errors or [])
    return sorted({f"{k.kind}:{k.value}" for k in prepared.keys})


async def write_row(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    system: str,
    source_id: str,
    payload: CustomerIn,
    *,
    savepoint: bool = True,
) -> RowWrite:
    """The PUT of one row, in a savepoint of the caller's transaction.

    ``savepoint=False`` saves the savepoint's two round trips for rows expected to pass (the
    import validated them when staging): a row refused then may have written part of itself,
    so the caller must roll its whole transaction back (and write the batch again with
    savepoints)."""
    held: WriteHeld | None = None

    async def put() -> sources.SourceWrite | None:
        nonlocal held
        try:
            return await sources.put_source_record(
                session, settings, actor, system, source_id, payload
            )
        except WriteHeld as exc:  # stored as a held write: kept, as a PUT's 202 keeps it
            held = exc
            return None

    try:
        if savepoint:
            async with session.begin_nested():
                write = await put()
        else:
            write = await put()
    except ProblemError as problem:
        return RowWrite("rejected", False, problem=problem)
    if write is None:
        return RowWrite("held", False, held=held.held if held is not None else None)
    if write.created_source:
        outcome = str(write.source.decision.get("outcome", "new_customer"))
    elif inspect(write.source).transient:
        # A replay (the same body again): put_source_record answers with the stored record as
        # read, never attached to the session; an update hands back the row it changed.
        outcome = "unchanged"
    else:
        outcome = "updated"
    return RowWrite(
        outcome,
        write.created_source,
        write.customer,
        write.source,
        change_request=write.change_request,
    )


async def dry_run_row(
    session: AsyncSession, settings: Settings, system: str, source_id: str, payload: CustomerIn
) -> RowWrite:
    """What the PUT would decide, written in a savepoint the caller rolls back."""
    return await write_row(session, settings, Actor(subject="dry-run"), system, source_id, payload)
