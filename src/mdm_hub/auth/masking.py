"""Masking of personal data (個人情報) and the log of who read it unmasked.

Sensitive: a person's phones, emails, addresses (below the city) and birth date, and every
contact person's (担当者) phones and emails, in corporations too. Principals without
``pii:read`` get them masked in every answer that carries customer data (customers, source
records, match candidates, the change feed, audit entries); webhook payloads are masked unless
``MDM_WEBHOOK_INCLUDE_PII=true``. Names, the customer kind, prefecture and city stay visible so
that a record can still be recognised and counted.

Reads of unmasked sensitive fields are logged on the ``mdm_hub.pii_access`` logger, one JSON
line per customer disclosed: subject, client id, request id, customer id and the fields.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from contextvars import ContextVar
from typing import Any

from mdm_hub.auth.authn import principal_var
from mdm_hub.auth.roles import Permission

access_log = logging.getLogger("mdm_hub.pii_access")
# The unmasked reads of the current request, kept by mdm_hub.privacy.access_log in its table.
pii_reads_var: ContextVar[list[dict[str, Any]] | None] = ContextVar("pii_reads", default=None)

MASK = "***"
_ADDRESS_KEPT = ("purpose", "prefecture", "city")
_DIGIT = re.compile(r"\d")


def mask_phone(number: Any) -> Any:
    """All digits but the last four: 090-1234-5678 → ***-****-5678."""
    if not isinstance(number, str):
        return number
    digits = len(_DIGIT.findall(number))
    seen = 0

    def repl(match: re.Match[str]) -> str:
        nonlocal seen
        seen += 1
        return match.group() if seen > digits - 4 else "*"

    return _DIGIT.sub(repl, number)


def mask_email(address: Any) -> Any:
    if not isinstance(address, str) or "@" not in address:
        return MASK if address else address
    return f"{MASK}@{address.rsplit('@', 1)[1]}"


def _mask_phones(phones: Any) -> None:
    for phone in phones if isinstance(phones, list) else []:
        if isinstance(phone, dict):
            for key in ("number", "e164"):
                if key in phone:
                    phone[key] = mask_phone(phone[key])
            if phone.get("extension"):
                phone["extension"] = None


def _mask_emails(emails: Any) -> None:
    for email in emails if isinstance(emails, list) else []:
        if isinstance(email, dict) and "address" in email:
            email["address"] = mask_email(email["address"])


def sensitive_fields(record: dict[str, Any]) -> list[str]:
    """JSON pointers of the sensitive fields this record holds (non-empty ones)."""
    fields = []
    if record.get("kind") == "person":
        fields += [
            f"/{f}" for f in ("addresses", "phones", "emails", "birth_date") if record.get(f)
        ]
    contacts = record.get("contacts")
    if isinstance(contacts, list) and any(
        isinstance(c, dict) and (c.get("phones") or c.get("emails")) for c in contacts
    ):
        fields.append("/contacts")
    return fields


def mask_record(record: dict[str, Any]) -> dict[str, Any]:
    """A masked copy of a customer record (canonical or input shape)."""
    masked = copy.deepcopy(record)
    if masked.get("kind") == "person":
        _mask_phones(masked.get("phones"))
        _mask_emails(masked.get("emails"))
        if masked.get("birth_date"):
            masked["birth_date"] = None
        addresses = masked.get("addresses")
        if isinstance(addresses, list):
            for i, address in enumerate(addresses):
                if isinstance(address, dict):
                    addresses[i] = {
                        k: (v if k in _ADDRESS_KEPT else None) for k, v in address.items()
                    }
    contacts = masked.get("contacts")
    for contact in contacts if isinstance(contacts, list) else []:
        if isinstance(contact, dict):
            _mask_phones(contact.get("phones"))
            _mask_emails(contact.get("emails"))
    return masked


def _is_record(value: Any) -> bool:
    return isinstance(value, dict) and value.get("kind") in ("person", "corporation")


def mask_nested(value: Any) -> Any:
    """Every customer record inside ``value`` (audit before/after, events) masked."""
    if _is_record(value):
        return mask_record(value)
    if isinstance(value, dict):
        return {k: mask_nested(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_nested(v) for v in value]
    return value


def _records(value: Any) -> list[dict[str, Any]]:
    if _is_record(value):
        return [value]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _records(v)]
    if isinstance(value, list):
        return [r for v in value for r in _records(v)]
    return []


def disclose(value: Any, customer_id: Any, *, what: str = "customer") -> Any:
    """``value`` as the current principal may see it: unmasked with ``pii:read`` (and logged
    when it holds sensitive fields), masked otherwise or when no principal is known."""
    principal = principal_var.get()
    if principal is None or not principal.can(Permission.pii_read):
        return mask_nested(value)
    fields = sorted({f for r in _records(value) for f in sensitive_fields(r)})
    if fields:
        read = {
            "subject": principal.subject,
            "client_id": principal.client_id,
            "customer_id": str(customer_id) if customer_id else None,
            "what": what,
            "fields": fields,
        }
        access_log.info("pii read", extra=read)
        reads = pii_reads_var.get()
        if reads is not None:
            reads.append({**read, "request_id": principal.request_id})
    return value


# Fields whose normalization messages quote sensitive values ('昭和55年5月5日' → 1980-05-05).
_SENSITIVE_POINTERS = {
    "person": ("/addresses", "/phones", "/emails", "/birth_date", "/contacts"),
    "corporation": ("/contacts",),
}
WITHHELD = "(values withheld: needs pii:read)"


def _under(field: Any, pointers: tuple[str, ...]) -> bool:
    return isinstance(field, str) and any(field == p or field.startswith(p + "/") for p in pointers)


def mask_changes(changes: list[Any], kind: Any) -> list[Any]:
    """Normalization changes with the messages of sensitive fields withheld (the field, code
    and severity stay). An unknown kind withholds every message."""
    pointers = _SENSITIVE_POINTERS.get(kind) if isinstance(kind, str) else None
    return [
        {**c, "message": WITHHELD}
        if isinstance(c, dict) and (pointers is None or _under(c.get("field"), pointers))
        else c
        for c in changes
    ]


def mask_explanation(value: Any) -> Any:
    """Match explanations with levels and weights only: a comparison's ``detail`` quotes the
    stored values (``1980-05-06 ~ 1980-05-05``, ``1-9-8 ≠ 1-9-9``)."""
    if isinstance(value, dict):
        masked = {k: mask_explanation(v) for k, v in value.items()}
        comparisons = masked.get("comparisons")
        if isinstance(comparisons, list):
            masked["comparisons"] = [
                {k: v for k, v in c.items() if k != "detail"} if isinstance(c, dict) else c
                for c in comparisons
            ]
        return masked
    if isinstance(value, list):
        return [mask_explanation(v) for v in value]
    return value


def can_read_pii() -> bool:
    principal = principal_var.get()
    return principal is not None and principal.can(Permission.pii_read)


def disclose_changes(changes: list[Any], kind: Any) -> list[Any]:
    return changes if can_read_pii() else mask_changes(changes, kind)


def disclose_explanation(value: Any) -> Any:
    return value if can_read_pii() else mask_explanation(value)


def mask_answer(value: Any) -> Any:
    """Everything sensitive in a stored JSON answer (an Idempotency-Key replay): customer
    records, explanations, and the changes of source records."""
    value = mask_explanation(mask_nested(value))

    def walk(item: Any) -> Any:
        if isinstance(item, dict):
            out = {k: walk(v) for k, v in item.items()}
            if isinstance(out.get("changes"), list):
                kind = (out.get("normalized") or out.get("record") or {}).get("kind")
                out["changes"] = mask_changes(out["changes"], kind)
            return out
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    return walk(value)


def webhook_customer_json(customer_json: str, include_pii: bool) -> str:
    """The customer of a webhook payload (stored JSON text), masked unless ``include_pii``.

    Only payloads that can hold sensitive fields (persons, contacts) are decoded again.
    """
    if include_pii or ('"person"' not in customer_json and '"contacts": [{' not in customer_json):
        return customer_json
    customer = json.loads(customer_json)
    if not sensitive_fields(customer):
        return customer_json
    return json.dumps(mask_record(customer), ensure_ascii=False, separators=(",", ":"))
