"""Step 5 of the write path: store a batch's new source records, their blocking keys and
findings, the review pairs, the golden records, the audit entries and the outbox events as
multi-row statements (``store_batch``); a run of changed source records likewise
(``store_changed_batch``), or one on its own (``store_changed_source``: a single PUT's, and
governance's path)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.audit.log import AuditRecord, audit_record, source_record_audit
from mdm_hub.audit.repository import audit_insert
from mdm_hub.context import Actor
from mdm_hub.customers.golden import customer_view, golden_columns_of, now, recompute_golden
from mdm_hub.customers.models import Customer, SourceRecord
from mdm_hub.customers.repository import (
    customers_insert,
    customers_update,
    next_customer_codes,
)
from mdm_hub.customers.survivorship import SourceView
from mdm_hub.customers.views import source_view
from mdm_hub.db import write_together
from mdm_hub.encryption import Sealed, seal_once
from mdm_hub.errors import ProblemError
from mdm_hub.events.outbox import changed_fields, event_row
from mdm_hub.events.repository import insert_events
from mdm_hub.matching.keys import BlockingKey
from mdm_hub.matching.repository import (
    batch_keys_insert,
    candidates_insert,
    index_record,
    keys_replace,
)
from mdm_hub.matching.scoring import MatchScore
from mdm_hub.observability.metrics import MATCH_DECISIONS
from mdm_hub.quality.repository import batch_findings_insert, findings_replace, findings_writes
from mdm_hub.settings import Settings
from mdm_hub.sources import repository
from mdm_hub.sources.decide import Plan, Step
from mdm_hub.sources.prepare import Prepared


@dataclass
class Stored:
    """A step of the batch as stored: the source record and its customer after it (both
    as written, not added to the session), or the problem that refused it."""

    step: Step
    source: SourceRecord | None
    customer: Customer | None


async def store_batch(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    system: str,
    plan: Plan,
    *,
    webhooks: bool = True,
) -> list[Stored]:
    """The batch's new source records, keys, findings, review pairs, customers (new and
    changed), audit entries and change events, in the order they were decided: one statement
    for the customer codes, one for everything else (multi-row inserts). ``webhooks=False``:
    the change events are in the change feed but sent to no webhook (an import's summary
    option)."""
    codes = await next_customer_codes(session, settings.customer_code_prefix, len(plan.created))
    code_of = dict(zip(plan.created, codes, strict=True))
    for customer_id, state in plan.customers.items():
        state["customer_code"] = code_of.get(customer_id, state["customer_code"])
    once = _SealOnce()
    stored: list[Stored] = []
    sources: list[SourceRecord] = []
    audit: list[AuditRecord] = []
    events: list[dict[str, Any]] = []
    pairs: list[tuple[uuid.UUID, uuid.UUID, MatchScore, dict[str, Any], str]] = []
    keys: list[tuple[str, BlockingKey]] = []
    findings: list[tuple[str, list[dict[str, Any]]]] = []
    for step in plan.steps:
        if step.problem is not None:
            stored.append(Stored(step, None, None))
            continue
        item, resolution, customer_id = step.item, step.resolution, step.customer_id
        resolution.candidates = {
            cid: replace(c, customer_code=code_of[c.id]) if c.id in code_of else c
            for cid, c in resolution.candidates.items()
        }
        state = step.customer
        state["customer_code"] = code_of.get(customer_id, state["customer_code"])
        source = SourceRecord(
            system=system,
            source_id=item.source_id,
            customer_id=customer_id,
            raw_payload=item.raw,
            payload_hash=item.digest,
            normalized=step.normalized,
            changes=step.stored.changes,
            findings=step.stored.findings,
            decision=resolution.decision_json(step.outcome, customer_id),
            version=1,
            created_at=step.stored_at,
            updated_at=step.stored_at,
        )
        sources.append(source)
        keys.extend((item.source_id, k) for k in resolution.keys)
        findings.append((item.source_id, step.stored.findings))
        for cid, score in resolution.result.review:
            explanation = {
                "record": resolution.candidate_view(cid, score),
                "decided_for": str(customer_id),
            }
            pairs.append(
                (customer_id, uuid.UUID(cid), score, explanation, resolution.result.reason)
            )
        MATCH_DECISIONS.labels(step.outcome).inc()
        audit.append(
            source_record_audit(
                actor,
                "source_record.created",
                system,
                item.source_id,
                customer_id,
                after={
                    **source_view(source),
                    "raw_payload": once(source.raw_payload),
                    "decision": once(source.decision),
                },
            )
        )
        customer = Customer(**state)
        if step.event is not None:
            before = step.before
            if before is not None:
                before["customer_code"] = state["customer_code"]
                before = {**before, "record": once(before["record"])}
            audit.append(
                audit_record(
                    actor,
                    action=step.event,
                    entity_type="customer",
                    entity_id=str(customer_id),
                    customer_id=customer_id,
                    before=before,
                    after={**customer_view(customer), "record": once(customer.record)},
                )
            )
            # customer_payload: the record's fields beside its identity (never personal data)
            payload = {**once(customer.record).document, **to_jsonable_python(customer.identity())}
            events.append(event_row(step.event, customer, step.changed, Sealed(payload)))
        stored.append(Stored(step, source, customer))
    new = set(plan.created)
    columns = [
        {**c, "record": once(c["record"]), "lineage": once(c["lineage"])}
        for c in plan.customers.values()
    ]
    ids = await repository.store_batch(
        session,
        system,
        sources,
        [
            ("customers", customers_insert([c for c in columns if c["id"] in new])),
            ("changed_customers", customers_update([c for c in columns if c["id"] not in new])),
            ("keys", batch_keys_insert(keys)),
            ("findings", batch_findings_insert(system, findings)),
            ("candidates", candidates_insert(pairs)),
            ("audit", audit_insert(audit)),
            ("events", insert_events(events, webhook=webhooks)),
        ],
        seal=once,
    )
    for source in sources:
        source.id = ids[source.source_id]
    return stored


_CUSTOMER_COLUMNS = tuple(c.name for c in Customer.__table__.columns if not c.computed)


class _SealOnce:
    """Each document of a batch sealed once however many stored documents hold it (a
    customer's record: its row, its audit entries' before and after, its change events; a
    source record's raw payload and decision: its row and its audit entry). By identity: the
    batch keeps every document alive until it is stored."""

    def __init__(self) -> None:
        self._sealed: dict[int, tuple[Any, Sealed]] = {}

    def __call__(self, document: Any) -> Sealed:
        if isinstance(document, Sealed):
            return document
        found = self._sealed.get(id(document))
        if found is None or found[0] is not document:
            found = self._sealed[id(document)] = (document, seal_once(document))
        return found[1]


async def store_changed_source(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    customer: Customer,
    existing: SourceRecord,
    raw: dict[str, Any],
    digest: str,
    prepared: Prepared,
) -> None:
    """A stored source record changed (rows of ``customer`` and ``existing`` locked by the
    caller): keeps its customer; keys replaced, golden record recomputed, audited."""
    before = source_view(existing)
    _change(existing, raw, digest, prepared, now())
    await index_record(session, existing, prepared.keys)  # autoflushes the row first
    entry = source_record_audit(
        actor,
        "source_record.updated",
        existing.system,
        existing.source_id,
        existing.customer_id,
        before=before,
        after=source_view(existing),
    )
    await recompute_golden(
        session,
        settings,
        actor,
        customer,
        config=prepared.config,
        audit=[entry],
        writes=findings_writes(existing.id, existing.system, prepared.findings, replace=True),
    )


@dataclass
class Changed:
    """A stored source record of the batch whose content changed: as read with the batch
    (``stored``), and what it is now."""

    stored: SourceRecord
    raw: dict[str, Any]
    digest: str
    prepared: Prepared


@dataclass
class ChangedStored:
    """A changed source record as stored, and its customer after it (both as written, not
    added to the session), or the problem that refused it (nothing of it written)."""

    source: SourceRecord | None
    customer: Customer | None
    problem: ProblemError | None = None


def _change(
    source: SourceRecord, raw: dict[str, Any], digest: str, prepared: Prepared, at: dt.datetime
) -> None:
    """A stored source record as a write of changed content (``raw``) leaves it: its customer
    kept, its next version."""
    source.raw_payload = raw
    source.payload_hash = digest
    source.normalized = prepared.normalized
    source.changes = prepared.changes
    source.findings = prepared.findings
    source.decision = {
        "outcome": "unchanged_link",
        "customer_id": str(source.customer_id),
        "probability": None,
        "reason": "existing_source_record",
        "candidates": [],
    }
    source.version += 1
    source.updated_at = at


async def store_changed_batch(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    system: str,
    items: list[Changed],
) -> list[ChangedStored]:
    """A run of changed source records (each once; the system protects no field), stored as
    :func:`store_changed_source` would store them one by one in their order: each keeps its
    customer; its keys and findings are replaced; its customer's golden record is recomputed
    (seeing the records of the run before it) and audited, with a change event when it
    changed. The customers are row-locked with their source records in one statement, then
    the source rows; everything is written in one more statement. A record refused (a
    required custom field left without a value: 422) writes nothing."""
    if not items:
        return []
    locked = await repository.lock_customers(session, sorted({i.stored.customer_id for i in items}))
    rows = await repository.lock_sources(session, [i.stored.id for i in items])
    moved = {r.customer_id for r in rows.values()} - set(locked)
    if moved:  # a merge or unmerge moved a record meanwhile: its customer now (out of order)
        locked.update(await repository.lock_customers(session, sorted(moved)))
    states: dict[uuid.UUID, dict[str, Any]] = {}
    views: dict[uuid.UUID, list[SourceView]] = {}
    for cid, (customer, sources) in locked.items():
        states[cid] = {name: getattr(customer, name) for name in _CUSTOMER_COLUMNS}
        views[cid] = list(sources)
    once = _SealOnce()
    done: list[ChangedStored] = []
    sources_now: dict[int, SourceRecord] = {}
    audit: list[AuditRecord] = []
    events: list[dict[str, Any]] = []
    keys: dict[int, tuple[int, uuid.UUID, list[BlockingKey]]] = {}
    findings: dict[int, tuple[int, list[dict[str, Any]]]] = {}
    changed_customers: set[uuid.UUID] = set()
    for item in items:
        source = rows[item.stored.id]
        cid, prepared = source.customer_id, item.prepared
        at = now()
        mine = SourceView(source.system, source.source_id, at, prepared.normalized)
        others = views[cid]
        sources = [
            mine if (v.system, v.source_id) == (source.system, source.source_id) else v
            for v in others
        ]
        try:
            columns = golden_columns_of(settings, sources, prepared.config)
        except ProblemError as problem:  # refused like the PUT's 422: nothing of it stays
            done.append(ChangedStored(None, None, problem))
            continue
        views[cid] = sources
        source_before = source_view(source)
        _change(source, item.raw, item.digest, prepared, at)
        sources_now[source.id] = source
        keys[source.id] = (source.id, cid, list(prepared.keys))
        findings[source.id] = (source.id, prepared.findings)
        audit.append(
            source_record_audit(
                actor,
                "source_record.updated",
                source.system,
                source.source_id,
                cid,
                before=source_before,
                after=source_view(source),
            )
        )
        state = states[cid]
        if columns["record"] != state["record"] or columns["lineage"] != state["lineage"]:
            before = customer_view(Customer(**state))
            state = states[cid] = {
                **state,
                **columns,
                "version": state["version"] + 1,
                "updated_at": now(),
            }
            customer = Customer(**state)
            changed = changed_fields(before["record"], state["record"]) or ["/lineage"]
            audit.append(
                audit_record(
                    actor,
                    action="customer.updated",
                    entity_type="customer",
                    entity_id=str(cid),
                    customer_id=cid,
                    before={**before, "record": once(before["record"])},
                    after={**customer_view(customer), "record": once(customer.record)},
                )
            )
            payload = {**once(customer.record).document, **to_jsonable_python(customer.identity())}
            events.append(event_row("customer.updated", customer, changed, Sealed(payload)))
            changed_customers.add(cid)
        done.append(ChangedStored(source, Customer(**state)))
    customers = [
        {**states[c], "record": once(states[c]["record"]), "lineage": once(states[c]["lineage"])}
        for c in sorted(changed_customers)
    ]
    await write_together(
        session,
        repository.sources_update(list(sources_now.values()), once),
        *keys_replace(list(keys.values())),
        *findings_replace(system, list(findings.values())),
        customers_update(customers),
        audit_insert(audit),
        insert_events(events),
    )
    return done
