"""Setting and removing links (with their checks, audit entry and change event), and reading
the hierarchy and roll-ups. Never commits."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.audit.log import audit_record
from mdm_hub.audit.repository import record_audit
from mdm_hub.context import Actor
from mdm_hub.customers.models import Customer
from mdm_hub.db import attributes
from mdm_hub.errors import FieldProblem, ProblemError, validation_problem
from mdm_hub.events.outbox import append_event
from mdm_hub.hierarchy import repository
from mdm_hub.hierarchy.models import SUCCESSOR
from mdm_hub.hierarchy.repository import Link
from mdm_hub.hierarchy.schemas import CustomerRef, GroupLinkIn, SiteLinkIn
from mdm_hub.proposals.repository import pending, record_decision

EVENT = "customer.relation_changed"


def refused(field: str, code: str, message: str) -> ProblemError:
    return validation_problem([FieldProblem(field=field, code=code, message=message)])


async def resolve(session: AsyncSession, ref: CustomerRef, field: str) -> uuid.UUID:
    """The customer ``ref`` names; 422 naming ``field`` when it names none or several."""
    found: uuid.UUID | None
    if ref.customer_id is not None:
        found = ref.customer_id if await repository.customer(session, ref.customer_id) else None
    elif ref.customer_code is not None:
        found = await repository.customer_by_code(session, ref.customer_code)
    elif ref.source is not None:
        found = await repository.customer_by_source(
            session, ref.source.system, ref.source.source_id
        )
    else:
        assert ref.corporate_number is not None
        matches = await repository.corporations_by_number(session, ref.corporate_number)
        if len(matches) > 1:
            raise refused(
                field,
                "ambiguous_corporate_number",
                f"{len(matches)} corporations carry 法人番号 {ref.corporate_number}: "
                "name one by customer_id",
            )
        found = matches[0] if matches else None
    if found is None:
        raise refused(field, "no_such_customer", "No customer matches this reference")
    return found


async def _lock(session: AsyncSession, customer_id: uuid.UUID, field: str) -> Customer:
    customer = await repository.customer(session, customer_id, lock=True)
    if customer is None:
        raise ProblemError("not-found", f"No customer {customer_id}")
    if customer.status != "active":
        raise refused(field, "not_active", f"Customer {customer_id} is {customer.status}")
    return customer


def _check_dates(valid_from: dt.date | None, valid_to: dt.date | None) -> None:
    if valid_from and valid_to and valid_from > valid_to:
        raise refused("/valid_to", "before_valid_from", "valid_to is before valid_from")


async def _changed(
    session: AsyncSession,
    actor: Actor,
    child: Customer,
    axis: str,
    before: Link | None,
    after: Link | None,
) -> None:
    """The audit entry and the ``customer.relation_changed`` event of the child."""
    child.version += 1
    child.updated_at = dt.datetime.now(dt.UTC)
    record_audit(
        session,
        audit_record(
            actor,
            action=EVENT,
            entity_type="customer_relation",
            entity_id=f"{child.id}/{axis}",
            customer_id=child.id,
            before=before.view() if before else None,
            after=after.view() if after else None,
        ),
    )
    await append_event(session, event_type=EVENT, customer=child, changed=[f"/hierarchy/{axis}"])


async def set_site_link(
    session: AsyncSession, actor: Actor, customer_id: uuid.UUID, body: SiteLinkIn
) -> Link:
    _check_dates(body.valid_from, body.valid_to)
    corporation_id = await resolve(session, body.corporation, "/corporation")
    return await link_site(
        session, actor, customer_id, corporation_id, body.valid_from, body.valid_to, "steward"
    )


async def link_site(
    session: AsyncSession,
    actor: Actor,
    customer_id: uuid.UUID,
    corporation_id: uuid.UUID,
    valid_from: dt.date | None,
    valid_to: dt.date | None,
    set_by: str,
    field: str = "/corporation",
) -> Link:
    """``customer_id`` is a site of ``corporation_id``; 422 naming ``field`` when refused."""
    if corporation_id == customer_id:
        raise refused(field, "self_link", "A customer cannot be its own site")
    child = await _lock(session, customer_id, "/customer_id")
    corporation = await _lock(session, corporation_id, field)
    if corporation.kind != "corporation":
        raise refused(field, "not_a_corporation", "Sites belong to a corporation")
    if await repository.link_of(session, corporation_id, "site") is not None:
        raise refused(field, "is_a_site", "The corporation is itself a site")
    if await repository.has_children(session, customer_id, "site"):
        raise refused(field, "has_sites", "A customer with sites cannot be a site")
    link = Link(customer_id, corporation_id, "site", "site", valid_from, valid_to, set_by)
    return await _save(session, actor, child, link)


async def set_group_link(
    session: AsyncSession, actor: Actor, customer_id: uuid.UUID, body: GroupLinkIn
) -> Link:
    _check_dates(body.valid_from, body.valid_to)
    parent_id = await resolve(session, body.parent, "/parent")
    link = Link(
        customer_id, parent_id, "group", body.relation_type, body.valid_from, body.valid_to,
        "steward",
    )  # fmt: skip
    return await link_group(session, actor, link)


async def link_group(
    session: AsyncSession, actor: Actor, link: Link, field: str = "/parent"
) -> Link:
    """The group link ``link``; 422 naming ``field`` for a self-link, a cycle or a site."""
    customer_id, parent_id = link.child_id, link.parent_id
    if parent_id == customer_id:
        raise refused(field, "self_link", "A customer cannot be its own parent")
    await repository.lock_group_changes(session)
    child = await _lock(session, customer_id, "/customer_id")
    await _lock(session, parent_id, field)
    for who, name in ((customer_id, "/customer_id"), (parent_id, field)):
        if await repository.link_of(session, who, "site") is not None:
            raise refused(name, "is_a_site", "A site (事業所) has no group parent or members")
    if await repository.would_cycle(
        session, customer_id, parent_id, link.valid_from, link.valid_to
    ):
        raise refused(
            field,
            "cycle",
            "The parent is below this customer in its group (on a day this link is valid): a cycle",
        )
    return await _save(session, actor, child, link)


async def _save(session: AsyncSession, actor: Actor, child: Customer, link: Link) -> Link:
    before = await repository.link_of(session, child.id, link.axis)
    if before == link:
        return link  # unchanged: no event
    await repository.save_link(session, link)
    await _changed(session, actor, child, link.axis, before, link)
    return link


async def set_successor(
    session: AsyncSession,
    actor: Actor,
    child: Customer,
    successor_id: uuid.UUID | None,
    valid_from: dt.date | None,
    set_by: str,
) -> None:
    """The registry's successor link (承継先) of a corporation closed by a merger: set, moved
    or (``None``) removed, with audit and event when it changed. ``child`` is locked by the
    caller and may be closed; the registry is the only writer of this axis."""
    await set_successors(session, actor, [(child, successor_id, valid_from, set_by)])


async def set_successors(
    session: AsyncSession,
    actor: Actor,
    links: Sequence[tuple[Customer, uuid.UUID | None, dt.date | None, str]],
) -> None:
    """``set_successor`` of many children (child, successor, valid from, set by), their
    current links read in one statement."""
    current = await repository.links_of(session, [child.id for child, *_ in links], SUCCESSOR)
    for child, successor_id, valid_from, set_by in links:
        before = current.get(child.id)
        if successor_id is None or successor_id == child.id:
            if before is not None:
                await repository.delete_link(session, child.id, SUCCESSOR)
                await _changed(session, actor, child, SUCCESSOR, before, None)
            continue
        link = Link(child.id, successor_id, SUCCESSOR, SUCCESSOR, valid_from, None, set_by)
        if before != link:
            await repository.save_link(session, link)
            await _changed(session, actor, child, SUCCESSOR, before, link)


async def remove_link(
    session: AsyncSession, actor: Actor, customer_id: uuid.UUID, axis: str
) -> None:
    if not await unlink(session, actor, customer_id, axis):
        raise ProblemError("not-found", f"Customer {customer_id} has no {axis} link")


async def unlink(session: AsyncSession, actor: Actor, customer_id: uuid.UUID, axis: str) -> bool:
    """Remove the customer's link on ``axis`` if it has one (audit and event); whether it had."""
    child = await _lock(session, customer_id, "/customer_id")
    before = await repository.link_of(session, customer_id, axis)
    if before is not None:
        await repository.delete_link(session, customer_id, axis)
        await _changed(session, actor, child, axis, before, None)
    return before is not None


