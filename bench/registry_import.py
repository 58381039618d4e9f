"""`mdm-hub nta import` on a generated national 全件 file in the published layout, then a day's
差分 against the loaded registry: wall time, rows/s, the importer's peak RSS, and the CPU
seconds of the importer (with its worker processes) and of PostgreSQL (all its processes), which
unlike wall time do not depend on what else runs on the machine.

With ``--customers N``, N customers (crm records, each with a 法人番号 of the file) are written
through the write path first: the 全件 import links them and makes the registry their source
``nta``; the 差分 then touches ``--linked-in-diff`` of them (商号変更, 所在地変更, 閉鎖), and its
time includes applying it to them.

    .venv/bin/python bench/registry_import.py --rows 500000 --diff-rows 10000 --customers 2000

Uses DATABASE_URL when set, else an embedded PostgreSQL in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import print_header

from mdm_hub.migrate import upgrade
from mdm_hub.normalize.corporate_number import check_digit

PREFECTURES = [("13", "東京都", "101", "千代田区"), ("27", "大阪府", "128", "大阪市中央区")]
KINDS = ["301", "301", "301", "302", "305", "399"]


def number(i: int) -> str:
    base = f"{1_000_000_000 + i:012d}"
    return f"{check_digit(base)}{base}"


def row(seq: int, i: int, rng: random.Random, process: str = "01", day: str = "2026-11-30"):
    pref_code, pref, city_code, city = PREFECTURES[i % len(PREFECTURES)]
    name = f"{'株式会社' if i % 2 else ''}テスト商事{i}{'' if i % 2 else '株式会社'}"
    return [
        str(seq), number(i), process, "0", day, day if process != "01" else "2015-10-05",
        name, "", rng.choice(KINDS), pref, city, f"丸の内{i % 9 + 1}丁目{i % 30 + 1}－{i % 12 + 1}",
        "", pref_code, city_code, f"{1000000 + i % 900000:07d}", "", "", "", "", "", "",
        "2015-10-05", "1", f"Test Shoji {i} Co., Ltd.", pref, "", "", f"テストショウジ{i}", "0",
    ]  # fmt: skip


def write_zip(path: Path, rows) -> None:  # type: ignore[no-untyped-def]
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open(path.stem + ".csv", "w") as raw,
    ):
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        for r in rows:
            writer.writerow(r)
        text.flush()
        text.detach()


def _ticks(pid: int, children: bool) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime, stime (and cutime, cstime: the children it waited for) in clock ticks
    return sum(int(f) for f in fields[11 : 15 if children else 13])


def postgres_cpu(data_dir: Path | None) -> float:
    """CPU seconds of the embedded PostgreSQL: the postmaster with its exited children, and
    its live children."""
    if data_dir is None:
        return float("nan")
    postmaster = int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
    total = _ticks(postmaster, children=True)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parts = stat.read_text().rsplit(")", 1)[1].split()
            if int(parts[1]) == postmaster:
                total += _ticks(int(stat.parent.name), children=False)
        except (OSError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def importer_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_import(url: str, path: Path) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mdm_hub.cli", "nta", "import", str(path), "--batch-size", "10000"],
        env={**os.environ, "DATABASE_URL": url, "MDM_LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before) / 1024, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--diff-rows", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=0)
    parser.add_argument("--linked-in-diff", type=int, default=None)
    args = parser.parse_args()
    print_header()
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        folder = Path(tmp)
        url = os.environ.get("DATABASE_URL")
        data_dir = None
        if not url:
            from mdm_hub.embedded import start_embedded_postgres

            data_dir = folder / "pg"
            url = start_embedded_postgres(data_dir)
        upgrade(url)
        step = args.rows // max(args.customers, 1)
        linked = [1 + k * step for k in range(args.customers)]
        if linked:
            started = time.perf_counter()
            asyncio.run(write_customers(url, linked))
            print(f"wrote {len(linked):,} customers in {time.perf_counter() - started:.1f} s")
        rng = random.Random(7)
        full = folder / "00_zenkoku_all_20261130.zip"
        started = time.perf_counter()
        write_zip(full, (row(s, s, rng) for s in range(1, args.rows + 1)))
        print(
            f"generated {args.rows:,} rows: {full.stat().st_size / 1e6:.1f} MB zipped "
            f"in {time.perf_counter() - started:.1f} s"
        )
        cpu, pg = importer_cpu(), postgres_cpu(data_dir)
        elapsed, rss, out = run_import(url, full)
        cpu, pg = importer_cpu() - cpu, postgres_cpu(data_dir) - pg
        print(out)
        print(
            f"全件 import: {elapsed:.1f} s, {args.rows / elapsed:,.0f} rows/s, "
            f"importer peak RSS {rss:.0f} MB; CPU: importer {cpu:.1f} s, PostgreSQL {pg:.1f} s "
            f"({(cpu + pg) / args.rows * 1e6:.0f} µs per row)"
        )

        in_diff = linked[: args.linked_in_diff if args.linked_in_diff is not None else len(linked)]
        others = sorted(set(range(1, args.rows + 1)) - set(in_diff))
        changed = in_diff + rng.sample(others, args.diff_rows - len(in_diff))
        diff_rows = []
        for seq, i in enumerate(changed, 1):
            r = row(seq, i, rng, process=rng.choice(["11", "12", "21"]), day="2026-12-01")
            if r[2] == "11":
                r[6] = r[6].replace("テスト商事", "新テスト商事")
            diff_rows.append(r)
        diff = folder / "diff_20261201.zip"
        write_zip(diff, diff_rows)
        cpu, pg = importer_cpu(), postgres_cpu(data_dir)
        elapsed, rss, out = run_import(url, diff)
        cpu, pg = importer_cpu() - cpu, postgres_cpu(data_dir) - pg
        print(out)
        print(
            f"差分 import ({args.diff_rows:,} rows against {args.rows:,}, {len(in_diff):,} of them "
            f"linked customers): {elapsed:.1f} s; CPU: importer {cpu:.1f} s, PostgreSQL {pg:.1f} s"
        )


async def write_customers(url: str, numbers: list[int]) -> None:
    """Customers through the write path (as PUT /v1/sources/crm/records/… stores them)."""
    from mdm_hub.context import Actor
    from mdm_hub.db import create_engine, create_sessionmaker
    from mdm_hub.record import CustomerIn
    from mdm_hub.settings import get_settings
    from mdm_hub.sources.service import put_source_record

    settings = get_settings().model_copy(update={"database_url": url})
    engine = create_engine(url, settings)
    sessions = create_sessionmaker(engine)
    try:
        for i in numbers:
            payload = CustomerIn.model_validate(
                {
                    "kind": "corporation",
                    "name": f"テスト商事{i}(株)",
                    "corporate_number": number(i),
                    "addresses": [{"prefecture": "東京都", "city": "港区", "street": f"芝{i}"}],
                }
            )
            async with sessions() as session, session.begin():
                await put_source_record(
                    session, settings, Actor(subject="bench"), "crm", f"C{i}", payload
                )
    finally:
        await engine.dispose()


if __name__ == "__main__":
    main()
