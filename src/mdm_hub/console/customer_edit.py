"""The customer page's edit form: which fields it shows, the form as a JSON merge patch, and
which control a validation problem belongs to. Pure (no database, no request).

A control's name is the JSON pointer of its value in the customer's record as a source would
send it (``CustomerIn``), which is what ``PATCH /v1/customers/{id}`` merges into; so a problem
the service reports at ``/transactions/annual_amount`` or ``/phones/1/number`` is shown next to
the control ``/transactions/annual_amount`` or ``/phones``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Objects whose members the form edits one by one (a merge patch changes only those members).
OBJECTS = ("person_name", "classification", "transactions", "company_profile", "custom_fields")
# Members given as whole numbers (yen, counts); "1,200,000" is read as 1200000.
INTEGERS = frozenset(
    {"/transactions/annual_amount", "/company_profile/employees", "/company_profile/capital"}
)
_GROUPED_DIGITS = re.compile(r"^[0-9０-９]{1,3}([,，][0-9０-９]{3})*$|^[0-9０-９]+$")


CORPORATION = ("corporation",)
PERSON = ("person",)
BOTH = ("corporation", "person")


@dataclass(frozen=True)
class EditField:
    name: str  # JSON pointer into the record as input
    label: str  # message key (or, for a custom field, its label as defined)
    group: str  # message key of the fieldset
    kinds: tuple[str, ...] = BOTH
    control: str = "text"  # text | lines (one value per line) | select
    options: tuple[str, ...] = ()  # select: the values offered (besides empty)
    custom_type: str | None = None  # custom fields: their type
    translate_label: bool = True

    @property
    def control_id(self) -> str:
        return "edit-" + self.name.strip("/").replace("/", "-")


def _fieldset(
    group: str, *fields: tuple[str, str], kinds: tuple[str, ...] = BOTH, control: str = "text"
) -> tuple[EditField, ...]:
    """The fields of one fieldset (``group``, a message key), each (JSON pointer, label key)."""
    return tuple(EditField(name, label, group, kinds, control) for name, label in fields)


STANDARD_FIELDS: tuple[EditField, ...] = (
    *_fieldset("edit.group.name", ("/name", "customer.name"), kinds=CORPORATION),
    *_fieldset(
        "edit.group.name",
        ("/person_name/family_name", "customer.family_name"),
        ("/person_name/given_name", "customer.given_name"),
        ("/person_name/family_name_kana", "edit.family_name_kana"),
        ("/person_name/given_name_kana", "edit.given_name_kana"),
        kinds=PERSON,
    ),
    *_fieldset("edit.group.name", ("/name_kana", "customer.name_kana")),
    *_fieldset(
        "edit.group.ids", ("/corporate_number", "customers.corporate_number"), kinds=CORPORATION
    ),
    *_fieldset("edit.group.ids", ("/invoice_registration_number", "edit.invoice_number")),
    *_fieldset("edit.group.ids", ("/birth_date", "field.birth_date"), kinds=PERSON),
    *_fieldset(
        "edit.group.address",
        ("/addresses/0/postal_code", "edit.postal_code"),
        ("/addresses/0/prefecture", "edit.prefecture"),
        ("/addresses/0/city", "edit.city"),
        ("/addresses/0/town", "edit.town"),
        ("/addresses/0/street", "edit.street"),
        ("/addresses/0/building", "edit.building"),
    ),
    *_fieldset(
        "edit.group.contact",
        ("/phones", "edit.phones"),
        ("/emails", "edit.emails"),
        control="lines",
    ),
    *_fieldset(
        "edit.group.classification",
        ("/classification/industry", "field.industry"),
        ("/classification/rank", "customer.rank"),
        ("/classification/region", "edit.region"),
        ("/classification/segment", "edit.segment"),
    ),
    *_fieldset(
        "edit.group.transactions",
        ("/transactions/started_on", "edit.started_on"),
        ("/transactions/last_transaction_on", "edit.last_on"),
        ("/transactions/annual_amount", "edit.annual_amount"),
        ("/transactions/category", "edit.category"),
    ),
    *_fieldset(
        "edit.group.profile",
        ("/company_profile/employees", "edit.employees"),
        ("/company_profile/capital", "edit.capital"),
        ("/company_profile/established_on", "edit.established_on"),
        kinds=CORPORATION,
    ),
)


def edit_fields(kind: str, custom: Iterable[Any] = ()) -> list[EditField]:
    """The form's fields for a customer of ``kind``; ``custom``: the custom field definitions
    (``key``, ``label``, ``type``, ``allowed_values``)."""
    fields = [f for f in STANDARD_FIELDS if kind in f.kinds]
    for definition in custom:
        options: tuple[str, ...] = ()
        control = "text"
        if definition.type == "enum":
            control, options = "select", tuple(str(v) for v in definition.allowed_values or ())
        elif definition.type == "boolean":
            control, options = "select", ("true", "false")
        fields.append(
            EditField(
                f"/custom_fields/{definition.key}",
                str(definition.label),
                "edit.group.custom",
                control=control,
                options=options,
                custom_type=str(definition.type),
                translate_label=False,
            )
        )
    return fields


def _at(record: Mapping[str, Any], pointer: str) -> Any:
    value: Any = record
    for part in pointer.strip("/").split("/"):
        if isinstance(value, list):
            index = int(part)
            value = value[index] if index < len(value) else None
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def edit_values(fields: Iterable[EditField], current: Mapping[str, Any]) -> dict[str, str]:
    """What each control shows for the customer's record as input (``current``)."""
    values: dict[str, str] = {}
    for f in fields:
        if f.name == "/phones":
            values[f.name] = "\n".join(p.get("number", "") for p in current.get("phones") or [])
        elif f.name == "/emails":
            values[f.name] = "\n".join(e.get("address", "") for e in current.get("emails") or [])
        else:
            values[f.name] = _text(_at(current, f.name))
    return values


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r", "").split("\n") if line.strip()]


