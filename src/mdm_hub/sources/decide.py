"""Step 4 of the write path: candidates, scores and the decision for a batch of new source
records, and the customer each joins (an existing one, or a new one).

A batch is decided as if its records were written one by one in their order, each seeing what
the ones before it did: one statement reads the frequencies of all the batch's keys, the
customers they fetch and which of those keys each holds (``matching.repository.
batch_candidates``); the batch's own changes (new customers, records joining customers, the
keys and frequencies they add, the golden records they change) are then followed in memory.
So the customers and decisions do not depend on the batch size: a PUT is a batch of one.

The customers records join are row-locked and read with their source records
(``sources.repository.lock_customers``) before anything is decided for good: a first pass
finds them, and the pass is repeated once they are read (it usually is the last).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.custom_fields.service import Configuration
from mdm_hub.customers.golden import golden_columns_of, now
from mdm_hub.customers.models import Customer, CustomerStatus
from mdm_hub.customers.survivorship import SourceView
from mdm_hub.errors import ProblemError
from mdm_hub.events.outbox import changed_fields
from mdm_hub.matching import service as matching
from mdm_hub.matching.compare import PreparedRecord, prepare
from mdm_hub.matching.keys import FREQUENCY_ONLY_KINDS, BlockingKey
from mdm_hub.matching.repository import BatchCandidates, Candidate, batch_candidates
from mdm_hub.matching.scoring import Decision, DecisionResult, MatchScore, decide, score_pair
from mdm_hub.record import CustomerRecord
from mdm_hub.settings import Settings
from mdm_hub.sources import repository
from mdm_hub.sources.prepare import Prepared

# Columns of a customer that a write changes (the golden record's and its version).
_STATE = (
    "record",
    "lineage",
    "kind",
    "name",
    "name_key",
    "name_kana",
    "corporate_number",
    "phones",
    "emails",
    "version",
    "updated_at",
)


@dataclass
class NewSource:
    """A new source record of the batch, prepared."""

    system: str
    source_id: str
    raw: dict[str, Any]
    digest: str
    prepared: Prepared
    # The customer it joins, known beforehand instead of matched (the registry's record of a
    # customer linked by its 法人番号); nothing is queued for review.
    pinned: uuid.UUID | None = None


@dataclass
class Step:
    """What one new source record did: its resolution, the customer it joined, and the change
    of that customer (``customer`` as it is after this step; ``event`` None when the golden
    record did not change)."""

    item: NewSource
    stored: Prepared  # what is stored (item.prepared, or with protected values held)
    resolution: matching.Resolution
    customer_id: uuid.UUID
    created: bool
    outcome: str
    stored_at: dt.datetime
    customer: dict[str, Any] = field(default_factory=dict)  # the customer's columns after it
    event: str | None = None  # customer.created / customer.updated
    before: dict[str, Any] | None = None  # customer_view before an update
    changed: list[str] = field(default_factory=list)
    problem: ProblemError | None = None  # refused (a required custom field): nothing written
    # the record it stores as JSON (``stored.record.model_dump(mode="json")``, made once)
    normalized: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Held:
    """A customer as the batch has left it so far."""

    id: uuid.UUID
    order: tuple[int, str, int]  # the candidates' order: customer codes, new customers last
    name: str
    record: dict[str, Any]
    keys: set[BlockingKey]
    customer: dict[str, Any] | None = None  # all columns, once read (or created)
    sources: list[SourceView] | None = None
    created: bool = False
    code: str = ""
    _prepared: PreparedRecord | None = None

    def prepared(self, settings: Settings) -> PreparedRecord:
        if self._prepared is None:
            config = matching.match_config(settings)
            self._prepared = prepare(CustomerRecord.model_validate(self.record), config)
        return self._prepared


@dataclass
class Plan:
    """The batch's steps in order, the customers it changed (final columns) and how many new
    customers it creates (codes are given when it is stored, in creation order)."""

    steps: list[Step]
    customers: dict[uuid.UUID, dict[str, Any]]
    created: list[uuid.UUID]
    existing: dict[uuid.UUID, Customer]


async def resolve_batch(
    session: AsyncSession,
    settings: Settings,
    items: Sequence[NewSource],
    *,
    stored_as: Mapping[int, Prepared] | None = None,
    found: BatchCandidates | None = None,
) -> Plan:
    """Decide every new source record of the batch (its keys locked by the caller), as if
    written one by one in order; the customers they join are row-locked.

    ``stored_as``: for an item (by position), what is stored instead of what was decided on
    (governance holds protected values: ``protect.hold_protected``). ``found``: the
    candidates of exactly these items' keys, read by the caller since the keys were locked
    and before anything was written (``repository.existing_sources``)."""
    stored_as = stored_as or {}
    pinned = {item.pinned for item in items if item.pinned is not None}
    keys = [k for item in items for k in item.prepared.keys]
    if found is None:
        found = await batch_candidates(session, keys, settings)
    loaded: dict[uuid.UUID, tuple[Customer, list[SourceView]]] = {}
    memo = _Memo()
    for attempt in range(4):
        plan, missing = _simulate(settings, items, found, loaded, stored_as, memo)
        if not missing:
            return plan
        if attempt == 2:  # rare: read every customer the batch could join, once
            missing = set(found.customers) - set(loaded)
        locked = await repository.lock_customers(session, sorted(missing))
        memo.check_times(locked.values())
        if any(
            c.status != CustomerStatus.active.value
            for i, (c, _) in locked.items()
            if i not in pinned  # a pinned customer that is not active: refused in _simulate
        ):
            # Merged or deleted since the candidates were read (the keys are locked, so
            # reading them again sees the change): decide the batch again.
            found = await batch_candidates(session, keys, settings)
            loaded.update({i: v for i, v in locked.items() if i in pinned})
            loaded = {i: v for i, v in loaded.items() if i in found.customers or i in pinned}
            continue
        loaded.update(locked)
    plan, missing = _simulate(settings, items, found, loaded, stored_as, memo)
    if missing:  # pragma: no cover - every candidate is read by the third attempt
        raise RuntimeError("customers to join could not be read")
    return plan


@dataclass
class _Item:
    """What a pass of :func:`_simulate` works out of an item alone (kept for the next pass)."""

    compared: PreparedRecord  # its record prepared for scoring
    stored: dict[str, Any]  # the record it stores, as JSON (model_dump)
    view: SourceView  # the source record it stores, as survivorship sees it


@dataclass
class _Memo:
    """What a pass of :func:`_simulate` keeps for the next pass of the same batch: each item's
    own work (by position), and the golden columns of each list of source records (by the
    views' identities; an item's view and its time are the same in every pass). The next
    pass recomputes only the customers whose source records changed: those read since.

    The items' times are those of the first pass; they stay the batch's times unless a
    customer read since holds a source record that is not older than the first of them
    (another writer's, stored meanwhile): then every item takes a new time, as the batch's
    records must be the most recent of the customers they join."""

    items: dict[int, _Item] = field(default_factory=dict)
    goldens: dict[tuple[int, ...], tuple[list[SourceView], Configuration, dict[str, Any]]] = field(
        default_factory=dict
    )

    def check_times(self, read: Iterable[tuple[Customer, list[SourceView]]]) -> None:
        """Every item takes a new time in the next pass when a customer of ``read`` (those
        read since the first pass) holds a source record as recent as the batch's first."""
        if not self.items:
            return
        first = min(item.view.updated_at for item in self.items.values())
        if any(v.updated_at >= first for _, views in read for v in views):
            self.items.clear()
            self.goldens.clear()

    def golden(
        self,
        settings: Settings,
        sources: list[SourceView],
        config: Configuration,
        only: CustomerRecord | None,
    ) -> dict[str, Any]:
        """``golden_columns_of`` of these sources (a refusal is not kept: it raises again)."""
        key = (*map(id, sources), id(config), id(only))
        found = self.goldens.get(key)
        if found is not None and found[1] is config:
            return found[2]
        columns = golden_columns_of(settings, sources, config, only=only)
        self.goldens[key] = (sources, config, columns)
        return columns


def _simulate(
    settings: Settings,
    items: Sequence[NewSource],
    found: BatchCandidates,
    loaded: dict[uuid.UUID, tuple[Customer, list[SourceView]]],
    stored_as: Mapping[int, Prepared],
    memo: _Memo,
) -> tuple[Plan, set[uuid.UUID]]:
    """The batch written one by one, in memory. Customers joined but not in ``loaded`` are
    returned as missing (the pass then continues as well as it can, to find them all).
    ``memo``: what an earlier pass worked out of each item (by position)."""
    config = matching.match_config(settings)
    merge_threshold = settings.match_merge_threshold or config.merge_threshold
    review_threshold = settings.match_review_threshold or config.review_threshold
    max_block = settings.match_max_block_size
    counts = dict(found.frequencies)
    holders: dict[BlockingKey, set[uuid.UUID]] = {}
    held: dict[uuid.UUID, _Held] = {}
    for cid, candidate in found.customers.items():
        owned = set(found.holdings.get(cid, ()))
        held[cid] = _Held(
            cid,
            (0, candidate.customer_code, 0),
            candidate.name,
            candidate.record,
            owned,
            code=candidate.customer_code,
        )
        for key in owned:
            holders.setdefault(key, set()).add(cid)
    missing: set[uuid.UUID] = set()
    steps: list[Step] = []
    changed: dict[uuid.UUID, dict[str, Any]] = {}
    created: list[uuid.UUID] = []
    existing: dict[uuid.UUID, Customer] = {}
    for position, item in enumerate(items):
        p = item.prepared
        kept = stored_as.get(position, p)
        own = set(p.keys)
        frequencies = {k: counts[k] for k in own if counts.get(k, 0) > 0}
        ids: set[uuid.UUID] = set()
        for key in own:
            if key.kind not in FREQUENCY_ONLY_KINDS and counts.get(key, 0) <= max_block:
                ids |= holders.get(key, set())
        ordered = sorted(ids, key=lambda i: held[i].order)[: settings.match_max_candidates]
        if item.pinned is not None:
            ordered = []
        alone = memo.items.get(position)
        if alone is None:
            stored = kept.record.model_dump(mode="json")
            view = SourceView(item.system, item.source_id, now(), stored)
            alone = memo.items[position] = _Item(prepare(p.record, config), stored, view)
        prepared_record = alone.compared
        scored: list[tuple[str, MatchScore]] = []
        by_id: dict[str, Candidate] = {}
        for cid in ordered:
            other = held[cid]
            score = score_pair(
                prepared_record,
                other.prepared(settings),
                config=config,
                key_frequencies=frequencies,
            )
            scored.append((str(cid), score))
            by_id[str(cid)] = Candidate(cid, other.code, other.name, {})
        result = decide(scored, merge_threshold=merge_threshold, review_threshold=review_threshold)
        if item.pinned is not None:
            result = DecisionResult(Decision.merge, str(item.pinned), None, reason="pinned")
            if item.pinned not in held:
                if item.pinned not in loaded:
                    missing.add(item.pinned)
                    held[item.pinned] = _Held(item.pinned, (0, "", 0), "", {}, set())
                else:
                    customer, _ = loaded[item.pinned]
                    held[item.pinned] = _Held(
                        item.pinned,
                        (0, customer.customer_code, 0),
                        customer.name,
                        customer.record,
                        set(),
                        code=customer.customer_code,
                    )
        scored.sort(key=lambda pair: -pair[1].probability)
        resolution = matching.Resolution(p.keys, frequencies, result, by_id, scored)
        outcome = matching.outcome_of(result.decision)
        view = alone.view
        stored_at = view.updated_at
        target: _Held
        if result.decision == Decision.merge and result.customer_id is not None:
            target = held[uuid.UUID(result.customer_id)]
            is_new = False
            if target.customer is None:
                if target.id not in loaded:
                    missing.add(target.id)
                    _join_unread(target, own, counts, holders)
                    steps.append(Step(item, kept, resolution, target.id, False, outcome, stored_at))
                    continue
                customer, sources = loaded[target.id]
                if customer.status != CustomerStatus.active.value:  # pinned (see above)
                    problem = ProblemError(
                        "conflict", f"Customer {target.id} takes no new source records"
                    )
                    steps.append(
                        Step(
                            item,
                            kept,
                            resolution,
                            target.id,
                            False,
                            outcome,
                            stored_at,
                            problem=problem,
                        )
                    )
                    continue
                target.customer = {c: getattr(customer, c) for c in _COLUMNS}
                target.sources = list(sources)
                existing[target.id] = customer
        else:
            target = _Held(uuid.uuid4(), (1, "", len(created)), "", {}, set(), created=True)
            target.customer = {
                "id": target.id,
                "customer_code": "",
                "kind": p.record.kind.value,
                "status": CustomerStatus.active.value,
                "version": 1,
                "merged_into_id": None,
                "created_at": stored_at,
                "updated_at": stored_at,
            }
            target.sources = []
            is_new = True
        assert target.customer is not None and target.sources is not None
        try:
            columns = memo.golden(
                settings,
                [*target.sources, view],
                p.config,
                None if target.sources else kept.record,
            )
        except ProblemError as problem:  # refused like the PUT's 422: nothing of it stays
            steps.append(
                Step(item, kept, resolution, target.id, is_new, outcome, stored_at, problem=problem)
            )
            continue
        step = Step(item, kept, resolution, target.id, is_new, outcome, stored_at)
        step.normalized = alone.stored
        state = target.customer
        if is_new:
            held[target.id] = target
            created.append(target.id)
            state.update(columns)
            step.event = "customer.created"
            step.changed = changed_fields(None, state["record"])
        elif columns["record"] != state["record"] or columns["lineage"] != state["lineage"]:
            step.before = _view(state)
            state.update(columns, version=state["version"] + 1, updated_at=now())
            step.event = "customer.updated"
            step.changed = changed_fields(step.before["record"], state["record"]) or ["/lineage"]
        if step.event is not None:
            changed[target.id] = state
            target.record, target.name = state["record"], state["name"]
            # A new customer whose golden record is this record as it is: its scoring form is
            # the one worked out for this item (not validated and prepared again when a later
            # item of the batch is scored against it).
            same = kept is p and _same_record(state["record"], alone.stored)
            target._prepared = alone.compared if same else None
        step.customer = dict(state)
        target.sources.append(view)
        for key in own - target.keys:
            target.keys.add(key)
            counts[key] = counts.get(key, 0) + 1
            holders.setdefault(key, set()).add(target.id)
        steps.append(step)
    return Plan(steps, changed, created, existing), missing


_COLUMNS = (
    "id",
    "customer_code",
    "kind",
    "status",
    "version",
    "merged_into_id",
    "created_at",
    *_STATE,
)


def _same_record(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal records, their custom fields in the same order (dict equality ignores order, and
    a validated record keeps it)."""
    return a == b and list(a.get("custom_fields") or {}) == list(b.get("custom_fields") or {})


def _view(state: dict[str, Any]) -> dict[str, Any]:
    """customer_view of the customer in ``state`` (its code given when the batch is stored,
    for new customers)."""
    return {
        "customer_code": state["customer_code"],
        "status": state["status"],
        "version": state["version"],
        "merged_into_id": str(state["merged_into_id"]) if state["merged_into_id"] else None,
        "record": state["record"],
    }


def _join_unread(
    target: _Held,
    own: set[BlockingKey],
    counts: dict[BlockingKey, int],
    holders: dict[BlockingKey, set[uuid.UUID]],
) -> None:
    """A record joins a customer not read yet: its keys are followed (its golden record is
    not; the pass is repeated once the customer is read)."""
    for key in own - target.keys:
        target.keys.add(key)
        counts[key] = counts.get(key, 0) + 1
        holders.setdefault(key, set()).add(target.id)
