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


NEAR, NEAR_LTD, ALONE, ALONE_WIDE = (corporate_number(n) for n in (400011, 400012, 400013, 400014))


async def test_proposals_for_another_street_and_for_no_postal_code(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    """Below the review threshold, the same name at another 番地 of the block is proposed
    (never linked; not a corporation of another legal form); a customer without a postal
    code gets proposals (never a link) from its prefecture + city and its name."""
    moved = await client.put(  # the CRM kept an old 番地
        "/v1/sources/crm/records/PN-1", json=customer("(株)渋谷電子工業", "5-9-9")
    )
    nowhere = await client.put(
        "/v1/sources/crm/records/PN-2",
        json={
            "kind": "corporation",
            "name": "ABCテクノ株式会社",
            # No 町域 either: the hub cannot derive a postal code from the address.
            "addresses": [{"prefecture": "東京都", "city": "渋谷区", "street": "4-4-4"}],
        },
    )
    stranger = await client.put(  # nothing of its name in its city: nothing proposed
        "/v1/sources/crm/records/PN-3",
        json={
            "kind": "corporation",
            "name": "まるで無関係商店",
            "addresses": [{"prefecture": "東京都", "city": "渋谷区", "street": "1-1-1"}],
        },
    )
    ids = [a.json()["customer"]["id"] for a in (moved, nowhere, stranger)]
    file = write_csv(
        tmp_path / "13_tokyo_all_20261130.csv",
        [
            registry(1, NEAR, "株式会社渋谷電子工業", "渋谷１丁目２－３"),
            registry(2, NEAR_LTD, "有限会社渋谷電子工業", "渋谷１丁目２－４"),
            # Exactly where the customer without a postal code is: still only proposed.
            registry(3, ALONE_WIDE, "ＡＢＣテクノ株式会社", "渋谷４丁目４－４"),
            nta_row(4, ALONE, name="ABCテクノ株式会社", prefecture_name="大阪府",
                    city_name="大阪市北区", street_number="梅田１丁目１－３",
                    post_code="5300001"),
        ],
    )  # fmt: skip
    done = await run_cli(database_url, "nta", "import", str(file))
    assert done.returncode == 0, done.stderr + done.stdout

    items = (await client.get("/v1/registry/proposals")).json()["items"]
    proposed = {i: {p["corporate_number"] for p in items if p["customer_id"] == i} for i in ids}
    assert proposed == {ids[0]: {NEAR}, ids[1]: {ALONE_WIDE}, ids[2]: set()}
    levels = next(p for p in items if p["customer_id"] == ids[0])["explanation"]
    assert {c["field"]: c["level"] for c in levels["comparisons"]}["address"] == "other_street"
    for customer_id in ids:
        assert (await client.get(f"/v1/customers/{customer_id}/registry")).json()["link"] is None
