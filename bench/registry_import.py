"""`mdm-hub nta import` on a generated national 全件 file in the published layout, then a day's
差分 against the loaded registry: wall time, rows/s, the importer's peak RSS, and the CPU
seconds of the importer (with its worker processes) and of PostgreSQL (all its processes), which
unlike wall time do not depend on what else runs on the machine.

With ``--customers N``, N customers (crm records, each with a 法人番号 of the file) are written
through the write path first: the 全件 import links them and makes the registry their source
``nta``; the 差分 then touches ``--linked-in-diff`` of them (商号変更, 所在地変更, 閉鎖), and its
time includes applying it to them.

    .venv/bin/python bench/registry_import.py --rows 500000 --diff-rows 10000 --customers 2000

With ``--hub N`` (the 差分 against a large hub), the registry (``--rows`` corporations, the
rows the 全件 file would give: current table and history) and a hub of N customers are
generated in PostgreSQL instead (INSERT … SELECT generate_series: minutes, where the write path
would take hours). Each customer is a clone of one template customer written through the real
write path (its customer row, golden record, lineage and crm source record, with the number in
its name, its code and its 法人番号 replaced); ``--hub-linked`` of them carry a 法人番号 of the
registry and are linked as a 全件 apply leaves them (``registry_links`` applied at the file's
date), the others a 法人番号 the registry does not publish. Not cloned: the clones' match keys
(the template's own are there) and the linked customers' ``nta`` source records, so the 差分's
linked customers get their ``nta`` source record written new (the pinned new-record path)
instead of changed. Then the 差分 (``--diff-rows``, ``--linked-in-diff`` of them linked
customers) goes through the real ``mdm-hub nta import`` (import + apply), timed:

    .venv/bin/python bench/registry_import.py --rows 5000000 --hub 1000000 --hub-linked 200000 \
        --diff-rows 10000 --linked-in-diff 2000

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
import uuid
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import postgres_cpu, print_header

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


def write_diff(
    folder: Path,
    numbers: list[int],
    rng: random.Random,
    day: str = "2026-12-01",
    renamed: str = "新テスト商事",
) -> Path:
    """A 差分 file of ``day`` for the registry rows ``numbers``: each a 商号変更 (11, the name
    with ``renamed``), a 所在地変更 (12) or a closure (21, 閉鎖等の事由 01: 清算の結了等)."""
    diff_rows = []
    for seq, i in enumerate(numbers, 1):
        r = row(seq, i, rng, process=rng.choice(["11", "12", "21"]), day=day)
        if r[2] == "11":
            r[6] = r[6].replace("テスト商事", renamed)
        elif r[2] == "12":
            r[11] = r[11].replace("丸の内", "大手町")
        elif r[2] == "21":
            r[18], r[19] = day, "01"
        diff_rows.append(r)
    diff = folder / f"diff_{day.replace('-', '')}.zip"
    write_zip(diff, diff_rows)
    return diff


def importer_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_import(url: str, path: Path) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    # BENCH_IMPORTER_PREFIX: a profiler's command line to run the importer under, e.g.
    # "py-spy record -o diff.svg --" (its CPU seconds then include the profiler's).
    prefix = os.environ.get("BENCH_IMPORTER_PREFIX", "").split()
    done = subprocess.run(
        [
            *prefix,
            sys.executable,
            "-m",
            "mdm_hub.cli",
            "nta",
            "import",
            str(path),
            "--batch-size",
            "10000",
        ],
        env={**os.environ, "DATABASE_URL": url, "MDM_LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:  # the figures still count; what failed is shown
        print(f"exit status {done.returncode} after {elapsed:.1f} s; stderr (end):")
        print(done.stderr[-3000:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before) / 1024, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--diff-rows", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=0)
    parser.add_argument("--linked-in-diff", type=int, default=None)
    parser.add_argument("--hub", type=int, default=0, help="customers generated in SQL")
    parser.add_argument("--hub-linked", type=int, default=200_000)
    parser.add_argument(
        "--second-diff",
        action="store_true",
        help="with --hub: then the next day's 差分 of the same rows (the linked customers' nta "
        "source records changed instead of written new)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the embedded PostgreSQL in this folder; with --hub, the generated registry "
        "and hub are kept (database bench_hub_base) and reused by the next run with the same "
        "sizes, each run applying the 差分 to a fresh copy of them",
    )
    args = parser.parse_args()
    print_header()
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        folder = Path(tmp)
        url = os.environ.get("DATABASE_URL")
        data_dir = None
        if args.data_dir is not None and args.hub:
            data_dir = args.data_dir
            url = kept_hub(data_dir, args)
            diff_against_hub(url, folder, data_dir, args, generate=False)
            return
        if not url:
            from mdm_hub.embedded import start_embedded_postgres

            data_dir = folder / "pg" if args.data_dir is None else args.data_dir
            url = start_embedded_postgres(data_dir)
        upgrade(url)
        if args.hub:
            diff_against_hub(url, folder, data_dir, args)
            return
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
        cpu, pg = importer_cpu(), postgres_cpu(data_dir and data_dir / "pg")
        elapsed, rss, out = run_import(url, full)
        cpu, pg = importer_cpu() - cpu, postgres_cpu(data_dir and data_dir / "pg") - pg
        print(out)
        print(
            f"全件 import: {elapsed:.1f} s, {args.rows / elapsed:,.0f} rows/s, "
            f"importer peak RSS {rss:.0f} MB; CPU: importer {cpu:.1f} s, PostgreSQL {pg:.1f} s "
            f"({(cpu + pg) / args.rows * 1e6:.0f} µs per row)"
        )

        if args.diff_rows == 0:
            return
        in_diff = linked[: args.linked_in_diff if args.linked_in_diff is not None else len(linked)]
        others = sorted(set(range(1, args.rows + 1)) - set(in_diff))
        changed = in_diff + rng.sample(others, args.diff_rows - len(in_diff))
        diff = write_diff(folder, changed, rng)
        cpu, pg = importer_cpu(), postgres_cpu(data_dir and data_dir / "pg")
        elapsed, rss, out = run_import(url, diff)
        cpu, pg = importer_cpu() - cpu, postgres_cpu(data_dir and data_dir / "pg") - pg
        print(out)
        print(
            f"差分 import ({args.diff_rows:,} rows against {args.rows:,}, {len(in_diff):,} of them "
            f"linked customers): {elapsed:.1f} s; CPU: importer {cpu:.1f} s, PostgreSQL {pg:.1f} s"
        )


# The registry as a 全件 import of ``row()``'s rows leaves it (current state and history), in
# SQL: the 法人番号's check digit computed as normalize.corporate_number does.
_NUMBER_SQL = """(SELECT (9 - sum(substr(b, k, 1)::int * CASE WHEN k % 2 = 1 THEN 2 ELSE 1 END)
        % 9)::text || b FROM (SELECT lpad((1000000000 + {i})::text, 12, '0') AS b) x,
        generate_series(1, 12) AS k GROUP BY b)"""
_REGISTRY = f"""
INSERT INTO nta_corporations (
    corporate_number, sequence_number, process, correct, update_date, change_date, name, kind,
    prefecture_name, city_name, street_number, prefecture_code, city_code, post_code,
    assignment_date, en_name, en_prefecture_name, furigana, hihyoji, deleted, import_id)
