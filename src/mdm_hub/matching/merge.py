"""Merging customers and undoing it exactly.

A merge moves the absorbed customer's source records to the survivor; the absorbed customer
keeps its id, code and steward edits with status ``merged`` and ``merged_into_id``. An unmerge
moves source records out again: when they are exactly what a merge brought, the absorbed
customer comes back as it was; otherwise they form a new customer (or join a named one).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.audit.log import audit_record
from mdm_hub.audit.repository import record_audit
from mdm_hub.context import Actor
from mdm_hub.custom_fields.service import current_configuration
from mdm_hub.customers.golden import (
    bump_version,
    customer_view,
    new_customer,
    now,
    recompute_golden,
    record_customer_change,
)
from mdm_hub.customers.models import Customer
from mdm_hub.customers.repository import lock_customer, redirect_merged, source_rows
from mdm_hub.errors import FieldProblem, ProblemError, validation_problem
from mdm_hub.events.outbox import append_event, changed_fields
from mdm_hub.hierarchy.repository import carry_links
from mdm_hub.hierarchy.service import Carried, announce_carried, restore_links
from mdm_hub.matching import repository
from mdm_hub.matching.models import MatchCandidate, MergeLog
from mdm_hub.matching.repository import are_distinct, move_keys
from mdm_hub.registry import links as registry_links
from mdm_hub.settings import Settings


async def _lock_all(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Customer]:
    """Lock customer rows in id order, so that concurrent merges never deadlock."""
    return {cid: await lock_customer(session, cid) for cid in sorted(set(ids))}


async def merge_customers(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    survivor_id: uuid.UUID,
    absorbed_ids: Sequence[uuid.UUID],
) -> Customer:
    """Merge ``absorbed_ids`` into ``survivor_id`` (a steward's decision)."""
    if not absorbed_ids:
        raise validation_problem(
            [FieldProblem(field="/customer_ids", code="too_short", message="Name a customer")]
        )
    if survivor_id in absorbed_ids:
        raise validation_problem(
            [
                FieldProblem(
                    field="/customer_ids",
                    code="self_merge",
                    message="A customer cannot be merged into itself",
                )
            ]
        )
    customers = await _lock_all(session, [survivor_id, *absorbed_ids])
    for customer in customers.values():
        if customer.status != "active":
            raise ProblemError("conflict", f"Customer {customer.id} is {customer.status}")
    for absorbed_id in absorbed_ids:
        if await are_distinct(session, survivor_id, absorbed_id):
            raise ProblemError(
                "conflict",
                f"A steward decided {survivor_id} and {absorbed_id} are different customers",
            )
    await registry_links.check_mergeable(session, survivor_id, absorbed_ids)
    survivor = customers[survivor_id]
    config = await current_configuration(session)
    survivor_before = dict(survivor.record)
    for absorbed_id in dict.fromkeys(absorbed_ids):
        absorbed = customers[absorbed_id]
        sources = await source_rows(session, absorbed_id)
        source_ids = [s.id for s in sources]
        for source in sources:
            source.customer_id = survivor_id
        await move_keys(session, source_ids, survivor_id)
        before = customer_view(absorbed)
        absorbed.status = "merged"
        absorbed.merged_into_id = survivor_id
        bump_version(absorbed)
        # Customers merged into the absorbed one now resolve straight to the survivor.
        await redirect_merged(session, absorbed_id, survivor_id)
        log = MergeLog(
            survivor_id=survivor_id,
            absorbed_id=absorbed_id,
            source_record_ids=source_ids,
            merged_at=now(),
            merged_by=actor.subject,
        )
        repository.add_merge_log(session, log)
        log.moved_links = await carry_links(session, absorbed_id, survivor_id)
        await announce_carried(session, actor, Carried(log.moved_links, absorbed_id, survivor_id))
        await registry_links.carry_link(session, actor, absorbed_id, survivor)
        await repository.close_candidates(
            session, survivor_id, absorbed_id, "merged", now(), actor.subject
        )
        await repository.supersede_candidates_of(session, absorbed_id, now(), actor.subject)
        await record_customer_change(
            session,
            actor,
            absorbed,
            action="customer.merged",
            before=before,
            changed=["/status", "/merged_into_id"],
        )
    await recompute_golden(session, settings, actor, survivor, config=config)
    if survivor.record == survivor_before:
        # The golden record did not change but the survivor gained sources: still an event.
        await append_event(session, event_type="customer.updated", customer=survivor, changed=[])
    return survivor


async def unmerge(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    customer_id: uuid.UUID,
    source_keys: Sequence[tuple[str, str]],
    target_id: uuid.UUID | None,
) -> tuple[Customer, Customer]:
    """Move source records out of ``customer_id``; return (remaining, target)."""
    customer = await lock_customer(session, customer_id)
    if customer.status == "erased":
        raise ProblemError(
            "conflict", f"Customer {customer_id} was erased: nothing is left to restore"
        )
    if customer.status != "active":
        raise ProblemError("conflict", f"Customer {customer_id} is {customer.status}")
    sources = await source_rows(session, customer_id)
    by_key = {(s.system, s.source_id): s for s in sources}
    problems = [
        FieldProblem(
            field=f"/source_records/{i}",
            code="not_linked",
            message=f"{system}/{source_id} is not a source record of customer {customer_id}",
        )
        for i, (system, source_id) in enumerate(source_keys)
        if (system, source_id) not in by_key
    ]
    if problems:
        raise validation_problem(problems)
    moving = [by_key[key] for key in dict.fromkeys(source_keys)]
    if len(moving) == len(sources):
        raise ProblemError("conflict", "An unmerge must leave at least one source record behind")
    moving_ids = sorted(s.id for s in moving)

    config = await current_configuration(session)
    revived_from = None
    if target_id is None:
        logs = await repository.open_merge_logs(session, customer_id)
        revived_from = next(
            (log for log in logs if sorted(log.source_record_ids) == moving_ids), None
        )

    if revived_from is not None:
        target = await lock_customer(session, revived_from.absorbed_id)
        before_target = customer_view(target)
        target.status = "active"
        target.merged_into_id = None
        bump_version(target)
        revived_from.undone_at = now()
        await session.flush()
        carried = Carried(revived_from.moved_links, target.id, customer_id)
        await restore_links(session, actor, carried)
        created = False
    elif target_id is not None:
        if target_id == customer_id:
            raise validation_problem(
                [
                    FieldProblem(
                        field="/target_customer_id",
                        code="same_customer",
                        message="The target must be another customer",
                    )
                ]
            )
        target = await lock_customer(session, target_id)
        if target.status != "active":
            raise ProblemError("conflict", f"Customer {target_id} is {target.status}")
        before_target = customer_view(target)
        created = False
    else:
        target = await new_customer(session, settings, moving[0].normalized["kind"])
        before_target = None
        created = True

    for source in moving:
        source.customer_id = target.id
    await move_keys(session, moving_ids, target.id)
    await session.flush()

    remaining_before = dict(customer.record)
    await recompute_golden(session, settings, actor, target, config=config, created=created)
    if not created:
        target_changed = changed_fields((before_target or {}).get("record"), target.record)
        await append_event(
            session,
            event_type="customer.unmerged",
            customer=target,
            changed=target_changed or ["/status"],
        )
    await recompute_golden(session, settings, actor, customer, config=config)
    await append_event(
        session,
        event_type="customer.unmerged",
        customer=customer,
        changed=changed_fields(remaining_before, customer.record),
    )
    await registry_links.follow_source(
        session, actor, customer, target, [(s.system, s.source_id) for s in moving]
    )
    record_audit(
        session,
        audit_record(
            actor,
            action="customer.unmerged",
            entity_type="customer",
            entity_id=str(customer_id),
            customer_id=customer_id,
            before={"source_records": [f"{s.system}/{s.source_id}" for s in sources]},
            after={
                "moved": [f"{s.system}/{s.source_id}" for s in moving],
                "to_customer_id": str(target.id),
                "revived": revived_from is not None,
            },
        ),
    )
    return customer, target


async def decide_candidate(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    candidate_id: int,
    decision: str,
) -> MatchCandidate:
    """A steward's answer to a review candidate: merge the pair, or remember it as distinct."""
    found = await repository.get_candidate(session, candidate_id)
    if found is None:
        raise ProblemError("not-found", f"No match candidate {candidate_id}")
    a, b = found.customer_a_id, found.customer_b_id
    # Customers first, then the candidate row: the order a direct merge takes them in.
    customers = await _lock_all(session, [a, b])
    candidate = await repository.lock_candidate(session, candidate_id)
    if candidate.status != "pending":
        raise ProblemError("conflict", f"Match candidate {candidate_id} is {candidate.status}")
    if decision == "merge":
        # The older customer (lower customer code) survives: its code is the one in use longest.
        survivor, absorbed = sorted(customers.values(), key=lambda c: c.customer_code)
        await merge_customers(session, settings, actor, survivor.id, [absorbed.id])
        candidate.status = "merged"
    else:
        await repository.remember_distinct(session, a, b, actor.subject)
        candidate.status = "distinct"
    candidate.decided_at = now()
    candidate.decided_by = actor.subject
    await session.flush()
    record_audit(
        session,
        audit_record(
            actor,
            action=f"match_candidate.{candidate.status}",
            entity_type="match_candidate",
            entity_id=str(candidate_id),
            customer_id=a,
            after={"customer_a_id": str(a), "customer_b_id": str(b), "decision": decision},
        ),
    )
    return candidate
