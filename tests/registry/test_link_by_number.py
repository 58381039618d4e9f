"""PUT /v1/customers/{id}/registry: a steward links a customer to the registry by 法人番号."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.registry.files import corporate_number, nta_row, write_csv
from tests.registry.test_import_cli import run_cli
from tests.registry.test_proposals import customer, registry

LIKELY, OTHER, TAKEN, GONE = (corporate_number(n) for n in (700001, 700002, 700003, 700004))


def problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    return body


async def test_a_steward_links_a_customer_by_corporate_number(
    client: httpx.AsyncClient, client_as: Any, database_url: str, tmp_path: Path
) -> None:
    made = await client.put("/v1/sources/crm/records/LN-1", json=customer("渋谷精密工業", "3-1-1"))
    taken = await client.put(
        "/v1/sources/crm/records/LN-2",
        json={**customer("別会社", "1-1-1"), "corporate_number": TAKEN},
    )
    person = await client.put(
        "/v1/sources/crm/records/LN-3", json={"kind": "person", "name": "山田 太郎"}
    )
    customer_id = made.json()["customer"]["id"]
    file = write_csv(
        tmp_path / "13_tokyo_all_20261130.csv",
        [
            registry(1, LIKELY, "渋谷精密工業株式会社", "渋谷３丁目１－１"),
            registry(2, OTHER, "渋谷精密工業有限会社", "渋谷３丁目１－１"),
            nta_row(3, TAKEN, name="別会社株式会社"),
            nta_row(4, GONE, name="削除株式会社"),
            nta_row(5, GONE, "99"),
        ],
    )
    done = await run_cli(database_url, "nta", "import", str(file))
    assert done.returncode == 0, done.stderr + done.stdout
    pending = (await client.get("/v1/registry/proposals")).json()["items"]
    assert {p["corporate_number"] for p in pending} == {LIKELY, OTHER}
    url = f"/v1/customers/{customer_id}/registry"

    # Refused, and nothing written: bad numbers, numbers the registry does not publish.
    for number, code in (
        ("12345", "invalid_corporate_number"),
        (LIKELY[:-1] + str((int(LIKELY[-1]) + 1) % 10), "corporate_number_check_digit_mismatch"),
        (corporate_number(799999), "not_in_registry"),
        (GONE, "not_in_registry"),
    ):
        body = problem(await client.put(url, json={"corporate_number": number}), 422)
        assert body["errors"][0]["field"] == "/corporate_number"
        assert body["errors"][0]["code"] == code, (number, body)
    problem(await client.put(url, json={}), 422)
    problem(
        await client.put(
            f"/v1/customers/{uuid.uuid4()}/registry", json={"corporate_number": LIKELY}
        ),
        404,
    )
    problem(await client.put(url, json={"corporate_number": TAKEN}), 409)  # linked to LN-2
    person_url = f"/v1/customers/{person.json()['customer']['id']}/registry"
    problem(await client.put(person_url, json={"corporate_number": OTHER}), 409)
    async with client_as(roles=["viewer"]) as viewer:
        assert (await viewer.put(url, json={"corporate_number": LIKELY})).status_code == 403
    assert (await client.get(url)).json()["link"] is None

    # Linked (full-width digits and hyphens accepted): the registry is its source at once.
    wide = LIKELY.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    linked = await client.put(url, json={"corporate_number": f"{wide[:1]}-{wide[1:]}"})
    assert linked.status_code == 200, linked.text
    assert linked.json()["link"]["linked_by"] == "steward"
    assert linked.json()["link"]["corporate_number"] == LIKELY
    golden = (await client.get(f"/v1/customers/{customer_id}")).json()
    assert golden["corporate_number"] == LIKELY
    assert golden["lineage"]["/corporate_number"]["system"] == "nta"
    left = (await client.get("/v1/registry/proposals")).json()["items"]
    assert left == []  # the customer's proposals are superseded
    superseded = (await client.get("/v1/registry/proposals?status=superseded")).json()["items"]
    assert {p["corporate_number"] for p in superseded} == {LIKELY, OTHER}

    # The same number again changes nothing; another number is a conflict.
    again = await client.put(url, json={"corporate_number": LIKELY})
    assert again.status_code == 200
    assert (await client.get(f"/v1/customers/{customer_id}")).json()["version"] == golden["version"]
    problem(await client.put(url, json={"corporate_number": OTHER}), 409)
    assert taken.status_code == 201
