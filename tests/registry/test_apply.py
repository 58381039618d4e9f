"""The registry applied to customers, end to end through `mdm-hub nta import` (and `nta apply`):
customers linked by 法人番号 get the registry as their source `nta`; a 差分 file's 商号変更,
所在地変更, closure, merger and 削除 reach them, with events."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.registry.files import corporate_number, nta_row, write_csv, write_zip
from tests.registry.test_import_cli import fetch, run_cli

A, B, C, D, E = (corporate_number(n) for n in (300001, 300002, 300003, 300004, 300005))
PRIORITY = {"MDM_SURVIVORSHIP_SOURCE_PRIORITY": json.dumps({"/name": ["nta", "crm"]})}


def crm(number: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "corporation",
        "name": name,
        "corporate_number": number,
        "addresses": [{"prefecture": "東京都", "city": "港区", "street": "芝公園4-2-8"}],
        **extra,
    }


async def put(client: httpx.AsyncClient, source_id: str, body: dict[str, Any]) -> str:
    answer = await client.put(f"/v1/sources/crm/records/{source_id}", json=body)
    assert answer.status_code in (200, 201), answer.text
    customer_id: str = answer.json()["customer"]["id"]
    return customer_id


async def events(database_url: str, customer_id: str, event_type: str) -> list[list[str]]:
    rows = await fetch(
        database_url,
        "SELECT changed_fields FROM customer_events WHERE customer_id = $1 AND type = $2"
        " ORDER BY customer_version",
        uuid.UUID(customer_id),
        event_type,
    )
    return [json.loads(r["changed_fields"]) for r in rows]


async def successors(database_url: str, customer_id: str) -> list[tuple[str, str, str, str]]:
    rows = await fetch(
        database_url,
        "SELECT parent_id, relation_type, valid_from, set_by FROM customer_relations"
        " WHERE child_id = $1 AND axis = 'successor'",
        uuid.UUID(customer_id),
    )
    return [
        (str(r["parent_id"]), r["relation_type"], r["valid_from"].isoformat(), r["set_by"])
        for r in rows
    ]


async def test_full_then_diff_reach_linked_customers(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    x = await put(client, "AP-X", crm(A, "旧商号(株)"))
    y = await put(client, "AP-Y", crm(B, "閉鎖予定(株)"))
    z = await put(client, "AP-Z", crm(C, "消滅会社(株)"))
    w = await put(client, "AP-W", crm(D, "存続会社(株)"))
    v = await put(client, "AP-V", crm(E, "誤登録(株)"))
    site = await put(
        client,
        "AP-X-OSAKA",
        {
            **crm(A, "旧商号株式会社 大阪支店", relations={"site_type": "branch"}),
            "addresses": [{"prefecture": "大阪府", "city": "大阪市中央区", "street": "本町2-1-6"}],
        },
    )
    assert site != x

    full = write_zip(
        tmp_path / "00_zenkoku_all_20261130.zip",
        "00_zenkoku_all_20261130.csv",
        [
            nta_row(1, A, name="旧商号株式会社", furigana="キュウショウゴウ"),
            nta_row(2, B, name="閉鎖予定株式会社"),
            nta_row(3, C, name="消滅会社株式会社"),
            nta_row(4, D, name="存続会社株式会社"),
            nta_row(5, E, name="誤登録株式会社"),
        ],
    )
    done = await run_cli(database_url, "nta", "import", str(full), env=PRIORITY)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "customers linked by 法人番号" in done.stdout

    linked = (await client.get(f"/v1/customers/{x}")).json()
    assert linked["name"] == "旧商号株式会社"  # the registry's official name wins (priority)
    assert linked["name_kana"] == "キュウショウゴウ"
    assert linked["lineage"]["/name"]["system"] == "nta"
    assert linked["lineage"]["/name"]["source_id"] == A
    # 丁目番地等 begins with the 町域: split like a one-line address, not kept twice.
    head_office = [a for a in linked["addresses"] if a.get("town") == "丸の内"]
    assert [(a["postal_code"], a["street"]) for a in head_office] == [("1000005", "1-1-1")]
    registry = (await client.get(f"/v1/customers/{x}/registry")).json()
    assert registry["link"]["linked_by"] == "corporate_number"
    assert registry["link"]["closed"] is False
    # A site shares its corporation's 法人番号 but is not the corporation: not linked.
    assert (await client.get(f"/v1/customers/{site}/registry")).json()["link"] is None
    site_lineage = (await client.get(f"/v1/customers/{site}")).json()["lineage"]
    assert site_lineage["/name"]["system"] == "crm"

    diff = write_csv(
        tmp_path / "diff_20261201.csv",
        [
            nta_row(
                1,
                A,
                "11",
                name="新商号株式会社",
                update_date="2026-12-01",
                change_date="2026-11-28",
                furigana="シンショウゴウ",
            ),
            nta_row(
                2,
                B,
                "21",
                name="閉鎖予定株式会社",
                update_date="2026-12-01",
                close_date="2026-11-27",
                close_cause="01",
            ),
            nta_row(
                3,
                C,
                "71",
                name="消滅会社株式会社",
                update_date="2026-12-01",
                close_date="2026-11-29",
                close_cause="11",
                successor_corporate_number=D,
            ),
            nta_row(
                4,
                D,
                "12",
                name="存続会社株式会社",
                update_date="2026-12-01",
                prefecture_name="大阪府",
                city_name="大阪市北区",
                street_number="梅田１丁目１－３",
                post_code="5300001",
            ),
            nta_row(5, E, "99"),
            nta_row(6, A, "11")[:29],  # the wrong length: reported, not applied
        ],
        encoding="cp932",
    )
    applied = await run_cli(database_url, "nta", "import", str(diff), env=PRIORITY)
    assert applied.returncode == 0, applied.stderr + applied.stdout
    assert "expected 30 columns, found 29" in applied.stdout

    renamed = (await client.get(f"/v1/customers/{x}")).json()
    assert renamed["name"] == "新商号株式会社"
    assert renamed["name_kana"] == "シンショウゴウ"
    assert any("/name" in f for f in await events(database_url, x, "customer.updated"))

    moved = (await client.get(f"/v1/customers/{w}")).json()
    assert any(a.get("prefecture") == "大阪府" for a in moved["addresses"])
    assert await events(database_url, w, "customer.registry_changed") == []

    closed = (await client.get(f"/v1/customers/{y}/registry")).json()["link"]
    assert closed["closed"] is True
    assert closed["closed_on"] == "2026-11-27"
    assert closed["close_cause"] == "01"
    assert await events(database_url, y, "customer.registry_changed") == [
        ["/registry/closed_on", "/registry/close_cause", "/status"]
    ]
    assert (await client.get(f"/v1/customers/{y}")).json()["status"] == "closed"
    listed = (await client.get("/v1/customers", params={"status": "closed"})).json()["items"]
    assert {c["id"] for c in listed} == {y, z}

    merged = (await client.get(f"/v1/customers/{z}/registry")).json()["link"]
    assert merged["close_cause"] == "11"
    assert merged["successor_corporate_number"] == D
    assert merged["successor_customer_id"] == w
    (changed,) = await events(database_url, z, "customer.registry_changed")
    assert "/registry/successor_customer_id" in changed and "/status" in changed
    # The successor is a hierarchy relation (承継), dated from the merger, with its event.
    assert await successors(database_url, z) == [(w, "successor", "2026-11-29", f"nta/{C}")]
    assert await events(database_url, z, "customer.relation_changed") == [["/hierarchy/successor"]]

    withdrawn = (await client.get(f"/v1/customers/{v}/registry")).json()["link"]
    assert withdrawn["withdrawn"] is True
    still = (await client.get(f"/v1/customers/{v}")).json()
    assert still["lineage"]["/name"]["system"] == "crm"  # the nta record went
    v_sources = (await client.get(f"/v1/customers/{v}/sources")).json()
    assert [(s["system"], s["source_id"]) for s in v_sources] == [("crm", "AP-V")]
    assert still.get("name_kana") is None  # the registry's フリガナ went with it
    assert any("/name_kana" in f for f in await events(database_url, v, "customer.updated"))
    audit = (await client.get("/v1/audit", params={"customer_id": v})).json()["items"]
    assert "source_record.removed" in [e["action"] for e in audit]
    assert await events(database_url, v, "customer.registry_changed") == [["/registry/withdrawn"]]

    # 22 復活: the closure is lifted.
    revived = write_csv(
        tmp_path / "diff_20261202.csv",
        [nta_row(1, B, "22", name="閉鎖予定株式会社", update_date="2026-12-02")],
    )
    done = await run_cli(database_url, "nta", "import", str(revived), env=PRIORITY)
    assert done.returncode == 0, done.stderr + done.stdout
    reopened = (await client.get(f"/v1/customers/{y}/registry")).json()["link"]
    assert reopened["closed"] is False and reopened["closed_on"] is None
    assert (await events(database_url, y, "customer.registry_changed"))[-1] == [
        "/registry/closed_on",
        "/registry/close_cause",
        "/status",
    ]
    assert (await client.get(f"/v1/customers/{y}")).json()["status"] == "active"

    # Applying again changes nothing: every link is up to date.
    again = await run_cli(database_url, "nta", "apply", env=PRIORITY)
    assert again.returncode == 0, again.stderr
    assert "0 linked customers updated" in again.stdout


async def test_a_merger_waits_for_its_successor_and_72_undoes_it(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    """71 whose successor the hub does not hold yet: pending until a customer of that
    法人番号 arrives; 72 (合併無効) reopens the customer and removes the relation."""
    absorbed = await put(client, "MG-1", crm(C, "消滅会社(株)"))
    full = write_csv(
        tmp_path / "00_zenkoku_all_20261130.csv",
        [nta_row(1, C, name="消滅会社株式会社"), nta_row(2, D, name="存続会社株式会社")],
    )
    assert (await run_cli(database_url, "nta", "import", str(full))).returncode == 0
    merger = write_csv(
        tmp_path / "diff_20261201.csv",
        [
            nta_row(1, C, "71", name="消滅会社株式会社", update_date="2026-12-01",
                    close_date="2026-11-29", close_cause="11", successor_corporate_number=D),
        ],
    )  # fmt: skip
    done = await run_cli(database_url, "nta", "import", str(merger))
    assert done.returncode == 0, done.stderr + done.stdout
    assert (await client.get(f"/v1/customers/{absorbed}")).json()["status"] == "closed"
    link = (await client.get(f"/v1/customers/{absorbed}/registry")).json()["link"]
    assert (link["successor_corporate_number"], link["successor_customer_id"]) == (D, None)
    assert await successors(database_url, absorbed) == []  # pending: no customer of D yet

    # The successor arrives and is linked by its 法人番号: the relation is made.
    survivor = await put(client, "MG-2", crm(D, "存続会社(株)"))
    done = await run_cli(database_url, "nta", "apply")
    assert done.returncode == 0, done.stderr + done.stdout
    link = (await client.get(f"/v1/customers/{absorbed}/registry")).json()["link"]
    assert link["successor_customer_id"] == survivor
    assert await successors(database_url, absorbed) == [
        (survivor, "successor", "2026-11-29", f"nta/{C}")
    ]
    again = await run_cli(database_url, "nta", "apply")
    assert "0 linked customers updated" in again.stdout  # resolved: no longer pending

    undone = write_csv(
        tmp_path / "diff_20261202.csv",
        [nta_row(1, C, "72", name="消滅会社株式会社", update_date="2026-12-02")],
    )
    done = await run_cli(database_url, "nta", "import", str(undone))
    assert done.returncode == 0, done.stderr + done.stdout
    assert (await client.get(f"/v1/customers/{absorbed}")).json()["status"] == "active"
    assert await successors(database_url, absorbed) == []
    assert await events(database_url, absorbed, "customer.relation_changed") == [
        ["/hierarchy/successor"],
        ["/hierarchy/successor"],
    ]
