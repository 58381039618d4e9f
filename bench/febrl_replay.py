"""FEBRL 4 through the write path's decisions, replayed in memory: seconds, not an hour.

    .venv/bin/python bench/febrl_replay.py [--random-pairs 500000] [--misses misses.txt]

The records of ``bench/match_quality.py --dataset febrl4`` (same mapping, same seeded order) are
normalized with ``normalize_customer`` and written one at a time into an in-memory master: the
record's blocking keys, key frequencies (customers holding each key), ``usable_keys`` with the
default block size (50), ``score_pair`` against each candidate customer's first record, and
``decide`` with the weights' thresholds; a merge joins the customer, anything else makes a new
one. Then the weights are refit as ``mdm-hub matching-refit`` does (``refit.refit`` on candidate
pairs of blocks of 2–50 records, random pairs and the record and candidate-pair counts; no
labels) and the records are replayed with the refit weights.

What it leaves out: the golden record (a customer is compared through its first record) and the
review queue (a review decision makes a new customer, as on the write path). Its refit draws the
samples ``refit.collect_pairs`` draws (the same ranks), so its weights are the write path's: at
d359604 both gave 4,958 true merges and the same 40 records not joined. The figures to quote are
still the write path's (``bench/match_quality.py``); this is for trying a rule on all of FEBRL in
a minute or two.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import match_quality as mq

from mdm_hub.matching.compare import PreparedRecord, prepare
from mdm_hub.matching.config import MatchConfig, load_config
from mdm_hub.matching.keys import FREQUENCY_ONLY_KINDS, blocking_keys, usable_keys
from mdm_hub.matching.refit import RefitData, _random_pairs, pair_rank, record_rank, refit
from mdm_hub.matching.scoring import Decision, MatchScore, decide, score_pair
from mdm_hub.normalize import NormalizationError, normalize_customer
from mdm_hub.record import CustomerIn, CustomerRecord

MAX_BLOCK = 50
Loaded = list[tuple[mq.SourceRec, CustomerRecord]]


def load() -> tuple[Loaded, int]:
    """The normalized FEBRL records in the bench's order, and how many were rejected."""
    records, _ = mq.febrl4_records(20240501)
    out: Loaded = []
    rejected = 0
    for rec in records:
        payload = dict(rec.payload)
        custom = payload.pop("custom_fields", None)
        try:
            result = normalize_customer(CustomerIn.model_validate(payload))
        except NormalizationError:
            rejected += 1
            continue
        normalized = dict(result.record)
        if custom:
            normalized["custom_fields"] = custom
        out.append((rec, CustomerRecord.model_validate(normalized)))
    return out, rejected


Miss = tuple[mq.SourceRec, MatchScore | None, Decision]


def replay(data: Loaded, config: MatchConfig) -> tuple[int, int, list[Miss]]:
    """(true merges, false merges, records that did not join their entity's customer)."""
    first: list[PreparedRecord] = []
    entities: list[set[str]] = []
    index: dict[object, set[int]] = collections.defaultdict(set)
    of_entity: dict[str, set[int]] = collections.defaultdict(set)
    true_merges = false_merges = 0
    misses: list[Miss] = []
    for rec, record in data:
        keys = blocking_keys(record, config)
        frequencies = {k: len(index[k]) for k in keys if k in index}
        candidates: set[int] = set()
        for k in usable_keys(keys, frequencies, MAX_BLOCK):
            candidates |= index.get(k, set())
        prepared = prepare(record, config)
        scored = [
            (str(c), score_pair(prepared, first[c], config=config, key_frequencies=frequencies))
            for c in sorted(candidates)
        ]
        result = decide(
            scored,
            merge_threshold=config.merge_threshold,
            review_threshold=config.review_threshold,
        )
        if result.decision == Decision.merge and result.customer_id is not None:
            customer = int(result.customer_id)
            if rec.entity in entities[customer]:
                true_merges += 1
            else:
                false_merges += 1
            entities[customer].add(rec.entity)
        else:
            customer = len(first)
            first.append(prepared)
            entities.append({rec.entity})
            if of_entity[rec.entity]:
                hit = [s for cid, s in scored if int(cid) in of_entity[rec.entity]]
                misses.append((rec, hit[0] if hit else None, result.decision))
        of_entity[rec.entity].add(customer)
        for k in keys:
            index[k].add(customer)
    return true_merges, false_merges, misses


