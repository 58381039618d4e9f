"""Hierarchy columns in imported files (所属法人番号, 本社コード, 親会社コード, 関係種別, ...): the
same links as PUTs of the same records in file order, forward references within a file and
into a later file, refused links (cycle, self-link) reported on their row and column."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import xlsxwriter

from mdm_hub.imports import service as import_service
from mdm_hub.imports.mapping import map_header, map_row
from mdm_hub.imports.service import Runner
from mdm_hub.normalize.corporate_number import check_digit
from tests.imports.files import posted_import
from tests.imports.test_import_jobs import _report, _truncate

HEADER = [
    "取引先コード",
    "会社名",
    "法人番号",
    "住所",
    "電話番号",
    "事業所区分",
    "本社コード",
    "所属法人番号",
    "親会社コード",
    "親会社法人番号",
    "関係種別",
    "関係開始日",
    "関係終了日",
]
KANJI = "甲乙丙丁戊己庚辛壬癸"


def number(i: int) -> str:
    base = f"{4_100_000_000 + i:012d}"
    return f"{check_digit(base)}{base}"


def corporation(code: str, i: int, **links: str) -> dict[str, str]:
    return {
        "取引先コード": code,
        "会社名": f"株式会社{KANJI[i % 10]}{i}精機",
        "法人番号": number(i),
        "住所": f"東京都千代田区丸の内{i % 3 + 1}-{i}-1",
        "電話番号": f"03-6{i:03d}-{i:04d}",
        **links,
    }


def site(code: str, i: int, corporation_i: int, kind: str, **links: str) -> dict[str, str]:
    return {
        "取引先コード": code,
        "会社名": f"株式会社{KANJI[corporation_i % 10]}{corporation_i}精機 {kind}{i}",
        "住所": f"大阪府大阪市北区梅田{i % 3 + 1}-{i}-2",
        "電話番号": f"06-6{i:03d}-{i:04d}",
        "事業所区分": kind,
        **links,
    }


# File 1 in order (line 2 first); P5, C9 and X2 come after rows that name them, Z9 in file 2.
FILE1: list[dict[str, str]] = [
    corporation("P1", 1),
    corporation("C1", 2, 親会社コード="P1", 関係種別="子会社", 関係開始日="令和2年4月1日"),
    corporation(
        "C2",
        3,
        親会社法人番号=number(5),
        関係種別="関連会社",
        関係開始日="H31.4.1",
        関係終了日="2030/3/31",
    ),
    site("S1", 21, 2, "支店", 本社コード="C1", 関係開始日="2021-04-01"),
    site("S2", 22, 1, "営業所", 所属法人番号=number(1)),
    site("S3", 23, 9, "工場", 本社コード="C9"),
    corporation("X1", 6, 親会社コード="X2"),
    corporation("P5", 5),
    corporation("C9", 9, 親会社コード="P1", 関係種別="子会社"),
    corporation("X2", 7, 親会社コード="X1"),  # X1's waiting link to X2 would close a cycle
    corporation("Y1", 8, 親会社コード="Y1"),  # itself
    corporation("Z1", 10, 親会社コード="Z9"),
    corporation("BAD", 11, 親会社コード="P1", 関係種別="兄弟会社"),
]
FILE2: list[dict[str, str]] = [corporation("Z9", 12)]
LINE = {row["取引先コード"]: index for index, row in enumerate(FILE1, start=2)}

# child → (axis, parent, relation type, valid from, valid to), by source id.
EXPECTED = {
    ("C1", "group", "P1", "subsidiary", dt.date(2020, 4, 1), None),
    ("C2", "group", "P5", "affiliate", dt.date(2019, 4, 1), dt.date(2030, 3, 31)),
    ("S1", "site", "C1", "site", dt.date(2021, 4, 1), None),
    ("S2", "site", "P1", "site", None, None),
    ("S3", "site", "C9", "site", None, None),
    ("C9", "group", "P1", "subsidiary", None, None),
    ("X2", "group", "X1", "subsidiary", None, None),
    ("Z1", "group", "Z9", "subsidiary", None, None),
}
SITE_TYPES = {"支店": "branch", "営業所": "sales_office", "工場": "factory"}


def put_body(row: dict[str, str]) -> dict[str, Any]:
    """The body a source system would PUT for the row (written by hand, not by the importer)."""
    body: dict[str, Any] = {
        "kind": "corporation",
        "name": row["会社名"],
        "addresses": [{"full_text": row["住所"]}],
        "phones": [{"number": row["電話番号"], "purpose": "main"}],
    }
    if "法人番号" in row:
        body["corporate_number"] = row["法人番号"]
    relations: dict[str, Any] = {}
    if "事業所区分" in row:
        relations["site_type"] = SITE_TYPES[row["事業所区分"]]
    if "本社コード" in row:
        relations["site_of_source"] = {"source_id": row["本社コード"]}
    if "所属法人番号" in row:
        relations["site_of_corporate_number"] = row["所属法人番号"]
    if "親会社コード" in row:
        relations["parent_source"] = {"source_id": row["親会社コード"]}
    if "親会社法人番号" in row:
        relations["parent_corporate_number"] = row["親会社法人番号"]
    if "関係種別" in row:
        relations["parent_relation_type"] = {"子会社": "subsidiary", "関連会社": "affiliate"}.get(
            row["関係種別"], row["関係種別"]
        )
    link = (
        "site"
        if "site_of_source" in relations or "site_of_corporate_number" in relations
        else "parent"
    )
    if "関係開始日" in row:
        relations[f"{link}_valid_from"] = row["関係開始日"]
    if "関係終了日" in row:
        relations[f"{link}_valid_to"] = row["関係終了日"]
    if relations:
        body["relations"] = relations
    return body


def csv_file(path: Path, data: list[dict[str, str]], header: list[str] = HEADER) -> Path:
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\r\n")
    out.writerow(header)
    out.writerows([row.get(h, "") for h in header] for row in data)
    path.write_bytes(buffer.getvalue().encode("cp932"))
    return path


def xlsx_file(path: Path, data: list[dict[str, str]], header: list[str]) -> Path:
    """An Excel file as people keep them: ISO dates as date cells, 和暦 as text."""
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("取引先")
    dates = book.add_format({"num_format": "yyyy/mm/dd"})
    for c, text in enumerate(header):
        sheet.write_string(0, c, text)
    for r, row in enumerate(data, start=1):
        for c, key in enumerate(HEADER):
            value = row.get(key, "")
            if key.startswith("関係") and key.endswith("日") and value[:1].isdigit():
                parsed = dt.datetime.strptime(value.replace("/", "-"), "%Y-%m-%d")
                sheet.write_datetime(r, c, parsed, dates)
            elif value:
                sheet.write_string(r, c, value)
    book.close()
    return path


async def _fetch(database_url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def _links(database_url: str) -> set[tuple[Any, ...]]:
    """Every link as (child, axis, parent, type, from, to), customers named by source id."""
    found = await _fetch(
        database_url,
        "SELECT c.source_id AS child, r.axis, p.source_id AS parent, r.relation_type, "
        "r.valid_from, r.valid_to FROM customer_relations r "
        "JOIN source_records c ON c.customer_id = r.child_id "
        "JOIN source_records p ON p.customer_id = r.parent_id",
    )
    return {tuple(r.values()) for r in found}


async def _hashes(database_url: str) -> dict[str, str]:
    found = await _fetch(database_url, "SELECT source_id, payload_hash FROM source_records")
    return {r["source_id"]: r["payload_hash"] for r in found}


async def _row_problems(database_url: str) -> dict[int, list[str]]:
    """Rows with problems (line → column:code); file 2's one row has none."""
    found = await _fetch(
        database_url,
        "SELECT r.line, r.problems::text AS problems FROM import_rows r "
        "JOIN import_jobs j ON j.id = r.job_id WHERE NOT j.dry_run",
    )
    return {
        r["line"]: [f"{p['column']}:{p['code']}" for p in json.loads(r["problems"])]
        for r in found
        if json.loads(r["problems"])
    }