def _node(customer: Customer) -> dict[str, Any]:
    return attributes(customer, "id", "customer_code", "name", "status")


async def _tree(
    session: AsyncSession, customer_id: uuid.UUID, ancestors_depth: int, limit: int
) -> dict[str, Any]:
    """The tree but its group members below: the customer, its corporation, its parents, its
    sites (``limit`` + 1 of them), its waiting links."""
    customer = await repository.customer(session, customer_id)
    if customer is None:
        raise ProblemError("not-found", f"No customer {customer_id}")
    corporation = None
    if (site_link := await repository.link_of(session, customer_id, "site")) is not None:
        parent = await repository.customer(session, site_link.parent_id)
        corporation = _node(parent) if parent is not None else None
    return {
        "customer": _node(customer),
        "corporation": corporation,
        "ancestors": await repository.ancestors(session, customer_id, ancestors_depth),
        "sites": await repository.sites(session, customer_id, limit + 1),
        "waiting": [vars(p) for p in await repository.pending_of(session, customer_id)],
    }


async def hierarchy(
    session: AsyncSession,
    customer_id: uuid.UUID,
    *,
    ancestors_depth: int,
    descendants_depth: int,
    limit: int,
) -> dict[str, Any]:
    tree = await _tree(session, customer_id, ancestors_depth, limit)
    children = (
        await repository.descendants(session, customer_id, descendants_depth, limit + 1)
        if descendants_depth > 0
        else []
    )
    sites = tree["sites"]
    return {
        **tree,
        "children": children[:limit],
        "sites": sites[:limit],
        "truncated": len(children) > limit or len(sites) > limit,
    }


