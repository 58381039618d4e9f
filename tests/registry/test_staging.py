"""Batches parsed in worker processes and COPYed as CSV: every character of a published row
arrives as it was (quotes, backslashes, commas, braces), whether parsed in the pool or not."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdm_hub.registry.importer import import_file
from tests.registry.files import corporate_number, nta_row, write_csv
from tests.registry.test_import_cli import _dsn, fetch

ODD = '株式会社"引用"\\符,{括弧}NULL'


@pytest.mark.parametrize("workers", [0, 2])
async def test_odd_characters_survive_the_staging_copy(
    database_url: str, tmp_path: Path, workers: int
) -> None:
    number = corporate_number(500000 + workers)
    rows = [nta_row(1, number, name=ODD, en_name="", furigana='カ"ブ\\')]
    rows += [nta_row(i, corporate_number(510000 + 100 * workers + i)) for i in range(2, 8)]
    rows.append(nta_row(8, number)[:12])  # rejected, between good rows
    path = write_csv(tmp_path / f"odd{workers}.csv", rows)
    (result,) = await import_file(_dsn(database_url), path, "nta", batch_size=3, workers=workers)
    assert (result.rows_read, result.rows_imported, result.rows_rejected) == (8, 7, 1)
    assert result.first_rejects[0].row_number == 8

    (row,) = await fetch(
        database_url,
        "SELECT name, furigana, en_name, hihyoji, update_date::text AS day"
        " FROM nta_corporations WHERE corporate_number = $1",
        number,
    )
    assert (row["name"], row["furigana"], row["en_name"]) == (ODD, 'カ"ブ\\', None)
    assert row["hihyoji"] is False and row["day"] == "2026-11-30"
    (history,) = await fetch(
        database_url,
        "SELECT fields FROM nta_corporation_history WHERE corporate_number = $1",
        number,
    )
    assert history["fields"] == rows[0]
