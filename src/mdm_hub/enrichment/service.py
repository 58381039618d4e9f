"""Applying the NTA registry to customers.

1. Link: an active corporation whose 法人番号 the registry publishes (not a site, the only
   customer carrying it) gets a link (``registry_links``).
2. Source: the registry's row becomes the customer's source record ``nta/<法人番号>`` through
   the write path (``sources.service.put_source_record``), so its official name, フリガナ and
   head-office address take part in survivorship and lineage like any source; priority is the
   ``survivorship_source_priority`` setting. A 商号変更 (11) or 所在地変更 (12, 13) changes that
   source record: the golden record is recomputed and ``customer.updated`` emitted.
3. State: closure (閉鎖等年月日 and 事由, 21 or 71), the successor's customer (承継先法人番号),
   and withdrawal (99) are kept on the link; a change of them bumps the customer's version and
   emits ``customer.registry_changed`` (changed fields ``/registry/...``). A 99 removes the
   source record (the golden record is recomputed without it; the registry's history keeps its
   values) and marks the link withdrawn; a 22 (復活) or 72 (合併無効) row without a
   閉鎖等年月日 reopens it. A closure makes an active customer ``closed`` (its status; lifted
   by the reopening), and a merger's successor customer its ``successor`` relation in the
   hierarchy (removed when reopened; pending until the successor's customer exists).

The pending customers are applied in batches (``apply_many``): their ``nta`` source records
written as one batch of the write path, as the bulk import writes its rows, in one transaction
per batch. A customer whose record is refused is reported and the others go on; when
something else refuses (a batch rolled back), that batch's customers are applied each in a
transaction of its own (``apply_one``, the same steps for one customer), the one that fails
reported. Running again picks up what is still pending.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mdm_hub.audit.log import AuditRecord, audit_record, source_record_audit
from mdm_hub.audit.repository import audit_insert
from mdm_hub.context import Actor
from mdm_hub.customers.golden import customer_audit, customer_view, now, recompute_after
from mdm_hub.customers.models import Customer, CustomerStatus
from mdm_hub.customers.repository import lock_customer, source_rows, store_states
from mdm_hub.db import write_together
from mdm_hub.enrichment import repository
from mdm_hub.errors import ProblemError
from mdm_hub.events.outbox import event_row
from mdm_hub.events.repository import insert_events
from mdm_hub.hierarchy.service import set_successor, set_successors
from mdm_hub.record import CustomerIn
from mdm_hub.settings import Settings
from mdm_hub.sources.service import put_source_record, write_batch

SYSTEM = "nta"
EVENT = "customer.registry_changed"
ACTOR = Actor(subject="mdm-hub nta apply")
STATE_FIELDS = (
    "closed_on",
    "close_cause",
    "successor_corporate_number",
    "successor_customer_id",
    "withdrawn",
)


def nta_payload(row: dict[str, Any]) -> CustomerIn:
    """The registry's row as a source record: official name, フリガナ, 法人番号, head office."""
    address: dict[str, Any] | None = None
    if row["prefecture_name"] or row["city_name"] or row["street_number"]:
        # 丁目番地等 starts with the 町域 (栄４丁目１６－１３): the whole address as one text,
        # which the address normalizer splits as it splits a CRM's one-line address.
        parts = (row["prefecture_name"], row["city_name"], row["street_number"])
        address = {
            "purpose": "head_office",
            "postal_code": row["post_code"],
            "full_text": "".join(p for p in parts if p),
        }
    elif row["address_outside"]:
        address = {"purpose": "head_office", "full_text": row["address_outside"]}
    return CustomerIn.model_validate(
        {
            "kind": "corporation",
            "name": row["name"],
            "name_kana": row["furigana"],
            "corporate_number": row["corporate_number"],
            "addresses": [address] if address else [],
        }
    )


@dataclass
class ApplyResult:
    linked: int = 0  # customers linked by their 法人番号 in this run
    applied: int = 0  # links whose registry row was (re)applied
    state_changed: int = 0  # customer.registry_changed events
    failed: list[tuple[uuid.UUID, str]] = field(default_factory=list)


# Linked customers applied together: one batch of the write path (the bulk import's), one
# transaction.
APPLY_BATCH = 500


async def apply_registry(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    numbers: Sequence[str] | None = None,
    batch_size: int = APPLY_BATCH,
) -> ApplyResult:
    """Link what can be linked, then apply every link whose registry row changed, in batches
    of ``batch_size`` customers (``apply_many``)."""
    result = ApplyResult()
    async with sessions() as session, session.begin():
        await repository.allow_long_scans(session)
        result.linked = await repository.link_new(session, numbers)
    async with sessions() as session, session.begin():
        await repository.allow_long_scans(session)
        pending = await repository.pending(session)
    for start in range(0, len(pending), batch_size):
        chunk = pending[start : start + batch_size]
        try:
            async with sessions() as session, session.begin():
                applied = await apply_many(session, settings, chunk)
        except ProblemError:
            # Something refused beyond one customer's source record (its state, its
            # successor link) rolled the batch back: each customer again on its own, the
            # one that fails reported and the others applied.
            await _apply_each(sessions, settings, chunk, result)
            continue
        result.applied += applied.applied
        result.state_changed += applied.state_changed
        result.failed.extend(applied.failed)
    return result


