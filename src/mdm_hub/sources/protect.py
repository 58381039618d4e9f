"""Governance in the write path (issue 18): a source system's write that would change a
protected field of the golden record is stored, but its values of those fields wait for a
管理者's approval in a change request; the golden values stay until then.

The one hook of the write path into governance, for a batch of writes of one system (step 5,
after ``decide``, before ``store``): each write's prepared record comes back with the held
fields set to the source record's last approved values (so survivorship keeps the golden
values), and the change request it made, if any.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.context import Actor
from mdm_hub.customers.golden import golden_of
from mdm_hub.customers.models import Customer
from mdm_hub.customers.repository import customer_sources
from mdm_hub.customers.survivorship import (
    SourceView,
    get_pointer,
    pointer_members,
    set_pointer,
)
from mdm_hub.governance import service as governance
from mdm_hub.governance.models import ChangeRequest
from mdm_hub.record import CustomerRecord
from mdm_hub.settings import Settings
from mdm_hub.sources.prepare import Prepared


@dataclass
class Guarded:
    """One write of a batch as the hook sees it (its customer and source row locked)."""

    customer: Customer
    created: bool  # the write created the customer: no golden value to protect yet
    source_id: str
    previous: Mapping[str, Any] | None  # the stored source record's normalized record
    prepared: Prepared


@dataclass
class Guard:
    prepared: Prepared  # what to store
    change_request: ChangeRequest | None  # the values held for approval, if any


def _at(record: Mapping[str, Any], pointer: str) -> list[Any]:
    return [get_pointer(record, member) for member in pointer_members(pointer)]


def _golden(
    settings: Settings, others: Sequence[SourceView], system: str, source_id: str, record: Any
) -> dict[str, Any]:
    mine = SourceView(system, source_id, dt.datetime.now(dt.UTC), record)
    golden = golden_of([*others, mine], settings)
    return CustomerRecord.model_validate(golden.record).model_dump(mode="json")


async def hold_protected(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    system: str,
    writes: Sequence[Guarded],
) -> list[Guard]:
    """Hold the protected fields each write would change (see the module's docstring)."""
    pointers = governance.protected_for_system(await governance.list_protected(session), system)
    if not pointers:
        return [Guard(w.prepared, None) for w in writes]
    guards: list[Guard] = []
    for write in writes:
        if write.created:
            guards.append(Guard(write.prepared, None))
            continue
        guards.append(await _hold(session, settings, actor, system, pointers, write))
    return guards


async def _hold(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    system: str,
    pointers: list[str],
    write: Guarded,
) -> Guard:
    customer, prepared = write.customer, write.prepared
    before = customer.record
    others = [
        s
        for s in await customer_sources(session, customer.id)
        if not (s.system == system and s.source_id == write.source_id)
    ]
    after = _golden(settings, others, system, write.source_id, prepared.normalized)
    changed = [p for p in pointers if _at(after, p) != _at(before, p)]
    if not changed and write.previous is None:
        return Guard(prepared, None)
    held = copy.deepcopy(prepared.normalized)
    for pointer in changed:
        for member in pointer_members(pointer):
            set_pointer(held, member, get_pointer(write.previous or {}, member))
    if changed:
        # The source's last approved value may still win over the golden value by recency
        # (this write makes the source the most recent): then it keeps the golden value.
        kept = _golden(settings, others, system, write.source_id, held)
        for pointer in changed:
            if _at(kept, pointer) != _at(before, pointer):
                for member in pointer_members(pointer):
                    set_pointer(held, member, get_pointer(before, member))
    changes = [
        {
            "field": p,
            "before": get_pointer(before, p),
            "after": get_pointer(after, p),
        }
        for p in changed
    ]
    values = {
        member: get_pointer(prepared.normalized, member)
        for p in changed
        for member in pointer_members(p)
    }
    request = await governance.hold_source_change(
        session, actor, customer.id, system, write.source_id, changes, values
    )
    if not changed:
        return Guard(prepared, None)
    record = CustomerRecord.model_validate(held)
    return Guard(replace(prepared, normalized=held, record=record), request)


async def pending_change(
    session: AsyncSession, system: str, source_id: str
) -> ChangeRequest | None:
    """The change request still waiting for source record (system, source_id) (a replay's
    answer names it as the first write's did)."""
    pointers = governance.protected_for_system(await governance.list_protected(session), system)
    if not pointers:
        return None
    return await governance.pending_source_change(session, system, source_id)
