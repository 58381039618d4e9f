"""CPU per row of preparing an import's rows, on one core: the generated Japanese customer list
of ``bench/import.py`` (``mdm_hub.imports.sample.generated_rows``, through CP932 as the file
is written), each row mapped, validated (``CustomerIn``), prepared as the write path prepares
it (``normalize_with``, the record validated again, blocking keys with blind indexes, the kept
JSON) and its payload and prepared row sealed as staging stores them. No database.

    .venv/bin/python bench/prepare_rows.py [--warm 20000] [--rows 5000] [--seed 11] [--profile]

The first ``--warm`` rows are prepared unmeasured (each town's tables, Japan Post's codes and
the entities that later duplicate rows repeat are then known, as in a long import); the next
``--rows`` are measured: nearly every name, address, phone and e-mail in them is new to the
process's caches, as in a first load. Prints the CPU per row of each step
(``time.process_time``), or with ``--profile`` the cProfile of the measured pass (also written
to /tmp/prepare_rows.prof).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mdm_hub import heap
from mdm_hub.custom_fields.service import Configuration
from mdm_hub.customers.prepare import changes_json, normalize_with
from mdm_hub.encryption import Keyring, install_keyring, new_data_key, sealed_json
from mdm_hub.imports.mapping import map_header, map_row
from mdm_hub.imports.sample import LIST_HEADER, generated_rows
from mdm_hub.imports.writer import validate_payload
from mdm_hub.matching import service as matching
from mdm_hub.normalize import RankRule, postal
from mdm_hub.record import CustomerIn, CustomerRecord
from mdm_hub.settings import Settings
from mdm_hub.sources.prepare import Prepared


def rows(count: int, seed: int) -> list[list[str]]:
    """The generated rows as they come back from the CP932 file bench/import.py writes."""
    out = []
    for values, _ in generated_rows(count, seed):
        out.append([v.encode("cp932", errors="replace").decode("cp932") for v in values])
    return out


def config() -> Configuration:
    rules = (RankRule("A", 10_000_000), RankRule("B", 1_000_000), RankRule("C", 0))
    return Configuration(fingerprint="bench", definitions=(), rank_rules=rules)


def prepare_all(
    payloads: list[CustomerIn], cfg: Configuration, settings: Settings
) -> dict[str, float]:
    """One pass of the prepare steps over ``payloads``: CPU seconds by step."""
    spent = {"normalize_with": 0.0, "record + keys": 0.0, "to_json": 0.0, "seal": 0.0}
    clock = time.process_time
    for payload in payloads:
        t0 = clock()
        done = normalize_with(payload, cfg)
        changes = changes_json(done.result)
        t1 = clock()
        record = CustomerRecord.model_validate(done.record)
        keys = matching.record_keys(record, settings)
        t2 = clock()
        kept = Prepared(cfg, changes, done.record, record, keys, done.findings).to_json()
        t3 = clock()
        # staging stores the row's payload and what it prepared, each sealed
        sealed_json(payload.model_dump(mode="json", exclude_unset=True))
        sealed_json(kept)
        t4 = clock()
        spent["normalize_with"] += t1 - t0
        spent["record + keys"] += t2 - t1
        spent["to_json"] += t3 - t2
        spent["seal"] += t4 - t3
    return spent


def validate_all(values: list[list[str]]) -> tuple[list[CustomerIn], float]:
    header = map_header(LIST_HEADER)
    clock = time.process_time
    t0 = clock()
    payloads = []
    for line, row in enumerate(values, start=2):
        validated = validate_payload(map_row(line, row, header).payload)
        if isinstance(validated, CustomerIn):
            payloads.append(validated)
    return payloads, clock() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--warm", type=int, default=20000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    install_keyring(Keyring(active_id="k1", keys={"k1": new_data_key()}, index_key=os.urandom(32)))
    settings = Settings()
    cfg = config()
    postal.index()
    heap.settle()  # as every importing process does before its first row
    values = rows(args.warm + args.rows, args.seed)
    # The rows before: what a long import has already met (each town's tables, its postal
    # codes, the entities the later duplicate rows repeat); the rows measured come after.
    warm, _ = validate_all(values[: args.warm])
    prepare_all(warm, cfg, settings)
    values = values[args.warm :]
    payloads, validate_seconds = validate_all(values)
    run: Callable[[], Any] = lambda: prepare_all(payloads, cfg, settings)  # noqa: E731
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(run)
        profile.dump_stats("/tmp/prepare_rows.prof")
        pstats.Stats(profile).sort_stats("tottime").print_stats(40)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(60)
        return
    start = time.process_time()
    spent = run()
    total = time.process_time() - start
    n = len(payloads)
    print(f"python {platform.python_version()}, one thread, {n:,} rows of {len(values):,} valid")
    print(f"map + CustomerIn: {validate_seconds / len(values) * 1e3:.3f} ms CPU per row")
    for step, seconds in spent.items():
        print(f"{step}: {seconds / n * 1e3:.3f} ms CPU per row")
    print(f"prepare total: {total / n * 1e3:.3f} ms CPU per row ({n / total:,.0f} rows/s/core)")
    print(f"load: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
