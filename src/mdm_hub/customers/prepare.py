"""Prepare a payload for storing: normalize it, validate its custom fields, refuse NUL.

Used by the source write path (``mdm_hub.sources``) and by a steward's edit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.custom_fields.service import (
    Configuration,
    current_configuration,
    validate_custom_values,
)
from mdm_hub.errors import FieldProblem, json_pointer, validation_problem
from mdm_hub.normalize import NormalizationError, NormalizationResult, normalize_customer
from mdm_hub.quality.rules import assess
from mdm_hub.record import CustomerIn


def canonical_hash(payload: dict[str, Any]) -> str:
    encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


@dataclass
class Normalized:
    result: NormalizationResult
    record: dict[str, Any]  # the normalized record (JSON), custom fields validated
    findings: list[dict[str, Any]]  # quality findings to store (rules set to flag)


async def normalize_payload(
    session: AsyncSession,
    payload: CustomerIn,
    config: Configuration | None = None,
    *,
    derive_rank: bool = True,
) -> Normalized:
    """Normalize a payload and validate its custom fields; 422 with every bad field.

    Plausibility findings (quality/rules.py) are returned, or refused with the structural
    errors when an administrator set their rule to ``reject``.

    ``config``: the custom field definitions and rank rules this transaction read (read here
    when not given). ``derive_rank=False`` keeps a rank given in the payload (a steward's
    manual rank).
    """
    if config is None:
        config = await current_configuration(session)
    return normalize_with(payload, config, derive_rank=derive_rank)


def normalize_with(
    payload: CustomerIn, config: Configuration, *, derive_rank: bool = True
) -> Normalized:
    """:func:`normalize_payload` against a given configuration: pure (no database), so that
    a batch can be normalized in other processes (``sources.prepare``)."""
    given = payload.model_dump(mode="json", exclude_unset=True)
    # json.dumps escapes every NUL as \u0000: the walk that names the fields runs only then.
    problems = nul_characters(given) if "\\u0000" in json.dumps(given) else []
    if problems:
        raise validation_problem(problems)
    definitions = config.definitions
    result: NormalizationResult | None = None
    try:
        rules = config.rank_rules if derive_rank else ()
        result = normalize_customer(payload, rank_rules=rules)
    except NormalizationError as exc:
        problems.extend(
            FieldProblem(field=e.field, code=e.code, message=e.message) for e in exc.errors
        )
    findings: list[dict[str, Any]] = []
    if result is not None:
        # quality (issue 18): the one place the write path sorts findings by their policies.
        assessment = assess(result.changes, given, config.quality_policies)
        findings = assessment.findings
        problems.extend(
            FieldProblem(field=f["field"], code=f["rule"], message=f["message"])
            for f in assessment.rejected
        )
    custom, custom_problems = validate_custom_values(payload.custom_fields, definitions)
    problems.extend(custom_problems)
    if problems or result is None:
        raise validation_problem(problems)
    record = result.record.model_dump(mode="json")
    record["custom_fields"] = custom
    return Normalized(result, record, findings)


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


def changes_json(result: NormalizationResult) -> list[dict[str, Any]]:
    return [
        {"field": c.field, "code": c.code, "message": c.message, "severity": c.severity}
        for c in result.changes
    ]
