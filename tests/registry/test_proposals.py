"""Customers without a 法人番号 matched by name + address against the registry (the hub's own
matching): linked when sure, otherwise proposals a steward accepts or rejects over the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.registry.files import corporate_number, nta_row, write_csv
from tests.registry.test_import_cli import run_cli

SURE, LIKELY, OTHER = (corporate_number(n) for n in (400001, 400002, 400003))
POST = "1500002"  # 渋谷区渋谷


def customer(name: str, street: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "corporation",
        "name": name,
        "addresses": [
            {"postal_code": "150-0002", "prefecture": "東京都", "city": "渋谷区",
             "town": "渋谷", "street": street}
        ],
        **extra,
    }  # fmt: skip


def registry(sequence: int, number: str, name: str, street: str) -> list[str]:
    return nta_row(
        sequence,
        number,
        name=name,
        prefecture_name="東京都",
        city_name="渋谷区",
        street_number=street,
        post_code=POST,
    )


async def test_name_and_address_link_or_propose(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    sure = await client.put(
        "/v1/sources/crm/records/PR-1",
        json=customer(
            "(株)渋谷ソフトウェア開発", "2丁目21番1号", phones=[{"number": "03-5468-0001"}]
        ),
    )
    likely = await client.put(
        "/v1/sources/crm/records/PR-2", json=customer("渋谷精密工業", "3-1-1")
    )
    assert sure.status_code == likely.status_code == 201
    sure_id, likely_id = sure.json()["customer"]["id"], likely.json()["customer"]["id"]

    file = write_csv(
        tmp_path / "13_tokyo_all_20261130.csv",
        [
            registry(1, SURE, "株式会社渋谷ソフトウェア開発", "渋谷２丁目２１－１"),
            registry(2, LIKELY, "渋谷精密工業株式会社", "渋谷３丁目１－１"),
            registry(3, OTHER, "渋谷精密工業有限会社", "渋谷３丁目１－１"),
        ],
    )
    done = await run_cli(database_url, "nta", "import", str(file))
    assert done.returncode == 0, done.stderr + done.stdout
    print(done.stdout)

    linked = (await client.get(f"/v1/customers/{sure_id}")).json()
    assert linked["corporate_number"] == SURE  # from the registry, now a source of it
    assert linked["lineage"]["/corporate_number"]["system"] == "nta"
    link = (await client.get(f"/v1/customers/{sure_id}/registry")).json()["link"]
    assert link["linked_by"] == "match"

    page = (await client.get("/v1/registry/proposals")).json()
    mine = [p for p in page["items"] if p["customer_id"] == likely_id]
    assert {p["corporate_number"] for p in mine} == {LIKELY, OTHER}  # two alike: a steward decides
    assert all(p["explanation"]["comparisons"] for p in mine)
    assert (await client.get(f"/v1/customers/{likely_id}/registry")).json()["link"] is None

    best = next(p for p in mine if p["corporate_number"] == LIKELY)
    other = next(p for p in mine if p["corporate_number"] == OTHER)
    rejected = await client.post(
        f"/v1/registry/proposals/{other['id']}/decision", json={"decision": "reject"}
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    accepted = await client.post(
        f"/v1/registry/proposals/{best['id']}/decision", json={"decision": "accept"}
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    now_linked = (await client.get(f"/v1/customers/{likely_id}")).json()
    assert now_linked["corporate_number"] == LIKELY
    assert (await client.get(f"/v1/customers/{likely_id}/registry")).json()["link"][
        "linked_by"
    ] == "steward"

    again = await client.post(
        f"/v1/registry/proposals/{best['id']}/decision", json={"decision": "accept"}
    )
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    missing = await client.post(
        "/v1/registry/proposals/999999999/decision", json={"decision": "reject"}
    )
    assert missing.status_code == 404
    bad = await client.post(
        f"/v1/registry/proposals/{best['id']}/decision", json={"decision": "maybe"}
    )
    assert bad.status_code == 422