SELECT {_NUMBER_SQL.format(i="i")}, i, '01', false, DATE '2026-11-30', DATE '2015-10-05',
       CASE WHEN i % 2 = 1 THEN '株式会社テスト商事' || i ELSE 'テスト商事' || i || '株式会社' END,
       (ARRAY['301', '301', '301', '302', '305', '399'])[1 + i % 6],
       CASE WHEN i % 2 = 0 THEN '東京都' ELSE '大阪府' END,
       CASE WHEN i % 2 = 0 THEN '千代田区' ELSE '大阪市中央区' END,
       '丸の内' || (i % 9 + 1) || '丁目' || (i % 30 + 1) || '－' || (i % 12 + 1),
       CASE WHEN i % 2 = 0 THEN '13' ELSE '27' END, CASE WHEN i % 2 = 0 THEN '101' ELSE '128' END,
       lpad((1000000 + i % 900000)::text, 7, '0'), DATE '2015-10-05',
       'Test Shoji ' || i || ' Co., Ltd.', CASE WHEN i % 2 = 0 THEN '東京都' ELSE '大阪府' END,
       'テストショウジ' || i, false, false, 0
FROM generate_series(1, $1) AS i
"""
_HISTORY = """
INSERT INTO nta_corporation_history (corporate_number, process, update_date, change_date, fields,
                                     digest, import_id, row_number)