async def hierarchy_json(
    session: AsyncSession,
    customer_id: uuid.UUID,
    *,
    ancestors_depth: int,
    descendants_depth: int,
    limit: int,
) -> bytes:
    """:func:`hierarchy` as the JSON of ``HierarchyOut``, from one statement: the members and
    sites come as rows (a whole group of 1,000 companies is 1,000 tuples, no pydantic)."""
    tree = await repository.tree(
        session,
        customer_id,
        ancestors_depth=ancestors_depth,
        descendants_depth=descendants_depth,
        limit=limit,
    )
    if tree is None:
        raise ProblemError("not-found", f"No customer {customer_id}")
    head = orjson.loads(tree.head)
    return orjson.dumps(
        {
            "customer": head["customer"],
            "corporation": head["corporation"],
            "ancestors": head["ancestors"],
            # dict displays: a third of the time of dict(zip(names, row)) for 1,000 members
            "children": [
                {
                    "id": i,
                    "customer_code": code,
                    "name": name,
                    "status": state,
                    "relation_type": kind,
                    "valid_from": vf,
                    "valid_to": vt,
                    "depth": depth,
                    "parent_id": parent,
                }
                for i, code, name, state, kind, vf, vt, depth, parent in tree.members[:limit]
            ],
            "sites": [
                {
                    "id": i,
                    "customer_code": code,
                    "name": name,
                    "status": state,
                    "site_type": kind,
                    "valid_from": vf,
                    "valid_to": vt,
                }
                for i, code, name, state, kind, vf, vt in tree.sites[:limit]
            ],
            "truncated": len(tree.members) > limit or len(tree.sites) > limit,
            "waiting": head["waiting"],
        }
    )


