"""A dry run (preview) of a generated CP932 file through `mdm-hub import FILE --dry-run`'s code
path: peak memory of the importer and its normalizing pool, CPU seconds (importer with its
pool, PostgreSQL), wall time and load, and a check that nothing was written.

    nice -n 10 .venv/bin/python -u bench/import_dry_run.py [--rows 200000] [--processes 2]
        [--chunk-rows 50000] [--batch-size 500] [--sample-seconds 2] [--progress-seconds 60]

Reuses bench/import.py's generator (wide_rows, write_files), its memory sampler (Memory: RSS and
PSS of the importer, its pool and PostgreSQL) and its row counters. To measure another checkout
of the hub (before/after), run this script with ``PYTHONPATH=<that checkout>/src``: the line
"mdm_hub from" names the code measured.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import io
import multiprocessing
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import print_header
from match_quality import embedded_database
from write_path import _install_keyring, process_tree_cpu

bench_import = importlib.import_module("import")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--processes", type=int, default=0, help="normalizing processes")
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--sample-seconds", type=float, default=2.0)
    parser.add_argument("--progress-seconds", type=float, default=60.0)
    args = parser.parse_args()
    print_header()
    import mdm_hub
    from mdm_hub.imports import service
    from mdm_hub.imports.cli import run_import
    from mdm_hub.imports.service import ImportOptions
    from mdm_hub.settings import Settings

    print(f"mdm_hub from {Path(mdm_hub.__file__).parent}")
    async with embedded_database("mdm_dry_run") as db:
        settings = Settings(
            database_url=db.url,
            import_processes=args.processes,
            import_chunk_rows=args.chunk_rows,
        )
        await _install_keyring(db.dsn)
        started = time.perf_counter()
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            _, lines = await asyncio.wrap_future(
                pool.submit(bench_import.write_files, db.folder, {"crm": args.rows}, args.seed, 0)
            )
        print(*lines, f"(generated in {time.perf_counter() - started:.0f} s)", sep="\n")
        from mdm_hub.normalize import postal

        postal.index()  # `mdm-hub serve` builds it at start: not timed
        postmaster = int(next(db.folder.rglob("postmaster.pid")).read_text().split()[0])
        memory = bench_import.Memory(postmaster, args.sample_seconds, args.progress_seconds)
        bench_import.count_rows(memory)
        memory.start()
        path = db.folder / "crm.csv"
        before = bench_import.load()
        cpu0, pg0 = process_tree_cpu(os.getpid()), process_tree_cpu(postmaster)
        memory.reset()
        started = time.perf_counter()
        job = await run_import(
            db.url,
            settings,
            path,
            ImportOptions(system="crm", filename=path.name, dry_run=True),
            batch_size=args.batch_size,
            out=io.StringIO(),
        )
        elapsed = time.perf_counter() - started
        cpu = process_tree_cpu(os.getpid()) - cpu0
        pg_cpu = process_tree_cpu(postmaster) - pg0
        with memory.lock:
            last = memory.sample()
            peak = {k: max(memory.peak.get(k, 0.0), v) for k, v in last.items()}
            print(memory.line(last, "end"))
        memory.stopped.set()
        done = max(job.rows_done, 1)
        print(
            f"dry run of {args.rows:,} rows (chunks of {args.chunk_rows:,}, batch "
            f"{args.batch_size}, processes {args.processes or 'one per CPU'}): {job.status}, "
            f"{job.rows_done:,} rows in {elapsed:.1f} s wall = {job.rows_done / elapsed:,.0f} "
            f"rows/s; load before {before}, after {bench_import.load()}"
        )
        print(
            f"  CPU: importer with its pool {cpu:,.1f} s ({cpu * 1000 / done:.2f} ms/row), "
            f"PostgreSQL {pg_cpu:,.1f} s ({pg_cpu * 1000 / done:.2f} ms/row)"
        )
        print(
            f"  peak RSS (MiB, sampled every {args.sample_seconds:g} s): importer "
            f"{peak.get('importer', 0):,.0f}, its pool {peak.get('pool', 0):,.0f} (PSS of both "
            f"{peak.get('hub_pss', 0):,.0f}), PostgreSQL {peak.get('postgres', 0):,.0f} (PSS "
            f"{peak.get('postgres_pss', 0):,.0f}); importer's own maximum (getrusage) "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f}"
        )
        held = getattr(service, "HELD_ROWS", None)
        print(f"  outcomes: {job.counts}; most rows held at once: {held.peak if held else 'n/a'}")
        import asyncpg

        conn = await asyncpg.connect(db.dsn)
        try:
            written = {
                t: await conn.fetchval(f"SELECT count(*) FROM {t}")
                for t in ("customers", "source_records", "audit_log", "customer_events")
            }
        finally:
            await conn.close()
        print(f"  written (must all be 0): {written}")


if __name__ == "__main__":
    asyncio.run(main())