SELECT corporate_number, process, update_date, change_date,
       ARRAY[sequence_number::text, corporate_number, process, '0', update_date::text,
             change_date::text, name, '', kind, prefecture_name, city_name, street_number, '',
             prefecture_code, city_code, post_code, '', '', '', '', '', '',
             assignment_date::text, '1', en_name, en_prefecture_name, '', '', furigana, '0'],
       md5(corporate_number || name), 0, sequence_number
FROM nta_corporations
"""
TEMPLATE = 987654321  # the template customer's number: its digits are replaced in the clones

# Clones of the template customer: the template's rows as text with its digits, its code and
# its 法人番号 replaced. Customer j (1-based) carries registry corporation j * step when j <=
# linked, else a number beyond the registry.
_CLONE_CUSTOMERS = f"""
INSERT INTO customers (id, customer_code, kind, status, version, name, name_key, name_kana,
                       corporate_number, phones, emails, record, lineage, created_at, updated_at)
SELECT gen_random_uuid(), 'H' || lpad(j::text, 8, '0'), t.kind, 'active', 1,
       replace(t.name, '{TEMPLATE}', n.i::text), replace(t.name_key, '{TEMPLATE}', n.i::text),
       t.name_kana, n.number, t.phones, t.emails,
       replace(replace(replace(t.record::text, t.corporate_number, n.number), '{TEMPLATE}',
                       n.i::text), t.customer_code, 'H' || lpad(j::text, 8, '0'))::jsonb,
       replace(replace(t.lineage::text, '{TEMPLATE}', n.i::text), t.customer_code,
               'H' || lpad(j::text, 8, '0'))::jsonb,
       t.created_at, t.updated_at
FROM customers t, generate_series($1::int, $2::int) AS j,
     LATERAL (SELECT CASE WHEN j <= $3 THEN j * $4 ELSE 20000000 + j END AS i) i,
     LATERAL (SELECT i.i, {_NUMBER_SQL.format(i="i.i")} AS number) n
WHERE t.id = $5
"""
_CLONE_SOURCES = f"""
INSERT INTO source_records (system, source_id, customer_id, raw_payload, payload_hash,
                            normalized, changes, findings, decision, version, created_at,
                            updated_at)
SELECT s.system, replace(s.source_id, '{TEMPLATE}', i.i::text), c.id,
       replace(replace(s.raw_payload::text, t.corporate_number, c.corporate_number),
               '{TEMPLATE}', i.i::text)::jsonb,
       s.payload_hash,
       replace(replace(s.normalized::text, t.corporate_number, c.corporate_number),
               '{TEMPLATE}', i.i::text)::jsonb,
       s.changes, s.findings, s.decision, 1, s.created_at, s.updated_at
FROM customers t JOIN source_records s ON s.customer_id = t.id, customers c,
     LATERAL (SELECT substr(c.customer_code, 2)::int AS j) j,
     LATERAL (SELECT CASE WHEN j.j <= $4 THEN j.j * $5 ELSE 20000000 + j.j END AS i) i
WHERE t.id = $1 AND c.customer_code BETWEEN $2 AND $3
"""
_CLONE_LINKS = """
INSERT INTO registry_links (customer_id, corporate_number, linked_by, applied_update_date,
                            applied_process)
SELECT c.id, c.corporate_number, 'corporate_number', n.update_date, n.process
FROM customers c JOIN nta_corporations n ON n.corporate_number = c.corporate_number
WHERE c.customer_code LIKE 'H%'
"""


BASE, RUN = "bench_hub_base", "bench_hub_run"


def kept_hub(data_dir: Path, args: argparse.Namespace) -> str:
    """The URL of a fresh copy (database bench_hub_run) of the registry and hub kept in
    ``data_dir`` (database bench_hub_base), generated first when missing or of other sizes.
    The copy is migrated to this checkout's newest revision."""
    from mdm_hub.embedded import start_embedded_postgres

    sizes = (args.rows, args.hub, args.hub_linked)
    base_url = start_embedded_postgres(data_dir, BASE)
    if asyncio.run(_kept_sizes(base_url)) != sizes:
        print(f"generating the registry and hub {sizes} into {BASE}")
        _admin(base_url, f"DROP DATABASE {BASE}", f"CREATE DATABASE {BASE}")
        upgrade(base_url)
        _generate(base_url, args)
        asyncio.run(_kept_sizes(base_url, sizes))
    else:
        print(f"reusing the registry and hub {sizes} kept in {data_dir}")
    started = time.perf_counter()
    _admin(
        base_url,
        f"DROP DATABASE IF EXISTS {RUN}",
        f"CREATE DATABASE {RUN} TEMPLATE {BASE} STRATEGY FILE_COPY",
    )
    url = base_url.replace(f"/{BASE}?", f"/{RUN}?")
    upgrade(url)
    asyncio.run(_analyze(url))
    print(f"copied and migrated in {time.perf_counter() - started:.1f} s")
    return url


