"""Reads the JSON that ``bench/import.py --dump`` writes.

.venv/bin/python bench/import_clusters.py explain DUMP
    Every cluster of the quality sample that differs between the import and the one-by-one
    PUTs: its rows (regenerated from the same seed: the generator is deterministic), the
    generator's entity of each, the clusters of both paths and each row's decision in both.
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


def explain(path: Path) -> None:
    dump = json.loads(path.read_text())
    args = dump["args"]
    truth: dict[str, int] = dump["truth"]
    imported, puts = dump["imported"], dump["one_by_one"]
    groups = differing(imported, puts)
    print(f"{path}: seed {args['seed']}, {len(truth):,} rows compared; "
          f"{sum(len(g) for g in groups)} rows in {len(groups)} differing group(s)")  # fmt: skip
    if not groups:
        return
    bench = importlib.import_module("import")
    from mdm_hub.imports.sample import LIST_HEADER

    wanted = set().union(*groups)
    values: dict[str, list[str]] = {}
    rows = bench.wide_rows(len(truth), args["seed"])
    for line, (row, _) in enumerate(rows, start=2):
        if row[0] in wanted:
            values[row[0]] = [str(line), *row]
        if len(values) == len(wanted) or line > len(truth) + 1:
            break
    decisions = dump["decisions"]
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
    args = parser.parse_args()
    if args.command == "explain":
        explain(args.dump)
        return 0
    return same(args.dumps)


if __name__ == "__main__":
    sys.exit(main())
