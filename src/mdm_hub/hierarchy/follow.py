"""Links that source records name (``relations.site_of_*`` and ``relations.parent_*``).

On a write, each link a source record names is resolved into a hierarchy link set by that
source record (``set_by`` ``source:SYSTEM/ID``); a target the hub does not hold yet is kept in
``customer_relation_pending`` and linked when it arrives (a customer gets that code, that
source record is written, a corporation with that 法人番号 appears). A source record that no
longer names a link removes the link it had set. A steward's link is never replaced by a
source's. Never commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.context import Actor
from mdm_hub.customers.models import Customer
from mdm_hub.errors import ProblemError
from mdm_hub.hierarchy import repository, service
from mdm_hub.hierarchy.models import AXES
from mdm_hub.hierarchy.repository import Link, Pending
from mdm_hub.record import Relations

STEWARD = "steward"


@dataclass(frozen=True)
class Written:
    """A source record just written, and its customer (row locked by the write path)."""

    customer: Customer
    system: str
    source_id: str
    relations: Relations | None


@dataclass(frozen=True)
class Refusal:
    """A link a source record names that was refused (cycle, self-link, ...) after its record
    was stored: in a batch of many, and for a waiting link when its target arrived."""

    system: str
    source_id: str
    problem: ProblemError


def _set_by(written: Written) -> str:
    return f"source:{written.system}/{written.source_id}"


def _prefix(axis: str) -> str:
    return "site_of" if axis == "site" else "parent"


def _target(relations: Relations | None, axis: str, system: str) -> tuple[str, str] | None:
    """(kind, value) of the customer the record names on ``axis``, if it names one."""
    if relations is None:
        return None
    prefix = _prefix(axis)
    if code := getattr(relations, f"{prefix}_customer_code"):
        return ("customer_code", code)
    if source := getattr(relations, f"{prefix}_source"):
        return ("source", f"{source.system or system}/{source.source_id}")
    if number := getattr(relations, f"{prefix}_corporate_number"):
        return ("corporate_number", number)
    return None


async def _find(
    session: AsyncSession, kind: str, value: str, child_id: uuid.UUID, field: str
) -> uuid.UUID | None:
    if kind == "customer_code":
        return await repository.customer_by_code(session, value)
    if kind == "source":
        system, _, source_id = value.partition("/")
        return await repository.customer_by_source(session, system, source_id)
    found = [c for c in await repository.corporations_by_number(session, value) if c != child_id]
    if len(found) > 1:
        raise service.refused(
            field,
            "ambiguous_corporate_number",
            f"{len(found)} corporations carry 法人番号 {value}: name one by customer code",
        )
    return found[0] if found else None


async def _apply(session: AsyncSession, actor: Actor, link: Link, field: str) -> None:
    if link.axis == "site":
        await service.link_site(
            session, actor, link.child_id, link.parent_id, link.valid_from, link.valid_to,
            link.set_by, field,
        )  # fmt: skip
    else:
        await service.link_group(session, actor, link, field)


async def _named(session: AsyncSession, actor: Actor, written: Written, axis: str) -> None:
    """The link the record names on ``axis``: set, kept waiting, or (named no more) removed."""
    child_id = written.customer.id
    set_by = _set_by(written)
    target = _target(written.relations, axis, written.system)
    current = await repository.link_of(session, child_id, axis)
    if target is None:
        await repository.drop_pending(session, child_id, axis, set_by)
        if current is not None and current.set_by == set_by:
            await service.unlink(session, actor, child_id, axis)
        return
    if current is not None and current.set_by == STEWARD:
        await repository.drop_pending(session, child_id, axis, set_by)
        return
    relations = written.relations
    assert relations is not None
    kind, value = target
    field = f"/relations/{_prefix(axis)}_{kind}"
    relation_type = "site" if axis == "site" else (relations.parent_relation_type or "subsidiary")
    dates = "site" if axis == "site" else "parent"
    valid_from = getattr(relations, f"{dates}_valid_from")
    valid_to = getattr(relations, f"{dates}_valid_to")
    parent_id = await _find(session, kind, value, child_id, field)
    if parent_id is None:
        await repository.save_pending(
            session,
            Pending(child_id, axis, relation_type, kind, value, valid_from, valid_to, set_by),
        )
        return
    await repository.drop_pending(session, child_id, axis)
    link = Link(child_id, parent_id, axis, relation_type, valid_from, valid_to, set_by)
    await _apply(session, actor, link, field)


def _targets(written: Written) -> list[tuple[str, str]]:
    """How a waiting link may name this customer: its code, this source record, its 法人番号."""
    customer = written.customer
    targets = [
        ("customer_code", customer.customer_code),
        ("source", f"{written.system}/{written.source_id}"),
    ]
    if customer.kind == "corporation" and customer.corporate_number:
        targets.append(("corporate_number", customer.corporate_number))
    return targets


async def _arrived(
    session: AsyncSession, actor: Actor, written: Written, refused: list[Refusal] | None = None
) -> None:
    """Links that were waiting for this customer; those refused are audited (and added to
    ``refused``)."""
    customer = written.customer
    for pending in await repository.pending_for(session, _targets(written)):
        if pending.child_id == customer.id:
            continue
        if pending.target_kind == "corporate_number":
            heads = [
                c
                for c in await repository.corporations_by_number(session, pending.target)
                if c != pending.child_id
            ]
            if heads != [customer.id]:
                continue  # not a head office, or several: still waiting
        await repository.drop_pending(session, pending.child_id, pending.axis)
        current = await repository.link_of(session, pending.child_id, pending.axis)
        if current is not None and current.set_by == STEWARD:
            continue
        link = Link(
            pending.child_id, customer.id, pending.axis, pending.relation_type,
            pending.valid_from, pending.valid_to, pending.set_by,
        )  # fmt: skip
        field = f"/relations/{_prefix(pending.axis)}_{pending.target_kind}"
        try:
            await _apply(session, actor, link, field)
        except ProblemError as exc:  # refused before anything was written: say so in the audit
            system, _, source_id = pending.set_by.removeprefix("source:").partition("/")
            if refused is not None and pending.set_by.startswith("source:"):
                refused.append(Refusal(system, source_id, exc))
            service.audit_refused(
                session, actor, exc, f"{pending.child_id}/{pending.axis}", pending.child_id,
                link.view(),
            )  # fmt: skip


async def follow_written(
    session: AsyncSession,
    actor: Actor,
    batch: Sequence[Written],
    refused: list[Refusal] | None = None,
) -> list[Customer]:
    """After a batch of source writes: the links they name, then the links waiting for them.
    One statement per record when there is nothing to do (the usual case). Returns the
    customers whose 法人番号 another corporation also carries, or whose name key another
    corporation has where one of the two has no 法人番号 (for matching's site check); waiting
    links refused when their target arrived are added to ``refused``."""
    probes = []
    for written in batch:
        customer = written.customer
        found = await repository.probe(
            session,
            customer.id,
            _set_by(written),
            _targets(written),
            customer.corporate_number if customer.kind == "corporation" else None,
        )
        probes.append(found)
        names = any(_target(written.relations, axis, written.system) for axis in AXES)
        if names or found.own:
            for axis in AXES:
                await _named(session, actor, written, axis)
    for written, found in zip(batch, probes, strict=True):
        if found.awaited:
            await _arrived(session, actor, written, refused)
    return [
        w.customer
        for w, found in zip(batch, probes, strict=True)
        if found.shares_number or found.shares_name
    ]


async def needs_follow(session: AsyncSession, batch: Sequence[Written]) -> list[bool]:
    """Which written records may have anything to do with the hierarchy (they name a link,
    set one before, are awaited by a waiting link, or share a 法人番号 or a name), read in one
    statement for the whole batch: the usual record has nothing to do."""
    probes = await repository.probe_batch(
        session,
        [
            (
                w.customer.id,
                _set_by(w),
                _targets(w),
                w.customer.corporate_number if w.customer.kind == "corporation" else None,
            )
            for w in batch
        ],
    )
    return [
        found.own
        or found.awaited
        or found.shares_number
        or found.shares_name
        or any(_target(w.relations, axis, w.system) for axis in AXES)
        for w, found in zip(batch, probes, strict=True)
    ]
