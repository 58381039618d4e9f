"""Real files for the import tests: CP932 (with ㈱, ①, Ⅲ, 髙, half-width kana and 0x5C
second bytes), UTF-8 with BOM, TSV and xlsx (written with xlsxwriter)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx
import xlsxwriter

HEADER = [
    "取引先コード",
    "区分",
    "会社名",
    "フリガナ",
    "〒",
    "住所",
    "TEL",
    "メールアドレス",
    "取引開始日",
    "取引金額",
    "ランク",
    "備考",
]


def rows(count: int = 40) -> list[list[str]]:
    """``count`` rows, every fourth a duplicate of the row before it as another clerk typed it,
    and one row with an invalid phone (rejected)."""
    out = []
    for i in range(count):
        base = i - 1 if i % 4 == 3 else i
        dup = base != i
        name = f"㈱能登ソフト表計算{base}" if not dup else f"株式会社能登ソフト表計算{base}"
        out.append(
            [
                f"T{i:04d}",
                "法人",
                name,
                f"ﾉﾄｿﾌﾄﾋｮｳｹｲｻﾝ{base}" if not dup else f"ノトソフトヒョウケイサン{base}",
                f"100-{base % 10:04d}" if not dup else f"〒100{base % 10:04d}",
                f"東京都千代田区丸の内{base % 3 + 1}丁目{base + 1}番{base % 7 + 1}号 髙橋ビル①Ⅲ",
                f"03-{1000 + base:04d}-{2000 + base:04d}"
                if not dup
                else f"03{1000 + base:04d}{2000 + base:04d}",
                f"info{base}@noto.example.jp",
                "令和2年4月1日" if base % 2 else "H30.5.1",
                f"{(base + 1) * 1000:,}",
                "A",
                "ｿﾉﾀ表示\\能",
            ]
        )
    if count > 5:
        out[5][6] = "12"  # not a phone number
    return out


def text_file(path: Path, encoding: str, data: list[list[str]], delimiter: str = ",") -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(data)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def xlsx_file(path: Path, data: list[list[str]], sheet: str = "顧客一覧") -> Path:
    book = xlsxwriter.Workbook(str(path))
    first = book.add_worksheet("表紙")
    first.write(0, 0, "この表は顧客一覧です")
    sheet_ = book.add_worksheet(sheet)
    for c, text in enumerate(HEADER):
        sheet_.write_string(0, c, text)
    for r, row in enumerate(data, start=1):
        for c, value in enumerate(row):
            if c == 9:  # amounts as numbers, as Excel users enter them
                sheet_.write_number(r, c, int(value.replace(",", "")))
            else:
                sheet_.write_string(r, c, value)
    book.close()
    return path


async def posted_import(
    client: httpx.AsyncClient, path: Path, system: str = "crm", **form: Any
) -> dict[str, Any]:
    """``POST /v1/imports`` with the file and the form fields; the 202's job."""
    with path.open("rb") as f:
        answer = await client.post(
            "/v1/imports",
            files={"file": (path.name, f, "application/octet-stream")},
            data={"system": system, **{k: str(v) for k, v in form.items()}},
        )
    assert answer.status_code == 202, answer.text
    job: dict[str, Any] = answer.json()
    return job
