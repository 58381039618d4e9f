"""Reads the JSON that ``bench/import.py --dump`` writes.

.venv/bin/python bench/import_clusters.py explain DUMP
    Every cluster of the quality sample that differs between the import and the one-by-one
    PUTs: its rows (regenerated from the same seed: the generator is deterministic), the
    generator's entity of each, the clusters of both paths and each row's decision in both.
.venv/bin/python bench/import_clusters.py partial DSN DUMP [--out PUTS.json]
    The same comparison over the rows PUT so far by a run of ``bench/import.py`` still in its
    one-by-one PUT baseline (its embedded PostgreSQL, ``DSN``: the first N rows of crm.csv in
    file order), against the import of the same file in ``DUMP`` (a run with
    ``--quality-rows 0``, same ``--rows`` and ``--seed``) restricted to those N rows.
.venv/bin/python bench/import_clusters.py quality DUMP
    Pairwise precision and recall of all of crm.csv's import (a run with ``--dump``) against
    the generator's entities (regenerated from the seed).
.venv/bin/python bench/import_clusters.py same DUMP DUMP...
    Whether runs of the same file (other batch sizes, processes) decided the same: crm.csv's
    clusters, each row's outcome and problem codes, the customer codes (digests, and the
    rows that differ when they do).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _groups(found: dict[str, str]) -> dict[str, frozenset[str]]:
    members: dict[str, set[str]] = {}
    for source_id, customer in found.items():
        members.setdefault(customer, set()).add(source_id)
    return {s: frozenset(members[c]) for s, c in found.items()}


def differing(imported: dict[str, str], puts: dict[str, str]) -> list[set[str]]:
    """Sets of rows whose clusters differ, closed over both paths' clusters."""
    a, b = _groups(imported), _groups(puts)
    todo = {s for s in a if a[s] != b.get(s)}
    out = []
    while todo:
        group, edge = set(), {todo.pop()}
        while edge:
            s = edge.pop()
            group.add(s)
            edge |= (a.get(s, frozenset()) | b.get(s, frozenset())) - group
        todo -= group
        out.append(group)
    return sorted(out, key=lambda g: min(g))


def _decision(d: dict[str, Any] | None) -> str:
    if not d:
        return "-"
    candidates = ", ".join(
        f"{c.get('customer_code')} p={c.get('probability')}" for c in d.get("candidates", [])[:3]
    )
    return f"{d.get('outcome')} ({d.get('reason')}; p={d.get('probability')}; [{candidates}])"


def precision_recall(found: dict[str, str], truth: dict[str, int]) -> tuple[float, float]:
    bench = importlib.import_module("import")
    result: tuple[float, float] = bench.precision_recall(found, truth)
    return result


def explain(path: Path) -> None:
    dump = json.loads(path.read_text())
    compare(
        dump["args"]["seed"],
        dump["truth"],
        dump["imported"],
        dump["one_by_one"],
        dump["decisions"],
        str(path),
    )


def compare(
    seed: int,
    truth: dict[str, int],
    imported: dict[str, str],
    puts: dict[str, str],
    decisions: dict[str, dict[str, Any]],
    label: str,
) -> None:
    for name, found in (("import", imported), ("one-by-one PUTs", puts)):
        p, r = precision_recall(found, truth)
        print(f"  {name:<16} {len(found):,} stored, {len(set(found.values())):,} customers, "
              f"pairwise precision {p:.4f} recall {r:.4f}")  # fmt: skip
    groups = differing(imported, puts)
    print(f"{label}: seed {seed}, {len(truth):,} rows compared; "
          f"{sum(len(g) for g in groups)} rows in {len(groups)} differing group(s)")  # fmt: skip
    if not groups:
        return
    bench = importlib.import_module("import")
    from mdm_hub.imports.sample import LIST_HEADER

    wanted = set().union(*groups)
    values: dict[str, list[str]] = {}
    rows = bench.wide_rows(len(truth), seed)
    for line, (row, _) in enumerate(rows, start=2):
        if row[0] in wanted:
            values[row[0]] = [str(line), *row]
        if len(values) == len(wanted) or line > len(truth) + 1:
            break
    for group in groups:
        print(f"\n--- {len(group)} rows")
        for s in sorted(group, key=lambda s: int(values.get(s, ["0"])[0])):
            v = values.get(s, [])
            cells = "; ".join(f"{h}={x}" for h, x in zip(LIST_HEADER, v[1:], strict=False) if x)
            print(f"  line {v[0] if v else '?'} entity {truth.get(s)}: {cells}")
            print(f"      import cluster {imported.get(s, '-')[:8]}: "
                  f"{_decision(decisions['imported'].get(s))}")  # fmt: skip
            print(f"      PUT    cluster {puts.get(s, '-')[:8]}: "
                  f"{_decision(decisions['one_by_one'].get(s))}")  # fmt: skip