async def rollup(session: AsyncSession, customer_id: uuid.UUID) -> dict[str, Any]:
    r = await repository.rollup(session, customer_id)
    if r is None:
        raise ProblemError("not-found", f"No customer {customer_id}")
    return {
        "customer_id": customer_id,
        "own_annual_amount": r["own_amount"],
        "direct": {
            "sites": r["direct_sites"],
            "annual_amount": r["own_amount"] + r["direct_site_amount"],
        },
        "group": {
            "companies": r["group_companies"],
            "sites": r["group_sites"],
            "annual_amount": r["group_company_amount"] + r["group_site_amount"],
        },
    }


async def decide_proposal(
    session: AsyncSession, actor: Actor, proposal_id: int, decision: str
) -> dict[str, Any]:
    """A steward's answer to a site proposal: accept links the site (and closes the child's
    other proposals), reject remembers the pair is not to be proposed again."""
    found = pending(
        await repository.proposal(session, proposal_id, lock=True), "site proposal", proposal_id
    )
    if decision == "accept":
        await link_site(
            session, actor, found["child_id"], found["parent_id"], None, None, "steward"
        )
        await repository.close_proposals(session, found["child_id"], "superseded", actor.subject)
    await record_decision(
        session,
        "hierarchy_proposals",
        proposal_id,
        "accepted" if decision == "accept" else "rejected",
        actor.subject,
    )
    record_audit(
        session,
        audit_record(
            actor,
            action=f"site_proposal.{'accepted' if decision == 'accept' else 'rejected'}",
            entity_type="site_proposal",
            entity_id=str(proposal_id),
            customer_id=found["child_id"],
            after={"parent_id": str(found["parent_id"]), "decision": decision},
        ),
    )
    decided = await repository.proposal(session, proposal_id)
    assert decided is not None
    return decided


def audit_refused(
    session: AsyncSession,
    actor: Actor,
    exc: ProblemError,
    entity_id: str,
    customer_id: uuid.UUID,
    after: dict[str, Any],
) -> None:
    """A link refused where the write goes on without it: ``customer_relation.refused``, with
    what was asked (``after``) and the problems' codes."""
    record_audit(
        session,
        audit_record(
            actor,
            action="customer_relation.refused",
            entity_type="customer_relation",
            entity_id=entity_id,
            customer_id=customer_id,
            after={**after, "problems": [e.code for e in exc.errors or []] or [str(exc)]},
        ),
    )


async def _relink(session: AsyncSession, actor: Actor, link: Link) -> None:
    """Set ``link`` with every check; a refusal is audited instead of raised."""
    try:
        if link.axis == "site":
            await link_site(
                session, actor, link.child_id, link.parent_id, link.valid_from, link.valid_to,
                link.set_by,
            )  # fmt: skip
        elif link.axis == SUCCESSOR:  # the registry's: its child is closed, no checks apply
            child = await repository.customer(session, link.child_id, lock=True)
            if child is not None:
                await set_successor(
                    session, actor, child, link.parent_id, link.valid_from, link.set_by
                )
        else:
            await link_group(session, actor, link)
    except ProblemError as exc:
        audit_refused(
            session, actor, exc, f"{link.child_id}/{link.axis}", link.child_id, link.view()
        )


@dataclasses.dataclass(frozen=True)
class Carried:
    """The links a merge carried from ``absorbed_id`` to ``survivor_id``: the entries of
    ``repository.carry_links``, kept in the merge log."""

    entries: list[dict[str, Any]]
    absorbed_id: uuid.UUID
    survivor_id: uuid.UUID