def test_relation_columns_map_to_relations() -> None:
    header = map_header(HEADER)
    assert {c.header: c.target for c in header.columns} == {
        "取引先コード": "source_id",
        "会社名": "name",
        "法人番号": "corporate_number",
        "住所": "address",
        "電話番号": "phone",
        "事業所区分": "site_type",
        "本社コード": "site_of_source_id",
        "所属法人番号": "site_of_corporate_number",
        "親会社コード": "parent_source_id",
        "親会社法人番号": "parent_corporate_number",
        "関係種別": "parent_relation_type",
        "関係開始日": "relation_valid_from",
        "関係終了日": "relation_valid_to",
    }
    for row in FILE1:
        mapped = map_row(LINE[row["取引先コード"]], [row.get(h, "") for h in HEADER], header)
        if row["取引先コード"] == "BAD":
            assert [(p.column, p.code) for p in mapped.problems] == [
                ("関係種別", "unknown_relation_type")
            ]
            continue
        assert mapped.problems == []
        assert mapped.payload == put_body(row), row["取引先コード"]
    # A system column sends the record of another system; 親会社名 is no reference (names are
    # ambiguous): reported as an unknown column, not guessed.
    other = map_header(["会社名", "親会社コード", "親会社システム", "親会社名"])
    assert other.unknown == ["親会社名"]
    mapped = map_row(2, ["株式会社甲", "A-1", "erp", "株式会社乙"], other)
    assert mapped.payload["relations"] == {"parent_source": {"source_id": "A-1", "system": "erp"}}
    alone = map_row(3, ["株式会社甲", "", "erp", ""], other)
    assert [(p.column, p.code) for p in alone.problems] == [
        ("親会社システム", "system_without_source_id")
    ]


