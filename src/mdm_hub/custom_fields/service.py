"""Custom field definitions and rank rules: storage and validation of values on every write."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.audit.log import record_audit
from mdm_hub.context import Actor
from mdm_hub.custom_fields.models import CustomFieldDefinition, RankRuleRow
from mdm_hub.custom_fields.schemas import CustomFieldCreate, CustomFieldUpdate, RankRules
from mdm_hub.errors import FieldProblem, ProblemError, validation_problem
from mdm_hub.normalize import RankRule

MAX_STRING_LENGTH = 2000


def definition_dict(definition: CustomFieldDefinition) -> dict[str, Any]:
    return {
        "key": definition.key,
        "label": definition.label,
        "type": definition.type,
        "required": definition.required,
        "allowed_values": definition.allowed_values,
        "description": definition.description,
        "created_at": definition.created_at,
        "updated_at": definition.updated_at,
    }


def _audit_view(definition: CustomFieldDefinition) -> dict[str, Any]:
    view = definition_dict(definition)
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in view.items()}


async def list_definitions(session: AsyncSession) -> list[CustomFieldDefinition]:
    rows = await session.scalars(select(CustomFieldDefinition).order_by(CustomFieldDefinition.key))
    return list(rows.all())


async def get_definition(session: AsyncSession, key: str) -> CustomFieldDefinition:
    definition = await session.get(CustomFieldDefinition, key)
    if definition is None:
        raise ProblemError("not-found", f"No custom field {key!r}")
    return definition


async def create_definition(
    session: AsyncSession, actor: Actor, body: CustomFieldCreate
) -> CustomFieldDefinition:
    if await session.get(CustomFieldDefinition, body.key) is not None:
        raise ProblemError("conflict", f"Custom field {body.key!r} already exists")
    now = dt.datetime.now(dt.UTC)
    definition = CustomFieldDefinition(**body.model_dump(), created_at=now, updated_at=now)
    session.add(definition)
    await session.flush()
    await record_audit(
        session,
        actor,
        action="custom_field.created",
        entity_type="custom_field",
        entity_id=body.key,
        after=_audit_view(definition),
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
    await record_audit(
        session,
        actor,
        action="custom_field.updated",
        entity_type="custom_field",
        entity_id=key,
        before=before,
        after=_audit_view(definition),
    )
    return definition


async def delete_definition(session: AsyncSession, actor: Actor, key: str) -> None:
    definition = await get_definition(session, key)
    before = _audit_view(definition)
    await session.delete(definition)
    await record_audit(
        session,
        actor,
        action="custom_field.deleted",
        entity_type="custom_field",
        entity_id=key,
        before=before,
    )


def validate_custom_values(
    values: Mapping[str, Any],
    definitions: Sequence[CustomFieldDefinition],
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
    values: Mapping[str, Any], definitions: Sequence[CustomFieldDefinition]
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


def _coerce(value: Any, definition: CustomFieldDefinition) -> Any:
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
    rows = await session.scalars(select(RankRuleRow).order_by(RankRuleRow.min_amount.desc()))
    return [RankRule(rank=r.rank, min_amount=r.min_amount) for r in rows.all()]


async def replace_rank_rules(session: AsyncSession, actor: Actor, body: RankRules) -> RankRules:
    ranks = [r.rank for r in body.rules]
    if len(set(ranks)) != len(ranks):
        raise validation_problem(
            [FieldProblem(field="/rules", code="duplicate_rank", message="Each rank once")]
        )
    before = [{"rank": r.rank, "min_amount": r.min_amount} for r in await load_rank_rules(session)]
    await session.execute(delete(RankRuleRow))
    for rule in body.rules:
        session.add(RankRuleRow(rank=rule.rank, min_amount=rule.min_amount))
    await session.flush()
    await record_audit(
        session,
        actor,
        action="rank_rules.replaced",
        entity_type="rank_rules",
        entity_id="rank_rules",
        before={"rules": before},
        after=body.model_dump(),
    )
    return RankRules(rules=sorted(body.rules, key=lambda r: -r.min_amount))
