"""`mdm-hub nta import` and `mdm-hub invoice import` end to end: files in the published layouts,
run through the real command against the test PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from mdm_hub.db import sqlalchemy_url
from mdm_hub.registry.importer import Progress, import_file
from tests.registry.files import (
    corporate_number,
    invoice_row,
    nta_row,
    write_csv,
    write_zip,
)

A, B, C, D, E = (corporate_number(n) for n in (100001, 100002, 100003, 100004, 100005))


def _dsn(url: str) -> str:
    return sqlalchemy_url(url).replace("postgresql+asyncpg://", "postgresql://")


async def run_cli(
    database_url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "MDM_LOG_LEVEL": "WARNING", **(env or {})}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "mdm_hub.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def fetch(database_url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def full_file() -> list[list[str]]:
    """A 全件 file: five living corporations."""
    return [
        nta_row(1, A, name="旧商号株式会社", furigana="キュウショウゴウ"),
        nta_row(2, B, name="閉鎖予定株式会社"),
        nta_row(3, C, name="消滅会社株式会社"),
        nta_row(4, D, name="存続会社株式会社"),
        nta_row(5, E, name="誤登録株式会社"),
    ]


def diff_file() -> list[list[str]]:
    """A day's 差分: a 商号変更 (with its superseded row), a closure, a merger, a deletion and a
    row one column short."""
    return [
        nta_row(1, A, "01", name="旧商号株式会社", latest="0", furigana="キュウショウゴウ"),
        nta_row(
            2,
            A,
            "11",
            name="新商号ソフト表示株式会社",
            furigana="シンショウゴウ",
            update_date="2026-12-01",
            change_date="2026-11-28",
        ),
        nta_row(
            3,
            B,
            "21",
            name="閉鎖予定株式会社",
            update_date="2026-12-01",
            close_date="2026-11-27",
            close_cause="01",
        ),
        nta_row(
            4,
            C,
            "71",
            name="消滅会社株式会社",
            update_date="2026-12-01",
            close_date="2026-11-26",
            close_cause="11",
            successor_corporate_number=D,
        ),
        nta_row(5, E, "99"),
        nta_row(6, D, "12", street_number="大手町２丁目２－２")[:29],
    ]


async def test_full_zip_then_diff_shift_jis_through_the_cli(
    database_url: str, tmp_path: Path
) -> None:
    full = write_zip(
        tmp_path / "13_tokyo_all_20261130.zip", "13_tokyo_all_20261130.csv", full_file()
    )
    done = await run_cli(database_url, "nta", "import", str(full))
    assert done.returncode == 0, done.stderr
    assert "5 rows read, 5 imported, 0 rejected" in done.stdout
    assert "(utf-8-sig)" in done.stdout

    diff = write_csv(tmp_path / "diff_20261201.csv", diff_file(), encoding="cp932")
    done = await run_cli(database_url, "nta", "import", str(diff))
    assert done.returncode == 0, done.stderr
    assert "(cp932)" in done.stdout
    assert "6 rows read, 5 imported, 1 rejected" in done.stdout
    assert "rejected row 6: expected 30 columns, found 29" in done.stdout
    assert "diff_20261201.csv: row 6" in done.stderr  # progress

    rows = {
        r["corporate_number"]: r
        for r in await fetch(database_url, "SELECT * FROM nta_corporations")
    }
    assert rows[A]["name"] == "新商号ソフト表示株式会社"  # decoded before parsing (0x5C bytes)
    assert rows[A]["furigana"] == "シンショウゴウ"
    assert rows[A]["process"] == "11"
    assert rows[A]["change_date"] == dt.date(2026, 11, 28)
    assert rows[B]["process"] == "21"
    assert (rows[B]["close_date"], rows[B]["close_cause"]) == (dt.date(2026, 11, 27), "01")
    assert rows[C]["successor_corporate_number"] == D
    assert rows[C]["close_cause"] == "11"
    assert rows[E]["deleted"] is True and rows[E]["process"] == "99"
    assert rows[E]["name"] == "誤登録株式会社"  # the last published name is kept
    assert rows[D]["street_number"] == "丸の内１丁目１－１"  # the short row changed nothing
    assert not any(rows[n]["deleted"] for n in (A, B, C, D))

    history = await fetch(
        database_url,
        "SELECT corporate_number, process FROM nta_corporation_history "
        "ORDER BY corporate_number, id",
    )
    by_number: dict[str, list[str]] = {}
    for h in history:
        by_number.setdefault(h["corporate_number"], []).append(h["process"])
    # The superseded 01 row of A in the 差分 is the same published row as in the 全件: kept once.
    assert by_number == {
        A: ["01", "11"],
        B: ["01", "21"],
        C: ["01", "71"],
        D: ["01"],
        E: ["01", "99"],
    }

    rejects = await fetch(database_url, "SELECT * FROM registry_import_rejects")
    assert [(r["row_number"], r["reason"]) for r in rejects] == [
        (6, "expected 30 columns, found 29")
    ]
    assert len(rejects[0]["fields"]) == 29

    again = await run_cli(database_url, "nta", "import", str(diff))
    assert again.returncode == 0
    assert "already imported" in again.stdout
    imports = await fetch(database_url, "SELECT status, rows_read FROM registry_imports")
    assert sorted((i["status"], i["rows_read"]) for i in imports) == [("done", 5), ("done", 6)]


async def test_an_older_file_read_late_does_not_undo_a_newer_one(
    database_url: str, tmp_path: Path
) -> None:
    newer = write_csv(
        tmp_path / "newer.csv",
        [nta_row(1, A, "11", name="新商号株式会社", update_date="2026-12-02")],
    )
    older = write_csv(tmp_path / "older.csv", [nta_row(1, A, name="旧商号株式会社")])
    for path in (newer, older):
        done = await run_cli(database_url, "nta", "import", str(path))
        assert done.returncode == 0, done.stderr
    [row] = await fetch(database_url, "SELECT name, process FROM nta_corporations")
    assert (row["name"], row["process"]) == ("新商号株式会社", "11")
    assert len(await fetch(database_url, "SELECT 1 FROM nta_corporation_history")) == 2


async def test_an_interrupted_import_resumes_after_the_last_committed_row(
    database_url: str, tmp_path: Path
) -> None:
    rows = [nta_row(i, corporate_number(200000 + i), name=f"会社{i}株式会社") for i in range(1, 12)]
    path = write_zip(tmp_path / "00_zenkoku_all_20261130.zip", "00_zenkoku_all.csv", rows)

    class Crash(Exception):
        pass

    def crash_after_two_batches(state: Progress) -> None:
        if state.rows_read >= 6:
            raise Crash

    with pytest.raises(Crash):
        await import_file(
            _dsn(database_url), path, "nta", batch_size=3, progress=crash_after_two_batches
        )
    [checkpoint] = await fetch(database_url, "SELECT status, rows_read FROM registry_imports")
    assert (checkpoint["status"], checkpoint["rows_read"]) == ("running", 6)
    assert len(await fetch(database_url, "SELECT 1 FROM nta_corporations")) == 6

    done = await run_cli(database_url, "nta", "import", str(path), "--batch-size", "3")
    assert done.returncode == 0, done.stderr
    assert "resumed after row 6" in done.stdout
    assert "11 rows read, 11 imported, 0 rejected" in done.stdout
    names = await fetch(database_url, "SELECT name FROM nta_corporations ORDER BY name")
    assert len(names) == 11
    assert len(await fetch(database_url, "SELECT 1 FROM nta_corporation_history")) == 11

    restarted = await run_cli(database_url, "nta", "import", str(path), "--restart")
    assert restarted.returncode == 0, restarted.stderr
    assert "11 rows read, 11 imported" in restarted.stdout
    assert len(await fetch(database_url, "SELECT 1 FROM nta_corporation_history")) == 11


async def test_a_file_in_the_other_encoding_stops_at_the_row_not_garbled(
    database_url: str, tmp_path: Path
) -> None:
    ascii_only = {"prefecture_name": "Tokyo", "city_name": "Chiyoda", "street_number": "1-1"}
    rows = [
        nta_row(1, A, name="ASCII Only Co.", furigana="", **ascii_only),
        nta_row(2, B, name="日本語株式会社"),
    ]
    path = write_csv(tmp_path / "sjis.csv", rows, encoding="cp932")
    done = await run_cli(database_url, "nta", "import", str(path), "--encoding", "utf-8")
    assert done.returncode == 1
    assert "sjis.csv: line 2 cannot be decoded as utf-8" in done.stderr
    names = [r["name"] for r in await fetch(database_url, "SELECT name FROM nta_corporations")]
    assert "日本語株式会社" not in names

    not_a_file = await run_cli(database_url, "nta", "import", str(tmp_path / "missing.zip"))
    assert not_a_file.returncode == 1
    assert "no such file" in not_a_file.stderr


async def test_invoice_import_keeps_status_and_dates(database_url: str, tmp_path: Path) -> None:
    rows = [
        invoice_row(1, "T" + A),
        invoice_row(2, "T" + B, "03", expire_date="2026-10-31", update_date="2026-11-01"),
        invoice_row(3, "T" + C, "04", disposal_date="2026-09-30", update_date="2026-10-01"),
        invoice_row(4, "T" + D, "99"),
        invoice_row(5, "T" + E, kind="1", name="山田太郎"),
        invoice_row(6, "T" + E)[:20],
    ]
    path = write_zip(tmp_path / "houjin_all_20261130.zip", "houjin_all_20261130.csv", rows)
    done = await run_cli(database_url, "invoice", "import", str(path))
    assert done.returncode == 0, done.stderr
    assert "6 rows read, 4 imported, 2 rejected" in done.stdout
    assert "rejected row 5: kind: a 個人 row (personal data) is not imported" in done.stdout
    assert "rejected row 6: expected 24 columns, found 20" in done.stdout
    found = {
        r["registration_number"]: r
        for r in await fetch(database_url, "SELECT * FROM invoice_registrations")
    }
    assert set(found) == {"T" + A, "T" + B, "T" + C, "T" + D}
    assert found["T" + A]["status"] == "registered"
    assert found["T" + A]["corporate_number"] == A
    assert found["T" + A]["registration_date"] == dt.date(2023, 10, 1)
    assert (found["T" + B]["status"], found["T" + B]["expire_date"]) == (
        "expired",
        dt.date(2026, 10, 31),
    )
    assert (found["T" + C]["status"], found["T" + C]["disposal_date"]) == (
        "revoked",
        dt.date(2026, 9, 30),
    )
    assert found["T" + D]["status"] == "deleted"
    stored = await fetch(
        database_url, "SELECT row_number, fields FROM registry_import_rejects ORDER BY row_number"
    )
    assert [(r["row_number"], len(r["fields"])) for r in stored] == [(5, 0), (6, 20)]


async def test_a_folder_imports_its_new_files_in_name_order(
    database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "nta"
    folder.mkdir()
    write_zip(folder / "00_zenkoku_all_20261130.zip", "all.csv", [nta_row(1, A, name="旧株式会社")])
    write_csv(
        folder / "diff_20261201.csv",
        [nta_row(1, A, "11", name="新株式会社", update_date="2026-12-01")],
    )
    (folder / "readme.txt").write_text("not a registry file")
    done = await run_cli(database_url, "nta", "import", str(folder))
    assert done.returncode == 0, done.stderr
    assert "all.csv (utf-8-sig): 1 rows read" in done.stdout
    assert "diff_20261201.csv (utf-8-sig): 1 rows read" in done.stdout
    [row] = await fetch(database_url, "SELECT name FROM nta_corporations")
    assert row["name"] == "新株式会社"

    write_csv(
        folder / "diff_20261202.csv",
        [
            nta_row(
                1,
                A,
                "12",
                name="新株式会社",
                street_number="大手町１－１",
                update_date="2026-12-02",
            )
        ],
    )
    again = await run_cli(database_url, "nta", "import", str(folder))
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already imported") == 2
    assert "diff_20261202.csv (utf-8-sig): 1 rows read, 1 imported" in again.stdout
