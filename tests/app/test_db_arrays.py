"""``db.arrays`` and ``db.attribute_arrays``: a multi-row statement's array parameters."""

from __future__ import annotations

import uuid

from mdm_hub.audit.log import AuditRecord
from mdm_hub.audit.repository import audit_insert
from mdm_hub.db import arrays, attribute_arrays


def test_attribute_arrays_by_name_and_renamed_in_order() -> None:
    entries = [
        AuditRecord("alice", "customer.created", "customer", "1"),
        AuditRecord("bob", "customer.updated", "customer", "2", request_id="r-2"),
    ]
    assert attribute_arrays(entries, "actor", "request_id", ids="entity_id") == {
        "actor": ["alice", "bob"],
        "request_id": [None, "r-2"],
        "ids": ["1", "2"],
    }
    assert attribute_arrays([], "actor", ids="entity_id") == {"actor": [], "ids": []}
    rows = [vars(e) for e in entries]
    assert attribute_arrays(entries, actions="action") == arrays(rows, actions="action")


def test_audit_insert_sends_each_column_of_the_entries() -> None:
    customer = uuid.uuid4()
    entry = AuditRecord("alice", "customer.created", "customer", str(customer), customer, "r-1")
    part = audit_insert([entry, AuditRecord("bob", "x.y", "x", "7", after={"a": 1})])
    assert part is not None
    assert part.params["actor"] == ["alice", "bob"]
    assert part.params["entity_id"] == [str(customer), "7"]
    assert part.params["customer_id"] == [customer, None]
    assert part.params["request_id"] == ["r-1", None]
    assert part.params["before"] == [None, None]
    assert audit_insert([]) is None