def _admin(url: str, *statements: str) -> None:
    async def run() -> None:
        import asyncpg

        from mdm_hub.db import sqlalchemy_url

        dsn = sqlalchemy_url(url).replace("+asyncpg", "").replace(f"/{BASE}?", "/postgres?")
        conn = await asyncpg.connect(dsn)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


async def _kept_sizes(
    url: str, sizes: tuple[int, int, int] | None = None
) -> tuple[int, int, int] | None:
    """The sizes the kept hub was generated with (None: not generated), or record them."""
    import asyncpg

    from mdm_hub.db import sqlalchemy_url

    conn = await asyncpg.connect(sqlalchemy_url(url).replace("+asyncpg", ""))
    try:
        if sizes is not None:
            await conn.execute("CREATE TABLE bench_hub_sizes (rows int, hub int, linked int)")
            await conn.execute("INSERT INTO bench_hub_sizes VALUES ($1, $2, $3)", *sizes)
            return sizes
        if await conn.fetchval("SELECT to_regclass('bench_hub_sizes')") is None:
            return None
        found = await conn.fetchrow("SELECT rows, hub, linked FROM bench_hub_sizes")
        return (found["rows"], found["hub"], found["linked"]) if found else None
    finally:
        await conn.close()


async def _analyze(url: str) -> None:
    """Statistics for the tables a new migration may have changed (the copy keeps the
    base's)."""
    import asyncpg

    from mdm_hub.db import sqlalchemy_url

    conn = await asyncpg.connect(sqlalchemy_url(url).replace("+asyncpg", ""))
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def _generate(url: str, args: argparse.Namespace) -> None:
    step = args.rows // args.hub_linked
    if args.hub_linked > args.hub or step < 1:
        raise SystemExit("--hub-linked must be at most --hub and at most --rows")
    started = time.perf_counter()
    template = asyncio.run(write_template(url))
    print(f"template customer written through the write path: {template}")
    asyncio.run(generate_hub(url, template, args, step))
    print(f"registry and hub generated in {time.perf_counter() - started:.1f} s")