async def restore_links(session: AsyncSession, actor: Actor, carried: Carried) -> None:
    """An unmerge of ``absorbed_id`` out of ``survivor_id`` (revived, active again): the links
    the merge changed (``repository.carry_links``) go back as they were, unless changed since
    (a link that no longer points at the survivor stays as it is now)."""
    absorbed_id, survivor_id = carried.absorbed_id, carried.survivor_id
    pending = [e for e in carried.entries if e.get("pending")]
    await _restore_pending(session, actor, dataclasses.replace(carried, entries=pending))
    moved = [e for e in carried.entries if not e.get("pending")]
    before = [(Link.from_stored(e), bool(e.get("moved_to_survivor"))) for e in moved]
    for link, moved_to_survivor in before:
        if link.child_id != absorbed_id:
            continue
        if moved_to_survivor:
            current = await repository.link_of(session, survivor_id, link.axis)
            if current is not None and current.parent_id == link.parent_id:
                await unlink(session, actor, survivor_id, link.axis)
        await _relink(session, actor, link)
    cut = {(e["child_id"], e["axis"]) for e in moved if e.get("cut_for_cycle")}
    for link, _ in before:
        if link.child_id == absorbed_id:
            continue
        if link.child_id != survivor_id:
            current = await repository.link_of(session, link.child_id, link.axis)
            if current is None and (str(link.child_id), link.axis) in cut:
                pass  # the merge cut it (it would have closed a cycle): it comes back
            elif current is None or current.parent_id != survivor_id:
                continue
        await _relink(session, actor, link)


async def _restore_pending(session: AsyncSession, actor: Actor, carried: Carried) -> None:
    """The waiting links the merge took from the absorbed customer go back to it with the
    source record that set them: still waiting on the survivor, or linked there since (the
    target arrived), or dropped by the merge (the survivor had a link on that axis)."""
    absorbed_id, survivor_id = carried.absorbed_id, carried.survivor_id
    for entry in carried.entries:
        pending = repository.Pending.from_stored(entry)
        axis, set_by = pending.axis, pending.set_by
        if entry.get("moved_to_survivor"):
            current = await repository.link_of(session, survivor_id, axis)
            if current is not None and current.set_by == set_by:
                await unlink(session, actor, survivor_id, axis)
                await _relink(session, actor, dataclasses.replace(current, child_id=absorbed_id))
                continue
            waiting = await repository.pending_of(session, survivor_id)
            if not any(p.axis == axis and p.set_by == set_by for p in waiting):
                continue  # replaced or resolved otherwise since the merge: left as it is
            await repository.drop_pending(session, survivor_id, axis, set_by)
        if await repository.link_of(session, absorbed_id, axis) is None and not any(
            p.axis == axis for p in await repository.pending_of(session, absorbed_id)
        ):
            await repository.save_pending(session, pending)


async def site_proposals(session: AsyncSession, customer_id: uuid.UUID) -> list[dict[str, Any]]:
    """The pending site proposals that name this customer (as the site or the corporation)."""
    return await repository.proposals(
        session, status="pending", customer_id=customer_id, after_id=0, limit=50
    )


async def announce_carried(session: AsyncSession, actor: Actor, carried: Carried) -> None:
    """After ``repository.carry_links``: the audit entry and ``customer.relation_changed``
    event of each customer whose link changed (the absorbed customer's sites and members, and
    the survivor when it took over the absorbed customer's own link). The absorbed customer's
    own change is its ``customer.merged`` event."""
    absorbed_id, survivor_id = carried.absorbed_id, carried.survivor_id
    for entry in carried.entries:
        if entry.get("pending"):
            continue  # a waiting link: not a link yet, no event
        before: Link | None = Link.from_stored(entry)
        assert before is not None
        axis, child_id = before.axis, before.child_id
        if child_id == absorbed_id:
            if not entry.get("moved_to_survivor"):
                continue
            child_id, before = survivor_id, None  # the survivor had no link on this axis
            child = await repository.customer(session, survivor_id)  # locked by the merge
        else:
            child = await repository.customer(session, child_id, lock=True)
        if child is None or child.status != "active":
            continue
        after = await repository.link_of(session, child_id, axis)
        if after != before:
            await _changed(session, actor, child, axis, before, after)
