"""Survivorship: the golden record computed from a customer's source records.

Pure functions. Per field (a JSON pointer such as ``/name`` or ``/billing/closing_day``):
1. a steward override wins, even when it sets the field to nothing;
2. otherwise the sources that have a value are ranked by the configured source priority for
   that field (longest matching pointer prefix), then by most recent update, then by the most
   complete record, then by system and source id; the first one wins, and its lineage names
   the step that decided (source_priority, most_recent, most_complete, source_order);
3. lists (addresses, phones, emails, contacts) are the union of all sources' items in that
   order, without repeating an item that another source already gave.
Every golden field records where it came from (its lineage).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from mdm_hub.record import OBJECT_FIELDS

# Fields that travel together: the derived parts follow the source that won the base field.
SCALAR_GROUPS: dict[str, tuple[str, ...]] = {
    "kind": ("kind",),
    "name": ("name", "company_name", "person_name"),
    "name_kana": ("name_kana", "kana_key"),
    "corporate_number": ("corporate_number",),
    "invoice_registration_number": ("invoice_registration_number",),
    "birth_date": ("birth_date",),
}


def _address_identity(item: Mapping[str, Any]) -> Any:
    return (item.get("purpose"), item.get("site_key") or item.get("street"), item.get("building"))


LIST_IDENTITY: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "addresses": _address_identity,
    "phones": lambda item: (item.get("e164"), item.get("extension")),
    "emails": lambda item: item.get("address"),
    "contacts": lambda item: (item.get("name"), item.get("department")),
}


@dataclass(frozen=True)
class SourceView:
    system: str
    source_id: str
    updated_at: dt.datetime
    record: Mapping[str, Any]  # a normalized CustomerRecord in JSON form

    @cached_property
    def completeness(self) -> int:
        """How many top-level fields have a value (the last tie-breaker of the ranking)."""
        return _completeness(self.record)

    @cached_property
    def recency(self) -> float:
        return self.updated_at.timestamp()


@dataclass(frozen=True)
class SurvivorshipRules:
    """``source_priority`` maps a field pointer prefix to systems, most trusted first."""

    source_priority: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def priority(self, pointer: str, system: str) -> int:
        best: Sequence[str] | None = None
        best_len = -1
        for prefix, systems in self.source_priority.items():
            matches = pointer == prefix or pointer.startswith(prefix.rstrip("/") + "/")
            if matches and len(prefix) > best_len:
                best, best_len = systems, len(prefix)
        if best is None or system not in best:
            return len(best or ())
        return list(best).index(system)


@dataclass
class GoldenRecord:
    record: dict[str, Any]
    lineage: dict[str, dict[str, Any]]


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _completeness(record: Mapping[str, Any]) -> int:
    return sum(1 for value in record.values() if not is_empty(value))


def _get(record: Mapping[str, Any], pointer: str) -> Any:
    return _get_parts(record, pointer.strip("/").split("/"))


def _get_parts(record: Mapping[str, Any], parts: list[str]) -> Any:
    value: Any = record
    for part in parts:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _ranked(
    sources: Sequence[SourceView], pointer: str, rules: SurvivorshipRules
) -> list[SourceView]:
    """The sources with a value at ``pointer``, best first: by ``rules``' priority for the
    pointer, then most recent, most complete, system and source id."""
    return _Ranking(sources, rules)(pointer)


def _order(source: SourceView) -> tuple[float, int, str, str]:
    return (-source.recency, -source.completeness, source.system, source.source_id)


class _Ranking:
    """:func:`_ranked` for every pointer of one golden record: the sources sorted once by
    the keys that do not depend on the pointer, then, per pointer, those with a value in that
    order, sorted again (stable) by the pointer's priority only when there are rules. A stable
    sort by the first key of a list already sorted by the rest is the sort by the whole key,
    ties included."""

    def __init__(self, sources: Sequence[SourceView], rules: SurvivorshipRules) -> None:
        self.order = sorted(sources, key=_order)
        self.rules = rules

    def __call__(self, pointer: str) -> list[SourceView]:
        parts = pointer.strip("/").split("/")
        if len(parts) == 1:
            name = parts[0]
            with_value = [s for s in self.order if not is_empty(s.record.get(name))]
        else:
            with_value = [s for s in self.order if not is_empty(_get_parts(s.record, parts))]
        if self.rules.source_priority and len(with_value) > 1:
            priority = self.rules.priority
            with_value.sort(key=lambda s: priority(pointer, s.system))
        return with_value


def _origin(source: SourceView, rule: str) -> dict[str, Any]:
    return {"system": source.system, "source_id": source.source_id, "rule": rule}


def _rule_name(ranked: Sequence[SourceView], pointer: str, rules: SurvivorshipRules) -> str:
    """The step of the ranking that put the winner before the runner-up."""
    if len(ranked) == 1:
        return "only_source"
    first, second = ranked[0], ranked[1]
    if rules.priority(pointer, first.system) < rules.priority(pointer, second.system):
        return "source_priority"
    if first.recency != second.recency:
        return "most_recent"
    if first.completeness != second.completeness:
        return "most_complete"
    return "source_order"


def compute_golden(
    sources: Sequence[SourceView],
    overrides: Mapping[str, Any] | None = None,
    rules: SurvivorshipRules | None = None,
) -> GoldenRecord:
    """Combine ``sources`` (and a steward's ``overrides``, pointer → value) into one record."""
    if len(sources) == 1 and not overrides:
        return only_source(sources[0])
    return _combine(sources, overrides or {}, rules or SurvivorshipRules())


def only_source(source: SourceView) -> GoldenRecord:
    """:func:`compute_golden` of one source and no override (most customers): the same record
    and lineage, in the same order, without ranking (every field's winner is the one source,
    by ``only_source``); tests/customers/test_survivorship_shortcut.py compares the two."""
    values = source.record
    record: dict[str, Any] = {}
    lineage: dict[str, dict[str, Any]] = {}
    origin = {"system": source.system, "source_id": source.source_id, "rule": "only_source"}
    for base, members in SCALAR_GROUPS.items():
        if is_empty(values.get(base)):
            for member in members:
                record[member] = None
            continue
        for member in members:
            record[member] = values.get(member)
        lineage[f"/{base}"] = dict(origin)
    for name, identity in LIST_IDENTITY.items():
        items = values.get(name) or []
        merged: list[Any] = []
        seen: set[Any] = set()
        for item in items:
            key = identity(item)
            if key not in seen:
                seen.add(key)
                merged.append(item)
        record[name] = merged
        if merged:
            lineage[f"/{name}"] = {
                "rule": "union",
                "sources": [{"system": source.system, "source_id": source.source_id}],
            }
    for name in OBJECT_FIELDS:
        given = values.get(name)
        obj: dict[str, Any] = {}
        if isinstance(given, Mapping):
            if any(not leaf or "/" in leaf for leaf in given):  # pointers that read elsewhere
                return _combine([source], {}, SurvivorshipRules())
            for leaf in sorted(given):
                value = given[leaf]
                if is_empty(value):
                    obj[leaf] = None
                else:
                    obj[leaf] = value
                    lineage[f"/{name}/{leaf}"] = dict(origin)
        elif given:  # not an object: the general path's reading of it
            return _combine([source], {}, SurvivorshipRules())
        record[name] = obj if any(not is_empty(v) for v in obj.values()) else None
    custom: dict[str, Any] = {}
    given_custom = values.get("custom_fields") or {}
    if not isinstance(given_custom, Mapping) or any(not k or "/" in k for k in given_custom):
        return _combine([source], {}, SurvivorshipRules())
    for key in sorted(given_custom):
        value = given_custom[key]
        if not is_empty(value):
            custom[key] = value
            lineage[f"/custom_fields/{key}"] = dict(origin)
    record["custom_fields"] = custom
    return GoldenRecord(record=record, lineage=lineage)


def _combine(
    sources: Sequence[SourceView], overrides: Mapping[str, Any], rules: SurvivorshipRules
) -> GoldenRecord:
    record: dict[str, Any] = {}
    lineage: dict[str, dict[str, Any]] = {}
    steward = {"system": "_steward", "source_id": "", "rule": "steward_override"}
    ranked_at = _Ranking(sources, rules)

    for base, members in SCALAR_GROUPS.items():
        pointer = f"/{base}"
        if pointer in overrides:
            record[base] = overrides[pointer]
            for member in members[1:]:
                record[member] = overrides.get(f"/{member}")
            lineage[pointer] = steward
            continue
        ranked = ranked_at(pointer)
        if not ranked:
            for member in members:
                record[member] = None
            continue
        winner = ranked[0]
        for member in members:
            record[member] = winner.record.get(member)
        lineage[pointer] = _origin(winner, _rule_name(ranked, pointer, rules))

    for name, identity in LIST_IDENTITY.items():
        pointer = f"/{name}"
        if pointer in overrides:
            record[name] = list(overrides[pointer] or [])
            lineage[pointer] = steward
            continue
        merged: list[Any] = []
        seen: set[Any] = set()
        contributors: list[dict[str, Any]] = []
        for source in ranked_at(pointer):
            added = False
            for item in source.record.get(name) or []:
                key = identity(item)
                if key not in seen:
                    seen.add(key)
                    merged.append(item)
                    added = True
            if added:
                contributors.append({"system": source.system, "source_id": source.source_id})
        record[name] = merged
        if contributors:
            lineage[pointer] = {"rule": "union", "sources": contributors}

    for name in OBJECT_FIELDS:
        leaves = sorted(
            {leaf for s in sources for leaf in (s.record.get(name) or {})}
            | {p.split("/")[2] for p in overrides if p.startswith(f"/{name}/")}
        )
        obj: dict[str, Any] = {}
        for leaf in leaves:
            pointer = f"/{name}/{leaf}"
            if pointer in overrides:
                obj[leaf] = overrides[pointer]
                lineage[pointer] = steward
                continue
            ranked = ranked_at(pointer)
            obj[leaf] = _get(ranked[0].record, pointer) if ranked else None
            if ranked:
                lineage[pointer] = _origin(ranked[0], _rule_name(ranked, pointer, rules))
        record[name] = obj if any(not is_empty(v) for v in obj.values()) else None

    custom: dict[str, Any] = {}
    keys = {k for s in sources for k in (s.record.get("custom_fields") or {})}
    keys |= {p.split("/")[2] for p in overrides if p.startswith("/custom_fields/")}
    for key in sorted(keys):
        pointer = f"/custom_fields/{key}"
        if pointer in overrides:
            value, origin = overrides[pointer], steward
        else:
            ranked = ranked_at(pointer)
            if not ranked:
                continue
            value = _get(ranked[0].record, pointer)
            origin = _origin(ranked[0], _rule_name(ranked, pointer, rules))
        if not is_empty(value):
            custom[key] = value
            lineage[pointer] = origin
    record["custom_fields"] = custom
    return GoldenRecord(record=record, lineage=lineage)


def pointer_members(pointer: str) -> list[str]:
    """The record's pointers a field pointer stands for: a scalar group's members together
    (``/name`` is name, company_name and person_name), otherwise the pointer itself."""
    parts = pointer.strip("/").split("/")
    if len(parts) == 1 and parts[0] in SCALAR_GROUPS:
        return [f"/{member}" for member in SCALAR_GROUPS[parts[0]]]
    return [pointer]


def get_pointer(record: Mapping[str, Any], pointer: str) -> Any:
    """The value at ``pointer`` (``/field`` or ``/object/leaf``), None when absent."""
    return _get(record, pointer)


def set_pointer(record: dict[str, Any], pointer: str, value: Any) -> None:
    """Set the value at ``pointer`` in ``record`` (a leaf's object is copied, not shared)."""
    top, *rest = pointer.strip("/").split("/")
    if not rest:
        record[top] = value
        return
    obj = dict(record.get(top) or {})
    obj[rest[0]] = value
    record[top] = obj if any(not is_empty(v) for v in obj.values()) else None
