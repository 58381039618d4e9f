"""The source write path, step by step (see the package's docstring), and the dry run.

Services never commit: the request's session does.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.context import Actor
from mdm_hub.custom_fields.service import (
    cached_configuration,
    configuration_for,
    current_configuration,
)
from mdm_hub.customers.models import Customer, SourceRecord
from mdm_hub.customers.prepare import canonical_hash, normalize_payload
from mdm_hub.customers.repository import lock_customer, lock_source_row
from mdm_hub.errors import ProblemError
from mdm_hub.governance.models import ChangeRequest
from mdm_hub.matching import service as matching
from mdm_hub.matching.keys import BlockingKey, sorted_keys
from mdm_hub.matching.repository import BatchCandidates
from mdm_hub.privacy.service import WriteHeld, erasures_hit, hold_write
from mdm_hub.record import CustomerIn, CustomerRecord
from mdm_hub.settings import Settings
from mdm_hub.sources import repository
from mdm_hub.sources.decide import NewSource, Plan, resolve_batch
from mdm_hub.sources.hierarchy import Refusal, Written, follow_hierarchy
from mdm_hub.sources.locks import lock_batch, lock_keys
from mdm_hub.sources.prepare import Prepared, prepare
from mdm_hub.sources.protect import Guarded, hold_protected, pending_change
from mdm_hub.sources.store import (
    Changed,
    Stored,
    store_batch,
    store_changed_batch,
    store_changed_source,
)


@dataclass
class SourceWrite:
    customer: Customer
    source: SourceRecord
    created_source: bool
    # governance: the protected values this write sent that wait for approval
    change_request: ChangeRequest | None = None


@dataclass
class ItemWrite:
    """What the write of one item of a batch did (as its own PUT would answer): ``write``, or
    ``problem`` (422), or ``held`` (202: an erased person's record, kept as a held write).
    ``outcome``: new_customer, merged, review, updated, unchanged, held or rejected."""

    source_id: str
    outcome: str
    write: SourceWrite | None = None
    problem: ProblemError | None = None
    held: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Batch:
    """What every run of a batch is written with, and where its items' answers go."""

    session: AsyncSession
    settings: Settings
    actor: Actor
    system: str
    answers: list[ItemWrite | None]
    webhooks: bool


@dataclass(frozen=True)
class _Ahead:
    """Candidates read with the batch's stored records (none stored), and of which keys."""

    keys: frozenset[BlockingKey]
    found: BatchCandidates


async def put_source_record(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    system: str,
    source_id: str,
    payload: CustomerIn,
    *,
    hold_erased: bool = True,
    link_to: uuid.UUID | None = None,
    generic_plans: bool = False,
) -> SourceWrite:
    """Store a source system's record: validate, normalize, link to a customer, recompute (a
    batch of one: :func:`write_batch`).

    ``hold_erased``: a person record carrying an erased person's identifying values is held
    (privacy.service.WriteHeld) instead of written; False when a 管理者 released it.
    ``link_to``: a new source record joins this customer instead of the one matching decides
    (the registry's record of a customer linked by its 法人番号); candidates are not queued.
    ``generic_plans``: the transaction is this write alone (the PUT's): its statements and
    triggers run with cached generic plans (``db.advisory_xact_locks``)."""
    (item,) = await write_batch(
        session,
        settings,
        actor,
        system,
        [(source_id, payload)],
        hold_erased=hold_erased,
        link_to=link_to,
        alone=True,
        generic_plans=generic_plans,
    )
    if item.held is not None:
        raise WriteHeld(item.held)
    if item.problem is not None:
        raise item.problem
    assert item.write is not None
    return item.write


async def write_batch(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    system: str,
    items: Sequence[tuple[str, CustomerIn]],
    *,
    hold_erased: bool = True,
    ready: Sequence[Mapping[str, Any] | None] | None = None,
    webhooks: bool = True,
    link_to: uuid.UUID | Mapping[str, uuid.UUID] | None = None,
    alone: bool = False,
    refused: list[Refusal] | None = None,
    generic_plans: bool = False,
) -> list[ItemWrite]:
    """Store a batch of one system's records, answered item by item in order, each as its own
    PUT would be answered had the items been PUT one by one in that order.

    Steps (docs/architecture.md): prepare all; lock all source ids and blocking keys in one
    sorted statement; read the stored records of all; then the runs of new source records are
    decided together (``decide.resolve_batch``) and stored with multi-row statements
    (``store.store_batch``), and the runs of changed source records likewise
    (``store.store_changed_batch``; on its own in a single PUT, or when the system has
    protected fields). An
    item with problems is answered with them and writes nothing; the others are written.

    ``ready``: what an earlier ``prepare`` kept of each item (import staging), used when the
    configuration is the same (see ``prepare.prepare``). ``webhooks=False``: the new records'
    change events go to the change feed only (an import that sends one summary event).
    ``link_to``: the customer every new source record joins (see :func:`put_source_record`),
    or each new source record's own customer by its source id (the registry applied to a
    batch of linked customers).
    ``alone``: a single PUT, whose refused hierarchy link refuses the write
    (``sources.hierarchy.follow_hierarchy``). ``refused``: gets the links refused while the
    records stay stored (an item's own in a batch of many, and waiting links whose target
    arrived), each naming the source record that named the link. ``generic_plans``: see
    :func:`put_source_record`.
    """
    raws = [payload.model_dump(mode="json", exclude_unset=True) for _, payload in items]
    digests = [canonical_hash(raw) for raw in raws]
    payloads = [payload for _, payload in items]
    # Prepared first, with the configuration this process last read (compared below with the
    # transaction's), so that the records' blocking keys and the source records' own keys are
    # locked in one statement. A payload with problems is still answered as a replay when it
    # is one: its problems are answered after that check.
    config = cached_configuration() or await current_configuration(session)
    prepared = await prepare(session, settings, payloads, config, ready)
    locked = {k for p in prepared if isinstance(p, Prepared) for k in p.keys}
    ids = [source_id for source_id, _ in items]
    await lock_batch(
        session,
        sorted({(system, i) for i in ids}),
        sorted_keys(locked),
        generic_plans=generic_plans,
    )
    # Not row-locked here: the advisory locks serialize writers of these source records, and
    # a row is locked below only after its customer (the order merges use: no deadlock).
    # With them, the candidates of all the keys when no record of the batch is stored: those
    # of its first run of new records when that run is the whole batch (see _Ahead).
    existing, fingerprint, protected, candidates = await repository.existing_sources(
        session, system, sorted(set(ids)), locked, settings
    )
    ahead = None
    if candidates is not None and fingerprint == config.fingerprint:
        ahead = _Ahead(frozenset(locked), candidates)
    if fingerprint != config.fingerprint:  # changed since this process last read it
        config = await configuration_for(session, fingerprint)
        prepared = await prepare(session, settings, payloads, config, ready)
        # Out of the usual order, so a deadlock is possible (it answers 503: try again), but
        # only when the change of configuration changed the records' keys.
        more = {k for p in prepared if isinstance(p, Prepared) for k in p.keys} - locked
        await lock_keys(session, sorted_keys(more))
    held: dict[int, dict[str, Any]] = {}
    if hold_erased:
        held = await hold_erased_items(
            session, settings, actor, system, items, raws, prepared, existing, digests
        )
    # Governance (sources/protect.py): with protected fields for this system (``protected``,
    # read with the stored records), each new record is decided and stored on its own, its
    # protected values held between the two.
    answers: list[ItemWrite | None] = [None] * len(items)
    batch = _Batch(session, settings, actor, system, answers, webhooks)
    run: list[tuple[int, NewSource]] = []
    # A run of changed source records, stored together (a single PUT, and a system with
    # protected fields, have each stored on its own: _write_changed). A run of new records
    # and one of changed ones never wait at once: each is stored before the other begins, so
    # the order holds.
    changes: list[tuple[int, Changed]] = []
    seen: set[str] = set()
    for index, (source_id, _) in enumerate(items):
        if source_id in seen:  # again in the batch: the earlier item is stored first
            await _write_run(batch, run, ahead)
            await _write_changes(batch, changes)
            ahead = None
            stored, _ = await repository.existing_source(session, system, source_id)
            if stored is not None:
                existing[source_id] = stored
            seen.clear()
        seen.add(source_id)
        stored = existing.get(source_id)
        item = prepared[index]
        if stored is not None and stored.payload_hash == digests[index]:
            if any(c.stored.customer_id == stored.customer_id for _, c in changes):
                # answered with its customer as stored now: the changes before it first
                await _write_changes(batch, changes)
            customer = await repository.stored_customer(session, stored.customer_id)
            pending = await pending_change(session, system, source_id) if protected else None
            answers[index] = ItemWrite(
                source_id, "unchanged", SourceWrite(customer, stored, False, pending)
            )
        elif isinstance(item, ProblemError):
            answers[index] = ItemWrite(source_id, "rejected", problem=item)
        elif index in held:
            answers[index] = ItemWrite(source_id, "held", held=held[index])
        elif stored is None:
            await _write_changes(batch, changes)
            pin = link_to.get(source_id) if isinstance(link_to, Mapping) else link_to
            new = NewSource(system, source_id, raws[index], digests[index], item, pin)
            run.append((index, new))
            if protected:
                await _write_run(batch, run, ahead, guard=True)
                ahead = None
        else:
            await _write_run(batch, run, ahead)
            ahead = None
            if protected or alone:
                answers[index] = await _write_changed(
                    batch, stored, raws[index], digests[index], item
                )
            else:
                changes.append((index, Changed(stored, raws[index], digests[index], item)))
    await _write_run(batch, run, ahead)
    await _write_changes(batch, changes)
    done = [a for a in answers if a is not None]
    assert len(done) == len(items)
    written = [
        Written(answer.write.customer, system, answer.source_id, item.record.relations)
        for answer, item in zip(done, prepared, strict=True)
        if answer.write is not None and answer.outcome != "unchanged"
        if isinstance(item, Prepared)
    ]
    found = await follow_hierarchy(session, settings, actor, written, alone=alone)
    if refused is not None:
        refused.extend(found)
    return done


async def hold_erased_items(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    system: str,
    items: Sequence[tuple[str, CustomerIn]],
    raws: list[dict[str, Any]],
    prepared: list[Prepared | ProblemError],
    existing: dict[str, SourceRecord],
    digests: list[str],
) -> dict[int, dict[str, Any]]:
    """The items (by index) held as an erased person's records: each stored as a held write."""
    candidates = {
        index: p.normalized
        for index, p in enumerate(prepared)
        if isinstance(p, Prepared)
        and not (
            (stored := existing.get(items[index][0])) is not None
            and stored.payload_hash == digests[index]
        )
    }
    held: dict[int, dict[str, Any]] = {}
    for index, hit in (await erasures_hit(session, settings, candidates)).items():
        erasure_id, matched = hit
        held[index] = await hold_write(
            session, actor, erasure_id, matched, system, items[index][0], raws[index]
        )
    return held


async def _write_run(
    batch: _Batch,
    run: list[tuple[int, NewSource]],
    ahead: _Ahead | None = None,
    *,
    guard: bool = False,
) -> None:
    """Decide and store a run of new source records (emptied).

    ``ahead``: candidates read with the stored records, used when they are those of this
    run's keys (the caller passes them to the batch's first run only: nothing was written
    since). ``guard`` (this system has protected fields; the run is one record): when the
    record joins an existing customer, its protected values are held for approval
    (``protect.hold_protected``) and it is stored with what may be stored."""
    if not run:
        return
    items = [item for _, item in run]
    found = None
    if ahead is not None and ahead.keys == {k for item in items for k in item.prepared.keys}:
        found = ahead.found
    plan = await resolve_batch(batch.session, batch.settings, items, found=found)
    request = None
    if guard:
        plan, request = await _hold_protected(batch, items, plan)
    stored = await store_batch(
        batch.session, batch.settings, batch.actor, batch.system, plan, webhooks=batch.webhooks
    )
    _answer(run, stored, batch.answers)
    written = batch.answers[run[0][0]]
    if request is not None and written is not None and written.write is not None:
        written.write.change_request = request
    run.clear()


async def _hold_protected(
    batch: _Batch, items: list[NewSource], plan: Plan
) -> tuple[Plan, ChangeRequest | None]:
    """One new record (``items``, decided in ``plan``) that joins an existing customer: its
    protected values held for approval; the plan of what may be stored, and the request."""
    (item,), (step,) = items, plan.steps
    if step.problem is not None or step.created:
        return plan, None
    (held,) = await hold_protected(
        batch.session,
        batch.settings,
        batch.actor,
        batch.system,
        [Guarded(plan.existing[step.customer_id], False, item.source_id, None, item.prepared)],
    )
    if held.prepared is not item.prepared:
        plan = await resolve_batch(
            batch.session, batch.settings, items, stored_as={0: held.prepared}
        )
    return plan, held.change_request


def _answer(
    run: list[tuple[int, NewSource]], stored: list[Stored], answers: list[ItemWrite | None]
) -> None:
    for (index, item), done in zip(run, stored, strict=True):
        if done.source is None or done.customer is None:
            assert done.step.problem is not None
            answers[index] = ItemWrite(item.source_id, "rejected", problem=done.step.problem)
        else:
            answers[index] = ItemWrite(
                item.source_id,
                done.step.outcome,
                SourceWrite(done.customer, done.source, created_source=True),
            )


async def _write_changes(batch: _Batch, changes: list[tuple[int, Changed]]) -> None:
    """Store a run of changed source records together (``store.store_changed_batch``), and
    answer each (emptied)."""
    if not changes:
        return
    stored = await store_changed_batch(
        batch.session, batch.settings, batch.actor, batch.system, [c for _, c in changes]
    )
    for (index, change), done in zip(changes, stored, strict=True):
        source_id = change.stored.source_id
        if done.problem is not None:
            batch.answers[index] = ItemWrite(source_id, "rejected", problem=done.problem)
        else:
            assert done.customer is not None and done.source is not None
            batch.answers[index] = ItemWrite(
                source_id, "updated", SourceWrite(done.customer, done.source, False)
            )
    changes.clear()


async def _write_changed(
    batch: _Batch, stored: SourceRecord, raw: dict[str, Any], digest: str, prepared: Prepared
) -> ItemWrite:
    """A stored source record that changed, written on its own (a single PUT's, or of a
    system with protected fields: governance may hold its values): it keeps its customer
    (rows locked customer first, the order merges use)."""
    session, settings, actor = batch.session, batch.settings, batch.actor
    customer = await lock_customer(session, stored.customer_id)
    existing = await lock_source_row(session, stored.id)
    if existing.customer_id != customer.id:  # a merge or unmerge moved it meanwhile
        customer = await lock_customer(session, existing.customer_id)
    try:
        async with session.begin_nested():
            (guard,) = await hold_protected(
                session,
                settings,
                actor,
                batch.system,
                [Guarded(customer, False, stored.source_id, existing.normalized, prepared)],
            )
            await store_changed_source(
                session, settings, actor, customer, existing, raw, digest, guard.prepared
            )
    except ProblemError as problem:
        return ItemWrite(stored.source_id, "rejected", problem=problem)
    return ItemWrite(
        stored.source_id, "updated", SourceWrite(customer, existing, False, guard.change_request)
    )


async def match_payload(
    session: AsyncSession, settings: Settings, payload: CustomerIn
) -> matching.Resolution:
    """The dry run (``POST /v1/match``): prepare and decide, without locks or writes.

    Uses the configuration this process last read and checks its fingerprint in the statement
    that reads the candidates: one statement while the configuration is unchanged. Otherwise,
    or when the payload has problems (to be sure they are not the stale configuration's), it
    runs again with the transaction's configuration.
    """
    config = cached_configuration()
    if config is not None:
        (prepared,) = await prepare(session, settings, [payload], config)
        if isinstance(prepared, Prepared):
            resolution, fingerprint = await matching.resolve_with_fingerprint(
                session, settings, prepared.record, keys=prepared.keys, fingerprint=True
            )
            if fingerprint == config.fingerprint:
                return resolution
    normalized = (
        await normalize_payload(session, payload, await current_configuration(session))
    ).record
    return await matching.resolve(
        session, settings, CustomerRecord.model_validate(normalized), lock=False
    )
