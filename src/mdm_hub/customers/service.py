"""The customer write path and reads. Services never commit: the request's session does."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import (
    Select,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from mdm_hub import db
from mdm_hub.audit.log import AuditRecord, audit_insert, audit_record, record_audit
from mdm_hub.context import Actor
from mdm_hub.custom_fields.service import (
    FINGERPRINT_SQL,
    Configuration,
    cached_configuration,
    configuration_for,
    current_configuration,
    missing_required,
    validate_custom_values,
)
from mdm_hub.customers.models import STEWARD_SYSTEM, Customer, SourceRecord, customer_code_seq
from mdm_hub.customers.schemas import CustomerStatus
from mdm_hub.customers.survivorship import (
    SCALAR_GROUPS,
    SourceView,
    SurvivorshipRules,
    compute_golden,
)
from mdm_hub.db import WritePart, advisory_xact_locks, write_together
from mdm_hub.errors import FieldProblem, ProblemError, json_pointer, validation_problem
from mdm_hub.events.outbox import changed_fields, event_insert
from mdm_hub.matching import service as matching
from mdm_hub.matching.keys import BlockingKey
from mdm_hub.matching.scoring import Decision
from mdm_hub.normalize import (
    NormalizationError,
    NormalizationResult,
    as_input,
    name_key,
    normalize_customer,
)
from mdm_hub.observability.metrics import MATCH_DECISIONS
from mdm_hub.record import OBJECT_INPUT_FIELDS, CustomerIn, CustomerRecord
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
    config: Configuration | None = None,
    *,
    derive_rank: bool = True,
) -> tuple[NormalizationResult, dict[str, Any]]:
    """Normalize a payload and validate its custom fields; 422 with every bad field.

    ``config``: the custom field definitions and rank rules this transaction read (read here
    when not given). ``derive_rank=False`` keeps a rank given in the payload (a steward's
    manual rank).
    """
    given = payload.model_dump(mode="json", exclude_unset=True)
    # json.dumps escapes every NUL as \u0000: the walk that names the fields runs only then.
    problems = nul_characters(given) if "\\u0000" in json.dumps(given) else []
    if problems:
        raise validation_problem(problems)
    if config is None:
        config = await current_configuration(session)
    definitions = config.definitions
    result: NormalizationResult | None = None
    try:
        rules = config.rank_rules if derive_rank else ()
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
    audit: Sequence[AuditRecord] = (),
    writes: Sequence[WritePart | None] = (),
) -> None:
    """The audit entry and the change event of one change, in the change's transaction.

    ORM changes are flushed first; then one statement writes ``writes`` (independent writes of
    the same change, such as the customer row itself), ``audit`` followed by the customer's own
    audit entry, and the event.
    """
    entry = audit_record(
        actor,
        action=action,
        entity_type="customer",
        entity_id=str(customer.id),
        customer_id=customer.id,
        before=before,
        after=customer_view(customer),
    )
    await session.flush()
    await write_together(
        session,
        *writes,
        audit_insert([*audit, entry]),
        event_insert(event_type=action, customer=customer, changed=changed),
    )


def golden_columns(record: CustomerRecord, lineage: dict[str, Any]) -> dict[str, Any]:
    """The customer row's columns that follow from its golden record."""
    key = None
    if record.company_name is not None:
        key = record.company_name.key
    elif record.person_name is not None:
        key = record.person_name.key
    return {
        "record": record.model_dump(mode="json"),
        "lineage": lineage,
        "kind": record.kind.value,
        "name": record.name,
        "name_key": key or name_key(record.name),
        "name_kana": record.name_kana,
        "corporate_number": record.corporate_number,
        "phones": sorted({p.e164 for p in record.phones}),
        "emails": sorted({e.address for e in record.emails}),
    }


_UPDATE_GOLDEN = """
    UPDATE customers SET
        record = CAST(:record AS jsonb), lineage = CAST(:lineage AS jsonb),
        kind = CAST(:kind AS text), name = CAST(:name AS text),
        name_key = CAST(:name_key AS text), name_kana = CAST(:name_kana AS text),
        corporate_number = CAST(:corporate_number AS text),
        phones = CAST(:phones AS text[]), emails = CAST(:emails AS text[]),
        version = CAST(:version AS integer), updated_at = CAST(:updated_at AS timestamptz)
    WHERE id = CAST(:id AS uuid)
"""


