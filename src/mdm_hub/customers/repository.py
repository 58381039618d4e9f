"""The SQL of customers and source records: reads, row locks, the golden record's UPDATE, lists.

Hot statements (the write path's) go to asyncpg through :func:`mdm_hub.db.fetch`; the rest
through the ORM, in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, TextClause, literal_column, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from mdm_hub import db
from mdm_hub.customers.models import (
    MISSING,
    STEWARD_SYSTEM,
    Customer,
    CustomerStatus,
    SourceRecord,
    customer_code_seq,
)
from mdm_hub.customers.survivorship import SourceView
from mdm_hub.db import WritePart, arrays
from mdm_hub.encryption import index, sealed_json
from mdm_hub.errors import found
from mdm_hub.normalize import name_key


async def get_customer(session: AsyncSession, customer_id: uuid.UUID) -> Customer:
    return found(await session.get(Customer, customer_id), f"No customer {customer_id}")


async def lock_customer(session: AsyncSession, customer_id: uuid.UUID) -> Customer:
    customer = await session.get(
        Customer, customer_id, with_for_update=True, populate_existing=True
    )
    return found(customer, f"No customer {customer_id}")


async def customer_sources(session: AsyncSession, customer_id: uuid.UUID) -> list[SourceView]:
    rows = await session.scalars(
        select(SourceRecord)
        .where(SourceRecord.customer_id == customer_id)
        .order_by(SourceRecord.id)
    )
    return [SourceView(r.system, r.source_id, r.updated_at, r.normalized) for r in rows.all()]


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


def store_golden(customer: Customer, columns: dict[str, Any]) -> WritePart:
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
            "record": sealed_json(columns["record"]),
            "lineage": sealed_json(columns["lineage"]),
            "id": customer.id,
        },
    )


_UPDATE_STATES = """
    UPDATE customers c SET status = v.status, version = v.version, updated_at = v.updated_at
    FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]), CAST(:versions AS integer[]),
                CAST(:updated AS timestamptz[])) AS v(id, status, version, updated_at)
    WHERE c.id = v.id
"""


def store_states(changes: Sequence[tuple[Customer, dict[str, Any]]]) -> WritePart | None:
    """Each customer's new ``status``, ``version`` and ``updated_at`` set as stored (see
    ``store_golden``), and the one UPDATE that stores them all."""
    if not changes:
        return None
    for customer, columns in changes:
        for name in ("status", "version", "updated_at"):
            set_committed_value(customer, name, columns[name])
    return WritePart(
        _UPDATE_STATES,
        {
            "ids": [c.id for c, _ in changes],
            "statuses": [columns["status"] for _, columns in changes],
            "versions": [columns["version"] for _, columns in changes],
            "updated": [columns["updated_at"] for _, columns in changes],
        },
    )


async def get_source_record(session: AsyncSession, system: str, source_id: str) -> SourceRecord:
    source = await session.scalar(
        select(SourceRecord).where(
            SourceRecord.system == system, SourceRecord.source_id == source_id
        )
    )
    return found(source, f"No record {source_id!r} from source {system!r}")


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


async def lock_steward_source(session: AsyncSession, customer_id: uuid.UUID) -> SourceRecord | None:
    """The customer's steward source record (its edits), locked; None before the first edit."""
    return await session.scalar(
        select(SourceRecord)
        .where(SourceRecord.system == STEWARD_SYSTEM, SourceRecord.source_id == str(customer_id))
        .with_for_update()
    )


async def lock_source_row(session: AsyncSession, source_record_id: int) -> SourceRecord:
    """A source record's row locked and read afresh (its customer locked first by the caller)."""
    return await session.get_one(
        SourceRecord, source_record_id, with_for_update=True, populate_existing=True
    )


def add_source(session: AsyncSession, source: SourceRecord) -> None:
    """A new source record (written with the transaction's next flush)."""
    session.add(source)


async def insert_customer(session: AsyncSession, customer: Customer) -> None:
    """Insert a new customer row now."""
    session.add(customer)
    await session.flush()


async def customers_by_id(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Customer]:
    if not ids:
        return {}
    rows = await session.scalars(select(Customer).where(Customer.id.in_(ids)))
    return {c.id: c for c in rows.all()}


