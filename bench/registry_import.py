"""`mdm-hub nta import` on a generated national 全件 file in the published layout, then a day's
差分 against the loaded registry: wall time, rows/s and the importer's peak RSS.

    .venv/bin/python bench/registry_import.py --rows 500000 --diff-rows 10000

Uses DATABASE_URL when set, else an embedded PostgreSQL in a temporary folder.
"""

from __future__ import annotations

import argparse
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
    args = parser.parse_args()
    print_header()
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        folder = Path(tmp)
        url = os.environ.get("DATABASE_URL")
        if not url:
            from mdm_hub.embedded import start_embedded_postgres

            url = start_embedded_postgres(folder / "pg")
        upgrade(url)
        rng = random.Random(7)
        full = folder / "00_zenkoku_all_20261130.zip"
        started = time.perf_counter()
        write_zip(full, (row(s, s, rng) for s in range(1, args.rows + 1)))
        print(
            f"generated {args.rows:,} rows: {full.stat().st_size / 1e6:.1f} MB zipped "
            f"in {time.perf_counter() - started:.1f} s"
        )
        elapsed, rss, out = run_import(url, full)
        print(out)
        print(
            f"全件 import: {elapsed:.1f} s, {args.rows / elapsed:,.0f} rows/s, "
            f"importer peak RSS {rss:.0f} MB"
        )

        changed = rng.sample(range(1, args.rows + 1), args.diff_rows)
        diff_rows = []
        for seq, i in enumerate(changed, 1):
            r = row(seq, i, rng, process=rng.choice(["11", "12", "21"]), day="2026-12-01")
            if r[2] == "11":
                r[6] = r[6].replace("テスト商事", "新テスト商事")
            diff_rows.append(r)
        diff = folder / "diff_20261201.zip"
        write_zip(diff, diff_rows)
        elapsed, rss, out = run_import(url, diff)
        print(out)
        print(f"差分 import ({args.diff_rows:,} rows against {args.rows:,}): {elapsed:.1f} s")


if __name__ == "__main__":
    main()
