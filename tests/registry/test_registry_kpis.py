"""The quality KPIs that need the registries (issue 18 §2, issue 19 §3): 法人番号 coverage
(confirmed / suggested / unknown), closed companies still active, T-numbers the インボイス
registry does not confirm; in GET /v1/quality/kpis, the daily history and the gauges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from mdm_hub.db import sqlalchemy_url
from mdm_hub.registry.importer import import_file
from tests.registry.files import corporate_number, invoice_row, nta_row, write_csv
from tests.registry.test_import_cli import run_cli
from tests.registry.test_proposals import customer, registry

ALIVE, CLOSED, LIKELY, OTHER, UNPUBLISHED = (
    corporate_number(n) for n in (600001, 600002, 600003, 600004, 600005)
)


def crm(number: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "corporation",
        "name": name,
        "corporate_number": number,
        "invoice_registration_number": "T" + number,
        "addresses": [{"prefecture": "東京都", "city": "港区", "street": "芝公園4-2-8"}],
        **extra,
    }


async def put(client: httpx.AsyncClient, source_id: str, body: dict[str, Any]) -> str:
    answer = await client.put(f"/v1/sources/crm/records/{source_id}", json=body)
    assert answer.status_code in (200, 201), answer.text
    customer_id: str = answer.json()["customer"]["id"]
    return customer_id


async def test_registry_kpis(
    client: httpx.AsyncClient, client_as: Any, database_url: str, tmp_path: Path
) -> None:
    await put(client, "K-ALIVE", crm(ALIVE, "稼働株式会社"))
    closed = await put(client, "K-CLOSED", crm(CLOSED, "閉鎖株式会社"))
    await put(client, "K-LIKELY", customer("渋谷精密工業", "3-1-1"))  # two alike: proposals
    await put(
        client,
        "K-NONE",  # no 法人番号, nothing alike in the registry: unknown
        {
            **customer("まったく別の商店", "9-9-9"),
            "invoice_registration_number": "T" + UNPUBLISHED,
        },
    )
    await put(client, "K-PERSON", {"kind": "person", "name": "山田 太郎"})

    empty = (await client.get("/v1/quality/kpis")).json()
    assert empty["enrichment"]["confirmed"] == 0
    assert empty["enrichment"]["unknown"] == 4

    nta = write_csv(
        tmp_path / "13_tokyo_all_20261130.csv",
        [
            nta_row(1, ALIVE, name="稼働株式会社"),
            nta_row(2, CLOSED, "21", name="閉鎖株式会社", close_date="2026-11-27",
                    close_cause="01"),
            registry(3, LIKELY, "渋谷精密工業株式会社", "渋谷３丁目１－１"),
            registry(4, OTHER, "渋谷精密工業有限会社", "渋谷３丁目１－１"),
        ],
    )  # fmt: skip
    done = await run_cli(database_url, "nta", "import", str(nta))
    assert done.returncode == 0, done.stderr + done.stdout
    dsn = sqlalchemy_url(database_url).replace("postgresql+asyncpg://", "postgresql://")
    invoices = write_csv(
        tmp_path / "invoice.csv",
        [
            invoice_row(1, "T" + ALIVE, name="稼働株式会社"),
            invoice_row(2, "T" + CLOSED, "04", disposal_date="2026-11-28", name="閉鎖株式会社"),
        ],
    )
    await import_file(dsn, invoices, "invoice")

    kpis = (await client.get("/v1/quality/kpis")).json()
    # The closed company is no longer active (status closed): the KPIs count active
    # customers, and no closure is left unapplied.
    third = round(1 / 3, 6)
    assert kpis["enrichment"] == {
        "corporations": 3,
        "confirmed": 1,
        "confirmed_share": third,
        "suggested": 1,  # one customer, two pending proposals
        "suggested_share": third,
        "withdrawn": 0,
        "unknown": 1,
        "unknown_share": third,
        "closed_still_active": 0,
    }
    # The closed company's revoked T-number is no longer an active customer's.
    assert kpis["invoice_registration"] == {
        "with_number": 2,
        "registered": 1,
        "not_confirmed": 1,
        "not_confirmed_share": 0.5,
        "by_status": {"not_registered": 1, "expired": 0, "revoked": 0, "deleted": 0},
    }
    assert (await client.get(f"/v1/customers/{closed}")).json()["status"] == "closed"

    # A steward accepts the proposal: suggested becomes confirmed.
    pending = (await client.get("/v1/registry/proposals")).json()["items"]
    best = next(p for p in pending if p["corporate_number"] == LIKELY)
    accepted = await client.post(
        f"/v1/registry/proposals/{best['id']}/decision", json={"decision": "accept"}
    )
    assert accepted.status_code == 200, accepted.text
    # A steward may delete a closed company.
    assert (await client.delete(f"/v1/customers/{closed}")).status_code == 204
    assert (await client.get(f"/v1/customers/{closed}")).json()["status"] == "deleted"

    taken = await client.post("/v1/quality/kpis/snapshots")
    assert taken.status_code == 200, taken.text
    after = taken.json()["enrichment"]
    assert (after["corporations"], after["confirmed"], after["suggested"], after["unknown"]) == (
        3,
        2,
        0,
        1,
    )
    assert after["closed_still_active"] == 0
    assert taken.json()["invoice_registration"]["by_status"]["revoked"] == 0
    history = (await client.get("/v1/quality/kpis/history")).json()["items"]
    assert history[-1]["kpis"]["enrichment"] == after

    metrics = (await client.get("/metrics")).text
    assert 'mdm_quality_enrichment_customers{state="confirmed"} 2.0' in metrics
    assert 'mdm_quality_enrichment_customers{state="unknown"} 1.0' in metrics
    assert "mdm_quality_customers_closed_still_active 0.0" in metrics
    assert 'mdm_quality_invoice_numbers_not_confirmed{status="not_registered"} 1.0' in metrics
