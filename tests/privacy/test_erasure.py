"""Erasure on request: the person's data leaves every table (read directly), a tombstone and an
event remain, a later write of the same person is held, and unmerge has nothing to restore."""

from __future__ import annotations

import copy
from typing import Any

import asyncpg
import httpx

from tests.conftest import _asyncpg_dsn
from tests.helpers import PERSON

# Values of the person that must not be anywhere in the database after the erasure.
SECRETS = ("1234-5678", "12345678", "taro.yamada", "1980-05-05", "山田", "太郎", "桜木町")


def _person(**changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(PERSON)
    payload["addresses"] = [
        {"postal_code": "231-0062", "street": "桜木町1-1-1", "building": "さくらビル101"}
    ]
    payload.update(changes)
    return payload


async def _database_text(database_url: str) -> str:
    """Every row of every table of the hub, as text."""
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename NOT IN ('alembic_version', 'privacy_keys')"
            )
        ]
        parts = []
        for table in tables:
            rows = await conn.fetch(f'SELECT CAST(t AS text) AS row FROM "{table}" t')
            parts.extend(f"{table}: {r['row']}" for r in rows)
        return "\n".join(parts)
    finally:
        await conn.close()


async def test_erasure_removes_the_person_from_every_table(
    client: httpx.AsyncClient, database_url: str
) -> None:
    protected = {"fields": [{"pointer": "/emails", "systems": ["sfa"]}]}
    assert (await client.put("/v1/protected-fields", json=protected)).status_code == 200
    first = await client.put("/v1/sources/crm/records/P-1", json=_person())
    assert first.status_code == 201, first.text
    customer_id = first.json()["customer"]["id"]
    # A second source of the same person (merged on write) and a second customer merged in.
    same = _person(phones=[{"number": "０９０（１２３４）５６７８"}])
    assert (await client.put("/v1/sources/sfa/records/S-9", json=same)).status_code == 201
    # Change requests quoting the person: one from a source write, one from a steward's edit.
    new_email = _person(emails=[{"address": "taro.yamada@sfa.example.jp"}])
    held = await client.put("/v1/sources/sfa/records/S-9", json=new_email)
    assert held.json()["held_for_approval"]["fields"] == ["/emails"], held.text
    asked = await client.patch(
        f"/v1/customers/{customer_id}",
        json={"emails": [{"address": "taro.yamada@steward.example.jp"}]},
        params={"reason": "山田様より電話"},
        headers={"If-Match": f'"{held.json()["customer"]["version"]}"'},
    )
    assert asked.status_code == 202, asked.text
    other = (
        await client.put(
            "/v1/sources/billing/records/B-7",
            json=_person(emails=[{"address": "yamada.t@example.org"}], phones=[]),
        )
    ).json()["customer"]["id"]
    if other != customer_id:
        merged = await client.post(
            f"/v1/customers/{customer_id}/merge", json={"customer_ids": [other]}
        )
        assert merged.status_code == 200, merged.text
    await client.get(f"/v1/customers/{customer_id}")
    stored = await _database_text(database_url)
    # The name is stored in clear, the phones, e-mails, address and birth date encrypted.
    assert "山田" in stored and "enc:v1:" in stored and "taro.yamada" not in stored

    erased = await client.post(
        f"/v1/customers/{customer_id}/erase", json={"reason": "本人からの消去請求 No.42"}
    )
    assert erased.status_code == 200, erased.text
    tombstone = erased.json()
    assert sorted(tombstone["source_ids"]) == ["billing/B-7", "crm/P-1", "sfa/S-9"]
    assert tombstone["reason"] == "本人からの消去請求 No.42"

    everything = await _database_text(database_url)
    for secret in SECRETS:
        assert secret not in everything, f"{secret!r} is still stored"
    assert "enc:v1:" not in everything  # nor any of the person's values in encrypted form

    requests = (await client.get("/v1/change-requests", params={"status": "withdrawn"})).json()
    assert len(requests["items"]) == 2
    assert all(r["changes"] == [] and r["comment"] == "erased" for r in requests["items"])
    customer = (await client.get(f"/v1/customers/{customer_id}")).json()
    assert customer["status"] == "erased"
    assert (await client.get(f"/v1/customers/{customer_id}/sources")).json() == []
    assert (await client.get(f"/v1/customers/{customer_id}/erasure")).json()["id"] == tombstone[
        "id"
    ]
    changes = (await client.get("/v1/changes", params={"limit": "500"})).json()["items"]
    assert changes[-1]["type"] == "customer.erased"
    assert changes[-1]["data"]["customer_id"] == customer_id
    for secret in SECRETS:
        assert secret not in str(changes)

    # Nothing to restore, and it says so; a second erasure is refused too.
    unmerge = await client.post(
        f"/v1/customers/{customer_id}/unmerge",
        json={"source_records": [{"system": "sfa", "source_id": "S-9"}]},
    )
    assert unmerge.status_code == 409
    assert "nothing is left to restore" in unmerge.json()["detail"]
    again = await client.post(f"/v1/customers/{customer_id}/erase", json={"reason": "again"})
    assert again.status_code == 409


