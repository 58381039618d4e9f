"""The golden record: computed from a customer's source records, stored with its audit entry
and change event in one statement."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.audit.log import AuditRecord, audit_record
from mdm_hub.audit.repository import audit_insert
from mdm_hub.context import Actor
from mdm_hub.custom_fields.service import Configuration, current_configuration, missing_required
from mdm_hub.customers import repository
from mdm_hub.customers.models import STEWARD_SYSTEM, Customer, CustomerStatus
from mdm_hub.customers.survivorship import (
    GoldenRecord,
    SourceView,
    SurvivorshipRules,
    compute_golden,
)
from mdm_hub.db import WritePart, write_together
from mdm_hub.encryption import index
from mdm_hub.errors import validation_problem
from mdm_hub.events.outbox import changed_fields, event_insert
from mdm_hub.normalize import name_key
from mdm_hub.record import CustomerRecord
from mdm_hub.settings import Settings


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def customer_view(customer: Customer) -> dict[str, Any]:
    """What the audit log keeps of a customer."""
    return {
        "customer_code": customer.customer_code,
        "status": customer.status,
        "version": customer.version,
        "merged_into_id": str(customer.merged_into_id) if customer.merged_into_id else None,
        "record": customer.record,
    }


def customer_audit(
    actor: Actor, action: str, customer: Customer, before: dict[str, Any] | None
) -> AuditRecord:
    """The audit entry of a change to ``customer``: ``before`` and its view now."""
    return audit_record(
        actor,
        action=action,
        entity_type="customer",
        entity_id=str(customer.id),
        customer_id=customer.id,
        before=before,
        after=customer_view(customer),
    )


def bump_version(customer: Customer) -> None:
    customer.version += 1
    customer.updated_at = now()


async def record_customer_change(
    session: AsyncSession,
    actor: Actor,
    customer: Customer,
    *,
    action: str,
    before: dict[str, Any] | None,
    changed: list[str],
    audit: Sequence[AuditRecord] = (),
    writes: Sequence[WritePart | None] = (),
) -> None:
    """The audit entry and the change event of one change, in the change's transaction.

    ORM changes are flushed first; then one statement writes ``writes`` (independent writes of
    the same change, such as the customer row itself), ``audit`` followed by the customer's own
    audit entry, and the event.
    """
    entry = customer_audit(actor, action, customer, before)
    await session.flush()
    await write_together(
        session,
        *writes,
        audit_insert([*audit, entry]),
        event_insert(event_type=action, customer=customer, changed=changed),
    )


def golden_columns(
    record: CustomerRecord, lineage: dict[str, Any], dumped: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The customer row's columns that follow from its golden record (``dumped``: the
    record's ``model_dump(mode="json")`` when the caller has it)."""
    key = None
    if record.company_name is not None:
        key = record.company_name.key
    elif record.person_name is not None:
        key = record.person_name.key
    return {
        "record": record.model_dump(mode="json") if dumped is None else dumped,
        "lineage": lineage,
        "kind": record.kind.value,
        "name": record.name,
        "name_key": key or name_key(record.name),
        "name_kana": record.name_kana,
        "corporate_number": record.corporate_number,
        # Lookup columns hold blind indexes (keyed hashes), never the numbers and addresses.
        "phones": sorted({index("phone", p.e164) for p in record.phones}),
        "emails": sorted({index("email", e.address) for e in record.emails}),
    }


def golden_of(sources: Sequence[SourceView], settings: Settings) -> GoldenRecord:
    """The golden record of a customer's source records (steward edits included)."""
    views: list[SourceView] = []
    overrides: dict[str, Any] = {}
    for source in sources:
        if source.system == STEWARD_SYSTEM:
            overrides = dict(source.record.get("overrides", {}))
        else:
            views.append(source)
    return compute_golden(
        views, overrides, SurvivorshipRules(settings.survivorship_source_priority)
    )


