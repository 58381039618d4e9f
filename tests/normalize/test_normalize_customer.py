"""normalize_customer: the whole payload, pointers, change codes, errors collected together."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from mdm_hub.normalize import (
    NormalizationError,
    RankRule,
    as_input,
    name_key,
    normalize_customer,
)
from mdm_hub.record import CustomerIn

RULES = [RankRule("A", 10_000_000), RankRule("B", 1_000_000), RankRule("C", 0)]


def corporate(**overrides: Any) -> CustomerIn:
    data: dict[str, Any] = {
        "kind": "corporation",
        "name": "(株)ＡＢＣ商事　大阪支店",
        "name_kana": "ｶﾌﾞｼｷｶﾞｲｼｬ ｴｰﾋﾞｰｼｰｼｮｳｼﾞ",
        "corporate_number": "7000012050002",
        "addresses": [
            {"postal_code": "〒１００－０００５", "street": "一丁目２番３号 丸の内ビル５Ｆ"}
        ],
        "phones": [{"number": "+81 3 1234 5678"}],
        "emails": [{"address": "Info@Example.CO.JP"}],
    }
    data.update(overrides)
    return CustomerIn.model_validate(data)


def codes(result_changes: list) -> set[tuple[str, str]]:
    return {(c.field, c.code) for c in result_changes}


def test_corporate_record() -> None:
    result = normalize_customer(corporate())
    record = result.record
    assert record.name == "株式会社ABC商事 大阪支店"
    assert record.company_name is not None
    assert record.company_name.model_dump() == {
        "legal_form": "株式会社",
        "legal_form_position": "prefix",
        "body": "ABC商事",
        "branch": "大阪支店",
        "note": None,
        "key": "ABC商事",
    }
    assert record.name_kana == "カブシキガイシャ エービーシーショウジ"
    assert record.kana_key == "エービーシーシヨウジ"
    assert record.addresses[0].model_dump(exclude={"purpose"}) == {
        "postal_code": "1000005",
        "prefecture": "東京都",
        "city": "千代田区",
        "town": "丸の内",
        "street": "1-2-3",
        "building": "丸の内ビル5F",
        "site_key": "東京都千代田区丸ノ内1-2-3",
    }
    assert (record.phones[0].number, record.phones[0].e164) == ("03-1234-5678", "+81312345678")
    assert record.emails[0].address == "info@example.co.jp"
    assert {
        ("/name", "legal_form_extracted"),
        ("/name", "branch_extracted"),
        ("/addresses/0/prefecture", "prefecture_filled"),
        ("/addresses/0/street", "street_canonicalized"),
        ("/phones/0/number", "phone_normalized"),
    } <= codes(result.changes)


def test_every_error_is_reported_with_its_pointer() -> None:
    payload = CustomerIn.model_validate(
        {
            "kind": "corporation",
            # A failing check digit and a@b are plausibility findings, not errors (issue 18).
            "corporate_number": "1234567890123",
            "invoice_registration_number": "T123",
            "birth_date": "2023-02-30",
            "addresses": [{"postal_code": "123"}],
            "phones": [{"number": "03-1234-5678"}, {"number": "12"}],
            "emails": [{"address": "bad@"}],
            "contacts": [
                {"name": "山田", "phones": [{"number": "x"}], "emails": [{"address": "a@b"}]},
                {"name": "  "},
            ],
            "transactions": {"started_on": "令和5年2月30日", "last_transaction_on": "R1.4.1"},
            "company_profile": {"established_on": "平成31年"},
        }
    )
    with pytest.raises(NormalizationError) as info:
        normalize_customer(payload)
    assert {(e.field, e.code) for e in info.value.errors} == {
        ("/name", "required"),
        ("/invoice_registration_number", "invalid_invoice_registration_number"),
        ("/birth_date", "invalid_date"),
        ("/addresses/0/postal_code", "invalid_postal_code"),
        ("/phones/1/number", "invalid_phone_number"),
        ("/emails/0/address", "invalid_email"),
        ("/contacts/0/phones/0/number", "invalid_phone_number"),
        ("/contacts/1/name", "required"),
        ("/transactions/started_on", "invalid_date"),
        ("/transactions/last_transaction_on", "invalid_date"),
        ("/company_profile/established_on", "incomplete_date"),
    }
    assert isinstance(info.value, ValueError)


def test_person_needs_a_name() -> None:
    with pytest.raises(NormalizationError) as info:
        normalize_customer(CustomerIn(kind="person"))
    assert [(e.field, e.code) for e in info.value.errors] == [("/name", "required")]


@pytest.mark.parametrize(
    ("payload", "name", "family", "given", "kana"),
    [
        (
            {"name": "山田　太郎", "name_kana": "やまだ たろう"},
            "山田 太郎",
            "山田",
            "太郎",
            "ヤマダ タロウ",
        ),
        (
            {
                "person_name": {
                    "family_name": "山田",
                    "given_name": "太郎",
                    "family_name_kana": "ﾔﾏﾀﾞ",
                }
            },
            "山田 太郎",
            "山田",
            "太郎",
            "ヤマダ",
        ),
        ({"name": "山田太郎"}, "山田太郎", None, None, None),
    ],
)
def test_person_names(
    payload: dict[str, Any], name: str, family: str | None, given: str | None, kana: str | None
) -> None:
    record = normalize_customer(CustomerIn.model_validate({"kind": "person", **payload})).record
    assert record.person_name is not None
    assert (record.name, record.person_name.family_name, record.person_name.given_name) == (
        name,
        family,
        given,
    )
    assert record.name_kana == kana
    assert record.person_name.key == name_key("山田太郎")
    assert record.company_name is None


def test_person_name_key_folds_variants() -> None:
    a = normalize_customer(CustomerIn(kind="person", name="髙橋 一郎")).record
    b = normalize_customer(CustomerIn(kind="person", name="高橋一郎")).record
    assert a.person_name and b.person_name
    assert a.person_name.key == b.person_name.key


def test_person_name_mismatch_warns() -> None:
    payload = CustomerIn.model_validate(
        {
            "kind": "person",
            "name": "佐藤 花子",
            "person_name": {"family_name": "山田", "given_name": "太郎"},
        }
    )
    result = normalize_customer(payload)
    assert result.record.name == "山田 太郎"
    assert ("/name", "person_name_mismatch") in codes(result.changes)


def test_birth_date_from_wareki() -> None:
    record = normalize_customer(
        CustomerIn(kind="person", name="山田 太郎", birth_date="S50.1.1")
    ).record
    assert record.birth_date == dt.date(1975, 1, 1)


@pytest.mark.parametrize(
    ("corporate_number", "invoice", "warning"),
    [
        ("7000012050002", "T7000012050002", False),  # T + 法人番号: consistent
        ("7000012050002", "T5835678256246", True),  # another valid number: allowed, but odd
    ],
)
def test_invoice_number_against_corporate_number(
    corporate_number: str, invoice: str, warning: bool
) -> None:
    result = normalize_customer(
        corporate(corporate_number=corporate_number, invoice_registration_number=invoice)
    )
    assert result.record.invoice_registration_number == invoice
    found = ("/invoice_registration_number", "invoice_number_differs_from_corporate_number")
    assert (found in codes(result.changes)) is warning


def test_person_may_have_any_invoice_number() -> None:
    result = normalize_customer(
        CustomerIn(kind="person", name="山田 太郎", invoice_registration_number="T5835678256246")
    )
    assert result.record.invoice_registration_number == "T5835678256246"
    assert not [c for c in result.changes if c.severity == "warning"]


def test_corporate_number_filled_from_invoice_number() -> None:
    result = normalize_customer(
        corporate(corporate_number=None, invoice_registration_number="T7000012050002")
    )
    assert result.record.corporate_number == "7000012050002"
    assert ("/corporate_number", "corporate_number_filled") in codes(result.changes)


def test_rank_derived_from_amount() -> None:
    result = normalize_customer(
        corporate(transactions={"annual_amount": 2_000_000}), rank_rules=RULES
    )
    assert result.record.classification is not None
    assert result.record.classification.rank == "B"
    assert ("/classification/rank", "rank_derived") in codes(result.changes)


def test_rank_from_source_that_disagrees_warns() -> None:
    result = normalize_customer(
        corporate(transactions={"annual_amount": 20_000_000}, classification={"rank": "C"}),
        rank_rules=RULES,
    )
    assert result.record.classification is not None
    assert result.record.classification.rank == "A"
    change = next(c for c in result.changes if c.code == "rank_conflicts_with_rules")
    assert (change.field, change.severity) == ("/classification/rank", "warning")


def test_rank_without_rules_is_kept() -> None:
    result = normalize_customer(corporate(classification={"rank": "Ｓ"}))
    assert result.record.classification is not None
    assert result.record.classification.rank == "S"


def test_custom_fields_pass_through() -> None:
    fields = {"営業担当": "ＡＢＣ", "score": 3, "nested": {"a": [1, 2]}}
    record = normalize_customer(corporate(custom_fields=fields)).record
    assert record.custom_fields == fields


def test_records_are_independent_copies() -> None:
    first = normalize_customer(corporate()).record
    first.addresses[0].building = "changed"
    first.phones[0].purpose = "fax"
    second = normalize_customer(corporate()).record
    assert second.addresses[0].building == "丸の内ビル5F"
    assert second.phones[0].purpose == "main"


def test_as_input_round_trip() -> None:
    record = normalize_customer(corporate(name="【取引停止】(株)ABC 大阪支店")).record
    again = normalize_customer(as_input(record)).record
    assert again == record
