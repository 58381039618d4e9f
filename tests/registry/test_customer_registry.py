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