async def source_rows(
    session: AsyncSession, customer_id: uuid.UUID, *, stewards: bool = False
) -> list[SourceRecord]:
    """The customer's source records in id order (without the steward's unless ``stewards``)."""
    query = select(SourceRecord).where(SourceRecord.customer_id == customer_id)
    if not stewards:
        query = query.where(SourceRecord.system != STEWARD_SYSTEM)
    return list((await session.scalars(query.order_by(SourceRecord.id))).all())


async def redirect_merged(
    session: AsyncSession, merged_into_id: uuid.UUID, survivor_id: uuid.UUID
) -> None:
    """Customers merged into ``merged_into_id`` now resolve straight to ``survivor_id``."""
    await session.execute(
        update(Customer)
        .where(Customer.merged_into_id == merged_into_id)
        .values(merged_into_id=survivor_id)
    )


@dataclass
class CustomerFilters:
    customer_code: str | None = None
    name_prefix: str | None = None
    phone: str | None = None
    email: str | None = None
    corporate_number: str | None = None
    postal_code: str | None = None  # normalized (7 digits), as addresses store it
    statuses: tuple[str, ...] = (CustomerStatus.active.value,)
    updated_since: dt.datetime | None = None
    # The quality KPIs' customers (the figures of GET /v1/quality/kpis link here).
    kind: str | None = None
    missing: tuple[str, ...] = ()  # keys of customers.models.MISSING
    updated_before: dt.datetime | None = None
    transaction_before: dt.date | None = None  # 最終取引日 before this day
    finding_rule: str | None = None
    registry_status: str | None = None  # confirmed, suggested, withdrawn, unknown
    # registered, not_registered, expired, revoked, deleted, or not_confirmed (all but
    # registered): the T-number's インボイス status, as the KPI counts it.
    invoice_status: str | None = None
    source_system: str | None = None  # a source record of this system
    # A source record of source_system whose own normalized record lacks these fields (keys of
    # MISSING) and / or whose own 最終取引日 is before this day: the per-system figures' records.
    source_missing: tuple[str, ...] = ()
    source_transaction_before: dt.date | None = None
    source_updated_before: dt.datetime | None = None  # the source record not written since


def customer_query(filters: CustomerFilters) -> Select[Customer]:
    if filters.statuses == (CustomerStatus.active.value,):
        # A literal, so that the partial indexes (status = 'active' AND ...) apply whatever
        # plan the prepared statement gets.
        query = select(Customer).where(Customer.status == literal_column("'active'"))
    else:
        query = select(Customer).where(Customer.status.in_(filters.statuses))
    if filters.kind is not None:
        query = query.where(Customer.kind == filters.kind)
    for field in filters.missing:
        query = query.where(text(MISSING[field]))
    if filters.updated_before is not None:
        query = query.where(Customer.updated_at < filters.updated_before)
    if filters.transaction_before is not None:
        query = query.where(Customer.last_transaction_on < filters.transaction_before.isoformat())
    if filters.finding_rule is not None:
        query = _where(
            query,
            "customers.id IN (SELECT s.customer_id FROM quality_findings AS f "
            "JOIN source_records AS s ON s.id = f.source_record_id "
            "WHERE f.rule = :finding_rule)",
            finding_rule=filters.finding_rule,
        )
    if filters.registry_status is not None:
        query = _where(
            query,
            "customers.id IN (SELECT r.customer_id FROM quality_registry_states AS r "
            "WHERE r.active AND r.state = :registry_status)",
            registry_status=filters.registry_status,
        )
    if filters.invoice_status is not None:
        condition = (
            "r.invoice <> 'registered'"
            if filters.invoice_status == "not_confirmed"
            else "r.invoice = :invoice_status"
        )
        clause = text(
            "customers.id IN (SELECT r.customer_id FROM quality_registry_states AS r "
            f"WHERE r.active AND r.invoice IS NOT NULL AND {condition})"
        )
        if filters.invoice_status != "not_confirmed":
            clause = clause.bindparams(invoice_status=filters.invoice_status)
        query = query.where(clause)
    if filters.source_system is not None and (
        filters.source_missing
        or filters.source_transaction_before is not None
        or filters.source_updated_before is not None
    ):
        # Its own EXISTS over that system's records: the plain one below would be implied.
        query = query.where(_source_values(filters))
    elif filters.source_system is not None:
        query = _where(
            query,
            "EXISTS (SELECT 1 FROM source_records AS s "
            "WHERE s.customer_id = customers.id AND s.system = :source_system)",
            source_system=filters.source_system,
        )
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
        query = query.where(Customer.phones.contains([index("phone", filters.phone)]))
    if filters.email is not None:
        query = query.where(Customer.emails.contains([index("email", filters.email)]))
    if filters.corporate_number is not None:
        query = query.where(Customer.corporate_number == filters.corporate_number)
    if filters.postal_code is not None:
        query = query.where(
            Customer.record["addresses"].contains([{"postal_code": filters.postal_code}])
        )
    if filters.updated_since is not None:
        query = query.where(Customer.updated_at >= filters.updated_since)
    return query


