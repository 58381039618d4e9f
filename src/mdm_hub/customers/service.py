"""The customer write path and reads. Services never commit: the request's session does."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.audit.log import record_audit
from mdm_hub.context import Actor
from mdm_hub.custom_fields.models import CustomFieldDefinition
from mdm_hub.custom_fields.service import (
    list_definitions,
    load_rank_rules,
    missing_required,
    validate_custom_values,
)
from mdm_hub.customers.models import STEWARD_SYSTEM, Customer, SourceRecord, customer_code_seq
from mdm_hub.customers.schemas import (
    OBJECT_INPUT_FIELDS,
    CustomerIn,
    CustomerRecord,
    CustomerStatus,
)
from mdm_hub.customers.survivorship import (
    SCALAR_GROUPS,
    SourceView,
    SurvivorshipRules,
    compute_golden,
)
from mdm_hub.db import advisory_xact_locks
from mdm_hub.errors import FieldProblem, ProblemError, json_pointer, validation_problem
from mdm_hub.events.outbox import append_event, changed_fields
from mdm_hub.matching import service as matching
from mdm_hub.matching.keys import blocking_keys
from mdm_hub.matching.model import Decision
from mdm_hub.normalize import (
    NormalizationError,
    NormalizationResult,
    as_input,
    name_key,
    normalize_customer,
)
from mdm_hub.observability.metrics import MATCH_DECISIONS
from mdm_hub.settings import Settings


@dataclass
class SourceWrite:
    customer: Customer
    source: SourceRecord
    created_source: bool


def canonical_hash(payload: dict[str, Any]) -> str:
    encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def etag(customer: Customer) -> str:
    return f'"{customer.version}"'


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --------------------------------------------------------------------------------------------
# Normalization and validation
# --------------------------------------------------------------------------------------------


async def normalize_payload(
    session: AsyncSession,
    payload: CustomerIn,
    definitions: list[CustomFieldDefinition] | None = None,
    *,
    derive_rank: bool = True,
) -> tuple[NormalizationResult, dict[str, Any]]:
    """Normalize a payload and validate its custom fields; 422 with every bad field.

    ``derive_rank=False`` keeps a rank given in the payload (a steward's manual rank).
    """
    problems = nul_characters(payload.model_dump(mode="json", exclude_unset=True))
    if problems:
        raise validation_problem(problems)
    if definitions is None:
        definitions = await list_definitions(session)
    result: NormalizationResult | None = None
    try:
        rules = await load_rank_rules(session) if derive_rank else []
        result = normalize_customer(payload, rank_rules=rules)
    except NormalizationError as exc:
        problems.extend(
            FieldProblem(field=e.field, code=e.code, message=e.message) for e in exc.errors
        )
    custom, custom_problems = validate_custom_values(payload.custom_fields, definitions)
    problems.extend(custom_problems)
    if problems or result is None:
        raise validation_problem(problems)
    record = result.record.model_dump(mode="json")
    record["custom_fields"] = custom
    return result, record


def nul_characters(value: Any, path: tuple[Any, ...] = ()) -> list[FieldProblem]:
    """NUL cannot be stored by PostgreSQL (text or jsonb): name every field that holds one."""
    if isinstance(value, str):
        if "\x00" in value:
            return [
                FieldProblem(
                    field=json_pointer(path),
                    code="nul_character",
                    message="NUL characters (\\u0000) are not allowed",
                )
            ]
        return []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            found += nul_characters(key, (*path, key)) + nul_characters(item, (*path, key))
        return found
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in nul_characters(item, (*path, i))]
    return []


def _changes_json(result: NormalizationResult) -> list[dict[str, Any]]:
    return [
        {"field": c.field, "code": c.code, "message": c.message, "severity": c.severity}
        for c in result.changes
    ]


# --------------------------------------------------------------------------------------------
# Golden record
# --------------------------------------------------------------------------------------------


def customer_view(customer: Customer) -> dict[str, Any]:
    """What the audit log keeps of a customer."""
    return {
        "customer_code": customer.customer_code,
        "status": customer.status,
        "version": customer.version,
        "merged_into_id": str(customer.merged_into_id) if customer.merged_into_id else None,
        "record": customer.record,
    }


def bump_version(customer: Customer) -> None:
    customer.version += 1
    customer.updated_at = _now()


async def record_customer_change(
    session: AsyncSession,
    actor: Actor,
    customer: Customer,
    *,
    action: str,
    before: dict[str, Any] | None,
    changed: list[str],
) -> None:
    """The audit entry and the change event of one change, in the change's transaction."""
    await session.flush()
    await record_audit(
        session,
        actor,
        action=action,
        entity_type="customer",
        entity_id=str(customer.id),
        customer_id=customer.id,
        before=before,
        after=customer_view(customer),
    )
    await append_event(session, event_type=action, customer=customer, changed=changed)


def _apply_record(customer: Customer, record: CustomerRecord, lineage: dict[str, Any]) -> None:
    data = record.model_dump(mode="json")
    customer.record = data
    customer.lineage = lineage
    customer.kind = record.kind.value
    customer.name = record.name
    key = None
    if record.company_name is not None:
        key = record.company_name.key
    elif record.person_name is not None:
        key = record.person_name.key
    customer.name_key = key or name_key(record.name)
    customer.name_kana = record.name_kana
    customer.corporate_number = record.corporate_number
    customer.phones = sorted({p.e164 for p in record.phones})
    customer.emails = sorted({e.address for e in record.emails})


async def recompute_golden(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    customer: Customer,
    *,
    definitions: list[CustomFieldDefinition],
    created: bool = False,
) -> bool:
    """Recompute the customer's golden record from its sources; audit it. True if it changed."""
    rows = await session.scalars(
        select(SourceRecord)
        .where(SourceRecord.customer_id == customer.id)
        .order_by(SourceRecord.id)
    )
    views: list[SourceView] = []
    overrides: dict[str, Any] = {}
    for row in rows.all():
        if row.system == STEWARD_SYSTEM:
            overrides = dict(row.normalized.get("overrides", {}))
        else:
            views.append(SourceView(row.system, row.source_id, row.updated_at, row.normalized))
    rules = SurvivorshipRules(settings.survivorship_source_priority)
    golden = compute_golden(views, overrides, rules)
    record = CustomerRecord.model_validate(golden.record)
    problems = missing_required(record.custom_fields, definitions)
    if problems:
        raise validation_problem(problems)

    if created:
        _apply_record(customer, record, golden.lineage)
        await record_customer_change(
            session,
            actor,
            customer,
            action="customer.created",
            before=None,
            changed=changed_fields(None, customer.record),
        )
        return True
    new_record = record.model_dump(mode="json")
    if new_record == customer.record and golden.lineage == customer.lineage:
        return False
    before = customer_view(customer)
    _apply_record(customer, record, golden.lineage)
    bump_version(customer)
    changed = changed_fields(before["record"], customer.record)
    await record_customer_change(
        session,
        actor,
        customer,
        action="customer.updated",
        before=before,
        changed=changed or ["/lineage"],
    )
    return True


async def new_customer(session: AsyncSession, settings: Settings, kind: str) -> Customer:
    number = await session.scalar(select(customer_code_seq.next_value()))
    now = _now()
    customer = Customer(
        id=uuid.uuid4(),
        customer_code=f"{settings.customer_code_prefix}{number:08d}",
        kind=kind,
        status=CustomerStatus.active.value,
        version=1,
        name="",
        name_key="",
        record={},
        lineage={},
        created_at=now,
        updated_at=now,
    )
    session.add(customer)
    await session.flush()
    return customer


# --------------------------------------------------------------------------------------------
# Source records (the write path)
# --------------------------------------------------------------------------------------------


def _source_view(source: SourceRecord) -> dict[str, Any]:
    return {
        "system": source.system,
        "source_id": source.source_id,
        "customer_id": str(source.customer_id),
        "version": source.version,
        "raw_payload": source.raw_payload,
    }


async def put_source_record(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    system: str,
    source_id: str,
    payload: CustomerIn,
) -> SourceWrite:
    """Store a source system's record: validate, normalize, link to a customer, recompute."""
    raw = payload.model_dump(mode="json", exclude_unset=True)
    digest = canonical_hash(raw)
    await advisory_xact_locks(session, [f"source:{system}:{source_id}"])
    # Not locked here: the advisory lock above serializes writers of this source record, and
    # the row is locked below only after its customer (the order merges use: no deadlock).
    existing = await session.scalar(
        select(SourceRecord).where(
            SourceRecord.system == system, SourceRecord.source_id == source_id
        )
    )
    if existing is not None and existing.payload_hash == digest:
        customer = await session.get_one(Customer, existing.customer_id)
        return SourceWrite(customer=customer, source=existing, created_source=False)

    definitions = await list_definitions(session)
    result, normalized = await normalize_payload(session, payload, definitions)
    now = _now()

    record = CustomerRecord.model_validate(normalized)
    if existing is None:
        return await _link_new_source(
            session, settings, actor, system, source_id, raw, digest, record, result, definitions
        )

    # Lock order everywhere: blocking keys, then customers, then source rows.
    keys = blocking_keys(record)
    await advisory_xact_locks(session, [f"match:{k.kind}:{k.value}" for k in keys])
    customer = await lock_customer(session, existing.customer_id)
    existing = await session.get_one(
        SourceRecord, existing.id, with_for_update=True, populate_existing=True
    )
    if existing.customer_id != customer.id:  # a merge or unmerge moved it meanwhile
        customer = await lock_customer(session, existing.customer_id)
    before = _source_view(existing)
    existing.raw_payload = raw
    existing.payload_hash = digest
    existing.normalized = normalized
    existing.changes = _changes_json(result)
    existing.decision = {
        "outcome": "unchanged_link",
        "customer_id": str(existing.customer_id),
        "probability": None,
        "reason": "existing_source_record",
        "candidates": [],
    }
    existing.version += 1
    existing.updated_at = now
    await session.flush()
    await record_audit(
        session,
        actor,
        action="source_record.updated",
        entity_type="source_record",
        entity_id=f"{system}/{source_id}",
        customer_id=existing.customer_id,
        before=before,
        after=_source_view(existing),
    )
    await matching.index_record(session, existing, keys)
    await recompute_golden(session, settings, actor, customer, definitions=definitions)
    return SourceWrite(customer=customer, source=existing, created_source=False)


async def _link_new_source(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    system: str,
    source_id: str,
    raw: dict[str, Any],
    digest: str,
    record: CustomerRecord,
    result: NormalizationResult,
    definitions: list[CustomFieldDefinition],
) -> SourceWrite:
    """Match a new source record against the master; merge, queue for review, or create."""
    resolution = await matching.resolve(session, settings, record, lock=True)
    decision = resolution.result
    created = decision.decision != Decision.merge or decision.customer_id is None
    outcome = matching.outcome_of(decision.decision)
    if created:
        customer = await new_customer(session, settings, record.kind.value)
    else:
        customer = await lock_customer(session, uuid.UUID(str(decision.customer_id)))
        # A merge or delete may have committed since the candidates were read: follow a merge
        # to its survivor; a deleted customer takes no new sources.
        while customer.status == "merged" and customer.merged_into_id is not None:
            customer = await lock_customer(session, customer.merged_into_id)
        if customer.status != CustomerStatus.active.value:
            created, outcome = True, "new_customer"
            customer = await new_customer(session, settings, record.kind.value)
    now = _now()
    source = SourceRecord(
        system=system,
        source_id=source_id,
        customer_id=customer.id,
        raw_payload=raw,
        payload_hash=digest,
        normalized=record.model_dump(mode="json"),
        changes=_changes_json(result),
        decision=resolution.decision_json(outcome, customer.id),
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(source)
    await session.flush()
    await matching.index_record(session, source, resolution.keys)
    await matching.queue_candidates(session, customer.id, resolution, decision.review)
    MATCH_DECISIONS.labels(outcome).inc()
    await record_audit(
        session,
        actor,
        action="source_record.created",
        entity_type="source_record",
        entity_id=f"{system}/{source_id}",
        customer_id=customer.id,
        after={**_source_view(source), "decision": source.decision},
    )
    await recompute_golden(
        session, settings, actor, customer, definitions=definitions, created=created
    )
    return SourceWrite(customer=customer, source=source, created_source=True)


async def get_source_record(session: AsyncSession, system: str, source_id: str) -> SourceRecord:
    source = await session.scalar(
        select(SourceRecord).where(
            SourceRecord.system == system, SourceRecord.source_id == source_id
        )
    )
    if source is None:
        raise ProblemError("not-found", f"No record {source_id!r} from source {system!r}")
    return source


async def list_customer_sources(
    session: AsyncSession, customer_id: uuid.UUID
) -> list[SourceRecord]:
    await get_customer(session, customer_id)
    rows = await session.scalars(
        select(SourceRecord)
        .where(SourceRecord.customer_id == customer_id)
        .order_by(SourceRecord.id)
    )
    return list(rows.all())


# --------------------------------------------------------------------------------------------
# Customers
# --------------------------------------------------------------------------------------------


async def get_customer(session: AsyncSession, customer_id: uuid.UUID) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise ProblemError("not-found", f"No customer {customer_id}")
    return customer


async def lock_customer(session: AsyncSession, customer_id: uuid.UUID) -> Customer:
    customer = await session.get(
        Customer, customer_id, with_for_update=True, populate_existing=True
    )
    if customer is None:
        raise ProblemError("not-found", f"No customer {customer_id}")
    return customer


def check_if_match(customer: Customer, if_match: str | None, *, required: bool) -> None:
    if if_match is None:
        if required:
            raise ProblemError(
                "precondition-required",
                "Send If-Match with the ETag from GET /v1/customers/{id}",
                headers={"ETag": etag(customer)},
            )
        return
    candidates = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    if "*" not in candidates and etag(customer) not in candidates:
        raise ProblemError(
            "precondition-failed",
            f"The customer is at version {customer.version}; If-Match was {if_match}",
            headers={"ETag": etag(customer)},
        )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _override_pointers(
    patch: dict[str, Any], normalized: dict[str, Any], current: dict[str, Any]
) -> dict[str, Any]:
    """The fields a steward's patch sets, with their normalized values (pointer → value)."""
    overrides: dict[str, Any] = {}
    for key, value in patch.items():
        if key in SCALAR_GROUPS or key == "person_name":
            group = SCALAR_GROUPS["name" if key == "person_name" else key]
            for member in group:
                overrides[f"/{member}"] = normalized.get(member)
        elif key in OBJECT_INPUT_FIELDS or key == "custom_fields":
            if key in OBJECT_INPUT_FIELDS:
                leaves = list(OBJECT_INPUT_FIELDS[key].model_fields)
            else:
                leaves = list(current.get("custom_fields") or {})
            if isinstance(value, dict):
                leaves = list(value)
            for leaf in leaves:
                overrides[f"/{key}/{leaf}"] = (normalized.get(key) or {}).get(leaf)
        else:
            overrides[f"/{key}"] = normalized.get(key)
    return overrides


async def patch_customer(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    customer_id: uuid.UUID,
    patch: dict[str, Any],
    if_match: str | None,
) -> Customer:
    """A steward's edit: kept as the steward's own source, so survivorship lets it win."""
    customer = await lock_customer(session, customer_id)
    check_if_match(customer, if_match, required=True)
    if customer.status != CustomerStatus.active.value:
        raise ProblemError("conflict", f"Customer {customer_id} is {customer.status}")
    for forbidden in ("id", "customer_code", "status", "version"):
        if forbidden in patch:
            raise validation_problem(
                [
                    FieldProblem(
                        field=json_pointer([forbidden]),
                        code="read_only",
                        message=f"{forbidden} cannot be changed with PATCH",
                    )
                ]
            )
    current = as_input(CustomerRecord.model_validate(customer.record))
    merged = merge_patch(current.model_dump(mode="json", exclude_none=True), patch)
    try:
        payload = CustomerIn.model_validate(merged)
    except ValidationError as exc:
        raise validation_problem(
            [
                FieldProblem(field=json_pointer(e["loc"]), code=e["type"], message=e["msg"])
                for e in exc.errors()
            ]
        ) from exc
    definitions = await list_definitions(session)
    _, normalized = await normalize_payload(session, payload, definitions, derive_rank=False)

    steward = await session.scalar(
        select(SourceRecord)
        .where(SourceRecord.system == STEWARD_SYSTEM, SourceRecord.source_id == str(customer.id))
        .with_for_update()
    )
    now = _now()
    if steward is None:
        steward = SourceRecord(
            system=STEWARD_SYSTEM,
            source_id=str(customer.id),
            customer_id=customer.id,
            raw_payload={},
            payload_hash="",
            normalized={"overrides": {}},
            changes=[],
            decision={},
            version=0,
            created_at=now,
            updated_at=now,
        )
        session.add(steward)
    before = _source_view(steward) if steward.version else None
    steward.raw_payload = merge_patch(steward.raw_payload, patch) if patch else steward.raw_payload
    steward.payload_hash = canonical_hash(steward.raw_payload)
    overrides = dict(steward.normalized.get("overrides", {}))
    overrides.update(_override_pointers(patch, normalized, customer.record))
    steward.normalized = {"overrides": overrides}
    steward.version += 1
    steward.updated_at = now
    await session.flush()
    await record_audit(
        session,
        actor,
        action="customer.overridden",
        entity_type="source_record",
        entity_id=f"{STEWARD_SYSTEM}/{customer.id}",
        customer_id=customer.id,
        before=before,
        after={**_source_view(steward), "overrides": overrides},
    )
    await recompute_golden(session, settings, actor, customer, definitions=definitions)
    return customer


async def delete_customer(
    session: AsyncSession, actor: Actor, customer_id: uuid.UUID, if_match: str | None
) -> None:
    """Soft delete: the customer stays readable with status ``deleted``."""
    customer = await lock_customer(session, customer_id)
    check_if_match(customer, if_match, required=False)
    if customer.status == CustomerStatus.deleted.value:
        return
    if customer.status != CustomerStatus.active.value:
        raise ProblemError("conflict", f"Customer {customer_id} is {customer.status}")
    before = customer_view(customer)
    customer.status = CustomerStatus.deleted.value
    bump_version(customer)
    await record_customer_change(
        session, actor, customer, action="customer.deleted", before=before, changed=["/status"]
    )


@dataclass
class CustomerFilters:
    customer_code: str | None = None
    name_prefix: str | None = None
    phone: str | None = None
    email: str | None = None
    corporate_number: str | None = None
    statuses: tuple[str, ...] = (CustomerStatus.active.value,)
    updated_since: dt.datetime | None = None


def customer_query(filters: CustomerFilters) -> Select[tuple[Customer]]:
    query = select(Customer).where(Customer.status.in_(filters.statuses))
    if filters.customer_code is not None:
        query = query.where(Customer.customer_code == filters.customer_code)
    if filters.name_prefix:
        prefix = _like_prefix(filters.name_prefix)
        key = _like_prefix(name_key(filters.name_prefix))
        query = query.where(
            or_(
                Customer.name.like(prefix, escape="\\"),
                Customer.name_key.like(key, escape="\\"),
                Customer.name_kana.like(prefix, escape="\\"),
            )
        )
    if filters.phone is not None:
        query = query.where(Customer.phones.contains([filters.phone]))
    if filters.email is not None:
        query = query.where(Customer.emails.contains([filters.email]))
    if filters.corporate_number is not None:
        query = query.where(Customer.corporate_number == filters.corporate_number)
    if filters.updated_since is not None:
        query = query.where(Customer.updated_at >= filters.updated_since)
    return query


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


async def list_customers(
    session: AsyncSession, filters: CustomerFilters, *, after_code: str | None, limit: int
) -> tuple[list[Customer], str | None]:
    """A page of customers ordered by customer code; returns the last code when more follow."""
    query = customer_query(filters).order_by(Customer.customer_code).limit(limit + 1)
    if after_code is not None:
        query = query.where(Customer.customer_code > after_code)
    rows = list((await session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].customer_code if more else None
