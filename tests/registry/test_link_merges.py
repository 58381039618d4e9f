"""A registry link across merges and unmerges, and a steward's unlinking (DELETE
/v1/customers/{id}/registry), through the API and `mdm-hub nta import`/`apply`."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.registry.files import corporate_number, nta_row, write_csv
from tests.registry.test_apply import crm, events, put
from tests.registry.test_import_cli import fetch, run_cli

A, B = (corporate_number(n) for n in (810001, 810002))


async def sources(client: httpx.AsyncClient, customer_id: str) -> set[str]:
    answer = await client.get(f"/v1/customers/{customer_id}/sources")
    assert answer.status_code == 200, answer.text
    return {f"{s['system']}/{s['source_id']}" for s in answer.json()}


async def link(client: httpx.AsyncClient, customer_id: str) -> dict[str, object] | None:
    answer = await client.get(f"/v1/customers/{customer_id}/registry")
    assert answer.status_code == 200, answer.text
    found: dict[str, object] | None = answer.json()["link"]
    return found


async def audit_actions(client: httpx.AsyncClient, customer_id: str) -> list[str]:
    items = (await client.get("/v1/audit", params={"customer_id": customer_id})).json()["items"]
    return [e["action"] for e in items]


async def registry(database_url: str, tmp_path: Path) -> None:
    file = write_csv(
        tmp_path / "00_zenkoku_all_20261130.csv",
        [
            nta_row(1, A, name="連結元株式会社", furigana="レンケツモト"),
            nta_row(2, B, name="別法人株式会社"),
        ],
    )
    done = await run_cli(database_url, "nta", "import", str(file))
    assert done.returncode == 0, done.stderr + done.stdout


async def test_a_link_follows_merges_and_unmerges(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    linked = await put(client, "LM-1", crm(A, "連結元(株)"))
    other = await put(client, "LM-2", crm(B, "別法人(株)"))
    plain = await put(
        client,
        "LM-3",
        {"kind": "corporation", "name": "無番号商事", "addresses": [{"prefecture": "北海道"}]},
    )
    await registry(database_url, tmp_path)
    assert (await link(client, linked) or {})["corporate_number"] == A
    assert (await link(client, other) or {})["corporate_number"] == B

    # Two corporations of the registry are not merged: nothing moves.
    refused = await client.post(f"/v1/customers/{other}/merge", json={"customer_ids": [linked]})
    assert refused.status_code == 409, refused.text
    assert "different corporations of the registry" in refused.json()["detail"]
    assert (await client.get(f"/v1/customers/{linked}")).json()["status"] == "active"
    assert await sources(client, linked) == {"crm/LM-1", f"nta/{A}"}

    # Merged away: the link and the nta record follow the survivor.
    merged = await client.post(f"/v1/customers/{plain}/merge", json={"customer_ids": [linked]})
    assert merged.status_code == 200, merged.text
    assert await link(client, linked) is None
    survivor_link = await link(client, plain)
    assert survivor_link is not None and survivor_link["corporate_number"] == A
    assert f"nta/{A}" in await sources(client, plain)
    assert ["/registry/corporate_number"] in await events(
        database_url, plain, "customer.registry_changed"
    )
    assert "registry_link.moved" in await audit_actions(client, plain)
    # The 差分 of that corporation now reaches the survivor.
    diff = write_csv(
        tmp_path / "diff_20261201.csv",
        [nta_row(1, A, "11", name="改称後株式会社", update_date="2026-12-01")],
    )
    done = await run_cli(
        database_url,
        "nta",
        "import",
        str(diff),
        env={"MDM_SURVIVORSHIP_SOURCE_PRIORITY": '{"/name": ["nta"]}'},
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert (await client.get(f"/v1/customers/{plain}")).json()["name"] == "改称後株式会社"

    # Unmerged: the revived customer takes its link (and its nta record) back.
    unmerged = await client.post(
        f"/v1/customers/{plain}/unmerge",
        json={
            "source_records": [
                {"system": "crm", "source_id": "LM-1"},
                {"system": "nta", "source_id": A},
            ]
        },
    )
    assert unmerged.status_code == 200, unmerged.text
    assert unmerged.json()["target"]["id"] == linked
    assert (await link(client, linked) or {})["corporate_number"] == A
    assert await link(client, plain) is None
    assert await sources(client, linked) == {"crm/LM-1", f"nta/{A}"}
    assert ["/registry/corporate_number"] in await events(
        database_url, linked, "customer.registry_changed"
    )


async def test_a_steward_unlinks_a_wrong_link(
    client: httpx.AsyncClient, client_as: Any, database_url: str, tmp_path: Path
) -> None:
    customer = await put(client, "UL-1", crm(A, "連結元(株)"))
    await registry(database_url, tmp_path)
    before = (await client.get(f"/v1/customers/{customer}")).json()
    assert before["name_kana"] == "レンケツモト"  # from the registry
    url = f"/v1/customers/{customer}/registry"

    async with client_as(roles=["viewer"]) as read_only:
        assert (await read_only.delete(url)).status_code == 403
    missing = await client.delete(f"/v1/customers/{uuid.uuid4()}/registry")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")

    assert (await client.delete(url)).status_code == 204
    assert await link(client, customer) is None
    assert await sources(client, customer) == {"crm/UL-1"}
    after = (await client.get(f"/v1/customers/{customer}")).json()
    assert after.get("name_kana") is None  # the registry's contribution is gone
    assert after["version"] > before["version"]
    assert ["/registry/corporate_number"] in await events(
        database_url, customer, "customer.registry_changed"
    )
    actions = await audit_actions(client, customer)
    assert "registry_link.removed" in actions and "source_record.removed" in actions
    # Idempotent: nothing more happens.
    version = after["version"]
    assert (await client.delete(url)).status_code == 204
    assert (await client.get(f"/v1/customers/{customer}")).json()["version"] == version

    # The steward's word holds: applying the registry again does not link it by its 法人番号.
    again = await run_cli(database_url, "nta", "apply")
    assert again.returncode == 0, again.stderr
    assert await link(client, customer) is None
    rows = await fetch(
        database_url,
        "SELECT status FROM registry_proposals WHERE customer_id = $1",
        uuid.UUID(customer),
    )
    assert [r["status"] for r in rows] == ["rejected"]
    # ... but a steward may link it again by number.
    relinked = await client.put(url, json={"corporate_number": A})
    assert relinked.status_code == 200, relinked.text
    assert await sources(client, customer) == {"crm/UL-1", f"nta/{A}"}
