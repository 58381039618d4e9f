"""Erasure on request, disclosure, held writes of erased persons, the access log, retention."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.audit.log import audit_record
from mdm_hub.audit.repository import record_audit
from mdm_hub.context import Actor
from mdm_hub.errors import ProblemError
from mdm_hub.events.outbox import append_event
from mdm_hub.privacy import repository
from mdm_hub.privacy.suppression import digest, digests, hash_key, identifying_values
from mdm_hub.settings import Settings


class WriteHeld(Exception):
    """A write was held because it carries an erased person's identifying values. Raised by
    the write path after it stored the held write in the transaction; the router answers 202
    and the transaction commits."""

    def __init__(self, held: dict[str, Any]) -> None:
        super().__init__(f"held write {held['id']}")
        self.held = held


def _stub(customer: dict[str, Any]) -> dict[str, Any]:
    """What remains of an erased customer's record: its kind and a placeholder name."""
    return {"kind": customer["kind"], "name": repository.ERASED_NAME}


async def erase_customer(
    session: AsyncSession, settings: Settings, actor: Actor, customer_id: uuid.UUID, reason: str
) -> dict[str, Any]:
    """Remove a person's data from the golden record, every source record (also of customers
    merged into it), blocking keys, review candidates, audit before/after, event payloads and
    stored idempotent answers; keep a tombstone and the keyed hashes that recognise the person
    if a source sends them again; emit ``customer.erased``."""
    customer = await repository.lock_customer(session, customer_id)
    if customer is None:
        raise ProblemError("not-found", f"No customer {customer_id}")
    if customer["status"] == "erased":
        raise ProblemError("conflict", f"Customer {customer_id} was already erased")
    if customer["status"] == "merged":
        raise ProblemError(
            "conflict",
            f"Customer {customer_id} was merged into another: erase the customer it was merged "
            "into, which erases this one too",
        )
    if customer["kind"] != "person":
        raise ProblemError(
            "conflict",
            "Only persons are erased; a corporation's contact persons are removed by editing "
            "the corporation (PATCH /v1/customers/{id})",
        )
    ids = await repository.customers_behind(session, customer_id)
    sources = await repository.source_records_of(session, ids)
    hashed: set[tuple[str, str]] = set()
    for record in [s["normalized"] for s in sources] + [
        r["record"] for r in await repository.customer_records(session, ids)
    ]:
        hashed.update(await digests(session, settings, record))
    source_ids = [f"{s['system']}/{s['source_id']}" for s in sources]
    erasure = await repository.insert_erasure(
        session,
        customer_id=customer_id,
        customer_code=customer["customer_code"],
        erased_ids=ids,
        source_ids=source_ids,
        reason=reason,
        erased_by=actor.subject,
        request_id=actor.request_id,
    )
    await repository.insert_suppressions(session, erasure["id"], sorted(hashed))
    stub = _stub(customer)
    await repository.remove_person_data(session, ids, stub)
    record_audit(
        session,
        audit_record(
            actor,
            action="customer.erased",
            entity_type="customer",
            entity_id=str(customer_id),
            customer_id=customer_id,
            after={"reason": reason, "source_ids": source_ids, "erasure_id": str(erasure["id"])},
        ),
    )
    erased = SimpleNamespace(
        id=customer_id,
        version=customer["version"] + 1,
        record=stub,
        identity=lambda: {
            "id": customer_id,
            "customer_code": customer["customer_code"],
            "status": "erased",
            "version": customer["version"] + 1,
        },
    )
    await append_event(session, event_type="customer.erased", customer=erased, changed=["/"])
    return erasure


async def tombstone(session: AsyncSession, customer_id: uuid.UUID) -> dict[str, Any]:
    erasure = await repository.erasure_of(session, customer_id)
    if erasure is None:
        raise ProblemError("not-found", f"Customer {customer_id} was not erased")
    return erasure


async def erasures_hit(
    session: AsyncSession, settings: Settings, records: Mapping[int, Mapping[str, Any]]
) -> dict[int, tuple[str, list[str]]]:
    """For each normalized record (by the caller's index) that carries an erased person's
    identifying values: the erasure (id, matched kinds). One statement for all of them."""
    values = {i: identifying_values(r) for i, r in records.items() if r.get("kind") == "person"}
    values = {i: v for i, v in values.items() if v}
    if not values:
        return {}
    key = await hash_key(session, settings)
    hashed = {i: [digest(key, kind, value) for kind, value in v] for i, v in values.items()}
    found = await repository.suppressed(session, sorted({d for ds in hashed.values() for d in ds}))
    hits: dict[int, tuple[str, list[str]]] = {}
    for index, ds in hashed.items():
        rows = sorted(hit for d in ds for hit in found.get(d, ()))
        if rows:
            erasure_id = rows[0][0]
            hits[index] = (erasure_id, sorted({kind for e, kind in rows if e == erasure_id}))
    return hits


async def hold_write(
    session: AsyncSession,
    actor: Actor,
    erasure_id: str,
    matched: list[str],
    system: str,
    source_id: str,
    raw: dict[str, Any],
) -> dict[str, Any]:
    """Store a write as held (an erased person's record): the held write."""
    return await repository.insert_held_write(
        session,
        erasure_id=erasure_id,
        system=system,
        source_id=source_id,
        payload=raw,
        matched=matched,
        held_by=actor.subject,
    )


async def decide_held_write(
    session: AsyncSession, actor: Actor, held_id: int, decision: str
) -> dict[str, Any]:
    """Mark a held write released (the caller then writes it) or rejected (its data dropped)."""
    held = await repository.lock_held_write(session, held_id)
    if held is None:
        raise ProblemError("not-found", f"No held write {held_id}")
    if held["status"] != "held":
        raise ProblemError("conflict", f"Held write {held_id} was already {held['status']}")
    decided = await repository.decide_held_write(session, held_id, decision, actor.subject)
    record_audit(
        session,
        audit_record(
            actor,
            action=f"held_write.{decision}",
            entity_type="held_write",
            entity_id=str(held_id),
            after={"system": held["system"], "source_id": held["source_id"]},
        ),
    )
    return decided


async def disclosure(session: AsyncSession, customer_id: uuid.UUID) -> dict[str, Any]:
    """Everything the hub holds about a customer, ready to hand over (開示)."""
    customer = await repository.customer_document(session, customer_id)
    if customer is None:
        raise ProblemError("not-found", f"No customer {customer_id}")
    ids = await repository.customers_behind(session, customer_id)
    return {
        "generated_at": dt.datetime.now(dt.UTC),
        "customer": customer,
        "merged_customer_ids": [i for i in ids if i != customer_id],
        "source_records": await repository.source_documents(session, ids),
        **await repository.disclosed_history(session, ids),
    }
