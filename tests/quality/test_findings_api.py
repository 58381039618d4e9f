"""Accept and flag: doubtful values are stored with findings instead of being refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.helpers import PERSON, corporation, errors_by_field, other_corporation

UNALLOCATED = "03-0000-0000"  # parses, possible length, outside the allocated ranges
BAD_CHECK_DIGIT = "8000012050002"  # 7000012050002 with the check digit changed


def _rules(body: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["rule"], f["field"]) for f in body["findings"]}


async def test_a_record_with_an_unallocated_phone_is_stored_and_flagged(
    client: httpx.AsyncClient,
) -> None:
    payload = corporation(phones=[{"number": UNALLOCATED}, {"number": "03-1234-5678"}])
    response = await client.put("/v1/sources/crm/records/A-1", json=payload)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["findings"] == [
        {
            "rule": "phone_number_not_valid",
            "field": "/phones/0/number",
            "message": body["findings"][0]["message"],
            "value": UNALLOCATED,
        }
    ]
    assert body["source_record"]["findings"] == body["findings"]
    # Kept as written, next to the valid number.
    assert [p["number"] for p in body["customer"]["phones"]] == [UNALLOCATED, "03-1234-5678"]

    customer = (await client.get(f"/v1/customers/{body['customer']['id']}")).json()
    assert customer["findings"] == [{**body["findings"][0], "system": "crm", "source_id": "A-1"}]
    stored = (await client.get("/v1/sources/crm/records/A-1")).json()
    assert stored["findings"] == body["findings"]

    # Sent again unchanged: a replay answers the same findings and stores nothing new.
    again = await client.put("/v1/sources/crm/records/A-1", json=payload)
    assert again.status_code == 200
    assert again.json()["findings"] == body["findings"]
    listed = (await client.get("/v1/quality/findings")).json()["items"]
    assert len(listed) == 1

    # Corrected at the source: the finding goes away.
    fixed = corporation(phones=[{"number": "03-1234-5678"}])
    assert (await client.put("/v1/sources/crm/records/A-1", json=fixed)).json()["findings"] == []
    assert (await client.get("/v1/quality/findings")).json()["items"] == []
    customer = (await client.get(f"/v1/customers/{body['customer']['id']}")).json()
    assert customer["findings"] == []


async def test_every_plausibility_rule_flags_instead_of_refusing(
    client: httpx.AsyncClient,
) -> None:
    payload = corporation(
        corporate_number=BAD_CHECK_DIGIT,
        invoice_registration_number="T" + BAD_CHECK_DIGIT,
        name_kana="ABC商事",
        emails=[{"address": "info@localhost"}],
        company_profile={"established_on": "2999-01-01"},
        addresses=[
            {
                "postal_code": "100-0005",
                "prefecture": "大阪府",
                "city": "大阪市北区",
                "street": "1-1",
            }
        ],
    )
    response = await client.put("/v1/sources/crm/records/P-1", json=payload)
    assert response.status_code == 201, response.text
    body = response.json()
    assert _rules(body) >= {
        ("corporate_number_check_digit_mismatch", "/corporate_number"),
        (
            "invoice_registration_number_check_digit_mismatch",
            "/invoice_registration_number",
        ),
        ("name_kana_not_kana", "/name_kana"),
        ("email_domain_not_deliverable", "/emails/0/address"),
        ("date_in_future", "/company_profile/established_on"),
        ("address_conflicts_with_postal_code", "/addresses/0/prefecture"),
    }
    customer = body["customer"]
    assert customer["corporate_number"] == BAD_CHECK_DIGIT
    assert customer["emails"][0]["address"] == "info@localhost"
    assert customer["company_profile"]["established_on"] == "2999-01-01"
    by_rule = {f["rule"]: f for f in body["findings"]}
    assert by_rule["email_domain_not_deliverable"]["value"] == "info@localhost"


async def test_a_bad_corporate_number_does_not_merge_two_companies(
    client: httpx.AsyncClient,
) -> None:
    # Two different companies that share only a 法人番号 with a failing check digit.
    first = other_corporation(1, corporate_number=BAD_CHECK_DIGIT)
    second = other_corporation(2, corporate_number=BAD_CHECK_DIGIT)
    a = (await client.put("/v1/sources/crm/records/C-1", json=first)).json()
    b = (await client.put("/v1/sources/sfa/records/C-2", json=second)).json()
    assert b["decision"]["outcome"] == "new_customer", b["decision"]
    assert a["customer"]["id"] != b["customer"]["id"]
    # A valid shared 法人番号 does merge the same two records.
    valid = "7000012050002"
    (
        await client.put(
            "/v1/sources/crm/records/C-3", json=other_corporation(3, corporate_number=valid)
        )
    )
    merged = await client.put(
        "/v1/sources/sfa/records/C-4", json=other_corporation(3, corporate_number=valid)
    )
    assert merged.json()["decision"]["outcome"] == "merged"


async def test_an_unallocated_phone_still_counts_when_both_records_carry_it(
    client: httpx.AsyncClient,
) -> None:
    person = {**PERSON, "phones": [{"number": "090-0000-0000", "purpose": "mobile"}]}
    first = await client.put("/v1/sources/crm/records/H-1", json=person)
    assert first.json()["findings"][0]["rule"] == "phone_number_not_valid"
    second = (await client.put("/v1/sources/sfa/records/H-2", json=person)).json()
    assert second["decision"]["outcome"] == "merged", second["decision"]
    comparisons = {
        c["field"]: c["level"] for c in second["decision"]["candidates"][0]["comparisons"]
    }
    # Another record with another number: the phone is evidence against.
    other = {**person, "phones": [{"number": "090-1234-5678", "purpose": "mobile"}]}
    third = (await client.put("/v1/sources/web/records/H-3", json=other)).json()
    levels = {c["field"]: c["level"] for c in third["decision"]["candidates"][0]["comparisons"]}
    assert levels["phone"] == "different", levels
    assert comparisons["phone"].startswith("exact"), comparisons


async def test_policies_are_set_by_an_administrator_and_audited(
    client: httpx.AsyncClient, client_as: Callable[..., httpx.AsyncClient]
) -> None:
    rules = {r["rule"]: r for r in (await client.get("/v1/quality/rules")).json()}
    assert rules["phone_number_not_valid"]["policy"] == "flag"
    assert rules["phone_number_not_valid"]["default_policy"] == "flag"
    assert rules["phone_number_not_valid"]["updated_at"] is None

    async with client_as(roles=["steward"]) as steward:
        denied = await steward.put(
            "/v1/quality/rules/phone_number_not_valid", json={"policy": "reject"}
        )
        assert denied.status_code == 403
    bad = await client.put("/v1/quality/rules/phone_number_not_valid", json={"policy": "block"})
    assert bad.status_code == 422
    assert "/policy" in errors_by_field(bad.json())
    missing = await client.put("/v1/quality/rules/no_such_rule", json={"policy": "flag"})
    assert missing.status_code == 404

    set_ = await client.put("/v1/quality/rules/phone_number_not_valid", json={"policy": "reject"})
    assert set_.status_code == 200, set_.text
    assert set_.json()["policy"] == "reject"
    refused = await client.put(
        "/v1/sources/crm/records/R-1", json=corporation(phones=[{"number": UNALLOCATED}])
    )
    assert refused.status_code == 422
    assert errors_by_field(refused.json()) == {"/phones/0/number": "phone_number_not_valid"}
    assert (await client.get("/v1/sources/crm/records/R-1")).status_code == 404

    await client.put("/v1/quality/rules/phone_number_not_valid", json={"policy": "ignore"})
    ignored = await client.put(
        "/v1/sources/crm/records/R-1", json=corporation(phones=[{"number": UNALLOCATED}])
    )
    assert ignored.status_code == 201
    assert ignored.json()["findings"] == []

    audit = (await client.get("/v1/audit", params={"action": "quality_rule.policy_set"})).json()
    entries = [e for e in audit["items"] if e["action"] == "quality_rule.policy_set"]
    assert [(e["before"]["policy"], e["after"]["policy"]) for e in entries][-2:] in (
        [("flag", "reject"), ("reject", "ignore")],
        [("reject", "ignore"), ("flag", "reject")],
    )


async def test_findings_are_listed_by_rule_field_and_system_in_pages(
    client: httpx.AsyncClient,
) -> None:
    for i in range(3):
        await client.put(
            f"/v1/sources/crm/records/L-{i}",
            json=other_corporation(i, phones=[{"number": UNALLOCATED}]),
        )
    await client.put(
        "/v1/sources/billing/records/L-9",
        json=other_corporation(9, corporate_number=BAD_CHECK_DIGIT),
    )
    everything = (await client.get("/v1/quality/findings")).json()["items"]
    assert len(everything) == 4

    page = (await client.get("/v1/quality/findings", params={"limit": 2})).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = (
        await client.get("/v1/quality/findings", params={"limit": 2, "cursor": page["next_cursor"]})
    ).json()
    assert [f["id"] for f in page["items"] + rest["items"]] == [f["id"] for f in everything]
    assert rest["next_cursor"] is None

    by_rule = (
        await client.get("/v1/quality/findings", params={"rule": "phone_number_not_valid"})
    ).json()["items"]
    assert {f["source_id"] for f in by_rule} == {"L-0", "L-1", "L-2"}
    by_field = (await client.get("/v1/quality/findings", params={"field": "/phones"})).json()
    assert len(by_field["items"]) == 3
    by_system = (await client.get("/v1/quality/findings", params={"system": "billing"})).json()
    assert [(f["rule"], f["value"]) for f in by_system["items"]] == [
        ("corporate_number_check_digit_mismatch", BAD_CHECK_DIGIT)
    ]
    customer_id = by_system["items"][0]["customer_id"]
    by_customer = await client.get("/v1/quality/findings", params={"customer_id": customer_id})
    assert len(by_customer.json()["items"]) == 1
    bad_cursor = await client.get("/v1/quality/findings", params={"cursor": "nope"})
    assert bad_cursor.status_code == 422


async def test_personal_values_in_findings_are_masked_without_pii_read(
    client: httpx.AsyncClient, client_as: Callable[..., httpx.AsyncClient]
) -> None:
    person = {**PERSON, "phones": [{"number": "090-0000-0000", "purpose": "mobile"}]}
    await client.put("/v1/sources/crm/records/M-1", json=person)
    async with client_as(roles=["viewer"]) as viewer:
        items = (await viewer.get("/v1/quality/findings")).json()["items"]
    assert len(items) == 1
    assert items[0]["value"] == "***"
    assert "0000" not in items[0]["message"]
    admin = (await client.get("/v1/quality/findings")).json()["items"]
    assert admin[0]["value"] == "090-0000-0000"


async def test_a_stewards_edit_is_flagged_like_a_source_write(client: httpx.AsyncClient) -> None:
    created = (await client.put("/v1/sources/crm/records/E-1", json=corporation())).json()
    url = f"/v1/customers/{created['customer']['id']}"
    edited = await client.patch(
        url, json={"corporate_number": BAD_CHECK_DIGIT}, headers={"If-Match": '"1"'}
    )
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert body["corporate_number"] == BAD_CHECK_DIGIT
    assert [(f["rule"], f["system"], f["value"]) for f in body["findings"]] == [
        ("corporate_number_check_digit_mismatch", "_steward", BAD_CHECK_DIGIT)
    ]
    # The steward sets a valid number again: the finding goes.
    fixed = await client.patch(
        url, json={"corporate_number": "7000012050002"}, headers={"If-Match": '"2"'}
    )
    assert fixed.json()["findings"] == []
    await client.put(
        "/v1/quality/rules/corporate_number_check_digit_mismatch", json={"policy": "reject"}
    )
    refused = await client.patch(
        url, json={"corporate_number": BAD_CHECK_DIGIT}, headers={"If-Match": '"3"'}
    )
    assert refused.status_code == 422
    assert errors_by_field(refused.json()) == {
        "/corporate_number": "corporate_number_check_digit_mismatch"
    }
