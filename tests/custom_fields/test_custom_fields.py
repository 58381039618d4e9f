"""Custom fields an administrator defines, validated on every write; rank rules."""

from __future__ import annotations

import httpx

from tests.helpers import corporation, errors_by_field


async def _define(client: httpx.AsyncClient, **definition: object) -> dict:
    response = await client.post("/v1/custom-fields", json=definition)
    assert response.status_code == 201, response.text
    return response.json()


async def test_define_list_update_delete(client: httpx.AsyncClient) -> None:
    await _define(client, key="credit_limit", label="与信限度額", type="integer")
    duplicate = await client.post(
        "/v1/custom-fields", json={"key": "credit_limit", "label": "x", "type": "string"}
    )
    assert duplicate.status_code == 409
    enum_without_values = await client.post(
        "/v1/custom-fields", json={"key": "tier", "label": "Tier", "type": "enum"}
    )
    assert enum_without_values.status_code == 422
    bad_key = await client.post(
        "/v1/custom-fields", json={"key": "Credit Limit", "label": "x", "type": "string"}
    )
    assert errors_by_field(bad_key.json()) == {"/key": "string_pattern_mismatch"}

    updated = await client.patch("/v1/custom-fields/credit_limit", json={"label": "与信枠"})
    assert updated.json()["label"] == "与信枠"
    assert [d["key"] for d in (await client.get("/v1/custom-fields")).json()] == ["credit_limit"]
    assert (await client.delete("/v1/custom-fields/credit_limit")).status_code == 204
    assert (await client.get("/v1/custom-fields/credit_limit")).status_code == 404
    actions = [e["action"] for e in (await client.get("/v1/audit")).json()["items"]]
    assert actions == ["custom_field.created", "custom_field.updated", "custom_field.deleted"]


async def test_values_are_validated_on_write(client: httpx.AsyncClient) -> None:
    await _define(client, key="credit_limit", label="与信限度額", type="integer")
    await _define(client, key="tier", label="区分", type="enum", allowed_values=["gold", "silver"])
    await _define(client, key="audited_on", label="監査日", type="date")
    await _define(client, key="vip", label="VIP", type="boolean")

    bad = await client.put(
        "/v1/sources/crm/records/1",
        json=corporation(
            custom_fields={
                "credit_limit": "lots",
                "tier": "bronze",
                "audited_on": "2024-02-30",
                "vip": 1,
            }
        ),
    )
    assert bad.status_code == 422
    assert errors_by_field(bad.json()) == {
        "/custom_fields/credit_limit": "invalid_custom_value",
        "/custom_fields/tier": "invalid_custom_value",
        "/custom_fields/audited_on": "invalid_custom_value",
        "/custom_fields/vip": "invalid_custom_value",
    }
    good = await client.put(
        "/v1/sources/crm/records/1",
        json=corporation(
            custom_fields={
                "credit_limit": 5_000_000,
                "tier": "gold",
                "audited_on": "2024-02-29",
                "vip": True,
            }
        ),
    )
    assert good.status_code == 201, good.text
    assert good.json()["customer"]["custom_fields"] == {
        "audited_on": "2024-02-29",
        "credit_limit": 5_000_000,
        "tier": "gold",
        "vip": True,
    }


async def test_required_custom_field(client: httpx.AsyncClient) -> None:
    await _define(client, key="sales_owner", label="営業担当", type="string", required=True)
    missing = await client.put("/v1/sources/crm/records/1", json=corporation())
    assert missing.status_code == 422
    assert errors_by_field(missing.json()) == {"/custom_fields/sales_owner": "missing"}
    ok = await client.put(
        "/v1/sources/crm/records/1", json=corporation(custom_fields={"sales_owner": "佐藤"})
    )
    assert ok.status_code == 201


async def test_rank_rules_derive_rank_and_steward_rank_wins(client: httpx.AsyncClient) -> None:
    rules = {
        "rules": [{"rank": "A", "min_amount": 10_000_000}, {"rank": "B", "min_amount": 1_000_000}]
    }
    assert (await client.put("/v1/rank-rules", json=rules)).status_code == 200
    assert [r["rank"] for r in (await client.get("/v1/rank-rules")).json()["rules"]] == ["A", "B"]
    dup = await client.put("/v1/rank-rules", json={"rules": [{"rank": "A", "min_amount": 1}] * 2})
    assert dup.status_code == 422

    created = await client.put("/v1/sources/crm/records/1", json=corporation())
    customer = created.json()["customer"]
    assert customer["classification"]["rank"] == "A"
    url = f"/v1/customers/{customer['id']}"
    await client.patch(url, json={"classification": {"rank": "S"}}, headers={"If-Match": '"1"'})
    lower = corporation(transactions={"annual_amount": 2_000_000})
    await client.put("/v1/sources/crm/records/1", json=lower)
    assert (await client.get(url)).json()["classification"]["rank"] == "S"


async def test_normalize_endpoint_stores_nothing(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/normalize",
        json=corporation(name="(株)ＡＢＣ商事", phones=[{"number": "０３１２３４５６７８"}]),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["record"]["company_name"]["legal_form"] == "株式会社"
    assert body["record"]["phones"][0]["e164"] == "+81312345678"
    assert any(c["code"] == "legal_form_extracted" for c in body["changes"])
    assert (await client.get("/v1/customers")).json()["items"] == []