def _store_golden(customer: Customer, columns: dict[str, Any]) -> WritePart:
    """Set ``columns`` on the customer as stored, and the UPDATE that stores them.

    The ORM sees the values as already written (so it never writes them a second time); the
    UPDATE runs in the statement that writes the change's audit entry and event.
    """
    for name, value in columns.items():
        set_committed_value(customer, name, value)
    return WritePart(
        _UPDATE_GOLDEN,
        {
            **columns,
            "record": json.dumps(columns["record"], ensure_ascii=False),
            "lineage": json.dumps(columns["lineage"], ensure_ascii=False),
            "id": customer.id,
        },
    )


async def _customer_sources(session: AsyncSession, customer_id: uuid.UUID) -> list[SourceView]:
    rows = await session.scalars(
        select(SourceRecord)
        .where(SourceRecord.customer_id == customer_id)
        .order_by(SourceRecord.id)
    )
    return [SourceView(r.system, r.source_id, r.updated_at, r.normalized) for r in rows.all()]


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
        sources = await _customer_sources(session, customer.id)
    views: list[SourceView] = []
    overrides: dict[str, Any] = {}
    for source in sources:
        if source.system == STEWARD_SYSTEM:
            overrides = dict(source.record.get("overrides", {}))
        else:
            views.append(source)
    rules = SurvivorshipRules(settings.survivorship_source_priority)
    golden = compute_golden(views, overrides, rules)
    record = CustomerRecord.model_validate(golden.record)
    problems = missing_required(record.custom_fields, config.definitions)
    if problems:
        raise validation_problem(problems)

    columns = golden_columns(record, golden.lineage)
    if created:
        update = _store_golden(
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
    if columns["record"] == customer.record and golden.lineage == customer.lineage:
        await session.flush()
        await write_together(session, *writes, audit_insert(audit))
        return False
    before = customer_view(customer)
    update = _store_golden(
        customer, {**columns, "version": customer.version + 1, "updated_at": _now()}
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


# The stored record of (system, source_id), if any, and the configuration's fingerprint.
_EXISTING_SOURCE = f"""
    SELECT {FINGERPRINT_SQL} AS fingerprint, s.id, s.customer_id, s.raw_payload,
           s.payload_hash, s.normalized, s.changes, s.decision, s.version, s.created_at,
           s.updated_at
    FROM (SELECT 1) AS one
    LEFT JOIN source_records AS s ON s.system = :system AND s.source_id = :source_id
"""


async def _existing_source(
    session: AsyncSession, system: str, source_id: str
) -> tuple[SourceRecord | None, str]:
    """The stored record (as read: not added to the session), and the configuration's
    fingerprint, in one statement."""
    (row,) = await db.fetch(session, _EXISTING_SOURCE, {"system": system, "source_id": source_id})
    if row["id"] is None:
        return None, row["fingerprint"]
    stored = SourceRecord(
        id=row["id"],
        system=system,
        source_id=source_id,
        customer_id=row["customer_id"],
        raw_payload=row["raw_payload"],
        payload_hash=row["payload_hash"],
        normalized=row["normalized"],
        changes=row["changes"],
        decision=row["decision"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
    return stored, row["fingerprint"]


@dataclass
class _Prepared:
    """A payload normalized and validated against one configuration."""

    config: Configuration
    result: NormalizationResult
    normalized: dict[str, Any]
    record: CustomerRecord
    keys: list[BlockingKey]


async def _prepare(
    session: AsyncSession, settings: Settings, payload: CustomerIn, config: Configuration
) -> _Prepared | ProblemError:
    """The payload ready to write, or the problem (422) that stops it."""
    try:
        result, normalized = await normalize_payload(session, payload, config)
    except ProblemError as problem:
        return problem
    record = CustomerRecord.model_validate(normalized)
    return _Prepared(config, result, normalized, record, matching.record_keys(record, settings))


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
    # Normalized first, with the configuration this process last read (compared below with
    # the transaction's), so that the record's blocking keys and the source record's own key
    # are locked in one statement. Lock order everywhere: blocking keys and source keys (one
    # sorted statement), then customers, then source rows. A payload with problems is still
    # answered as a replay when it is one: its problems are raised after that check.
    config = cached_configuration() or await current_configuration(session)
    prepared = await _prepare(session, settings, payload, config)
    locked = prepared.keys if isinstance(prepared, _Prepared) else []
    await advisory_xact_locks(
        session, [f"source:{system}:{source_id}", *matching.key_locks(locked)]
    )
    # Not locked here: the advisory lock serializes writers of this source record, and the row
    # is locked below only after its customer (the order merges use: no deadlock).
    existing, fingerprint = await _existing_source(session, system, source_id)
    if existing is not None and existing.payload_hash == digest:
        customer = await session.get_one(Customer, existing.customer_id)
        return SourceWrite(customer=customer, source=existing, created_source=False)
    if fingerprint != config.fingerprint:  # changed since this process last read it
        config = await configuration_for(session, fingerprint)
        prepared = await _prepare(session, settings, payload, config)
        if isinstance(prepared, _Prepared):
            # Out of the usual order, so a deadlock is possible (it answers 503: try again),
            # but only when the change of configuration changed the record's keys.
            await advisory_xact_locks(
                session, matching.key_locks([k for k in prepared.keys if k not in locked])
            )
    if isinstance(prepared, ProblemError):
        raise prepared
    if existing is None:
        return await _link_new_source(
            session, settings, actor, system, source_id, raw, digest, prepared
        )

    now = _now()
    customer = await lock_customer(session, existing.customer_id)
    existing = await session.get_one(
        SourceRecord, existing.id, with_for_update=True, populate_existing=True
    )
    if existing.customer_id != customer.id:  # a merge or unmerge moved it meanwhile
        customer = await lock_customer(session, existing.customer_id)
    before = _source_view(existing)
    existing.raw_payload = raw
    existing.payload_hash = digest
    existing.normalized = prepared.normalized
    existing.changes = _changes_json(prepared.result)
    existing.decision = {
        "outcome": "unchanged_link",
        "customer_id": str(existing.customer_id),
        "probability": None,
        "reason": "existing_source_record",
        "candidates": [],
    }
    existing.version += 1
    existing.updated_at = now
    await matching.index_record(session, existing, prepared.keys)  # autoflushes the row first
    entry = audit_record(
        actor,
        action="source_record.updated",
        entity_type="source_record",
        entity_id=f"{system}/{source_id}",
        customer_id=existing.customer_id,
        before=before,
        after=_source_view(existing),
    )
    await recompute_golden(
        session, settings, actor, customer, config=prepared.config, audit=[entry]
    )
    return SourceWrite(customer=customer, source=existing, created_source=False)


async def match_payload(
    session: AsyncSession, settings: Settings, payload: CustomerIn
) -> matching.Resolution:
    """The dry run (``POST /v1/match``): normalize and resolve, without locks or writes.

    Uses the configuration this process last read and checks its fingerprint in the statement
    that reads the candidates: one statement while the configuration is unchanged. Otherwise,
    or when the payload has problems (to be sure they are not the stale configuration's), it
    runs again with the transaction's configuration.
    """
    config = cached_configuration()
    if config is not None:
        prepared = await _prepare(session, settings, payload, config)
        if isinstance(prepared, _Prepared):
            resolution, fingerprint = await matching.resolve_with_fingerprint(
                session, settings, prepared.record, keys=prepared.keys, fingerprint=True
            )
            if fingerprint == config.fingerprint:
                return resolution
    _, normalized = await normalize_payload(session, payload, await current_configuration(session))
    return await matching.resolve(
        session, settings, CustomerRecord.model_validate(normalized), lock=False
    )


# A new source record and, read in the same statement (so after the caller locked the
# customer), the customer's other source records in id order. Without any, one row of NULLs.
_INSERT_SOURCE = """
    WITH new_source AS (
        INSERT INTO source_records (
            system, source_id, customer_id, raw_payload, payload_hash, normalized, changes,
            decision, version, created_at, updated_at
        ) VALUES (
            :system, :source_id, :customer_id, CAST(:raw_payload AS jsonb), :payload_hash,
            CAST(:normalized AS jsonb), CAST(:changes AS jsonb), CAST(:decision AS jsonb), 1,
            :now, :now
        )
        RETURNING id
    )
    SELECT new_source.id, other.system, other.source_id, other.updated_at, other.normalized
    FROM new_source
    LEFT JOIN source_records AS other ON other.customer_id = :customer_id
    ORDER BY other.id
"""


async def _insert_source(
    session: AsyncSession, source: SourceRecord
) -> tuple[int, list[SourceView]]:
    """Insert ``source`` (not added to the session); its id and its customer's other sources."""
    rows = await db.fetch(
        session,
        _INSERT_SOURCE,
        {
            "system": source.system,
            "source_id": source.source_id,
            "customer_id": source.customer_id,
            "raw_payload": json.dumps(source.raw_payload, ensure_ascii=False),
            "payload_hash": source.payload_hash,
            "normalized": json.dumps(source.normalized, ensure_ascii=False),
            "changes": json.dumps(source.changes, ensure_ascii=False),
            "decision": json.dumps(source.decision, ensure_ascii=False),
            "now": source.created_at,
        },
    )
    others = [
        SourceView(r["system"], r["source_id"], r["updated_at"], r["normalized"])
        for r in rows
        if r["system"] is not None
    ]
    return rows[0]["id"], others


async def _link_new_source(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    system: str,
    source_id: str,
    raw: dict[str, Any],
    digest: str,
    prepared: _Prepared,
) -> SourceWrite:
    """Match a new source record against the master; merge, queue for review, or create.

    The record's blocking keys are locked (by the caller).
    """
    record, result, config = prepared.record, prepared.result, prepared.config
    resolution = await matching.resolve(session, settings, record, lock=False, keys=prepared.keys)
    decision = resolution.result
    created = decision.decision != Decision.merge or decision.customer_id is None
    outcome = matching.outcome_of(decision.decision)
    if created:
        customer = await new_customer(session, settings, record.kind.value)
    else:
        customer = await lock_customer_row(session, uuid.UUID(str(decision.customer_id)))
        # A merge or delete may have committed since the candidates were read: follow a merge
        # to its survivor; a deleted customer takes no new sources.
        while customer.status == "merged" and customer.merged_into_id is not None:
            customer = await lock_customer_row(session, customer.merged_into_id)
        if customer.status != CustomerStatus.active.value:
            created, outcome = True, "new_customer"
            customer = await new_customer(session, settings, record.kind.value)
    now = _now()
    # Written with Core below and never added to the session: the answer shows it.
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
    source.id, others = await _insert_source(session, source)
    await matching.queue_candidates(session, customer.id, resolution, decision.review)
    MATCH_DECISIONS.labels(outcome).inc()
    entry = audit_record(
        actor,
        action="source_record.created",
        entity_type="source_record",
        entity_id=f"{system}/{source_id}",
        customer_id=customer.id,
        after={**_source_view(source), "decision": source.decision},
    )
    await recompute_golden(
        session,
        settings,
        actor,
        customer,
        config=config,
        created=created,
        sources=[*others, SourceView(system, source_id, now, source.normalized)],
        audit=[entry],
        writes=[matching.keys_insert(source.id, customer.id, resolution.keys)],
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


_LOCK_CUSTOMER_ROW = (
    f"SELECT {', '.join(c.name for c in Customer.__table__.columns)} "
    "FROM customers WHERE id = :id FOR UPDATE"
)


async def lock_customer_row(session: AsyncSession, customer_id: uuid.UUID) -> Customer:
    """:func:`lock_customer` for the write path: the row locked and read without the ORM, the
    Customer not added to the session (the write path stores it without the ORM as well)."""
    rows = await db.fetch(session, _LOCK_CUSTOMER_ROW, {"id": customer_id})
    if not rows:
        raise ProblemError("not-found", f"No customer {customer_id}")
    return Customer(**rows[0])


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
    config = await current_configuration(session)
    _, normalized = await normalize_payload(session, payload, config, derive_rank=False)

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
    record_audit(
        session,
        audit_record(
            actor,
            action="customer.overridden",
            entity_type="source_record",
            entity_id=f"{STEWARD_SYSTEM}/{customer.id}",
            customer_id=customer.id,
            before=before,
            after={**_source_view(steward), "overrides": overrides},
        ),
    )
    await recompute_golden(session, settings, actor, customer, config=config)
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
