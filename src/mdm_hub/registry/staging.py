"""One batch of a published file, parsed and encoded for ``COPY … (FORMAT csv)`` into the
staging table (pure; runs in the import's worker processes).

Parsing and encoding are most of the importer's own CPU: done in a process pool, they overlap
with PostgreSQL's work on the batch before, and the main process only ships bytes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mdm_hub.registry.layouts import ParsedRow, RowError, parse_invoice_row, parse_nta_row

PARSERS = {"nta": parse_nta_row, "invoice": parse_invoice_row}


@dataclass(frozen=True)
class StagedBatch:
    """A batch ready to COPY: the CSV bytes of its good rows, and its rejected rows."""

    data: bytes
    rows: int
    rejects: list[tuple[RowError, list[str]]]
    last_row: int


def _array(fields: Sequence[str]) -> str:
    """A text[] literal of ``fields``, every element quoted."""
    probe = "".join(fields)
    if "\\" in probe or '"' in probe:
        fields = [f.replace("\\", "\\\\").replace('"', '\\"') for f in fields]
    return '{"' + '","'.join(fields) + '"}'


def encode(row: ParsedRow, columns: Sequence[str]) -> list[Any]:
    """One staging line for ``csv.writer``: row_number, the parsed ``columns`` (None is the
    empty unquoted field, NULL to COPY; booleans as True/False, dates in ISO form), the raw
    fields as a text[] literal, the digest."""
    values = row.values
    return [row.row_number, *[values[c] for c in columns], _array(row.fields), row.digest]


def stage_batch(
    kind: str, columns: Sequence[str], rows: Sequence[tuple[int, list[str]]]
) -> StagedBatch:
    """Parse ``rows`` ((row number, fields) as read) and encode the good ones."""
    parse = PARSERS[kind]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    good = 0
    rejects: list[tuple[RowError, list[str]]] = []
    for row_number, fields in rows:
        parsed = parse(fields, row_number)
        if isinstance(parsed, RowError):
            rejects.append((parsed, fields))
        else:
            writer.writerow(encode(parsed, columns))
            good += 1
    return StagedBatch(out.getvalue().encode(), good, rejects, rows[-1][0] if rows else 0)
