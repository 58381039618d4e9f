"""Quality rules' policies and the findings list. Services never commit."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.audit.log import audit_record
from mdm_hub.audit.repository import record_audit
from mdm_hub.auth.authn import principal_var
from mdm_hub.auth.masking import MASK
from mdm_hub.auth.roles import Permission
from mdm_hub.context import Actor
from mdm_hub.errors import ProblemError
from mdm_hub.pagination import cut_page
from mdm_hub.quality import repository
from mdm_hub.quality.repository import FindingFilters
from mdm_hub.quality.rules import RULES, Policy, effective_policy
from mdm_hub.quality.schemas import FindingListItem, FindingOut, RuleOut

# Fields that hold personal data (see auth/masking.py): of a person, and every contact's.
_PERSONAL = ("/phones", "/emails", "/addresses", "/birth_date")


def _personal(field: str, kind: str | None) -> bool:
    if field.startswith("/contacts"):
        return True
    return kind != "corporation" and any(field == p or field.startswith(f"{p}/") for p in _PERSONAL)


def visible(finding: dict[str, Any], kind: str | None) -> dict[str, Any]:
    """A finding as the current principal may see it: the value (and the message, which
    quotes it) hidden without ``pii:read`` when it is personal data."""
    principal = principal_var.get()
    if principal is not None and principal.can(Permission.pii_read):
        return finding
    if not _personal(finding["field"], kind):
        return finding
    rule = RULES.get(finding["rule"])
    return {
        **finding,
        "value": MASK if finding.get("value") is not None else None,
        "message": rule.description if rule else MASK,
    }


def findings_out(findings: list[dict[str, Any]], kind: str | None) -> list[FindingOut]:
    return [FindingOut.model_validate(visible(f, kind)) for f in findings]


async def list_rules(session: AsyncSession) -> list[RuleOut]:
    overrides = await repository.policy_overrides(session)
    return [
        RuleOut(
            rule=rule.id,
            description=rule.description,
            default_policy=rule.default,
            policy=effective_policy(rule.id, {k: v[0] for k, v in overrides.items()}),
            updated_at=overrides[rule.id][1] if rule.id in overrides else None,
        )
        for rule in RULES.values()
    ]


async def set_rule_policy(
    session: AsyncSession, actor: Actor, rule: str, policy: Policy
) -> RuleOut:
    if rule not in RULES:
        raise ProblemError("not-found", f"No quality rule {rule!r}")
    overrides = await repository.policy_overrides(session)
    before = effective_policy(rule, {k: v[0] for k, v in overrides.items()})
    updated_at = await repository.set_policy(session, rule, policy)
    record_audit(
        session,
        audit_record(
            actor,
            action="quality_rule.policy_set",
            entity_type="quality_rule",
            entity_id=rule,
            before={"rule": rule, "policy": before},
            after={"rule": rule, "policy": policy},
        ),
    )
    definition = RULES[rule]
    return RuleOut(
        rule=rule,
        description=definition.description,
        default_policy=definition.default,
        policy=policy,
        updated_at=updated_at,
    )


async def list_findings(
    session: AsyncSession, filters: FindingFilters, *, after_id: int | None, limit: int
) -> tuple[list[FindingListItem], int | None]:
    rows = await repository.list_findings(session, filters, after_id=after_id, limit=limit)
    rows, last = cut_page(rows, limit)
    items = [FindingListItem.model_validate(visible(r, r["kind"])) for r in rows]
    return items, last["id"] if last else None


async def customer_findings(
    session: AsyncSession, customer_id: uuid.UUID, kind: str | None
) -> list[dict[str, Any]]:
    """The findings of every source record of one customer, as the principal may see them."""
    rows = await repository.customer_findings(session, customer_id)
    return [visible(r, kind) for r in rows]
