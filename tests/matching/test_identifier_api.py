"""An identifier custom field declared in the weights file, through the API."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from mdm_hub.auth.dev_issuer import DevIssuer
from mdm_hub.db import create_engine
from mdm_hub.matching.config import load_config
from mdm_hub.matching.reindex import reindex
from mdm_hub.settings import Settings
from tests.conftest import _asyncpg_dsn, app_client
from tests.matching.records import MEMBER_NO

HOME = {"purpose": "home", "postal_code": "100-0005", "town": "丸の内", "street": "1-2-3"}


def _person(given: str, birth: str, member_no: str | None) -> dict:
    payload: dict = {
        "kind": "person",
        "person_name": {"family_name": "山田", "given_name": given},
        "birth_date": birth,
        "addresses": [HOME],
    }
    if member_no:
        payload["custom_fields"] = {"member_no": member_no}
    return payload


def _member_weights(folder: Path) -> Path:
    """The packaged weights with member_no declared an identifier, as an administrator does."""
    data = load_config().to_dict()
    data["version"] = "v2-member"
    data["kinds"]["person"]["fields"]["member_no"] = MEMBER_NO
    weights = folder / "weights_v2-member.json"
    weights.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return weights


@pytest.fixture
async def hub(
    database_url: str, test_issuer: DevIssuer, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    weights = _member_weights(tmp_path)
    settings = Settings(database_url=database_url, match_config_path=weights)
    async with app_client(settings, test_issuer) as client:
        created = await client.post(
            "/v1/custom-fields", json={"key": "member_no", "label": "会員番号", "type": "string"}
        )
        assert created.status_code == 201, created.text
        yield client


async def _put(client: httpx.AsyncClient, system: str, source_id: str, payload: dict) -> dict:
    response = await client.put(f"/v1/sources/{system}/records/{source_id}", json=payload)
    assert response.status_code in (200, 201), response.text
    return response.json()["decision"]


async def test_a_shared_member_number_merges_what_names_and_dates_alone_would_not(
    hub: httpx.AsyncClient,
) -> None:
    await _put(hub, "crm", "1", _person("太郎", "1980-05-05", "M-0001"))
    # The same member with the given name mistyped in billing (without the number: a twin?).
    merged = await _put(hub, "billing", "1", _person("太朗", "1980-05-05", "m0001"))
    assert merged["outcome"] == "merged", merged
    fields = {c["field"]: c for c in merged["candidates"][0]["comparisons"]}
    assert fields["name"]["level"] == "given_differs"
    assert fields["member_no"]["level"] == "exact"
    assert fields["member_no"]["detail"] == "m0001"
    assert merged["candidates"][0]["config_version"] == "v2-member"
    # A household member with another member number and birthday: not merged.
    other = await _put(hub, "crm", "2", _person("花子", "1982-03-03", "M-0002"))
    assert other["outcome"] == "new_customer", other
    scored = {c["field"]: c["level"] for c in other["candidates"][0]["comparisons"]}
    assert scored["member_no"] == "similar"  # numbers issued one after the other
    assert scored["name"] == "given_differs"


async def test_without_the_shared_member_number_the_birth_date_rule_holds(
    hub: httpx.AsyncClient,
) -> None:
    await _put(hub, "crm", "1", _person("太郎", "1980-05-05", "M-0001"))
    unsure = await _put(hub, "billing", "1", _person("太郎", "1955-01-20", None))
    assert unsure["outcome"] != "merged"
    assert unsure["candidates"][0]["hard_rule"] == "different_birth_date"


async def test_a_shared_member_number_lifts_the_birth_date_rule(hub: httpx.AsyncClient) -> None:
    await _put(hub, "crm", "1", _person("太郎", "1980-05-05", "M-0001"))
    dated = await _put(hub, "sfa", "1", _person("太郎", "1985-05-15", "M0001"))
    assert dated["outcome"] == "merged", dated
    assert dated["candidates"][0]["hard_rule"] is None


async def test_the_member_number_alone_finds_the_candidate(hub: httpx.AsyncClient) -> None:
    await _put(hub, "crm", "1", _person("太郎", "1980-05-05", "M-0001"))
    # Nothing else in common with the stored record: no name, birth date or address key.
    found = await _put(
        hub,
        "billing",
        "9",
        {
            "kind": "person",
            "person_name": {"family_name": "Yamada", "given_name": "Taro"},
            "custom_fields": {"member_no": "M-0001"},
        },
    )
    assert [c["customer_id"] for c in found["candidates"]], found


async def test_reindex_gives_records_written_before_the_declaration_their_identifier_keys(
    hub: httpx.AsyncClient, client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    # Written while the packaged weights (no identifier) were in force: no member_no key.
    await _put(client, "crm", "1", _person("太郎", "1980-05-05", "M-0001"))
    only_the_number = {
        "kind": "person",
        "person_name": {"family_name": "Yamada", "given_name": "Taro"},
        "custom_fields": {"member_no": "M-0001"},
    }
    before = await hub.post("/v1/match", json=only_the_number)
    assert before.json()["candidates"] == []

    engine = create_engine(database_url, Settings(database_url=database_url))
    try:
        result = await reindex(engine, load_config(_member_weights(tmp_path)), batch_size=1)
    finally:
        await engine.dispose()
    assert result.source_records == 1
    # The identifier key and its near keys (m0001, and less one character: 0001, m001, m000).
    assert result.keys_after == result.keys_before + 5

    after = await hub.post("/v1/match", json=only_the_number)
    assert [c["comparisons"] for c in after.json()["candidates"]], after.json()
    fields = {c["field"]: c["level"] for c in after.json()["candidates"][0]["comparisons"]}
    assert fields["member_no"] == "exact"


KEYS = "SELECT kind, value, source_record_id FROM match_keys ORDER BY 1, 2, 3"


async def test_reindex_removes_keys_the_rules_no_longer_give(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await _put(client, "crm", "1", _person("太郎", "1980-05-05", None))
    await _put(client, "crm", "2", _person("花子", "1982-03-03", None))
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        stored = await conn.fetch(KEYS)
        await conn.execute(
            "INSERT INTO match_keys (kind, value, source_record_id, customer_id) "
            "SELECT 'retired_kind', 'x', id, customer_id FROM source_records"
        )
        engine = create_engine(database_url, Settings(database_url=database_url))
        try:
            result = await reindex(engine, load_config(), batch_size=1)
        finally:
            await engine.dispose()
        assert (result.source_records, result.keys_before) == (2, len(stored) + 2)
        assert result.keys_after == len(stored)
        again = await conn.fetch(KEYS)
        assert again == stored
    finally:
        await conn.close()


async def test_the_reindex_command(client: httpx.AsyncClient, database_url: str) -> None:
    await _put(client, "crm", "1", _person("太郎", "1980-05-05", None))
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "mdm_hub.cli", "matching-reindex"],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "1 source records re-indexed" in done.stdout
