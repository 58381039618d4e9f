"""The staging columns of each registry, derived from its current table: pinned in full, so a
column lost from the table (or typed otherwise) fails here before an import does."""

from __future__ import annotations

from mdm_hub.registry.repository import INVOICE, NTA

NTA_STAGED = {
    "corporate_number": "TEXT",
    "sequence_number": "BIGINT",
    "process": "TEXT",
    "correct": "BOOLEAN",
    "update_date": "DATE",
    "change_date": "DATE",
    "name": "TEXT",
    "kind": "TEXT",
    "prefecture_name": "TEXT",
    "city_name": "TEXT",
    "street_number": "TEXT",
    "prefecture_code": "TEXT",
    "city_code": "TEXT",
    "post_code": "TEXT",
    "address_outside": "TEXT",
    "close_date": "DATE",
    "close_cause": "TEXT",
    "successor_corporate_number": "TEXT",
    "change_cause": "TEXT",
    "assignment_date": "DATE",
    "latest": "BOOLEAN",
    "en_name": "TEXT",
    "en_prefecture_name": "TEXT",
    "en_city_name": "TEXT",
    "en_address_outside": "TEXT",
    "furigana": "TEXT",
    "hihyoji": "BOOLEAN",
}

INVOICE_STAGED = {
    "registration_number": "TEXT",
    "corporate_number": "TEXT",
    "sequence_number": "BIGINT",
    "process": "TEXT",
    "status": "TEXT",
    "correct": "BOOLEAN",
    "kind": "TEXT",
    "country": "TEXT",
    "latest": "BOOLEAN",
    "registration_date": "DATE",
    "update_date": "DATE",
    "disposal_date": "DATE",
    "expire_date": "DATE",
    "name": "TEXT",
    "kana": "TEXT",
    "address": "TEXT",
    "address_prefecture_code": "TEXT",
    "address_city_code": "TEXT",
    "address_inside": "TEXT",
    "trade_name": "TEXT",
    "popular_name_previous_name": "TEXT",
}


def test_nta_stage_columns_are_the_published_columns_kept() -> None:
    assert len(NTA.stage_columns) == len(NTA_STAGED)
    assert dict(NTA.stage_columns) == NTA_STAGED


def test_invoice_stage_columns_are_the_published_columns_kept() -> None:
    assert len(INVOICE.stage_columns) == len(INVOICE_STAGED)
    assert dict(INVOICE.stage_columns) == INVOICE_STAGED


def test_layouts_name_their_tables_keys_and_history_columns() -> None:
    assert (NTA.key, NTA.current, NTA.history) == (
        "corporate_number",
        "nta_corporations",
        "nta_corporation_history",
    )
    assert sorted(NTA.history_columns) == ["change_date", "process", "update_date"]
    assert (INVOICE.key, INVOICE.current, INVOICE.history) == (
        "registration_number",
        "invoice_registrations",
        "invoice_registration_history",
    )
    assert sorted(INVOICE.history_columns) == ["process", "update_date"]