def _typed(f: EditField, text: str) -> Any:
    """A control's text as the value the record takes; what cannot be read is sent as written
    (the service's validation then names the field)."""
    if text == "":
        return None
    wants_integer = f.name in INTEGERS or f.custom_type == "integer"
    if (wants_integer or f.custom_type == "number") and _GROUPED_DIGITS.match(text):
        return int(text.replace(",", "").replace("，", "").translate(_WIDE_DIGITS))
    if f.custom_type == "number":
        try:
            return float(text)
        except ValueError:
            return text
    if f.custom_type == "boolean":
        return {"true": True, "false": False}.get(text, text)
    return text


_WIDE_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def patch_from_form(
    fields: Iterable[EditField], form: Mapping[str, str], current: Mapping[str, Any]
) -> dict[str, Any]:
    """Only what the steward changed, as a JSON merge patch of the record as input."""
    fields = list(fields)
    shown = edit_values(fields, current)
    patch: dict[str, Any] = {}
    address: dict[str, Any] | None = None
    rest: list[dict[str, Any]] = []
    for f in fields:
        if f.name not in form:
            continue
        text = form[f.name].strip() if f.control != "lines" else form[f.name]
        if (_lines(text) if f.control == "lines" else text) == (
            _lines(shown[f.name]) if f.control == "lines" else shown[f.name]
        ):
            continue
        parts = f.name.strip("/").split("/")
        if f.name in ("/phones", "/emails"):
            key, leaf = ("phones", "number") if f.name == "/phones" else ("emails", "address")
            kept = {item.get(leaf): item for item in current.get(key) or []}
            patch[key] = [kept.get(line, {leaf: line}) for line in _lines(text)]
        elif parts[0] == "addresses":
            if address is None:
                existing = list(current.get("addresses") or [])
                address = dict(existing[0]) if existing else {}
                rest = existing[1:]
            value = _typed(f, text)
            if value is None:
                address.pop(parts[2], None)
            else:
                address[parts[2]] = value
            meaningful = {k: v for k, v in address.items() if k != "purpose"}
            patch["addresses"] = ([address] if meaningful else []) + rest
        elif parts[0] in OBJECTS:
            patch.setdefault(parts[0], {})[parts[1]] = _typed(f, text)
        else:
            patch[parts[0]] = _typed(f, text)
    return patch


def control_of(pointer: str, names: Iterable[str]) -> str | None:
    """The control a problem at ``pointer`` belongs to: the same pointer, or the nearest one
    above it (``/phones/1/number`` → ``/phones``)."""
    names = list(names)
    best: str | None = None
    for name in names:
        if (pointer == name or pointer.startswith(name + "/")) and (
            best is None or len(name) > len(best)
        ):
            best = name
    if best is None and pointer in ("/name", "/person_name"):
        # A person's name is given by its parts: a missing name is the family name's problem.
        return next((n for n in names if n.startswith("/person_name/")), None)
    return best
