"""Customers and source records as the API answers them, and as the audit log keeps them."""

from __future__ import annotations

from typing import Any

from mdm_hub.auth.masking import disclose, disclose_changes
from mdm_hub.customers.models import Customer, SourceRecord
from mdm_hub.customers.schemas import CustomerOut, NormalizationChange, SourceRecordOut


def customer_out(customer: Customer) -> CustomerOut:
    return CustomerOut.model_validate(
        {
            **disclose(customer.record, customer.id),  # masked without pii:read
            **customer.identity(),
            "lineage": customer.lineage,
        }
    )


def source_out(source: SourceRecord) -> SourceRecordOut:
    raw_payload, normalized = disclose(
        [source.raw_payload, source.normalized], source.customer_id, what="source_record"
    )
    return SourceRecordOut(
        system=source.system,
        source_id=source.source_id,
        customer_id=source.customer_id,
        version=source.version,
        raw_payload=raw_payload,
        normalized=normalized,
        changes=[
            NormalizationChange.model_validate(c)
            for c in disclose_changes(source.changes, source.normalized.get("kind"))
        ],
        created_at=source.created_at,
        updated_at=source.updated_at,
    )


def source_view(source: SourceRecord) -> dict[str, Any]:
    return {
        "system": source.system,
        "source_id": source.source_id,
        "customer_id": str(source.customer_id),
        "version": source.version,
        "raw_payload": source.raw_payload,
    }
