"""Bulk import throughput and quality: a generated CP932 CSV (Japanese headers, ~30 % duplicate
rows with 表記ゆれ) through `mdm-hub import`'s code path into an empty hub, beside one-by-one PUTs.

    .venv/bin/python bench/import.py [--rows 20000] [--quality-rows 2000] [--batch-size 500]

1. Starts an embedded PostgreSQL in a temporary folder and migrates it (bench/match_quality.py).
2. Writes the CSV (entities and variants from ``mdm_hub.imports.sample``: real postal codes and
   towns; every duplicate row is an earlier customer as another clerk typed it; the generator
   knows which customer each row is, for pairwise precision and recall).
3. Speed (Japan Post's index, built once per process, is built before the clock starts, as
   the app's lifespan does for the PUTs): imports it with ``mdm_hub.imports.cli.run_import``
   (what `mdm-hub import FILE` runs: file stored in the database, read, mapped, normalized,
   partitioned, written row by row through the single write path in checkpointed batches)
   into the empty hub: rows/s end to end and the process's peak RSS (PostgreSQL's own memory
   is not included).
4. Quality and baseline: empties the hub, imports the first ``--quality-rows`` rows as a file of
   their own; empties it again and PUTs the same rows one by one in file order through the real
   app (httpx over ASGI): the baseline rate, and pairwise precision/recall of both against the
   truth, and how many rows ended in a different cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import random
import resource
import sys
import time
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import print_header
from match_quality import app_client, embedded_database

HEADER = ["顧客コード", "区分", "会社名", "フリガナ", "郵便番号", "住所", "電話番号",
          "メールアドレス", "業種", "ランク", "取引開始日", "取引金額"]  # fmt: skip


def generate(rows: int, seed: int) -> tuple[list[list[str]], dict[str, int]]:
    from mdm_hub.imports.sample import _Entities, _one_line, _vary

    maker = _Entities(seed)
    rng = random.Random(seed)
    entities: list[dict[str, str]] = []
    out: list[list[str]] = []
    truth: dict[str, int] = {}
    while len(out) < rows:
        if entities and rng.random() < 0.3:
            entity = rng.randrange(len(entities))
            e = _vary(rng, entities[entity])
        else:
            entity = len(entities)
            e = maker.entity(entity)
            entities.append(e)
        source_id = f"R{len(out):07d}"
        truth[source_id] = entity
        out.append(
            [source_id, e["kind"], e["name"], e["kana"], e["postal"], _one_line(e), e["phone"],
             e["email"], e["industry"], e["rank"], e["started"], f"{int(e['amount']):,}"]
        )  # fmt: skip
    return out, truth


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="cp932", errors="replace", newline="") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        out.writerows(rows)


def pairs(groups: dict[object, list[str]]) -> set[tuple[str, str]]:
    return {p for members in groups.values() for p in combinations(sorted(members), 2)}


async def clusters(dsn: str) -> dict[str, str]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT source_id, customer_id::text FROM source_records")
    finally:
        await conn.close()
    return {r["source_id"]: r["customer_id"] for r in rows}


def precision_recall(found: dict[str, str], truth: dict[str, int]) -> tuple[float, float]:
    by_customer: dict[object, list[str]] = {}
    by_entity: dict[object, list[str]] = {}
    for source_id, customer in found.items():
        by_customer.setdefault(customer, []).append(source_id)
        by_entity.setdefault(truth[source_id], []).append(source_id)
    got, real = pairs(by_customer), pairs(by_entity)
    tp = len(got & real)
    return (tp / len(got) if got else 1.0, tp / len(real) if real else 1.0)


def moved(a: dict[str, str], b: dict[str, str]) -> int:
    """Rows whose cluster (as a set of source ids) differs between the two runs."""

    def members(x: dict[str, str]) -> dict[str, frozenset[str]]:
        groups: dict[str, set[str]] = {}
        for source_id, customer in x.items():
            groups.setdefault(customer, set()).add(source_id)
        return {s: frozenset(groups[c]) for s, c in x.items()}

    ma, mb = members(a), members(b)
    return sum(1 for s in ma if ma[s] != mb.get(s))


async def truncate(dsn: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        )
        await conn.execute(f"TRUNCATE {', '.join(t['tablename'] for t in tables)} CASCADE")
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--quality-rows", type=int, default=2_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    print_header()
    from mdm_hub.imports.cli import run_import
    from mdm_hub.imports.mapping import map_header, map_row
    from mdm_hub.imports.reader import file_format, read_rows
    from mdm_hub.imports.service import ImportOptions
    from mdm_hub.settings import Settings

    rows, truth = generate(max(args.rows, args.quality_rows), args.seed)
    dups = len(rows) - len(set(truth.values()))
    async with embedded_database("mdm_import") as db:
        settings = Settings(database_url=db.url)

        async def run(path: Path) -> tuple[float, object]:
            started = time.perf_counter()
            job = await run_import(
                db.url, settings, path, ImportOptions(system="crm", filename=path.name),
                batch_size=args.batch_size, out=io.StringIO(),
            )  # fmt: skip
            return time.perf_counter() - started, job

        from mdm_hub.normalize import postal

        postal.index()  # built once per process (`mdm-hub serve` builds it at start): not timed
        path = db.folder / "customers.csv"
        write_csv(path, rows[: args.rows])
        print(f"file: {args.rows:,} rows, CP932, {path.stat().st_size / 1e6:.1f} MB, "
              f"{dups:,} duplicate rows ({dups / len(rows):.0%})")  # fmt: skip
        elapsed, job = await run(path)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rate = job.rows_done / elapsed  # type: ignore[attr-defined]
        print(f"import into an empty hub: {job.status}, {job.rows_done:,} rows in "  # type: ignore[attr-defined]
              f"{elapsed:.1f} s = {rate:,.0f} rows/s; peak RSS {rss:,.0f} MiB")  # fmt: skip
        print(f"  outcomes: {job.counts}")  # type: ignore[attr-defined]

        await truncate(db.dsn)
        quality = db.folder / "quality.csv"
        write_csv(quality, rows[: args.quality_rows])
        elapsed, job = await run(quality)
        imported = await clusters(db.dsn)
        await truncate(db.dsn)
        fmt = file_format(quality)
        reader = read_rows(quality, fmt)
        header = map_header(next(reader).values)
        bodies = [map_row(r.line, r.values, header) for r in reader]
        async with app_client(db.url) as client:
            started = time.perf_counter()
            for mapped in bodies:
                await client.put(f"/v1/sources/crm/records/{mapped.source_id}", json=mapped.payload)
            put_elapsed = time.perf_counter() - started
        one_by_one = await clusters(db.dsn)
        put_rate = len(bodies) / put_elapsed
        print(f"same {len(bodies):,} rows: import {len(bodies) / elapsed:,.0f} rows/s; "
              f"PUT one by one in file order {put_rate:,.0f} records/s")  # fmt: skip
        for name, found in (("import", imported), ("one-by-one PUTs", one_by_one)):
            p, r = precision_recall(found, truth)
            print(f"  {name:<16} {len(found):,} stored, {len(set(found.values())):,} customers, "
                  f"pairwise precision {p:.4f} recall {r:.4f}")  # fmt: skip
        print(f"  rows in a different cluster between the two: {moved(imported, one_by_one)}")


if __name__ == "__main__":
    asyncio.run(main())
