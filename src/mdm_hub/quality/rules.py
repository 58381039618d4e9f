"""The plausibility rules, their default policies, and what a write's findings are.

Pure: no I/O. Normalization reports a doubtful value as a ``warning`` change with a code; each
code listed here is a rule an administrator can set to ``reject`` (refused with 422, as a
structural error is), ``flag`` (stored with the record as a finding, the default) or
``ignore`` (neither). Structural errors (wrong type, unparseable, too long, NUL, unknown
field) are not rules: they are always refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Policy = Literal["reject", "flag", "ignore"]
POLICIES: tuple[Policy, ...] = ("reject", "flag", "ignore")


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    default: Policy = "flag"


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "phone_number_not_valid",
            "A phone number of a possible length that lies outside the allocated ranges. Kept "
            "as written; the same digits on two records still count as matching evidence.",
        ),
        Rule(
            "address_conflicts_with_postal_code",
            "The prefecture, city or town disagrees with the 郵便番号.",
        ),
        Rule("postal_code_unknown", "A 郵便番号 that is not in Japan Post's data."),
        Rule("unknown_prefecture", "A prefecture that is not one of the 47 都道府県."),
        Rule(
            "corporate_number_check_digit_mismatch",
            "A 法人番号 whose check digit fails. Kept as written and left out of matching, so it "
            "can neither merge two companies nor keep them apart.",
        ),
        Rule(
            "invoice_registration_number_check_digit_mismatch",
            "An インボイス登録番号 whose check digit fails.",
        ),
        Rule(
            "invoice_number_differs_from_corporate_number",
            "A corporation's インボイス登録番号 is not T + its 法人番号.",
        ),
        Rule("corporate_number_on_person", "A 法人番号 given for a person."),
        Rule("name_kana_not_kana", "A フリガナ that holds characters other than kana."),
        Rule("person_name_mismatch", "The name differs from the 姓/名 given; the 姓/名 are kept."),
        Rule("date_in_future", "A 設立日 or 生年月日 after today (Japan time)."),
        Rule("era_date_out_of_range", "A 和暦 date after its era ended."),
        Rule(
            "last_transaction_before_start",
            "The 最終取引日 is before the 取引開始日.",
        ),
        Rule(
            "email_domain_not_deliverable",
            "An e-mail address whose domain cannot exist (no dot, a numeric top-level domain, "
            "a special-use name such as localhost or .invalid). Checked without DNS.",
        ),
        Rule(
            "rank_conflicts_with_rules",
            "The rank sent contradicts the rank rules for the 取引金額; the derived rank is "
            "stored.",
        ),
    )
}


def effective_policy(rule: str, overrides: Mapping[str, str]) -> Policy:
    policy = overrides.get(rule)
    if policy in POLICIES:
        return policy
    return RULES[rule].default


def value_at(document: Any, pointer: str) -> Any:
    """The value at a JSON pointer, or None when the document has none there."""
    value = document
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict):
            value = value.get(token)
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            return None
    return value


@dataclass(frozen=True)
class Assessment:
    findings: list[dict[str, Any]]  # rule, field, message, value (as written)
    rejected: list[dict[str, Any]]  # the findings whose rule is set to reject


def assess(
    changes: Iterable[Any], written: Mapping[str, Any], overrides: Mapping[str, str]
) -> Assessment:
    """Sort a normalization's warnings by their rules' policies.

    ``changes``: the normalization's Change objects; ``written``: the payload as the source
    sent it (each finding keeps the value as written); ``overrides``: rule → policy set by an
    administrator (the rest keep their defaults).
    """
    findings: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for change in changes:
        if change.severity != "warning" or change.code not in RULES:
            continue
        if (change.code, change.field) in seen:
            continue
        seen.add((change.code, change.field))
        policy = effective_policy(change.code, overrides)
        if policy == "ignore":
            continue
        finding = {
            "rule": change.code,
            "field": change.field,
            "message": change.message,
            "value": value_at(written, change.field),
        }
        (rejected if policy == "reject" else findings).append(finding)
    return Assessment(findings, rejected)