def _where(query: Select[Any], condition: str, **params: object) -> Select[Any]:
    """The list query narrowed by one SQL condition with its bound parameters."""
    return query.where(text(condition).bindparams(**params))


def _source_values(filters: CustomerFilters) -> TextClause:
    """Customers with a record of ``source_system`` that itself lacks the fields / has its
    最終取引日 before the day — decided by the very SQL functions that count the per-system
    figures (quality_source_facts: its 'filled:<field>' facts; quality_source_transaction_day,
    the day quality_transaction_facts counts, migration 0025), so a figure and the customers
    it links to cannot drift apart."""
    conditions = [
        "s.customer_id = customers.id",
        "s.system = :source_values_system",
        "s.system <> '_steward'",
    ]
    params: dict[str, Any] = {"source_values_system": filters.source_system}
    if filters.source_missing:
        # The record has none of the fields (each 'filled:<field>' fact is absent).
        conditions.append(
            "NOT EXISTS (SELECT 1 FROM quality_source_facts(s.system, s.normalized, s.findings)"
            " AS f WHERE f.metric = ANY(CAST(:source_filled AS text[])))"
        )
        params["source_filled"] = [f"filled:{f}" for f in filters.source_missing]
    if filters.source_transaction_before is not None:
        # The day quality_transaction_facts counts (migration 0025), by its index.
        conditions.append(
            "quality_source_transaction_day(s.system, s.normalized) < :source_transaction_before"
        )
        params["source_transaction_before"] = filters.source_transaction_before.isoformat()
    if filters.source_updated_before is not None:
        # As quality.repository.sources_not_updated_since counts them, on (system, updated_at).
        conditions.append("s.updated_at < :source_updated_before")
        params["source_updated_before"] = filters.source_updated_before
    return text(
        f"EXISTS (SELECT 1 FROM source_records AS s WHERE {' AND '.join(conditions)})"
    ).bindparams(**params)


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


async def next_customer_code(session: AsyncSession, prefix: str) -> str:
    number = await session.scalar(select(customer_code_seq.next_value()))
    return f"{prefix}{number:08d}"


_NEXT_CODES = (
    "SELECT nextval('customer_code_seq') AS number FROM generate_series(1, :count) AS n(i) "
    "ORDER BY n.i"
)


async def next_customer_codes(session: AsyncSession, prefix: str, count: int) -> list[str]:
    """``count`` new customer codes, in order, in one statement."""
    if count == 0:
        return []
    rows = await db.fetch(session, _NEXT_CODES, {"count": count})
    return [f"{prefix}{row['number']:08d}" for row in rows]


