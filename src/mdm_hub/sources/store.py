"""Step 5 of the write path: store a batch's new source records, their blocking keys and
findings, the review pairs, the golden records, the audit entries and the outbox events as
multi-row statements (``store_batch``); a changed source record is stored on its own
(``store_changed_source``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.audit.log import AuditRecord, audit_record, source_record_audit
from mdm_hub.audit.repository import audit_insert
from mdm_hub.context import Actor
from mdm_hub.customers.golden import customer_view, now, recompute_golden
from mdm_hub.customers.models import Customer, SourceRecord
from mdm_hub.customers.repository import (
    customers_insert,
    customers_update,
    next_customer_codes,
)
from mdm_hub.customers.views import source_view
from mdm_hub.encryption import Sealed, seal_once
from mdm_hub.events.outbox import event_row
from mdm_hub.events.repository import insert_events
from mdm_hub.matching.keys import BlockingKey
from mdm_hub.matching.repository import batch_keys_insert, candidates_insert, index_record
from mdm_hub.matching.scoring import MatchScore
from mdm_hub.observability.metrics import MATCH_DECISIONS
from mdm_hub.quality.repository import batch_findings_insert, findings_writes
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
    existing.raw_payload = raw
    existing.payload_hash = digest
    existing.normalized = prepared.normalized
    existing.changes = prepared.changes
    existing.findings = prepared.findings
    existing.decision = {
        "outcome": "unchanged_link",
        "customer_id": str(existing.customer_id),
        "probability": None,
        "reason": "existing_source_record",
        "candidates": [],
    }
    existing.version += 1
    existing.updated_at = now()
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