async def _apply_each(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    customer_ids: Sequence[uuid.UUID],
    result: ApplyResult,
) -> None:
    """Each customer in a transaction of its own (``apply_one``)."""
    for customer_id in customer_ids:
        try:
            async with sessions() as session, session.begin():
                changed = await apply_one(session, settings, customer_id)
        except ProblemError as exc:
            result.failed.append((customer_id, exc.detail or exc.problem_type.title))
            continue
        result.applied += 1
        result.state_changed += changed


async def apply_many(
    session: AsyncSession,
    settings: Settings,
    customer_ids: Sequence[uuid.UUID],
    *,
    actor: Actor = ACTOR,
) -> ApplyResult:
    """``apply_one`` of many customers in one transaction: their links read and locked in one
    statement, their ``nta`` source records written as one batch of the write path
    (``sources.service.write_batch``, as the bulk import writes its rows: one statement per
    step for the whole batch), their link states saved in one statement. A customer whose
    source record is refused (its problem, as its own PUT would answer) is reported in
    ``failed`` and nothing of it is written; the others are applied."""
    result = ApplyResult()
    rows = await repository.links_and_rows(session, customer_ids)
    live = [row for row in rows if not row["deleted"]]
    refused: set[uuid.UUID] = set()
    if live:
        done = await write_batch(
            session,
            settings,
            actor,
            SYSTEM,
            [(row["corporate_number"], nta_payload(row)) for row in live],
            hold_erased=False,
            link_to={row["corporate_number"]: row["customer_id"] for row in live},
        )
        for row, item in zip(live, done, strict=True):
            if item.problem is not None:
                refused.add(row["customer_id"])
                problem = item.problem
                result.failed.append(
                    (row["customer_id"], problem.detail or problem.problem_type.title)
                )
    rows = [row for row in rows if row["customer_id"] not in refused]
    result.state_changed = await _apply_states(session, settings, actor, rows)
    result.applied = len(rows)
    return result


async def apply_one(
    session: AsyncSession, settings: Settings, customer_id: uuid.UUID, *, actor: Actor = ACTOR
) -> bool:
    """Apply the registry's current row to one linked customer; True if its registry state
    (closed, successor, withdrawn) changed."""
    row = await repository.link_and_row(session, customer_id)
    if row is None:
        return False
    if not row["deleted"]:
        await put_source_record(
            session,
            settings,
            actor,
            SYSTEM,
            row["corporate_number"],
            nta_payload(row),
            hold_erased=False,
            link_to=customer_id,
        )
    return bool(await _apply_states(session, settings, actor, [row]))


async def _apply_states(
    session: AsyncSession, settings: Settings, actor: Actor, rows: Sequence[dict[str, Any]]
) -> int:
    """After their ``nta`` source records were written: each link's registry state (closure,
    successor, withdrawal) saved, and applied to its customer (status, event, successor link);
    how many customers' registry state changed."""
    customers = await repository.lock_customers(session, [row["customer_id"] for row in rows])
    planned: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = []
    for row in rows:
        customer_id = row["customer_id"]
        before = {k: row[k] for k in STATE_FIELDS}
        if row["deleted"]:
            # 99 withdraws the number: its source record goes (the registry's history keeps
            # the values); the closure last applied stays.
            customer = customers.get(customer_id) or await lock_customer(session, customer_id)
            await remove_nta_source(session, settings, actor, customer, row["corporate_number"])
            customers[customer_id] = await lock_customer(session, customer_id)
            state = {**before, "withdrawn": True}
        else:
            successor = row["n_successor"]
            state = {
                "closed_on": row["close_date"],
                "close_cause": row["n_cause"],
                "successor_corporate_number": successor,
                "successor_customer_id": (
                    await repository.successor_customer(session, successor) if successor else None
                ),
                "withdrawn": False,
            }
        planned.append((row, before, state))
    await repository.save_many(
        session, [(r["customer_id"], r["update_date"], r["process"], s) for r, _, s in planned]
    )
    changes: list[_LinkChange] = []
    successors: list[tuple[Customer, uuid.UUID | None, dt.date | None, str]] = []
    for row, before, state in planned:
        customer_id = row["customer_id"]
        customer = customers.get(customer_id) or await lock_customer(session, customer_id)
        changed = [f"/registry/{k}" for k in STATE_FIELDS if before[k] != state[k]]
        status = closed_status(customer.status, state["closed_on"])
        if status != customer.status:
            changed.append("/status")
        if changed:
            after = {**_jsonable(state), "process": row["process"]}
            changes.append(_LinkChange(customer, status, changed, EVENT, before, after))
        if not row["deleted"]:
            successor_id = state["successor_customer_id"] if state["closed_on"] else None
            number = row["corporate_number"]
            successors.append((customer, successor_id, state["closed_on"], f"{SYSTEM}/{number}"))
    await _record_link_changes(session, actor, changes)
    await set_successors(session, actor, successors)
    return len(changes)