async def test_a_later_write_of_the_erased_person_is_held_then_released_or_rejected(
    client: httpx.AsyncClient, database_url: str
) -> None:
    customer_id = (await client.put("/v1/sources/crm/records/P-1", json=_person())).json()[
        "customer"
    ]["id"]
    await client.post(f"/v1/customers/{customer_id}/erase", json={"reason": "請求"})

    # The CRM sends the person again (same phone, other id): held, not re-created.
    back = await client.put("/v1/sources/crm/records/P-2", json=_person(emails=[], birth_date=None))
    assert back.status_code == 202, back.text
    held = back.json()
    assert held["status"] == "held" and held["matched"] == ["phone"]
    # A retry updates the same held write instead of piling up.
    retry = await client.put(
        "/v1/sources/crm/records/P-2", json=_person(emails=[], birth_date=None)
    )
    assert retry.json()["id"] == held["id"]
    active = (await client.get("/v1/customers", params={"limit": "50"})).json()["items"]
    assert active == []
    waiting = (await client.get("/v1/privacy/held-writes")).json()["items"]
    assert [w["id"] for w in waiting] == [held["id"]]

    # Another person is not held.
    stranger = _person(
        person_name={"family_name": "佐藤", "given_name": "花子"},
        phones=[{"number": "080-2222-3333"}],
        emails=[{"address": "hanako@example.jp"}],
        birth_date="1990-01-01",
    )
    assert (await client.put("/v1/sources/crm/records/P-3", json=stranger)).status_code == 201

    released = await client.post(f"/v1/privacy/held-writes/{held['id']}/release")
    assert released.status_code == 200, released.text
    assert released.json()["source_record"]["source_id"] == "P-2"
    assert released.json()["customer"]["status"] == "active"
    twice = await client.post(f"/v1/privacy/held-writes/{held['id']}/release")
    assert twice.status_code == 409

    held_again = await client.put(
        "/v1/sources/sfa/records/X", json=_person(phones=[], birth_date=None)
    )
    assert held_again.status_code == 202 and held_again.json()["matched"] == ["email"]
    rejected = await client.post(f"/v1/privacy/held-writes/{held_again.json()['id']}/reject")
    assert rejected.status_code == 200 and rejected.json()["payload"] == {}
    assert (await client.get("/v1/sources/sfa/records/X")).status_code == 404


async def test_only_administrators_erase_and_corporations_are_not_erased(
    client: httpx.AsyncClient, client_as: Any
) -> None:
    person = (await client.put("/v1/sources/crm/records/P-1", json=_person())).json()["customer"]
    async with client_as(roles=["steward"]) as steward:
        refused = await steward.post(f"/v1/customers/{person['id']}/erase", json={"reason": "x"})
        assert refused.status_code == 403
        assert (await steward.get("/v1/access-log")).status_code == 403
        assert (await steward.get(f"/v1/customers/{person['id']}/disclosure")).status_code == 403
    blank = await client.post(f"/v1/customers/{person['id']}/erase", json={"reason": ""})
    assert blank.status_code == 422
    assert blank.json()["errors"][0]["field"] == "/reason"
    from tests.helpers import corporation

    company = (await client.put("/v1/sources/crm/records/C-1", json=corporation())).json()
    refused = await client.post(
        f"/v1/customers/{company['customer']['id']}/erase", json={"reason": "x"}
    )
    assert refused.status_code == 409
    missing = await client.post(
        "/v1/customers/00000000-0000-0000-0000-000000000000/erase", json={"reason": "x"}
    )
    assert missing.status_code == 404