async def test_api_job_links_as_puts_do_and_reports_refused_links(
    client: httpx.AsyncClient,
    app: Any,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Many partitions (about 2 rows each): rows that name each other must still share one.
    monkeypatch.setattr(import_service, "PARTITION_ROWS", 2)
    first = csv_file(tmp_path / "取引先.csv", FILE1)
    second = csv_file(tmp_path / "取引先2.csv", FILE2)

    async def upload(path: Path, **form: Any) -> str:
        return str((await posted_import(client, path, **form))["id"])

    async def run() -> None:
        # A row per transaction: a link refused when its target came is a problem of the row
        # that named it, written in an earlier batch.
        runner = Runner(app.state.sessionmaker, app.state.settings, batch_size=1)
        await runner.run_until_idle()

    # The preview reports the refused links too, and writes nothing.
    preview = await upload(first, dry_run="true")
    await run()
    by_line = {int(r["line"]): r for r in await _report(client, preview)}
    assert by_line[LINE["X1"]]["problems"] == "親会社コード:cycle"
    assert by_line[LINE["Y1"]]["problems"] == "親会社コード:self_link"
    assert await _links(database_url) == set()

    job = await upload(first)
    await run()
    partitions = await _fetch(
        database_url, f"SELECT source_id, partition FROM import_rows WHERE job_id = '{job}'"
    )
    where = {r["source_id"]: r["partition"] for r in partitions if r["partition"] is not None}
    for child, _, parent, *_ in EXPECTED - {("Z1", "group", "Z9", "subsidiary", None, None)}:
        assert where[child] == where[parent], (child, parent)
    report = {int(r["line"]): r for r in await _report(client, job)}
    assert report[LINE["X1"]]["outcome"] == "new_customer"
    assert report[LINE["X1"]]["problems"] == "親会社コード:cycle"
    assert report[LINE["X2"]]["problems"] == ""
    assert report[LINE["Y1"]]["outcome"] == "new_customer"  # stored, without the link
    assert report[LINE["Y1"]]["problems"] == "親会社コード:self_link"
    assert report[LINE["BAD"]]["outcome"] == "rejected"
    assert report[LINE["BAD"]]["problems"] == "関係種別:unknown_relation_type"
    z1 = (await client.get("/v1/sources/crm/records/Z1")).json()["customer_id"]
    waiting = (await client.get(f"/v1/customers/{z1}/hierarchy")).json()["waiting"]
    assert len(waiting) == 1  # Z9 is in the next file
    assert await _links(database_url) == EXPECTED - {
        ("Z1", "group", "Z9", "subsidiary", None, None)
    }
    await upload(second)
    await run()
    imported = await _links(database_url)
    assert imported == EXPECTED
    hashes = await _hashes(database_url)
    events = await _fetch(
        database_url,
        "SELECT count(*) AS n FROM customer_events WHERE type = 'customer.relation_changed'",
    )
    assert events[0]["n"] == len(EXPECTED)

    # The same records PUT one by one in file order: the same source records, the same links.
    await _truncate(database_url)
    answers = {}
    for row in [*FILE1, *FILE2]:
        answer = await client.put(
            f"/v1/sources/crm/records/{row['取引先コード']}", json=put_body(row)
        )
        answers[row["取引先コード"]] = answer
    assert answers["BAD"].status_code == 422
    # A PUT's own refused link refuses the PUT; in a batch (an import) the row stays stored.
    assert answers["Y1"].status_code == 422
    assert answers["Y1"].json()["errors"][0]["code"] == "self_link"
    assert all(a.status_code in (200, 201) for k, a in answers.items() if k not in ("BAD", "Y1"))
    assert await _links(database_url) == imported
    put_hashes = await _hashes(database_url)
    assert put_hashes == {k: v for k, v in hashes.items() if k != "Y1"}


async def test_cli_xlsx_with_a_mapping_file(database_url: str, tmp_path: Path) -> None:
    # Headers the labels do not know, named by a mapping file kept for the system.
    header = [
        {"本社コード": "拠点の所属先", "親会社コード": "グループ親"}.get(h, h) for h in HEADER
    ]
    first = xlsx_file(tmp_path / "取引先.xlsx", FILE1, header)
    second = xlsx_file(tmp_path / "取引先2.xlsx", FILE2, header)
    mapping = tmp_path / "crm.yaml"
    mapping.write_text(
        "columns:\n  拠点の所属先: site_of_source_id\n  グループ親: parent_source_id\n",
        encoding="utf-8",
    )
    env = {**os.environ, "DATABASE_URL": database_url}
    for path in (first, second):
        command = [sys.executable, "-m", "mdm_hub.cli", "import", str(path), "--system", "crm"]
        done = await asyncio.to_thread(
            subprocess.run,
            [*command, "--mapping", str(mapping), "--batch-size", "3"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "グループ親 → parent_source_id (mapping)" in done.stdout
        assert "関係種別 → parent_relation_type (label)" in done.stdout
    assert await _links(database_url) == EXPECTED
    problems = await _row_problems(database_url)
    assert problems == {
        LINE["X1"]: ["グループ親:cycle"],
        LINE["Y1"]: ["グループ親:self_link"],
        LINE["BAD"]: ["関係種別:unknown_relation_type"],
    }


async def test_links_by_customer_code_share_a_partition(
    client: httpx.AsyncClient,
    app: Any,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two customers already in the hub name each other as parent by their hub customer code
    (親会社MDMコード), far apart in the file: their rows are written in one partition, in file
    order, so the first link stands and the second is refused as a cycle, as PUTs in file
    order would do, however many partitions there are."""
    monkeypatch.setattr(import_service, "PARTITION_ROWS", 2)
    first, second = corporation("E1", 31), corporation("E2", 32)
    codes = {}
    for row in (first, second):
        answer = await client.put(
            f"/v1/sources/crm/records/{row['取引先コード']}", json=put_body(row)
        )
        assert answer.status_code == 201, answer.text
        codes[row["取引先コード"]] = answer.json()["customer"]["customer_code"]
    fillers = [corporation(f"F{i}", 40 + i) for i in range(20)]
    rows = [
        {**first, "親会社MDMコード": codes["E2"]},
        *fillers,
        {**second, "親会社MDMコード": codes["E1"]},
    ]
    path = csv_file(tmp_path / "codes.csv", rows, [*HEADER, "親会社MDMコード"])
    with path.open("rb") as f:
        answer = await client.post(
            "/v1/imports", files={"file": (path.name, f, "text/csv")}, data={"system": "crm"}
        )
    assert answer.status_code == 202, answer.text
    job = answer.json()["id"]
    await Runner(app.state.sessionmaker, app.state.settings, batch_size=1).run_until_idle()
    partitions = await _fetch(
        database_url, f"SELECT source_id, partition FROM import_rows WHERE job_id = '{job}'"
    )
    where = {r["source_id"]: r["partition"] for r in partitions}
    assert len(set(where.values())) > 5  # many partitions
    assert where["E1"] == where["E2"]
    report = {r["source_id"]: r for r in await _report(client, job)}
    assert report["E1"]["problems"] == ""
    assert report["E2"]["problems"] == "親会社MDMコード:cycle"
    assert ("E1", "group", "E2", "subsidiary", None, None) in await _links(database_url)


async def test_waiting_link_of_an_earlier_import_refused_in_the_later_report(
    client: httpx.AsyncClient, app: Any, tmp_path: Path
) -> None:
    """A link waiting since an earlier import (W1 names W2, not there yet), refused when W2
    arrives in a later import (W2 names W1: a cycle): W2's row reports it, in the preview and
    in the import (before, it was only in the audit log); W1's row in the earlier job keeps
    nothing new, and W1 stays stored."""

    async def imported(path: Path, **form: Any) -> list[dict[str, str]]:
        job = await posted_import(client, path, **form)
        await Runner(app.state.sessionmaker, app.state.settings).run_until_idle()
        return await _report(client, str(job["id"]))

    first = await imported(
        csv_file(tmp_path / "w1.csv", [corporation("W1", 31, 親会社コード="W2")])
    )
    assert [(r["source_id"], r["problems"]) for r in first] == [("W1", "")]
    later = csv_file(
        tmp_path / "w2.csv", [corporation("W0", 30), corporation("W2", 32, 親会社コード="W1")]
    )
    for preview in (True, False):
        report = await imported(later, **({"dry_run": "true"} if preview else {}))
        assert [(r["source_id"], r["outcome"], r["problems"]) for r in report] == [
            ("W0", "new_customer", ""),
            ("W2", "new_customer", "waiting_link_refused"),
        ], preview
    w1 = (await client.get("/v1/sources/crm/records/W1")).json()["customer_id"]
    hierarchy = (await client.get(f"/v1/customers/{w1}/hierarchy")).json()
    assert hierarchy["waiting"] == []
    w2 = (await client.get("/v1/sources/crm/records/W2")).json()["customer_id"]
    ancestors = (await client.get(f"/v1/customers/{w2}/hierarchy")).json()["ancestors"]
    assert [(a["id"], a["depth"]) for a in ancestors] == [(w1, 1)]  # W2's own link stands
