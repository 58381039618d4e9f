"""Share of address forms stored identically, per category of the address forms table.

    .venv/bin/python bench/address_forms.py [--show 5]

A form counts as stored identically when its ``site_key`` equals the key of the first form of
its place (the full, Japan Post spelling) and is not empty; an ``apart`` pair counts as kept
apart when the two keys differ. The table is built from Japan Post's data by
tests/normalize/data/build_address_forms.py; the same table is a test
(tests/normalize/test_address_forms.py). It measures this project's own categories, in-sample:
the rules were written with these categories in mind.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mdm_hub.normalize.address import normalize_address
from mdm_hub.normalize.base import Report
from mdm_hub.record import AddressIn

TABLE = Path(__file__).parent.parent / "tests/normalize/data/address_forms.json"


def site_key(text: str) -> str | None:
    return normalize_address(AddressIn(full_text=text), "/a", Report()).site_key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--show", type=int, default=5, help="failures shown per category")
    args = parser.parse_args()
    data = json.loads(TABLE.read_text(encoding="utf-8"))
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


if __name__ == "__main__":
    main()