def diff_against_hub(
    url: str,
    folder: Path,
    data_dir: Path | None,
    args: argparse.Namespace,
    *,
    generate: bool = True,
) -> None:
    """The registry and the hub generated in SQL, then the 差分 through the real command."""
    step = args.rows // args.hub_linked
    if generate:
        _generate(url, args)
    linked = [k * step for k in range(1, args.hub_linked + 1)]
    in_diff = linked[:: max(1, len(linked) // (args.linked_in_diff or 2000))][
        : args.linked_in_diff or 2000
    ]
    rng = random.Random(7)
    chosen = set(in_diff)
    others: list[int] = []
    while len(others) < args.diff_rows - len(in_diff):
        i = rng.randrange(1, args.rows + 1)
        if i % step != 0 and i not in chosen:
            chosen.add(i)
            others.append(i)
    diff = write_diff(folder, in_diff + others, rng)
    print(f"uptime before the 差分: {os.getloadavg()}")
    cpu, pg = importer_cpu(), postgres_cpu(data_dir and data_dir / "pg")
    elapsed, rss, out = run_import(url, diff)
    cpu, pg = importer_cpu() - cpu, postgres_cpu(data_dir and data_dir / "pg") - pg
    print(out)
    print(
        f"差分 import + apply ({args.diff_rows:,} rows against a registry of {args.rows:,} and "
        f"a hub of {args.hub:,} customers, {args.hub_linked:,} linked; {len(in_diff):,} of the "
        f"rows linked customers): {elapsed:.1f} s; CPU: importer {cpu:.1f} s, PostgreSQL "
        f"{pg:.1f} s; importer peak RSS {rss:.0f} MB; load after {os.getloadavg()}"
    )
    if not args.second_diff:
        return
    # The next day's 差分 of the same rows: the linked customers' nta source records exist now
    # (written by the first), so this one changes them, as a daily 差分 after a 全件 does.
    diff = write_diff(folder, in_diff + others, rng, day="2026-12-02", renamed="改テスト商事")
    print(f"uptime before the second 差分: {os.getloadavg()}")
    cpu, pg = importer_cpu(), postgres_cpu(data_dir and data_dir / "pg")
    elapsed, rss, out = run_import(url, diff)
    cpu, pg = importer_cpu() - cpu, postgres_cpu(data_dir and data_dir / "pg") - pg
    print(out)
    print(
        f"second 差分 import + apply (the same rows, their linked customers' nta records "
        f"changed): {elapsed:.1f} s; CPU: importer {cpu:.1f} s, PostgreSQL {pg:.1f} s; "
        f"importer peak RSS {rss:.0f} MB; load after {os.getloadavg()}"
    )


async def write_template(url: str) -> str:
    await write_customers(url, [TEMPLATE])
    import asyncpg

    from mdm_hub.db import sqlalchemy_url

    conn = await asyncpg.connect(sqlalchemy_url(url).replace("+asyncpg", ""))
    try:
        return str(await conn.fetchval("SELECT id FROM customers"))
    finally:
        await conn.close()


async def generate_hub(url: str, template: str, args: argparse.Namespace, step: int) -> None:
    import asyncpg

    from mdm_hub.db import sqlalchemy_url

    conn = await asyncpg.connect(sqlalchemy_url(url).replace("+asyncpg", ""))
    try:
        started = time.perf_counter()
        await conn.execute(_REGISTRY, args.rows)
        await conn.execute(_HISTORY)
        print(f"  registry: {args.rows:,} rows in {time.perf_counter() - started:.1f} s")
        chunk = 100_000
        for first in range(1, args.hub + 1, chunk):
            last = min(first + chunk - 1, args.hub)
            started = time.perf_counter()
            async with conn.transaction():
                await conn.execute(
                    _CLONE_CUSTOMERS, first, last, args.hub_linked, step, uuid.UUID(template)
                )
                await conn.execute(
                    _CLONE_SOURCES,
                    uuid.UUID(template),
                    f"H{first:08d}",
                    f"H{last:08d}",
                    args.hub_linked,
                    step,
                )
            print(f"  customers {last:,}: {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        await conn.execute(_CLONE_LINKS)
        await conn.execute("VACUUM ANALYZE")
        sample = await conn.fetch(
            "SELECT c.name, c.corporate_number, s.source_id, l.corporate_number AS link"
            " FROM customers c JOIN source_records s ON s.customer_id = c.id"
            " LEFT JOIN registry_links l ON l.customer_id = c.id"
            " WHERE c.customer_code IN ('H00000001', $1) ORDER BY c.customer_code",
            f"H{args.hub:08d}",
        )
        print(
            f"  clones: {[tuple(r) for r in sample]}; distinct names: "
            f"{await conn.fetchval('SELECT count(DISTINCT name_key) FROM customers'):,}"
        )
        print(f"  links + VACUUM ANALYZE: {time.perf_counter() - started:.1f} s")
    finally:
        await conn.close()


async def write_customers(url: str, numbers: list[int]) -> None:
    """Customers through the write path (as PUT /v1/sources/crm/records/… stores them)."""
    from mdm_hub.context import Actor
    from mdm_hub.db import create_engine, create_sessionmaker
    from mdm_hub.encryption import install_keyring
    from mdm_hub.privacy.fields import open_keyring
    from mdm_hub.record import CustomerIn
    from mdm_hub.settings import get_settings
    from mdm_hub.sources.service import put_source_record

    settings = get_settings().model_copy(update={"database_url": url})
    engine = create_engine(url, settings)
    sessions = create_sessionmaker(engine)
    try:
        # The hub's field keys for this database (machine.py sets the bench's key), as the app
        # loads them: the write path seals documents and blind indexes with them.
        install_keyring(await open_keyring(engine, os.environ["MDM_FIELD_ENCRYPTION_KEY"]))
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
