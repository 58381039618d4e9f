"""What the quality triggers of migrations 0016 (法人番号 coverage states, per-day 最終取引日 of
the source records) and 0021 (per-day freshness counts, the T-number status) cost the writer.

In one sitting, on one embedded PostgreSQL, alternating: the triggers of 0016 and 0021 enabled
(as shipped), 0021's disabled, and both disabled (ALTER TABLE … DISABLE TRIGGER; 0008's and
0014's counts stay on in every case):

* a bulk load: ``--rows`` customers then one source record each, generated in PostgreSQL
  (bench/quality_kpis.py's statements), then the tables emptied;
* PUTs through the real app (ASGI, in process): ``--puts`` writes in blocks of 25 per case,
  half new customers and half updates of an existing source record.

Wall time, and CPU seconds of this process (the app) and of the PostgreSQL processes (from
/proc), per case.

    .venv/bin/python bench/quality_trigger_cost.py --rows 100000 --puts 300
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from machine import print_header
from match_quality import app_client, embedded_database
from quality_kpis import _CUSTOMERS, _SOURCES

EVENTS = ("insert", "update", "delete")
TRIGGERS_0016 = [
    (table, f"{table}_quality_registry_{e}")
    for table in ("customers", "registry_links", "registry_proposals", "source_records")
    for e in EVENTS
] + [("source_records", f"source_records_quality_transactions_{e}") for e in EVENTS]
TRIGGERS_0021 = [
    (table, f"{table}_quality_days_{e}")
    for table in ("customers", "source_records")
    for e in EVENTS
] + [("invoice_registrations", f"invoice_registrations_quality_registry_{e}") for e in EVENTS]
CASES = {
    "0016 + 0021 (as shipped)": [],
    "without 0021": TRIGGERS_0021,
    "without 0016 and 0021": TRIGGERS_0016 + TRIGGERS_0021,
}
TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def postgres_cpu(folder: Path) -> float:
    """CPU seconds (user + system, reaped children included) of this bench's PostgreSQL: the
    postmaster (its data folder on its command line) and its children."""
    marker = str(folder).encode()
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    total = 0.0
    postmasters = set()
    for pid in pids:
        try:
            if marker in Path(f"/proc/{pid}/cmdline").read_bytes():
                postmasters.add(pid)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    for pid in pids:
        try:
            fields = _stat(pid)
            if pid in postmasters or fields[1] in postmasters:
                total += sum(int(f) for f in fields[11:15]) / TICKS
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
            continue
    return total


async def set_case(conn: asyncpg.Connection, off: list[tuple[str, str]]) -> None:
    for table, name in TRIGGERS_0016 + TRIGGERS_0021:
        state = "DISABLE" if (table, name) in off else "ENABLE"
        await conn.execute(f"ALTER TABLE {table} {state} TRIGGER {name}")


def corporation(i: int, version: int) -> dict[str, Any]:
    return {
        "kind": "corporation",
        "name": f"株式会社ベンチ{i:06d}",
        "phones": [{"number": f"03-{3000 + i % 6000:04d}-{i % 10000:04d}"}],
        "addresses": [
            {
                "postal_code": "100-0005",
                "prefecture": "東京都",
                "city": "千代田区",
                "town": "丸の内",
                "street": f"{i % 9 + 1}-{i % 7 + 1}-{version}",
            }
        ],
        "transactions": {"last_transaction_on": f"2025-0{1 + version % 9}-15"},
    }


async def run(rows: int, puts: int, rounds: int) -> None:
    async with embedded_database("mdm_bench_trigger_cost") as db:
        conn = await asyncpg.connect(db.dsn)
        try:
            loads: dict[str, list[tuple[float, float, float]]] = {c: [] for c in CASES}
            for round_ in range(rounds):
                for case, off in CASES.items():
                    await conn.execute(
                        "TRUNCATE customers, source_records, quality_count_deltas, "
                        "quality_registry_states, quality_registry_source_states CASCADE"
                    )
                    await conn.execute("VACUUM ANALYZE")
                    await set_case(conn, off)
                    parts = []
                    for sql in (_CUSTOMERS, _SOURCES):
                        cpu = postgres_cpu(db.folder)
                        started = time.perf_counter()
                        await conn.execute(sql.replace(":n", str(rows)))
                        parts.append((time.perf_counter() - started, postgres_cpu(db.folder) - cpu))
                    loads[case].append((parts[0][0], parts[1][0], parts[0][1] + parts[1][1]))
                    print(
                        f"round {round_ + 1} load {rows:,} [{case}]: customers "
                        f"{parts[0][0]:.1f} s, source records {parts[1][0]:.1f} s, "
                        f"PostgreSQL CPU {parts[0][1] + parts[1][1]:.1f} s, "
                        f"load {os.getloadavg()[0]:.1f}"
                    )
            for case, runs in loads.items():
                print(
                    f"bulk load [{case}]: customers median "
                    f"{statistics.median(r[0] for r in runs):.1f} s, source records "
                    f"{statistics.median(r[1] for r in runs):.1f} s, PostgreSQL CPU "
                    f"{statistics.median(r[2] for r in runs):.1f} s"
                )
            await set_case(conn, [])
            await conn.execute(
                "TRUNCATE customers, source_records, quality_count_deltas, "
                "quality_registry_states, quality_registry_source_states CASCADE"
            )
        finally:
            await conn.close()

        async with app_client(db.url) as client:
            conn = await asyncpg.connect(db.dsn)
            try:
                # A master to write into: 2,000 customers through the app.
                for i in range(2000):
                    answer = await client.put(
                        f"/v1/sources/crm/records/M{i}", json=corporation(i, 0)
                    )
                    assert answer.status_code in (200, 201), answer.text
                times: dict[str, list[float]] = {c: [] for c in CASES}
                cpu: dict[str, list[float]] = {c: [0.0, 0.0] for c in CASES}
                block = 25
                n = 0
                version = 1
                while n < puts:
                    for case, off in CASES.items():
                        await set_case(conn, off)
                        pg = postgres_cpu(db.folder)
                        app = time.process_time()
                        for j in range(block):
                            k = n + j
                            if k % 2:
                                path = f"crm/records/M{k % 2000}"
                                body = corporation(k % 2000, version)
                            else:
                                path = f"web/records/N{k}-{case[:4]}"
                                body = corporation(10_000 + k * 7 + len(case), 0)
                            started = time.perf_counter()
                            answer = await client.put(f"/v1/sources/{path}", json=body)
                            times[case].append(time.perf_counter() - started)
                            assert answer.status_code in (200, 201), answer.text
                        cpu[case][0] += time.process_time() - app
                        cpu[case][1] += postgres_cpu(db.folder) - pg
                    n += block
                    version += 1
                await set_case(conn, [])
            finally:
                await conn.close()
            for case, samples in times.items():
                samples.sort()
                print(
                    f"PUT [{case}]: {len(samples)} writes, p50 "
                    f"{statistics.median(samples) * 1000:.1f} ms, p90 "
                    f"{samples[int(len(samples) * 0.9)] * 1000:.1f} ms, app CPU "
                    f"{cpu[case][0] / len(samples) * 1000:.1f} ms/PUT, PostgreSQL CPU "
                    f"{cpu[case][1] / len(samples) * 1000:.1f} ms/PUT"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--puts", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print_header()
    asyncio.run(run(args.rows, args.puts, args.rounds))


if __name__ == "__main__":
    main()