def closed_status(status: str, closed_on: dt.date | None) -> str:
    """An active customer the registry says is closed (21, 71) becomes ``closed``; a closed one
    it says is not (22 復活, 72 合併無効) is active again. Other statuses (merged, deleted,
    erased) are a steward's or the hub's and stay."""
    if closed_on is not None and status == CustomerStatus.active.value:
        return CustomerStatus.closed.value
    if closed_on is None and status == CustomerStatus.closed.value:
        return CustomerStatus.active.value
    return status


def _jsonable(state: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v.isoformat() if isinstance(v, dt.date) else str(v) if isinstance(v, uuid.UUID) else v
        for k, v in state.items()
    }


async def remove_nta_source(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    customer: Customer,
    number: str,
) -> bool:
    """The customer's source record ``nta/<number>`` goes and the golden record is recomputed
    without it (audited; ``customer.updated`` when it changed). False when it has none, or
    when it is the customer's only source record (a customer is never left without one: the
    record stays)."""
    sources = await source_rows(session, customer.id)
    mine = [s for s in sources if s.system == SYSTEM and s.source_id == number]
    if not mine or len(sources) == 1:
        return False
    (source,) = mine
    removed = {
        "system": source.system,
        "source_id": source.source_id,
        "normalized": source.normalized,
    }
    await repository.delete_source_record(session, source)
    entry = source_record_audit(
        actor, "source_record.removed", SYSTEM, number, customer.id, before=removed
    )
    await recompute_after(session, settings, actor, customer, entry)
    return True


async def unlink(
    session: AsyncSession, settings: Settings, actor: Actor, customer_id: uuid.UUID
) -> bool:
    """A steward removes the customer's registry link: the link and the ``nta`` source
    record's contribution go (golden record recomputed), the steward's word is remembered (the
    customer is not linked to that number again by its 法人番号, nor proposed it), audited,
    and ``customer.registry_changed`` emitted. False when the customer has no link."""
    customer = await lock_customer(session, customer_id)
    row = await repository.link_and_row(session, customer_id)
    if row is None:
        return False
    number = row["corporate_number"]
    await remove_nta_source(session, settings, actor, customer, number)
    await repository.delete_link(session, customer_id)
    await repository.remember_rejected(session, customer_id, number, actor.subject)
    before = {"corporate_number": number, "linked_by": row["linked_by"]}
    before.update({k: row[k] for k in STATE_FIELDS})
    # The closure came from that link: a wrong link's closure goes with it.
    reopened = closed_status(customer.status, None)
    await set_successor(session, actor, customer, None, None, f"{SYSTEM}/{number}")
    await _record_link_change(
        session,
        actor,
        customer,
        status=reopened,
        changed=["/registry/corporate_number"]
        + (["/status"] if reopened != customer.status else []),
        action="registry_link.removed",
        before=before,
        after=None,
    )
    return True


@dataclass
class _LinkChange:
    """A registry link's change to a customer: its new status, the changed fields of its
    event, the link's audit action and its state before (as read) and after."""

    customer: Customer
    status: str
    changed: list[str]
    action: str
    before: dict[str, Any]
    after: dict[str, Any] | None


async def _record_link_change(
    session: AsyncSession,
    actor: Actor,
    customer: Customer,
    *,
    status: str,
    changed: list[str],
    action: str,
    before: dict[str, Any],
    after: dict[str, Any] | None,
) -> None:
    await _record_link_changes(
        session, actor, [_LinkChange(customer, status, changed, action, before, after)]
    )


async def _record_link_changes(
    session: AsyncSession, actor: Actor, changes: Sequence[_LinkChange]
) -> None:
    """Each change: the customer's status and a new version, the link's audit entry, the
    customer's (``customers.golden.record_customer_change``'s) and its event
    ``customer.registry_changed``; all of them in one statement."""
    if not changes:
        return
    views = [customer_view(change.customer) for change in changes]
    stored_at = now()
    update = store_states(
        [
            (c.customer, {"status": c.status, "version": c.customer.version + 1,
                          "updated_at": stored_at})
            for c in changes
        ]
    )  # fmt: skip
    entries: list[AuditRecord] = []
    events: list[dict[str, Any]] = []
    for change, view in zip(changes, views, strict=True):
        customer = change.customer
        entries.append(
            audit_record(
                actor,
                action=change.action,
                entity_type="registry_link",
                entity_id=str(customer.id),
                customer_id=customer.id,
                before=_jsonable(change.before),
                after=change.after,
            )
        )
        entries.append(customer_audit(actor, EVENT, customer, view))
        events.append(event_row(EVENT, customer, change.changed))
    await session.flush()
    await write_together(session, update, audit_insert(entries), insert_events(events))
