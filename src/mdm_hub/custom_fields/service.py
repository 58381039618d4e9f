"""Custom field definitions and rank rules: storage and validation of values on every write.

Every write validates against the definitions and derives the rank with the rules, so both are
kept per process (:class:`Configuration`) instead of being read on every request. Several
processes (uvicorn workers, pods) share one database, so a change made through one of them must
reach the others at once: every transaction that uses the configuration first reads its
*fingerprint* (an md5 of both tables' rows, computed by PostgreSQL; a few microseconds for a
few dozen rows) and reloads when it differs from the one kept. The fingerprint is read in the
transaction's own snapshot, so a write never validates against a configuration older than what
it could read itself, whichever process made the change, and without a cache to invalidate or a
time to live. The write path reads the fingerprint in a statement it runs anyway
(``repository.FINGERPRINT_SQL`` as a column), so an unchanged configuration costs no round trip.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.audit.log import audit_record, replaced_audit
from mdm_hub.audit.repository import record_audit
from mdm_hub.context import Actor
from mdm_hub.custom_fields import repository
from mdm_hub.custom_fields.models import CustomFieldDefinition, RankRuleRow
from mdm_hub.custom_fields.schemas import CustomFieldCreate, CustomFieldUpdate, RankRules
from mdm_hub.db import attributes
from mdm_hub.errors import FieldProblem, ProblemError, validation_problem
from mdm_hub.normalize import RankRule

MAX_STRING_LENGTH = 2000


def definition_dict(definition: CustomFieldDefinition) -> dict[str, Any]:
    return attributes(
        definition, "key", "label", "type", "required", "allowed_values", "description",
        "created_at", "updated_at",
    )  # fmt: skip


def _audit_view(definition: CustomFieldDefinition) -> dict[str, Any]:
    view = definition_dict(definition)
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in view.items()}


@dataclass(frozen=True, slots=True)
class FieldDefinition:
    """What validating a value needs of a custom field definition."""

    key: str
    label: str
    type: str
    required: bool
    allowed_values: list[Any] | None


@dataclass(frozen=True)
class Configuration:
    """The custom field definitions and rank rules as one transaction saw them."""

    fingerprint: str
    definitions: tuple[FieldDefinition, ...]
    rank_rules: tuple[RankRule, ...]  # highest threshold first
    # Quality rule → policy set by an administrator (quality/rules.py; the rest: defaults).
    # Kept here because every write applies them, like the rank rules.
    quality_policies: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


# The configuration last loaded by this process. Never used without checking its fingerprint
# in the using transaction, so one value serves every database this process talks to (tests).
_latest: Configuration | None = None


def cached_configuration() -> Configuration | None:
    """The configuration this process last read: to use *before* a statement that reads the
    fingerprint, which the caller then compares (and redoes its work when they differ)."""
    return _latest


async def current_configuration(session: AsyncSession) -> Configuration:
    """The configuration this transaction sees (one small statement while it is unchanged)."""
    return await configuration_for(session, await repository.read_fingerprint(session))


async def configuration_for(session: AsyncSession, fingerprint: str) -> Configuration:
    """The configuration with ``fingerprint`` (read by the caller in this transaction)."""
    cached = _latest
    if cached is not None and cached.fingerprint == fingerprint:
        return cached
    return await load_configuration(session)


async def load_configuration(session: AsyncSession) -> Configuration:
    """Read both tables and their fingerprint in one statement (one snapshot), and keep them."""
    global _latest
    fingerprint, definitions, rules, policies = await repository.load_configuration(session)
    loaded = Configuration(
        fingerprint=fingerprint,
        definitions=tuple(FieldDefinition(**d) for d in definitions or ()),
        rank_rules=tuple(RankRule(**r) for r in rules or ()),
        quality_policies=MappingProxyType(dict(policies or {})),
    )
    _latest = loaded
    return loaded


async def list_definitions(session: AsyncSession) -> list[CustomFieldDefinition]:
    return await repository.list_definitions(session)


async def get_definition(session: AsyncSession, key: str) -> CustomFieldDefinition:
    definition = await repository.find_definition(session, key)
    if definition is None:
        raise ProblemError("not-found", f"No custom field {key!r}")
    return definition


async def create_definition(
    session: AsyncSession, actor: Actor, body: CustomFieldCreate
) -> CustomFieldDefinition:
    if await repository.find_definition(session, body.key) is not None:
        raise ProblemError("conflict", f"Custom field {body.key!r} already exists")
    now = dt.datetime.now(dt.UTC)
    definition = CustomFieldDefinition(**body.model_dump(), created_at=now, updated_at=now)
    try:
        await repository.add_definition(session, definition)
    except IntegrityError as exc:  # created by a concurrent request since the check above
        raise ProblemError("conflict", f"Custom field {body.key!r} already exists") from exc
    record_audit(
        session,
        audit_record(
            actor,
            action="custom_field.created",
            entity_type="custom_field",
            entity_id=body.key,
            after=_audit_view(definition),
        ),
    )
    return definition


async def update_definition(
    session: AsyncSession, actor: Actor, key: str, body: CustomFieldUpdate
) -> CustomFieldDefinition:
    definition = await get_definition(session, key)
    before = _audit_view(definition)
    changes = body.model_dump(exclude_unset=True)
    if "allowed_values" in changes and definition.type != "enum":
        raise validation_problem(
            [
                FieldProblem(
                    field="/allowed_values",
                    code="not_enum",
                    message="allowed_values is only for type enum",
                )
            ]
        )
    for name, value in changes.items():
        if value is None and name in ("label", "required", "allowed_values"):
            continue
        setattr(definition, name, value)
    definition.updated_at = dt.datetime.now(dt.UTC)
    await session.flush()
    record_audit(
        session,
        audit_record(
            actor,
            action="custom_field.updated",
            entity_type="custom_field",
            entity_id=key,
            before=before,
            after=_audit_view(definition),
        ),
    )
    return definition


async def delete_definition(session: AsyncSession, actor: Actor, key: str) -> None:
    definition = await get_definition(session, key)
    before = _audit_view(definition)
    await repository.delete_definition(session, definition)
    record_audit(
        session,
        audit_record(
            actor,
            action="custom_field.deleted",
            entity_type="custom_field",
            entity_id=key,
            before=before,
        ),
    )


def validate_custom_values(
    values: Mapping[str, Any],
    definitions: Sequence[FieldDefinition],
    *,
    pointer: str = "/custom_fields",
) -> tuple[dict[str, Any], list[FieldProblem]]:
    """Check values against their definitions; return the stored form and any problems."""
    by_key = {d.key: d for d in definitions}
    cleaned: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for key, value in values.items():
        field = f"{pointer}/{key}"
        definition = by_key.get(key)
        if definition is None:
            problems.append(
                FieldProblem(
                    field=field,
                    code="unknown_custom_field",
                    message=f"No custom field {key!r} is defined; an administrator defines them",
                )
            )
            continue
        if value is None:
            continue
        try:
            cleaned[key] = _coerce(value, definition)
        except ValueError as exc:
            problems.append(
                FieldProblem(field=field, code="invalid_custom_value", message=str(exc))
            )
    return cleaned, problems


def missing_required(
    values: Mapping[str, Any], definitions: Sequence[FieldDefinition]
) -> list[FieldProblem]:
    return [
        FieldProblem(
            field=f"/custom_fields/{d.key}",
            code="missing",
            message=f"Custom field {d.key!r} ({d.label}) is required",
        )
        for d in definitions
        if d.required and values.get(d.key) in (None, "")
    ]


def _coerce(value: Any, definition: FieldDefinition) -> Any:
    kind = definition.type
    if kind == "string":
        if not isinstance(value, str):
            raise ValueError("Expected a string")
        if len(value) > MAX_STRING_LENGTH:
            raise ValueError(f"At most {MAX_STRING_LENGTH} characters")
        return value
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("Expected an integer")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("Expected a number")
        if not math.isfinite(value):  # NaN, Infinity: Python's JSON reader accepts them
            raise ValueError("Expected a finite number")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError("Expected true or false")
        return value
    if kind == "date":
        if not isinstance(value, str):
            raise ValueError("Expected a date (YYYY-MM-DD)")
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError as exc:
            raise ValueError("Expected a valid date (YYYY-MM-DD)") from exc
    allowed = definition.allowed_values or []
    if value not in allowed:
        raise ValueError(f"Expected one of {allowed}")
    return value


async def load_rank_rules(session: AsyncSession) -> list[RankRule]:
    rows = await repository.rank_rule_rows(session)
    return [RankRule(rank=r.rank, min_amount=r.min_amount) for r in rows]


async def replace_rank_rules(session: AsyncSession, actor: Actor, body: RankRules) -> RankRules:
    ranks = [r.rank for r in body.rules]
    if len(set(ranks)) != len(ranks):
        raise validation_problem(
            [FieldProblem(field="/rules", code="duplicate_rank", message="Each rank once")]
        )
    # Concurrent replacements one after the other (each deletes what the previous inserted),
    # not interleaved into duplicate ranks; reads of the rules are not blocked.
    await repository.lock_rank_rules(session)
    before = [{"rank": r.rank, "min_amount": r.min_amount} for r in await load_rank_rules(session)]
    await repository.replace_rank_rules(
        session, [RankRuleRow(rank=rule.rank, min_amount=rule.min_amount) for rule in body.rules]
    )
    record_audit(
        session,
        replaced_audit(actor, "rank_rules", before={"rules": before}, after=body.model_dump()),
    )
    return RankRules(rules=sorted(body.rules, key=lambda r: -r.min_amount))
