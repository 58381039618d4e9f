"""Bulk import throughput and quality: generated CP932 CSVs (Japanese headers, ~30 % duplicate
rows with 表記ゆれ) through `mdm-hub import`'s code path, beside one-by-one PUTs of the same rows.

    .venv/bin/python bench/import.py [--rows 20000] [--existing-rows N] [--processes 1]
                                     [--profile]

1. Starts an embedded PostgreSQL in a temporary folder and migrates it (bench/match_quality.py).
2. Generates the rows (``mdm_hub.imports.sample.generated_rows``: real postal codes and towns;
   a duplicate row is one of the last 50,000 entities as another clerk typed it; the generator
   knows which entity each row is): the first ``--rows`` go to crm.csv, the next
   ``--existing-rows`` (default: as many) to billing.csv — the same entities, so billing.csv
   meets the customers crm.csv created.
3. Speed (Japan Post's index is built before the clock starts, as `mdm-hub serve` builds it at
   start): ``mdm_hub.imports.cli.run_import`` (what `mdm-hub import FILE` runs: file stored in
   the database, read, mapped, normalized once while staged, partitioned, written in batches
   through the batch write path) of crm.csv into the empty hub, then of billing.csv into the hub
   that now holds crm.csv's customers: rows/s end to end, and the RSS of the hub's processes
   (this one, its normalizing processes, and PostgreSQL's) with ``uptime`` beside each figure.
4. Quality and baseline: empties the hub and PUTs the first ``--quality-rows`` rows of crm.csv
   one by one in file order through the real app (httpx over ASGI): the PUT rate, and pairwise
   precision/recall of the import of those rows (step 3's clusters, restricted to them) and of
   the PUTs against the truth, and how many rows ended in a different cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import csv
import gc
import io
import os
import pstats
import resource
import sys
import time
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import print_header
from match_quality import app_client, embedded_database
from write_path import _install_keyring, process_tree_cpu


def write_csv(path: Path, rows: list[list[str]]) -> None:
    from mdm_hub.imports.sample import LIST_HEADER

    with path.open("w", encoding="cp932", errors="replace", newline="") as f:
        out = csv.writer(f)
        out.writerow(LIST_HEADER)
        out.writerows(rows)


def load() -> str:
    return os.popen("uptime").read().strip().split("load average: ")[-1]


def pool_rss_mib() -> float:
    """The RSS of this process's normalizing processes (children running Python)."""
    total = 0
    me = str(os.getpid())
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and Path(f"/proc/{pid}/stat").read_text().split()[3] == me:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:") and "python" in os.readlink(f"/proc/{pid}/exe"):
                        total += int(line.split()[1])
        except (OSError, IndexError):
            continue
    return total / 1024


