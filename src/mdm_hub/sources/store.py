"""Step 5 of the write path: store the source record, its blocking keys, the golden record, the
audit entries and the outbox event (the last four in one statement, ``db.write_together``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.audit.log import audit_record
from mdm_hub.context import Actor
from mdm_hub.customers.golden import now, recompute_golden
from mdm_hub.customers.models import Customer, SourceRecord
from mdm_hub.customers.prepare import changes_json
from mdm_hub.customers.survivorship import SourceView
from mdm_hub.customers.views import source_view
from mdm_hub.matching import service as matching
from mdm_hub.matching.repository import index_record, keys_insert
from mdm_hub.observability.metrics import MATCH_DECISIONS
from mdm_hub.quality.repository import findings_writes
from mdm_hub.settings import Settings
from mdm_hub.sources import repository
from mdm_hub.sources.decide import Link
from mdm_hub.sources.prepare import Prepared


async def store_new_source(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    system: str,
    source_id: str,
    raw: dict[str, Any],
    digest: str,
    prepared: Prepared,
    resolution: matching.Resolution,
    link: Link,
) -> SourceRecord:
    """A new source record linked to ``link.customer``: the record, its keys, the review queue,
    the golden record, audit and event."""
    customer = link.customer
    stored_at = now()
    # Written by the repository and never added to the session: the answer shows it.
    source = SourceRecord(
        system=system,
        source_id=source_id,
        customer_id=customer.id,
        raw_payload=raw,
        payload_hash=digest,
        normalized=prepared.record.model_dump(mode="json"),
        changes=changes_json(prepared.result),
        findings=prepared.findings,
        decision=resolution.decision_json(link.outcome, customer.id),
        version=1,
        created_at=stored_at,
        updated_at=stored_at,
    )
    source.id, others = await repository.insert_source(session, source)
    await matching.queue_candidates(session, customer.id, resolution, resolution.result.review)
    MATCH_DECISIONS.labels(link.outcome).inc()
    entry = audit_record(
        actor,
        action="source_record.created",
        entity_type="source_record",
        entity_id=f"{system}/{source_id}",
        customer_id=customer.id,
        after={**source_view(source), "decision": source.decision},
    )
    await recompute_golden(
        session,
        settings,
        actor,
        customer,
        config=prepared.config,
        created=link.created,
        sources=[*others, SourceView(system, source_id, stored_at, source.normalized)],
        audit=[entry],
        writes=[
            keys_insert(source.id, customer.id, resolution.keys),
            *findings_writes(source.id, system, prepared.findings, replace=False),
        ],
    )
    return source


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
    existing.changes = changes_json(prepared.result)
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
    entry = audit_record(
        actor,
        action="source_record.updated",
        entity_type="source_record",
        entity_id=f"{existing.system}/{existing.source_id}",
        customer_id=existing.customer_id,
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
