"""Header row → hub fields, and a row → the body a ``PUT /v1/sources/...`` would send.

Pure. Japanese and English headers are recognized by their usual labels (会社名, フリガナ, 〒,
TEL, E-mail, 法人番号, ...), listed in the data file ``vocabulary.yaml`` beside this module;
custom fields by their label or key; a mapping file (YAML or JSON) overrides or completes
that. Columns nobody recognizes are reported, never silently dropped.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

IGNORE = "ignore"
CUSTOM_PREFIX = "custom:"


def _vocabulary() -> dict[str, dict[str, Any]]:
    """``vocabulary.yaml`` beside this module: what headers and cell values mean (checked
    here, so that an edit that breaks its form fails at start-up, not on some row)."""
    loaded = yaml.safe_load(Path(__file__).with_name("vocabulary.yaml").read_text("utf-8"))
    sections = ("labels", "kinds", "site_types", "relation_types")
    if not isinstance(loaded, dict) or list(loaded) != list(sections):
        raise RuntimeError(f"imports/vocabulary.yaml: expected the sections {sections}")
    for name in sections:
        for key, value in loaded[name].items():
            values = value if name == "labels" and isinstance(value, list) else [value]
            if not isinstance(key, str) or not all(isinstance(v, str) for v in values):
                raise RuntimeError(f"imports/vocabulary.yaml: {name}.{key}: expected text")
    return loaded


_VOCABULARY = _vocabulary()
# Each target and the headers that mean it (compared after :func:`header_key`), in the file's
# order (the console lists targets in it).
LABELS: dict[str, tuple[str, ...]] = {
    target: tuple(labels) for target, labels in _VOCABULARY["labels"].items()
}
TARGETS = frozenset(LABELS)
KIND_VALUES: dict[str, str] = _VOCABULARY["kinds"]
SITE_TYPES: dict[str, str] = {
    **_VOCABULARY["site_types"],
    **{v: v for v in ("head_office", "branch", "sales_office", "factory", "store", "other")},
}
RELATION_TYPES: dict[str, str] = _VOCABULARY["relation_types"]

# A relation target → the JSON pointer of ``relations`` it fills (a problem's pointer → its
# column at write time, when the row's own pointers are gone: :func:`relation_columns`).
RELATION_POINTERS: dict[str, tuple[str, ...]] = {
    "site_type": ("/relations/site_type",),
    "site_of_source_id": ("/relations/site_of_source",),
    "site_of_source_system": ("/relations/site_of_source/system",),
    "site_of_customer_code": ("/relations/site_of_customer_code",),
    "site_of_corporate_number": ("/relations/site_of_corporate_number",),
    "site_valid_from": ("/relations/site_valid_from",),
    "site_valid_to": ("/relations/site_valid_to",),
    "parent_source_id": ("/relations/parent_source",),
    "parent_source_system": ("/relations/parent_source/system",),
    "parent_customer_code": ("/relations/parent_customer_code",),
    "parent_corporate_number": ("/relations/parent_corporate_number",),
    "parent_relation_type": ("/relations/parent_relation_type",),
    "parent_valid_from": ("/relations/parent_valid_from",),
    "parent_valid_to": ("/relations/parent_valid_to",),
    "relation_valid_from": ("/relations/parent_valid_from", "/relations/site_valid_from"),
    "relation_valid_to": ("/relations/parent_valid_to", "/relations/site_valid_to"),
}

_SPACES = re.compile(r"[\s_\-・／/()（）\[\]【】:：.]+")


def header_key(text: str) -> str:
    """A header compared loosely: NFKC (全角/半角), lower case, no spaces or punctuation."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", text)).lower()


_BY_LABEL = {header_key(label): target for target, labels in LABELS.items() for label in labels}


class MappingFileError(ValueError):
    pass


@dataclass(frozen=True)
class MappingFile:
    """A mapping file: ``columns`` (header → target, ``ignore`` or ``custom:KEY``), and
    optionally ``kind`` (for every row) and ``kind_values`` (区分 values → corporation/person)."""

    columns: dict[str, str] = field(default_factory=dict)
    kind: str | None = None
    kind_values: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"columns": self.columns, "kind": self.kind, "kind_values": self.kind_values}