def postgres_rss_mib(folder: Path) -> float:
    """The RSS of the embedded PostgreSQL's processes (their command line names its folder)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if str(folder).encode() not in cmdline and b"postgres:" not in cmdline:
                continue
            exe = os.readlink(f"/proc/{pid}/exe")
            if "postgres" not in exe or not Path(f"/proc/{pid}/cwd").resolve().is_relative_to(
                folder
            ):
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total / 1024


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
    parser.add_argument("--existing-rows", type=int, default=None)
    parser.add_argument("--quality-rows", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--processes", type=int, default=1, help="normalizing processes")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument(
        "--profile", action="store_true",
        help="cProfile the first import (this process; the figures then include the profiler)",
    )  # fmt: skip
    args = parser.parse_args()
    second = args.rows if args.existing_rows is None else args.existing_rows
    print_header()
    from mdm_hub.imports.cli import run_import
    from mdm_hub.imports.mapping import map_header, map_row
    from mdm_hub.imports.reader import file_format, read_rows
    from mdm_hub.imports.sample import generated_rows
    from mdm_hub.imports.service import ImportOptions
    from mdm_hub.settings import Settings

    async with embedded_database("mdm_import") as db:
        settings = Settings(database_url=db.url, import_processes=args.processes)
        await _install_keyring(db.dsn)  # as `mdm-hub import` loads the field keys
        from mdm_hub.normalize import postal

        postal.index()  # built once per process (`mdm-hub serve` builds it at start): not timed
        truth: dict[str, int] = {}
        files = {"crm": db.folder / "crm.csv", "billing": db.folder / "billing.csv"}
        generated = generated_rows(args.rows + second, args.seed)
        for system, count in (("crm", args.rows), ("billing", second)):
            rows = []
            for _ in range(count):
                values, entity = next(generated)
                truth[values[0]] = entity
                rows.append(values)
            write_csv(files[system], rows)
            dups = count - len({truth[r[0]] for r in rows})
            print(f"{system}.csv: {count:,} rows, CP932, "
                  f"{files[system].stat().st_size / 1e6:.1f} MB, {dups:,} rows repeat an entity "
                  "of the same file")  # fmt: skip

        postmaster = int(next(db.folder.rglob("postmaster.pid")).read_text().split()[0])
        import asyncpg

        stats_conn = await asyncpg.connect(db.dsn)
        # PostgreSQL times every trigger function (PL/pgSQL) of the import's connections.
        await stats_conn.execute("ALTER DATABASE mdm_import SET track_functions = 'all'")

        gc_cpu = [
            0.0,
            0.0,
            0,
        ]  # CPU seconds in the cyclic collector, start of the current one, runs

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gc_cpu[1] = time.process_time()
            else:
                gc_cpu[0] += time.process_time() - gc_cpu[1]
                gc_cpu[2] += info["generation"] == 2

        gc.callbacks.append(on_gc)

        async def run(path: Path, system: str, profile: bool = False) -> None:
            await stats_conn.execute("SELECT pg_stat_reset()")
            gc_cpu[0] = gc_cpu[2] = 0
            before = load()
            cpu0, pg0 = process_tree_cpu(os.getpid()), process_tree_cpu(postmaster)
            profiler = cProfile.Profile() if profile else None
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            job = await run_import(
                db.url, settings, path, ImportOptions(system=system, filename=path.name),
                batch_size=args.batch_size, out=io.StringIO(),
            )  # fmt: skip
            if profiler is not None:
                profiler.disable()
            elapsed = time.perf_counter() - started
            cpu = process_tree_cpu(os.getpid()) - cpu0
            pg_cpu = process_tree_cpu(postmaster) - pg0
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            pg = postgres_rss_mib(db.folder)
            print(
                f"  {job.status}, {job.rows_done:,} rows in {elapsed:.1f} s = "
                f"{job.rows_done / elapsed:,.0f} rows/s; load before {before}, after {load()}"
            )
            print(
                f"  RSS: importer peak {rss:,.0f} MiB, its normalizing processes now "
                f"{pool_rss_mib():,.0f} MiB, PostgreSQL now {pg:,.0f} MiB"
            )
            per_row = (cpu + pg_cpu) / max(job.rows_done, 1)
            print(f"  CPU: importer {cpu * 1000 / max(job.rows_done, 1):.2f} ms/row, PostgreSQL "
                  f"{pg_cpu * 1000 / max(job.rows_done, 1):.2f} ms/row: on 2 idle cores at most "
                  f"{2 / per_row:,.0f} rows/s")  # fmt: skip
            print(f"  outcomes: {job.counts}")  # fmt: skip
            gc_ms = gc_cpu[0] * 1000 / max(job.rows_done, 1)
            print(f"  cyclic garbage collector (this process): {gc_ms:.2f} ms/row, "
                  f"{gc_cpu[2]} full collections; {len(gc.get_objects()):,} objects "
                  f"tracked, {gc.get_freeze_count():,} frozen")  # fmt: skip
            await asyncio.sleep(1.5)  # the backends report their function times when idle
            functions = await stats_conn.fetch(
                "SELECT funcname, calls, total_time, self_time FROM pg_stat_user_functions "
                "WHERE calls > 0 ORDER BY total_time DESC"
            )
            rows_done = max(job.rows_done, 1)
            print(f"  trigger functions: {sum(f['self_time'] for f in functions) / rows_done:.3f} "
                  "ms/row in all (self time; PostgreSQL's own timing)")  # fmt: skip
            for f in functions[:12]:
                print(f"    {f['funcname']}: {f['calls']:,} calls, "
                      f"{f['total_time'] / rows_done:.3f} ms/row")  # fmt: skip
            if profiler is not None:
                stats = pstats.Stats(profiler)
                stats.sort_stats("tottime").print_stats(40)
                stats.sort_stats("cumulative").print_stats(80)

        print(f"import crm.csv into an empty hub (batch {args.batch_size}, "
              f"{args.processes} normalizing process(es)):")  # fmt: skip
        await run(files["crm"], "crm", profile=args.profile)
        imported = {s: c for s, c in (await clusters(db.dsn)).items() if s.startswith("R")}
        print("import billing.csv into the hub holding crm.csv's customers:")
        await run(files["billing"], "billing")
        await stats_conn.close()

        await truncate(db.dsn)
        fmt = file_format(files["crm"])
        reader = read_rows(files["crm"], fmt)
        header = map_header(next(reader).values)
        bodies = []
        for row in reader:
            if len(bodies) == args.quality_rows:
                break
            bodies.append(map_row(row.line, row.values, header))
        before = load()
        async with app_client(db.url) as client:
            started = time.perf_counter()
            for mapped in bodies:
                await client.put(f"/v1/sources/crm/records/{mapped.source_id}", json=mapped.payload)
            put_elapsed = time.perf_counter() - started
        one_by_one = await clusters(db.dsn)
        print(f"PUT one by one in file order, the first {len(bodies):,} rows of crm.csv: "
              f"{len(bodies) / put_elapsed:,.1f} records/s; load before {before}, "
              f"after {load()}")  # fmt: skip
        sample = {m.source_id for m in bodies}
        imported = {s: c for s, c in imported.items() if s in sample}
        for name, found in (("import", imported), ("one-by-one PUTs", one_by_one)):
            p, r = precision_recall(found, truth)
            print(f"  {name:<16} {len(found):,} stored, {len(set(found.values())):,} customers, "
                  f"pairwise precision {p:.4f} recall {r:.4f}")  # fmt: skip
        print(f"  rows in a different cluster between the two: {moved(imported, one_by_one)}")


if __name__ == "__main__":
    asyncio.run(main())