# New customers with their columns, in one statement (a table with statement triggers is
# written once per statement).
_INSERT_CUSTOMERS = """
    INSERT INTO customers (
        id, customer_code, kind, status, version, merged_into_id, name, name_key, name_kana,
        corporate_number, phones, emails, record, lineage, created_at, updated_at
    )
    SELECT c.id, c.customer_code, c.kind, c.status, c.version, c.merged_into_id, c.name,
           c.name_key, c.name_kana, c.corporate_number,
           ARRAY(SELECT jsonb_array_elements_text(CAST(c.phones AS jsonb))),
           ARRAY(SELECT jsonb_array_elements_text(CAST(c.emails AS jsonb))),
           CAST(c.record AS jsonb), CAST(c.lineage AS jsonb), c.created_at, c.updated_at
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:codes AS text[]), CAST(:kinds AS text[]),
        CAST(:statuses AS text[]), CAST(:versions AS integer[]), CAST(:merged_into AS uuid[]),
        CAST(:names AS text[]), CAST(:name_keys AS text[]), CAST(:name_kanas AS text[]),
        CAST(:corporate_numbers AS text[]), CAST(:phones AS text[]), CAST(:emails AS text[]),
        CAST(:records AS text[]), CAST(:lineages AS text[]), CAST(:created AS timestamptz[]),
        CAST(:updated AS timestamptz[])
    ) AS c(id, customer_code, kind, status, version, merged_into_id, name, name_key, name_kana,
           corporate_number, phones, emails, record, lineage, created_at, updated_at)
    ORDER BY c.id
"""

# Changed customers (row-locked by the caller): their golden columns and version, in one
# statement. Apart from the insert of new ones, so that a write that only changes customers
# fires the update triggers alone (an INSERT ... ON CONFLICT fires the insert and the update
# statement triggers, the quality counts' included, whatever it did).
_UPDATE_CUSTOMERS = """
    UPDATE customers AS t SET
        record = CAST(c.record AS jsonb), lineage = CAST(c.lineage AS jsonb), kind = c.kind,
        name = c.name, name_key = c.name_key, name_kana = c.name_kana,
        corporate_number = c.corporate_number,
        phones = ARRAY(SELECT jsonb_array_elements_text(CAST(c.phones AS jsonb))),
        emails = ARRAY(SELECT jsonb_array_elements_text(CAST(c.emails AS jsonb))),
        version = c.version, updated_at = c.updated_at
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:kinds AS text[]), CAST(:versions AS integer[]),
        CAST(:names AS text[]), CAST(:name_keys AS text[]), CAST(:name_kanas AS text[]),
        CAST(:corporate_numbers AS text[]), CAST(:phones AS text[]), CAST(:emails AS text[]),
        CAST(:records AS text[]), CAST(:lineages AS text[]), CAST(:updated AS timestamptz[])
    ) AS c(id, kind, version, name, name_key, name_kana, corporate_number, phones, emails,
           record, lineage, updated_at)
    WHERE t.id = c.id
"""


def _golden_arrays(customers: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The golden columns of ``customers`` as one array per column (JSON serialized here)."""
    return {
        "names": [c["name"] for c in customers],
        "name_keys": [c["name_key"] for c in customers],
        "name_kanas": [c["name_kana"] for c in customers],
        "corporate_numbers": [c["corporate_number"] for c in customers],
        "phones": [json.dumps(list(c["phones"] or [])) for c in customers],
        "emails": [json.dumps(list(c["emails"] or [])) for c in customers],
        "records": [sealed_json(c["record"]) for c in customers],
        "lineages": [sealed_json(c["lineage"]) for c in customers],
    }


def customers_insert(customers: Sequence[Mapping[str, Any]]) -> WritePart | None:
    """New customers (their columns by name), as one multi-row insert for
    ``db.write_together``; their JSON is serialized here (``record`` and ``lineage`` may be
    ``encryption.Sealed`` already)."""
    if not customers:
        return None
    return WritePart(
        _INSERT_CUSTOMERS,
        {
            "ids": [c["id"] for c in customers],
            "codes": [c["customer_code"] for c in customers],
            "kinds": [c["kind"] for c in customers],
            "statuses": [c["status"] for c in customers],
            "versions": [c["version"] for c in customers],
            "merged_into": [c["merged_into_id"] for c in customers],
            **_golden_arrays(customers),
            "created": [c["created_at"] for c in customers],
            "updated": [c["updated_at"] for c in customers],
        },
    )


def customers_update(customers: Sequence[Mapping[str, Any]]) -> WritePart | None:
    """Changed customers' golden columns and versions (their columns by name), as one
    multi-row update for ``db.write_together`` (see ``customers_insert``)."""
    if not customers:
        return None
    return WritePart(
        _UPDATE_CUSTOMERS,
        {
            **arrays(customers, ids="id", kinds="kind", versions="version", updated="updated_at"),
            **_golden_arrays(customers),
        },
    )