def parse_mapping(text: str) -> MappingFile:
    """A mapping file's text, YAML or JSON (JSON is YAML)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingFileError(f"The mapping is neither YAML nor JSON: {exc}") from exc
    return mapping_from_json(data or {})


def mapping_from_json(data: Any) -> MappingFile:
    if not isinstance(data, dict):
        raise MappingFileError("The mapping must be an object: {columns: {header: field}}")
    columns = data.get("columns", data if "kind" not in data else {})
    if not isinstance(columns, dict):
        raise MappingFileError("columns must map each header to a field")
    checked: dict[str, str] = {}
    for header, target in columns.items():
        target = str(target)
        if target not in TARGETS and target != IGNORE and not target.startswith(CUSTOM_PREFIX):
            raise MappingFileError(
                f"Column {header!r}: unknown field {target!r}; fields are {sorted(TARGETS)}, "
                f"{IGNORE!r} or 'custom:KEY'"
            )
        checked[str(header)] = target
    kind = data.get("kind")
    if kind is not None and KIND_VALUES.get(str(kind)) is None:
        raise MappingFileError(f"kind must be corporation or person, not {kind!r}")
    kind_values = data.get("kind_values") or {}
    if not isinstance(kind_values, dict) or any(
        v not in ("corporation", "person") for v in kind_values.values()
    ):
        raise MappingFileError("kind_values must map values to corporation or person")
    return MappingFile(
        checked,
        KIND_VALUES[str(kind)] if kind is not None else None,
        {str(k): str(v) for k, v in kind_values.items()},
    )


def load_mapping(path: Path) -> MappingFile:
    try:
        return parse_mapping(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise MappingFileError(f"Cannot read the mapping file {path}: {exc}") from exc


@dataclass(frozen=True)
class Column:
    index: int
    header: str
    target: str  # a TARGETS name, custom:KEY, or ignore
    by: str  # how: "label", "mapping", "custom_field"


@dataclass(frozen=True)
class HeaderMapping:
    columns: list[Column]
    unknown: list[str]  # headers mapped to nothing (reported; their values are not stored)
    kind: str | None  # the whole file's kind (--kind or the mapping file), else per row
    kind_values: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": [
                {"column": c.index + 1, "header": c.header, "field": c.target, "by": c.by}
                for c in self.columns
            ],
            "unknown_columns": self.unknown,
            "kind": self.kind,
        }

    @property
    def has_source_id(self) -> bool:
        return any(c.target == "source_id" for c in self.columns)


def map_header(
    header: Sequence[str],
    *,
    mapping: MappingFile | None = None,
    custom_fields: Mapping[str, str] | None = None,
    kind: str | None = None,
) -> HeaderMapping:
    """Which field each column holds. ``custom_fields``: key → label of the defined custom
    fields; ``kind``: --kind for every row (overrides the mapping file's)."""
    mapping = mapping or MappingFile()
    explicit = {header_key(h): t for h, t in mapping.columns.items()}
    custom = {}
    for key, label in (custom_fields or {}).items():
        custom[header_key(label)] = f"{CUSTOM_PREFIX}{key}"
        custom.setdefault(header_key(key), f"{CUSTOM_PREFIX}{key}")
    columns: list[Column] = []
    unknown: list[str] = []
    taken: set[str] = set()
    for index, text in enumerate(header):
        key = header_key(text)
        if key in explicit:
            target, by = explicit[key], "mapping"
        elif key in custom:
            target, by = custom[key], "custom_field"
        elif key in _BY_LABEL:
            target, by = _BY_LABEL[key], "label"
        else:
            if text.strip():
                unknown.append(text)
            continue
        if target == IGNORE:
            columns.append(Column(index, text, target, by))
            continue
        if target in taken and target not in _REPEATABLE:
            unknown.append(text)  # a second column for a one-value field: reported
            continue
        taken.add(target)
        columns.append(Column(index, text, target, by))
    chosen_kind = KIND_VALUES.get(kind, kind) if kind else mapping.kind
    return HeaderMapping(columns, unknown, chosen_kind, {**KIND_VALUES, **mapping.kind_values})


_REPEATABLE = frozenset({"phone", "mobile", "fax", "email"})


@dataclass(frozen=True)
class RowProblem:
    column: str  # the header ("" when the row as a whole)
    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"column": self.column, "code": self.code, "message": self.message}