def refit_weights(data: Loaded, config: MatchConfig, random_pairs: int) -> MatchConfig:
    """The refit of ``refit.collect_pairs`` + ``refit.refit``, in memory: the same candidate
    pairs (blocks of 2–50 records), the same ranked samples (``record_rank`` / ``pair_rank``:
    the 50,000 pairs and 100,000 records of the lowest ranks, in rank order) and the same
    random pairs, so the weights are those ``mdm-hub matching-refit`` writes for this data."""
    seed, max_pairs = 0.42, 50_000
    records = [record for _, record in data]
    rank = [record_rank(seed, rec.system, rec.source_id) for rec, _ in data]
    blocks: dict[object, list[int]] = collections.defaultdict(list)
    for i, record in enumerate(records):
        for k in blocking_keys(record, config):
            if k.kind not in FREQUENCY_ONLY_KINDS:
                blocks[k].append(i)
    pairs = {
        (a, b) if rank[a] < rank[b] else (b, a)
        for ids in blocks.values()
        if 2 <= len(ids) <= MAX_BLOCK
        for a, b in itertools.combinations(ids, 2)
    }
    ranked = sorted(pairs, key=lambda p: pair_rank(rank[p[0]], rank[p[1]]))
    training = [(records[a], records[b]) for a, b in ranked[:max_pairs]]
    by_rank = sorted(range(len(records)), key=rank.__getitem__)[: 2 * max_pairs]
    sample = _random_pairs([records[i] for i in by_rank], random_pairs, random.Random(seed))
    data_ = RefitData(training, sample, [], {"person": len(records)}, {"person": len(pairs)})
    result = refit(data_, config, f"{config.version}+refit")
    print(result.summary())
    return result.config


def report(label: str, data: Loaded, rejected: int, config: MatchConfig) -> list[Miss]:
    started = time.perf_counter()
    tp, fp, misses = replay(data, config)
    true_pairs = 5_000
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / true_pairs
    f1 = 2 * precision * recall / (precision + recall)
    reviews = sum(1 for _, _, d in misses if d == Decision.review)
    print(
        f"{label}: true merges {tp}, false merges {fp}, missed {true_pairs - tp} "
        f"({reviews} to review, {rejected} records rejected), precision {precision:.4f}, "
        f"recall {recall:.4f}, F1 {f1:.5f} ({time.perf_counter() - started:.0f} s)"
    )
    return misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--random-pairs", type=int, default=500_000)
    parser.add_argument("--misses", type=Path, help="write the missed records here")
    args = parser.parse_args()
    config = load_config(mq.febrl_weights(None, Path(tempfile.mkdtemp())))
    data, rejected = load()
    report("packaged weights + soc_sec_id", data, rejected, config)
    refitted = refit_weights(data, config, args.random_pairs)
    misses = report("refit weights", data, rejected, refitted)
    if args.misses:
        with args.misses.open("w", encoding="utf-8") as f:
            for rec, score, decision in misses:
                why = (
                    ", ".join(f"{c.field}={c.level} {c.weight:+.1f}" for c in score.comparisons)
                    if score
                    else "not a candidate"
                )
                rule = f" hard_rule={score.hard_rule}" if score and score.hard_rule else ""
                f.write(f"{decision} {rec.source_id} {rec.payload}\n    {why}{rule}\n")


if __name__ == "__main__":
    main()
