"""`mdm-hub keys rewrap`: the key-encryption key itself replaced online. The hub runs with the
new KEK and the previous one, writes while half the keys are re-wrapped, restarts mid-way,
and the command (killed, then run again) finishes; afterwards the new KEK alone reads every
value, and the lookup hashes made under the old KEK still find their customers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mdm_hub.auth.dev_issuer import DevIssuer
from mdm_hub.db import create_engine
from mdm_hub.encryption import (
    EncryptionError,
    install_keyring,
    new_kek_text,
    parse_kek,
    unwrap_with,
)
from mdm_hub.privacy.fields import open_keyring
from mdm_hub.privacy.keystore import add_data_key
from mdm_hub.privacy.rewrap import rewrap
from mdm_hub.settings import Settings
from tests.conftest import TEST_FIELD_KEY, _asyncpg_dsn, app_client
from tests.privacy.test_encryption_at_rest import PERSON

OLD, NEW = TEST_FIELD_KEY, new_kek_text()
SECOND = {
    **PERSON,
    "person_name": {"family_name": "高橋", "given_name": "次郎"},
    "birth_date": "1980-02-29",
    "phones": [{"number": "080-2468-1357"}],
    "emails": [{"address": "jiro.takahashi@example.jp"}],
}


class Killed(Exception):
    pass


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, Settings(database_url=database_url))
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        keys = await conn.fetch("SELECT id, active FROM data_keys")
    finally:
        await conn.close()
    yield engine
    # The suite's keys as they were (the values of this test are truncated with its tables),
    # under the suite's KEK, and its process reads with them.
    await rewrap(engine, parse_kek(TEST_FIELD_KEY), parse_kek(NEW))
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        ids = [r["id"] for r in keys]
        await conn.execute("DELETE FROM data_keys WHERE NOT (id = ANY($1::text[]))", ids)
        for r in keys:
            await conn.execute(
                "UPDATE data_keys SET active = $2 WHERE id = $1", r["id"], r["active"]
            )
    finally:
        await conn.close()
    install_keyring(await open_keyring(engine, TEST_FIELD_KEY))
    await engine.dispose()


def _settings(url: str, key: str, previous: str | None = None) -> Settings:
    return Settings(
        database_url=url,
        field_encryption_key=SecretStr(key),
        field_encryption_key_previous=SecretStr(previous) if previous else None,
    )


async def _wrapped_by(url: str) -> dict[str, str]:
    """Which KEK opens each stored key: "new" or "old"."""
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT id, wrapped_key FROM data_keys UNION ALL SELECT id, wrapped_key FROM index_keys"
        )
    finally:
        await conn.close()
    keks = (parse_kek(NEW), parse_kek(OLD))
    return {r["id"]: ("new", "old")[unwrap_with(keks, r["id"], r["wrapped_key"])[1]] for r in rows}


async def _read(client: httpx.AsyncClient, customer_id: str) -> dict[str, Any]:
    answer = await client.get(f"/v1/customers/{customer_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_the_kek_is_replaced_online_resumably_and_the_hashes_still_match(
    database_url: str, engine: AsyncEngine, test_issuer: DevIssuer
) -> None:
    url = database_url
    # A hub under the old KEK: a person, a second data key (after a rotation), and its lookup
    # hashes derived from the old KEK as before the index key was stored (0020).
    async with app_client(_settings(url, OLD), test_issuer) as hub:
        first = (await hub.put("/v1/sources/crm/records/P-1", json=PERSON)).json()["customer"]
    async with AsyncSession(engine) as session, session.begin():
        await add_data_key(session, parse_kek(OLD))
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    await conn.execute("DELETE FROM index_keys")
    await conn.close()
    stored = len(await _wrapped_by(url))  # the data keys

    # Every process gets the new KEK and keeps the old one as the previous.
    lines: list[str] = []

    def killed_after_one(line: str) -> None:
        lines.append(line)
        raise Killed

    async with app_client(_settings(url, NEW, OLD), test_issuer) as hub:
        assert (await _read(hub, first["id"]))["birth_date"] == "1971-03-14"
        by = await _wrapped_by(url)
        assert by.pop("blind-index") == "new" and set(by.values()) == {"old"}
        with pytest.raises(Killed):
            await rewrap(engine, parse_kek(NEW), parse_kek(OLD), progress=killed_after_one)
        assert lines[0].startswith("data_keys dk") and "re-wrapped" in lines[0]
        by = await _wrapped_by(url)
        assert sorted(by.values()) == ["new", "new"] + ["old"] * (stored - 1)
        # Mid-way: the hub reads and writes.
        assert (await _read(hub, first["id"]))["phones"][0]["e164"] == "+819043218765"
        written = await hub.put("/v1/sources/crm/records/P-2", json=SECOND)
        assert written.status_code == 201, written.text
        second = written.json()["customer"]

    # A restart mid-way (a new pod, both keys set) loads every key.
    async with app_client(_settings(url, NEW, OLD), test_issuer) as hub:
        assert (await _read(hub, second["id"]))["birth_date"] == "1980-02-29"

    # The command, run again, re-wraps what is left.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDM_")}
    env.update(
        {
            "DATABASE_URL": url,
            "MDM_FIELD_ENCRYPTION_KEY": NEW,
            "MDM_FIELD_ENCRYPTION_KEY_PREVIOUS": OLD,
        }
    )
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "mdm_hub.cli", "keys", "rewrap"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"{stored - 1} key(s) re-wrapped under the new KEK, 2 already under it" in done.stdout
    assert set((await _wrapped_by(url)).values()) == {"new"}

    # The new KEK alone: every value read, and a later write of the first person (made while
    # its hashes came from the old KEK) finds its customer.
    async with app_client(_settings(url, NEW), test_issuer) as hub:
        assert (await _read(hub, first["id"]))["birth_date"] == "1971-03-14"
        emails = (await _read(hub, second["id"]))["emails"]
        assert emails[0]["address"] == "jiro.takahashi@example.jp"
        again = await hub.put("/v1/sources/shop/records/S-1", json=PERSON)
        assert again.json()["customer"]["id"] == first["id"], again.text
        listed = await hub.get("/v1/customers", params={"phone": "+818024681357"})
        assert [c["id"] for c in listed.json()["items"]] == [second["id"]]

    # The old KEK alone opens nothing any more; a second run has nothing to do.
    with pytest.raises(EncryptionError, match="cannot be unwrapped"):
        await open_keyring(engine, OLD)
    rerun = await rewrap(engine, parse_kek(NEW), parse_kek(OLD))
    assert rerun.rewrapped == [] and len(rerun.already) == stored + 1


async def test_the_command_needs_both_keys_and_one_that_opens(
    database_url: str, engine: AsyncEngine
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDM_")}
    env.update({"DATABASE_URL": database_url, "MDM_FIELD_ENCRYPTION_KEY": NEW})
    command = [sys.executable, "-m", "mdm_hub.cli", "keys", "rewrap"]
    run: Any = subprocess.run
    refused = await asyncio.to_thread(
        run, command, env=env, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 2 and "MDM_FIELD_ENCRYPTION_KEY_PREVIOUS" in refused.stderr
    # Neither key opens the stored ones: said, not a traceback.
    other = {**env, "MDM_FIELD_ENCRYPTION_KEY_PREVIOUS": new_kek_text()}
    wrong = await asyncio.to_thread(
        run, command, env=other, capture_output=True, text=True, timeout=120
    )
    assert wrong.returncode == 1 and "cannot be unwrapped" in wrong.stderr, wrong.stderr
    assert "Traceback" not in wrong.stderr


async def test_a_process_started_before_the_rewrap_keeps_its_keys_on_refresh(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """A pod not yet restarted with the new KEK reloads the keys every interval: the keys it
    holds are kept (it cannot unwrap them any more, and need not)."""
    assert (await client.put("/v1/sources/crm/records/P-1", json=PERSON)).status_code == 201
    before = await open_keyring(engine, OLD)
    await rewrap(engine, parse_kek(NEW), parse_kek(OLD))
    with pytest.raises(EncryptionError):
        await open_keyring(engine, OLD)
    refreshed = await open_keyring(engine, OLD, known=before)
    assert refreshed.keys == before.keys and refreshed.index_key == before.index_key
    install_keyring(refreshed)
    assert (await client.get("/v1/customers", params={"phone": "+819043218765"})).json()["items"]
