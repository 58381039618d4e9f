"""Pure helpers that turn customers, explanations and audit entries into what pages show."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from mdm_hub.customers.survivorship import get_pointer

# Comparison levels (matching.compare.Level) by the colour a page gives them.
LEVEL_CLASSES: dict[str, str] = {
    "exact": "exact",
    "normalized_equal": "exact",
    "kana_equal": "exact",
    "exact_mobile": "exact",
    "same_site": "exact",
    "role_exact": "similar",
    "similar": "similar",
    "similar_high": "similar",
    "similar_low": "similar",
    "other_unit": "similar",
    "same_town": "similar",
    "same_domain": "similar",
    "family_differs": "similar",
    "given_differs": "similar",
    "one_sided": "similar",
    "other_street": "different",
    "different": "different",
    "missing": "missing",
}

# The fields of a golden record the pages list, in order (JSON pointer → message key).
RECORD_FIELDS: list[tuple[str, str]] = [
    ("/name", "customer.name"),
    ("/name_kana", "customer.name_kana"),
    ("/corporate_number", "customers.corporate_number"),
    ("/birth_date", "field.birth_date"),
    ("/addresses", "field.addresses"),
    ("/phones", "customer.phone"),
    ("/emails", "customer.email"),
    ("/contacts", "field.contacts"),
    ("/classification/rank", "customer.rank"),
    ("/classification/industry", "field.industry"),
    ("/billing", "field.billing"),
    ("/transactions", "field.transactions"),
    ("/company_profile", "field.company_profile"),
]


def level_class(level: str) -> str:
    return LEVEL_CLASSES.get(level, "different")


def address_text(address: dict[str, Any]) -> str:
    parts = [
        address.get("postal_code") and f"〒{address['postal_code']}",
        address.get("prefecture"),
        address.get("city"),
        address.get("town"),
        address.get("street"),
        address.get("building"),
    ]
    return " ".join(str(p) for p in parts if p)


def show(value: Any) -> str:
    """A field's value as one line of text."""
    if value is None or value == [] or value == {}:
        return ""
    if isinstance(value, BaseModel):  # an API model (the search's rows): as its JSON
        return show(value.model_dump(mode="json", exclude_none=True))
    if isinstance(value, list):
        return " / ".join(show(v) for v in value)
    if isinstance(value, dict):
        if "number" in value:
            return str(value["number"]) + (
                f" 内線{value['extension']}" if value.get("extension") else ""
            )
        if "address" in value:
            return str(value["address"])
        if {"postal_code", "prefecture", "city"} & set(value):
            return address_text(value)
        return "、".join(f"{k}: {show(v)}" for k, v in value.items() if show(v))
    return str(value)


# The record fields a comparison looks at (matching.compare's field names).
COMPARED: dict[str, str] = {
    "corporate_number": "/corporate_number",
    "name": "/name",
    "branch": "/branch_name",
    "address": "/addresses",
    "phone": "/phones",
    "email": "/emails",
    "birth_date": "/birth_date",
}


@dataclass(frozen=True)
class ComparisonRow:
    field: str
    level: str
    css: str
    weight: float
    detail: str | None
    value_a: str
    value_b: str


def comparison_rows(
    explanation: dict[str, Any], a: dict[str, Any], b: dict[str, Any]
) -> list[ComparisonRow]:
    rows = []
    for item in explanation.get("comparisons", []):
        field = str(item.get("field", ""))
        pointer = COMPARED.get(field, f"/custom_fields/{field}")
        level = str(item.get("level", "missing"))
        rows.append(
            ComparisonRow(
                field=field,
                level=level,
                css=level_class(level),
                weight=float(item.get("weight") or 0.0),
                detail=item.get("detail"),
                value_a=show(get_pointer(a, pointer)),
                value_b=show(get_pointer(b, pointer)),
            )
        )
    return rows


@dataclass(frozen=True)
class Bar:
    label: str
    start: float
    end: float
    css: str  # prior | positive | negative | total


@dataclass(frozen=True)
class Waterfall:
    bars: list[Bar]
    low: float
    high: float
    total: float

    def x(self, value: float, width: float) -> float:
        """Where ``value`` falls on an axis ``width`` wide."""
        return (value - self.low) / (self.high - self.low) * width


def waterfall(explanation: dict[str, Any]) -> Waterfall:
    """The match weight as Splink draws it: the prior, then each field's weight added on."""
    prior = float(explanation.get("prior_weight") or 0.0)
    bars = [Bar("prior", 0.0, prior, "prior")]
    running = prior
    for item in explanation.get("comparisons", []):
        weight = float(item.get("weight") or 0.0)
        bars.append(
            Bar(
                str(item.get("field", "")),
                running,
                running + weight,
                "positive" if weight >= 0 else "negative",
            )
        )
        running += weight
    total = float(explanation.get("match_weight", running) or running)
    bars.append(Bar("total", 0.0, total, "total"))
    values = [0.0] + [v for bar in bars for v in (bar.start, bar.end)]
    low, high = min(values), max(values)
    if high - low < 1.0:
        high = low + 1.0
    margin = (high - low) * 0.05
    return Waterfall(bars, low - margin, high + margin, total)


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """A nested record as pointer → text, for before/after diffs."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}/{key}"))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}/{i}"))
        return out
    text = show(value)
    return {prefix or "/": text} if text else {}


@dataclass(frozen=True)
class Change:
    pointer: str
    before: str
    after: str


def diff(before: Any, after: Any, limit: int = 40) -> list[Change]:
    """What differs between two versions, field by field."""
    old, new = flatten(before or {}), flatten(after or {})
    changes = [
        Change(pointer, old.get(pointer, ""), new.get(pointer, ""))
        for pointer in sorted(old.keys() | new.keys())
        if old.get(pointer) != new.get(pointer)
        and not pointer.endswith(("/updated_at", "/version", "/payload_hash"))
    ]
    return changes[:limit]


@dataclass(frozen=True)
class GroupCell:
    value: str
    css: str | None  # the level's colour; None for the column the others are compared with
    level: str | None


@dataclass(frozen=True)
class GroupRow:
    field: str
    cells: list[GroupCell]


def group_rows(records: list[dict[str, Any]], links: list[dict[str, Any] | None]) -> list[GroupRow]:
    """A review group side by side: one column per customer (``records``), each field coloured
    by the level the match found between that customer and the one it is tied to in the group
    (``links[i]``: that candidate's explanation; None for the first column)."""
    fields: list[str] = []
    for link in links:
        for item in (link or {}).get("comparisons", []):
            if str(item.get("field", "")) not in fields:
                fields.append(str(item.get("field", "")))
    rows = []
    for field in fields:
        pointer = COMPARED.get(field, f"/custom_fields/{field}")
        cells = []
        for record, link in zip(records, links, strict=True):
            level = next(
                (
                    str(item.get("level", "missing"))
                    for item in (link or {}).get("comparisons", [])
                    if item.get("field") == field
                ),
                None,
            )
            cells.append(
                GroupCell(
                    show(get_pointer(record, pointer)),
                    level_class(level) if level else None,
                    level,
                )
            )
        rows.append(GroupRow(field, cells))
    return rows