def golden_columns_of(
    settings: Settings,
    sources: Sequence[SourceView],
    config: Configuration,
    *,
    only: CustomerRecord | None = None,
) -> dict[str, Any]:
    """The customer row's golden columns computed from its source records in id order
    (steward edits included); 422 when a required custom field has no value.

    ``only``: the validated record of the one source (its ``record`` is this record's
    ``model_dump(mode="json")``): when survivorship leaves it as it is (no empty value
    dropped, no list item repeated), it is the golden record, with no validation and dump
    again, and not copied either: the customer's record is then the source's own document
    (documents are not changed in place once built; a batch's store seals a document once
    however many rows hold it, by identity: ``sources.store._SealOnce``)."""
    golden = golden_of(sources, settings)
    dumped = None
    if (
        only is not None
        and len(sources) == 1
        and golden.record == sources[0].record
        # dict equality ignores order; survivorship sorts the custom fields' keys
        and list(golden.record["custom_fields"]) == list(sources[0].record["custom_fields"] or {})
    ):
        one = sources[0].record
        record, dumped = only, one if type(one) is dict else dict(one)
    else:
        record = CustomerRecord.model_validate(golden.record)
    problems = missing_required(record.custom_fields, config.definitions)
    if problems:
        raise validation_problem(problems)
    return golden_columns(record, golden.lineage, dumped)


async def recompute_golden(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    customer: Customer,
    *,
    config: Configuration,
    created: bool = False,
    sources: Sequence[SourceView] | None = None,
    audit: Sequence[AuditRecord] = (),
    writes: Sequence[WritePart | None] = (),
) -> bool:
    """Recompute the customer's golden record from its sources; audit it. True if it changed.

    ``sources``: the customer's source records in id order (steward edits included), when the
    caller read them after locking the customer; read here otherwise. ``audit`` and ``writes``:
    the rest of the change (its audit entries, independent writes), written in the same
    statement as the customer, or alone when the golden record did not change.
    """
    if sources is None:
        sources = await repository.customer_sources(session, customer.id)
    columns = golden_columns_of(settings, sources, config)
    if created:
        update = repository.store_golden(
            customer, {**columns, "version": customer.version, "updated_at": customer.updated_at}
        )
        await record_customer_change(
            session,
            actor,
            customer,
            action="customer.created",
            before=None,
            changed=changed_fields(None, customer.record),
            audit=audit,
            writes=[*writes, update],
        )
        return True
    if columns["record"] == customer.record and columns["lineage"] == customer.lineage:
        await session.flush()
        await write_together(session, *writes, audit_insert(audit))
        return False
    before = customer_view(customer)
    update = repository.store_golden(
        customer, {**columns, "version": customer.version + 1, "updated_at": now()}
    )
    changed = changed_fields(before["record"], customer.record)
    await record_customer_change(
        session,
        actor,
        customer,
        action="customer.updated",
        before=before,
        changed=changed or ["/lineage"],
        audit=audit,
        writes=[*writes, update],
    )
    return True


async def recompute_after(
    session: AsyncSession, settings: Settings, actor: Actor, customer: Customer, entry: AuditRecord
) -> bool:
    """:func:`recompute_golden` after one audited change to the customer's source records,
    under the configuration in force now. True if the golden record changed."""
    return await recompute_golden(
        session,
        settings,
        actor,
        customer,
        config=await current_configuration(session),
        audit=[entry],
    )


async def new_customer(session: AsyncSession, settings: Settings, kind: str) -> Customer:
    code = await repository.next_customer_code(session, settings.customer_code_prefix)
    created_at = now()
    customer = Customer(
        id=uuid.uuid4(),
        customer_code=code,
        kind=kind,
        status=CustomerStatus.active.value,
        version=1,
        name="",
        name_key="",
        record={},
        lineage={},
        created_at=created_at,
        updated_at=created_at,
    )
    await repository.insert_customer(session, customer)
    return customer
