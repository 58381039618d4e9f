"""Share of address forms stored identically, per category of the address forms table.

    .venv/bin/python bench/address_forms.py [--show 5] [--cost 3]

A form counts as stored identically when its ``site_key`` equals the key of the first form of
its place (the full, Japan Post spelling) and is not empty; an ``apart`` pair counts as kept
apart when the two keys differ. The table is built from Japan Post's data by
tests/normalize/data/build_address_forms.py; the same table is a test
(tests/normalize/test_address_forms.py). It measures this project's own categories, in-sample:
the rules were written with these categories in mind.

``--cost N``: CPU time per address of ``normalize_address`` over every form of the table, N
passes, with the per-address caches cleared before each pass (the Japan Post index and the
per-city tables built once beforehand, as in a running hub): the cost of the address rules on
addresses never seen before, as process CPU time (not wall time, which a shared machine's
other jobs would inflate).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from mdm_hub.normalize import address as address_module
from mdm_hub.normalize import postal, text
from mdm_hub.normalize.address import normalize_address
from mdm_hub.normalize.base import Report
from mdm_hub.record import AddressIn

TABLE = Path(__file__).parent.parent / "tests/normalize/data/address_forms.json"


def site_key(text: str) -> str | None:
    return normalize_address(AddressIn(full_text=text), "/a", Report()).site_key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--show", type=int, default=5, help="failures shown per category")
    parser.add_argument("--cost", type=int, default=0, help="passes of the CPU-time measure")
    args = parser.parse_args()
    data = json.loads(TABLE.read_text(encoding="utf-8"))
    if args.cost:
        cost(data, args.cost)
    print("| category | places | forms | stored identically | apart pairs | kept apart |")
    print("|---|---:|---:|---:|---:|---:|")
    total = same_total = apart_total = kept_total = 0
    failures: list[str] = []
    for name, category in data["categories"].items():
        forms = same = 0
        for group in category["groups"]:
            expected = site_key(group[0])
            for form in group[1:]:
                forms += 1
                got = site_key(form)
                if expected and got == expected:
                    same += 1
                elif len([f for f in failures if f.startswith(name)]) < args.show:
                    failures.append(f"{name}: {form!r} → {got!r}, expected {expected!r}")
        kept = sum(site_key(a) != site_key(b) for a, b in category["apart"])
        apart = len(category["apart"])
        print(f"| {name} | {len(category['groups'])} | {forms} | {same / forms:.1%} | "
              f"{apart} | {kept}/{apart} |")  # fmt: skip
        total, same_total = total + forms, same_total + same
        apart_total, kept_total = apart_total + apart, kept_total + kept
    print(f"| **all** | | {total} | **{same_total / total:.1%}** | {apart_total} | "
          f"{kept_total}/{apart_total} |")  # fmt: skip
    for line in failures:
        print("-", line)


def cost(data: dict, passes: int) -> None:
    forms = [f for c in data["categories"].values() for g in c["groups"] for f in g]
    for form in forms:  # builds the index and the per-city tables
        site_key(form)
    per_address = [
        address_module._address_cached,
        address_module.parse_address_line,
        address_module.canonical_street,
        text.normalize_text,
        postal.lookup,
    ]
    times = []
    for _ in range(passes):
        for cached in per_address:
            cached.cache_clear()
        start = time.process_time()
        for form in forms:
            site_key(form)
        times.append((time.process_time() - start) / len(forms))
    print(f"CPU per address, caches cold, {len(forms)} forms: best {min(times) * 1e6:.0f} µs, "
          f"passes {', '.join(f'{t * 1e6:.0f}' for t in times)} µs\n")  # fmt: skip


if __name__ == "__main__":
    main()
