"""The custom field definitions' and rank rules' SQL, and the configuration's fingerprint."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Text, delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.custom_fields.models import CustomFieldDefinition, RankRuleRow

# A scalar SQL expression: changes whenever a definition or a rank rule is added, changed or
# removed (each row's text form, in key order). Other features' statements read it as a column.
FINGERPRINT_SQL = (
    "(SELECT md5("
    "coalesce((SELECT string_agg(d::text, '|' ORDER BY d.key) "
    "FROM custom_field_definitions AS d), '') || '#' || "
    "coalesce((SELECT string_agg(r::text, '|' ORDER BY r.rank) FROM rank_rules AS r), '') "
    "|| '#' || coalesce((SELECT string_agg(q.rule || '=' || q.policy, '|' ORDER BY q.rule) "
    "FROM quality_rule_policies AS q), '')))"
)
_LOAD_CONFIGURATION = text(
    f"SELECT {FINGERPRINT_SQL} AS fingerprint, "
    "(SELECT json_agg(json_build_object('key', key, 'label', label, 'type', type, "
    "'required', required, 'allowed_values', allowed_values) ORDER BY key) "
    "FROM custom_field_definitions) AS definitions, "
    "(SELECT json_agg(json_build_object('rank', rank, 'min_amount', min_amount) "
    "ORDER BY min_amount DESC, rank) FROM rank_rules) AS rank_rules, "
    "(SELECT json_object_agg(rule, policy) FROM quality_rule_policies) AS quality_policies"
).columns(fingerprint=Text, definitions=JSON, rank_rules=JSON, quality_policies=JSON)
_READ_FINGERPRINT = text(f"SELECT {FINGERPRINT_SQL}")


async def read_fingerprint(session: AsyncSession) -> str:
    fingerprint: str = await session.scalar(_READ_FINGERPRINT)
    return fingerprint


async def load_configuration(
    session: AsyncSession,
) -> tuple[str, list[dict[str, Any]] | None, list[dict[str, Any]] | None, dict[str, str] | None]:
    """The fingerprint, the definitions, the rank rules (as JSON objects) and the quality
    rules' policies, in one statement."""
    fingerprint, definitions, rules, policies = (await session.execute(_LOAD_CONFIGURATION)).one()
    return fingerprint, definitions, rules, policies


async def list_definitions(session: AsyncSession) -> list[CustomFieldDefinition]:
    rows = await session.scalars(select(CustomFieldDefinition).order_by(CustomFieldDefinition.key))
    return list(rows.all())


async def find_definition(session: AsyncSession, key: str) -> CustomFieldDefinition | None:
    return await session.get(CustomFieldDefinition, key)


async def add_definition(session: AsyncSession, definition: CustomFieldDefinition) -> None:
    session.add(definition)
    await session.flush()


async def delete_definition(session: AsyncSession, definition: CustomFieldDefinition) -> None:
    await session.delete(definition)


async def rank_rule_rows(session: AsyncSession) -> list[RankRuleRow]:
    """Highest threshold first."""
    rows = await session.scalars(select(RankRuleRow).order_by(RankRuleRow.min_amount.desc()))
    return list(rows.all())


async def lock_rank_rules(session: AsyncSession) -> None:
    """Until the transaction ends: other replacements wait, reads of the rules do not."""
    await session.execute(text("LOCK TABLE rank_rules IN SHARE ROW EXCLUSIVE MODE"))


async def replace_rank_rules(session: AsyncSession, rules: list[RankRuleRow]) -> None:
    await session.execute(delete(RankRuleRow))
    for rule in rules:
        session.add(rule)
    await session.flush()