@dataclass
class MappedRow:
    line: int
    source_id: str | None  # the ID column's value (None: derive from the content)
    payload: dict[str, Any]
    pointers: dict[str, str]  # JSON pointer prefix in payload → the column it came from
    problems: list[RowProblem]


_AMOUNT_JUNK = re.compile(r"[,\s円¥￥]")
_PHONE_PURPOSE = {"phone": "main", "mobile": "mobile", "fax": "fax"}


def content_id(values: Iterable[str]) -> str:
    """A stable source id from a row's content (no ID column): the same row, the same id."""
    encoded = json.dumps([v.strip() for v in values], ensure_ascii=False)
    return "row-" + hashlib.sha256(encoded.encode()).hexdigest()[:24]


def map_row(line: int, values: Sequence[str], header: HeaderMapping) -> MappedRow:
    """The row as a customer payload; problems found before validation (kind, amounts)."""
    payload: dict[str, Any] = {}
    pointers: dict[str, str] = {}
    problems: list[RowProblem] = []
    address: dict[str, str] = {}
    address_columns: list[str] = []
    contact: dict[str, str] = {}
    source_id: str | None = None
    kind = header.kind
    mapped: list[str] = []
    links: dict[str, tuple[str, str]] = {}  # relation target → (value, its column)

    def put(pointer: str, column: str, value: Any) -> None:
        pointers[pointer] = column
        parts = pointer.strip("/").split("/")
        target: dict[str, Any] = payload
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value

    for column in header.columns:
        raw = values[column.index] if column.index < len(values) else ""
        value = raw.strip()
        target = column.target
        if target == IGNORE:
            continue
        mapped.append(value)
        if not value:
            continue
        if target == "source_id":
            source_id = value
        elif target == "kind":
            if header.kind is None:
                found = header.kind_values.get(value) or KIND_VALUES.get(value.lower())
                if found is None:
                    problems.append(
                        RowProblem(column.header, "unknown_kind", f"{value!r} is not 法人 or 個人")
                    )
                else:
                    kind = found
        elif target in ("name", "name_kana", "corporate_number", "invoice_registration_number"):
            put(f"/{target}", column.header, value)
        elif target == "birth_date":
            put("/birth_date", column.header, value)
        elif target in ("family_name", "given_name"):
            put(f"/person_name/{target}", column.header, value)
        elif target in ("postal_code", "prefecture", "city", "town", "street", "building"):
            address[target] = value
            address_columns.append(column.header)
            pointers[f"/addresses/0/{target}"] = column.header
        elif target in ("address", "address1", "address2"):
            address["full_text"] = f"{address.get('full_text', '')} {value}".strip()
            address_columns.append(column.header)
            pointers.setdefault("/addresses/0/full_text", column.header)
        elif target in _PHONE_PURPOSE:
            phones = payload.setdefault("phones", [])
            pointers[f"/phones/{len(phones)}"] = column.header
            phones.append({"number": value, "purpose": _PHONE_PURPOSE[target]})
        elif target == "email":
            emails = payload.setdefault("emails", [])
            pointers[f"/emails/{len(emails)}"] = column.header
            emails.append({"address": value})
        elif target.startswith("contact_"):
            leaf = target.removeprefix("contact_")
            contact["name_kana" if leaf == "kana" else leaf] = value
            pointers[f"/contacts/0/{'name_kana' if leaf == 'kana' else leaf}"] = column.header
        elif target in ("started_on", "last_transaction_on"):
            put(f"/transactions/{target}", column.header, value)
        elif target == "annual_amount":
            amount = _integer(value)
            if amount is None:
                problems.append(
                    RowProblem(column.header, "invalid_amount", f"{value!r} is not an amount")
                )
            else:
                put("/transactions/annual_amount", column.header, amount)
        elif target in ("industry", "rank", "region", "segment"):
            put(f"/classification/{target}", column.header, value)
        elif target in ("employees", "capital"):
            number = _integer(value)
            if number is None:
                problems.append(
                    RowProblem(column.header, "invalid_number", f"{value!r} is not a number")
                )
            else:
                put(f"/company_profile/{target}", column.header, number)
        elif target == "established_on":
            put("/company_profile/established_on", column.header, value)
        elif target in RELATION_POINTERS:
            links[target] = (value, column.header)
        elif target.startswith(CUSTOM_PREFIX):
            put(f"/custom_fields/{target.removeprefix(CUSTOM_PREFIX)}", column.header, value)
    if links:
        relations, link_problems = _relations(links)
        problems.extend(link_problems)
        for target, (_value, column_name) in links.items():
            for pointer in RELATION_POINTERS[target]:
                if pointer.removeprefix("/relations/") in relations or "/system" in pointer:
                    pointers.setdefault(pointer, column_name)
        if relations:
            payload["relations"] = relations
    if address:
        payload["addresses"] = [address]
        pointers.setdefault("/addresses", address_columns[0])
    if contact:
        if "name" not in contact:
            problems.append(
                RowProblem(
                    pointers.get(f"/contacts/0/{next(iter(contact))}", ""),
                    "contact_without_name",
                    "担当者 details without 担当者名",
                )
            )
        else:
            payload["contacts"] = [contact]
    payload["kind"] = kind or "corporation"
    if source_id is None:
        source_id = content_id(mapped)
    return MappedRow(line, source_id, payload, pointers, problems)


