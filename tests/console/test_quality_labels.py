"""The customer list's quality conditions as words (console/customers.py ``_quality_labels``):
every filter the quality page links with, in the order the page shows them."""

from __future__ import annotations

import datetime as dt

from mdm_hub.console.customers import _quality_labels
from mdm_hub.customers.repository import CustomerFilters
from mdm_hub.customers.search import JAPAN


def test_every_condition_in_order() -> None:
    now = dt.datetime.now(dt.UTC)
    today = dt.datetime.now(JAPAN).date()
    filters = CustomerFilters(
        kind="corporation",
        missing=("phone", "email"),
        updated_before=now - dt.timedelta(days=10, hours=1),
        transaction_before=today - dt.timedelta(days=20),
        finding_rule="phone_number_not_valid",
        registry_status="confirmed",
        invoice_status="expired",
        source_system="crm",
        source_missing=("email",),
        source_updated_before=now - dt.timedelta(days=30, hours=1),
        source_transaction_before=today - dt.timedelta(days=40),
    )
    assert _quality_labels("en", filters) == [
        "Corporations",
        "without Phone・Email",
        "not updated for 10 days",
        "no transaction for 20 days",
        "Unallocated phone number",
        "法人番号 confirmed",
        "T-number expired",
        "with a record from crm",
        "crm's own record without Email",
        "crm's record not written for 30 days",
        "crm's own record: no transaction for 40 days",
    ]


def test_source_conditions_only_with_a_source_system() -> None:
    today = dt.datetime.now(JAPAN).date()
    filters = CustomerFilters(
        source_missing=("email",), source_transaction_before=today - dt.timedelta(days=5)
    )
    assert _quality_labels("en", filters) == []
    assert _quality_labels("ja", CustomerFilters(source_system="crm")) == [
        "取込元 crm のレコードあり"
    ]
