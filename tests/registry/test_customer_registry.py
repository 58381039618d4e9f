"""GET /v1/customers/{id}/registry: the imported registries seen from a customer."""

from __future__ import annotations

from pathlib import Path

import httpx

from mdm_hub.db import sqlalchemy_url
from mdm_hub.registry.importer import import_file
from tests.helpers import CORPORATION
from tests.registry.files import invoice_row, nta_row, write_csv

NUMBER = CORPORATION["corporate_number"]


async def test_a_customer_sees_its_registry_rows(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    dsn = sqlalchemy_url(database_url).replace("postgresql+asyncpg://", "postgresql://")
    created = await client.put("/v1/sources/crm/records/C-1", json=CORPORATION)
    assert created.status_code == 201, created.text
    customer_id = created.json()["customer"]["id"]

    before = (await client.get(f"/v1/customers/{customer_id}/registry")).json()
    assert before["nta"] is None
    assert before["invoice_status"] == "not_registered"
    assert before["invoice_registration_number"] == "T" + NUMBER

    nta = write_csv(
        tmp_path / "nta.csv",
        [
            nta_row(
                1,
                NUMBER,
                "21",
                name="株式会社ＡＢＣ商事",
                close_date="2026-11-27",
                close_cause="01",
            )
        ],
    )
    invoice = write_csv(
        tmp_path / "invoice.csv",
        [invoice_row(1, "T" + NUMBER, "03", expire_date="2026-11-30", update_date="2026-12-01")],
    )
    await import_file(dsn, nta, "nta")
    await import_file(dsn, invoice, "invoice")

    after = (await client.get(f"/v1/customers/{customer_id}/registry")).json()
    assert after["nta"]["name"] == "株式会社ＡＢＣ商事"
    assert after["nta"]["closed"] is True
    assert after["nta"]["close_cause"] == "01"
    assert after["invoice_status"] == "expired"
    assert after["invoice"]["expire_date"] == "2026-11-30"

    missing = await client.get("/v1/customers/00000000-0000-0000-0000-000000000000/registry")
    assert missing.status_code == 404


async def test_billing_learns_when_a_registration_ends(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    dsn = sqlalchemy_url(database_url).replace("postgresql+asyncpg://", "postgresql://")
    created = await client.put("/v1/sources/crm/records/C-1", json=CORPORATION)
    customer_id = created.json()["customer"]["id"]
    version = created.json()["customer"]["version"]

    async def ended_events() -> list[dict[str, object]]:
        items = (await client.get("/v1/changes?limit=100")).json()["items"]
        return [c for c in items if c["type"] == "customer.invoice_registration_ended"]

    registered = write_csv(tmp_path / "all.csv", [invoice_row(1, "T" + NUMBER)])
    await import_file(dsn, registered, "invoice")
    assert await ended_events() == []

    revoked = write_csv(
        tmp_path / "diff.csv",
        [invoice_row(1, "T" + NUMBER, "04", disposal_date="2026-12-01", update_date="2026-12-02")],
    )
    await import_file(dsn, revoked, "invoice")
    [event] = await ended_events()
    data = event["data"]
    assert isinstance(data, dict)
    assert data["customer_id"] == customer_id
    assert data["changed_fields"] == ["/invoice_registration"]
    assert data["customer_version"] == version + 1
    assert data["customer"]["name"] == created.json()["customer"]["name"]
    customer = (await client.get(f"/v1/customers/{customer_id}")).json()
    assert customer["version"] == version + 1
    registry = (await client.get(f"/v1/customers/{customer_id}/registry")).json()
    assert registry["invoice_status"] == "revoked"
    audit = (await client.get(f"/v1/audit?customer_id={customer_id}")).json()
    assert any(e["action"] == "customer.invoice_registration_ended" for e in audit["items"])

    # The same news again (or a registration never seen registered) is no news.
    again = write_csv(
        tmp_path / "diff2.csv",
        [invoice_row(1, "T" + NUMBER, "04", disposal_date="2026-12-01", update_date="2026-12-03")],
    )
    await import_file(dsn, again, "invoice")
    assert len(await ended_events()) == 1