def _relations(links: Mapping[str, tuple[str, str]]) -> tuple[dict[str, Any], list[RowProblem]]:
    """The row's hierarchy columns as a PUT's ``relations``: a source id as ``*_source``
    (this import's system unless a system column names another), 事業所区分 and 関係種別 values
    in Japanese or as the API spells them, the generic 関係開始日/関係終了日 on the link the row
    names (both when it names both). Dates go as written (和暦 too): normalization reads them."""
    out: dict[str, Any] = {}
    problems: list[RowProblem] = []
    for prefix in ("site_of", "parent"):
        if f"{prefix}_source_id" in links:
            source: dict[str, str] = {"source_id": links[f"{prefix}_source_id"][0]}
            if f"{prefix}_source_system" in links:
                source["system"] = links[f"{prefix}_source_system"][0]
            out[f"{prefix}_source"] = source
        elif f"{prefix}_source_system" in links:
            problems.append(
                RowProblem(
                    links[f"{prefix}_source_system"][1],
                    "system_without_source_id",
                    "A source system names no record without its code",
                )
            )
        for how in ("customer_code", "corporate_number"):
            if f"{prefix}_{how}" in links:
                out[f"{prefix}_{how}"] = links[f"{prefix}_{how}"][0]
    for target, values, code in (
        ("site_type", SITE_TYPES, "unknown_site_type"),
        ("parent_relation_type", RELATION_TYPES, "unknown_relation_type"),
    ):
        if target in links:
            value, column = links[target]
            found = values.get(value) or values.get(value.lower())
            if found is None:
                problems.append(
                    RowProblem(column, code, f"{value!r} is not one of {', '.join(values)}")
                )
            else:
                out[target] = found
    named = {
        link
        for link, prefix in (("site", "site_of"), ("parent", "parent"))
        if any(f"{prefix}_{how}" in out for how in ("source", "customer_code", "corporate_number"))
    }
    for end in ("from", "to"):
        for link in ("site", "parent"):
            if f"{link}_valid_{end}" in links:
                out[f"{link}_valid_{end}"] = links[f"{link}_valid_{end}"][0]
        if f"relation_valid_{end}" in links:
            for link in sorted(named or {"parent"}):
                out.setdefault(f"{link}_valid_{end}", links[f"relation_valid_{end}"][0])
    return out, problems


def relation_columns(columns: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """A job's detected columns (``HeaderMapping.to_json``'s) as pointer → column for the
    ``relations`` pointers: the column of a link refused at write time."""
    out: dict[str, str] = {}
    for column in columns:
        for pointer in RELATION_POINTERS.get(str(column.get("field")), ()):
            out.setdefault(pointer, str(column["header"]))
    return out


def _integer(value: str) -> int | None:
    text = _AMOUNT_JUNK.sub("", unicodedata.normalize("NFKC", value))
    if text.endswith(".0"):
        text = text[:-2]
    return int(text) if text.isdigit() else None


def column_of(pointer: str, pointers: Mapping[str, str]) -> str:
    """The column a problem's JSON pointer comes from: its longest known prefix."""
    best = ""
    for prefix, _column in pointers.items():
        if (pointer == prefix or pointer.startswith(prefix + "/")) and len(prefix) > len(best):
            best = prefix
    return pointers.get(best, "")