async def _stored(dsn: str) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return list(
            await conn.fetch(
                "SELECT source_id, customer_id::text, decision::text FROM source_records "
                "WHERE system = 'crm'"
            )
        )
    finally:
        await conn.close()


def partial(dsn: str, path: Path, out: Path | None) -> None:
    import asyncio

    stored = asyncio.run(_stored(dsn))
    puts = {r["source_id"]: r["customer_id"] for r in stored}
    put_decisions = {r["source_id"]: json.loads(r["decision"]) for r in stored}
    dump = json.loads(path.read_text())
    seed = dump["args"]["seed"]
    bench = importlib.import_module("import")
    truth: dict[str, int] = {}
    for values, entity in bench.wide_rows(len(puts), seed):
        truth[values[0]] = entity
    assert set(truth) == set(puts), "the PUTs are not the first rows of this seed's file"
    imported = {
        s: str(n)
        for n, members in enumerate(dump["crm"]["clusters"])
        for s in members
        if s in truth
    }
    outcomes = {
        row[1]: {"outcome": row[2], "reason": "(import report)"} for row in dump["crm"]["outcomes"]
    }
    if out is not None:
        out.write_text(json.dumps({"seed": seed, "puts": puts, "decisions": put_decisions}))
    compare(
        seed,
        truth,
        imported,
        puts,
        {"imported": outcomes, "one_by_one": put_decisions},
        f"{path} against the first {len(puts):,} rows PUT",
    )


def quality(path: Path) -> None:
    dump = json.loads(path.read_text())
    args = dump["args"]
    bench = importlib.import_module("import")
    truth = {values[0]: entity for values, entity in bench.wide_rows(args["rows"], args["seed"])}
    imported = {s: str(n) for n, members in enumerate(dump["crm"]["clusters"]) for s in members}
    p, r = precision_recall(imported, truth)
    print(f"{path}: seed {args['seed']}, {len(imported):,} rows stored of {len(truth):,}, "
          f"{len(dump['crm']['clusters']):,} customers ({len(set(truth.values())):,} entities): "
          f"pairwise precision {p:.4f} recall {r:.4f}")  # fmt: skip


def same(paths: list[Path]) -> int:
    runs = []
    for path in paths:
        dump = json.loads(path.read_text())
        a = dump["args"]
        crm = dump["crm"]
        print(f"{path}: rows {a['rows']:,} seed {a['seed']} batch {a['batch_size']} processes "
              f"{a['processes']}: {len(crm['clusters']):,} customers, {len(crm['outcomes']):,} "
              f"rows; digests {crm['digests']}")  # fmt: skip
        runs.append(crm)
    first, differ = runs[0], 0
    for path, run in zip(paths[1:], runs[1:], strict=True):
        for part in ("clusters", "outcomes", "customer_codes"):
            if run["digests"][part] != first["digests"][part]:
                differ += 1
                theirs = {json.dumps(x, ensure_ascii=False) for x in run[part]}
                ours = {json.dumps(x, ensure_ascii=False) for x in first[part]}
                print(f"  {path} differs in {part}: {len(theirs - ours)} entries not in "
                      f"{paths[0]}, e.g. {sorted(theirs - ours)[:3]}")  # fmt: skip
    print("all the same" if not differ else f"{differ} difference(s)")
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("explain").add_argument("dump", type=Path)
    sub.add_parser("same").add_argument("dumps", type=Path, nargs="+")
    sub.add_parser("quality").add_argument("dump", type=Path)
    part = sub.add_parser("partial")
    part.add_argument("dsn")
    part.add_argument("dump", type=Path)
    part.add_argument(
        "--out", type=Path, default=None, help="keep the PUTs' clusters and decisions"
    )
    args = parser.parse_args()
    if args.command == "explain":
        explain(args.dump)
        return 0
    if args.command == "quality":
        quality(args.dump)
        return 0
    if args.command == "partial":
        partial(args.dsn, args.dump, args.out)
        return 0
    return same(args.dumps)


if __name__ == "__main__":
    sys.exit(main())
