"""Scoring speed of the pure matcher (no database).

    .venv/bin/python bench/match_score.py [--pairs 20000] [--candidates 20]

Reports pairs/s for ``score_pair`` on plain records (both sides prepared on every call) and
with the incoming record prepared once, plus p50/p99 of scoring one record against
``--candidates`` candidates (what the write path and the dry run do per request), and the
machine it ran on. docs/matching.md quotes the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import time

from machine import machine

from mdm_hub.matching.compare import prepare
from mdm_hub.matching.config import load_config
from mdm_hub.matching.keys import blocking_keys
from mdm_hub.matching.scoring import decide, score_pair
from mdm_hub.record import (
    Address,
    CompanyName,
    CustomerKind,
    CustomerRecord,
    Email,
    PersonName,
    Phone,
    PhoneLineType,
)

TOWNS = [
    ("1000005", "東京都", "千代田区", "丸の内"),
    ("1000004", "東京都", "千代田区", "大手町"),
    ("5300001", "大阪府", "大阪市北区", "梅田"),
    ("4500002", "愛知県", "名古屋市中村区", "名駅"),
    ("8120011", "福岡県", "福岡市博多区", "博多駅前"),
]
BODIES = ["ABC商事", "山田工業", "日の出物産", "エービーシー商会", "東洋精機製作所", "さくら不動産"]


def corporation(rng: random.Random) -> CustomerRecord:
    postal, pref, city, town = rng.choice(TOWNS)
    street = f"{rng.randint(1, 5)}-{rng.randint(1, 30)}-{rng.randint(1, 12)}"
    body = rng.choice(BODIES) + (str(rng.randint(1, 3)) if rng.random() < 0.5 else "")
    return CustomerRecord(
        kind=CustomerKind.corporation,
        name=f"株式会社{body}",
        company_name=CompanyName(legal_form="株式会社", body=body, key=body),
        kana_key="エービーシーショウジ" if rng.random() < 0.5 else None,
        corporate_number=rng.choice([None, "7000012050002", "1010001000006"]),
        addresses=[
            Address(
                postal_code=postal,
                prefecture=pref,
                city=city,
                town=town,
                street=street,
                building=rng.choice([None, "本社ビル5F"]),
                site_key=f"{pref}{city}{town}{street}",
            )
        ],
        phones=[
            Phone(number="03-1234-5678", e164=f"+8131234{rng.randint(0, 20):04d}"),
        ],
        emails=[Email(address=rng.choice(["info@abc.co.jp", "t.yamada@abc.co.jp", "x@y.jp"]))],
    )


def individual(rng: random.Random) -> CustomerRecord:
    postal, pref, city, town = rng.choice(TOWNS)
    street = f"{rng.randint(1, 5)}-{rng.randint(1, 30)}-{rng.randint(1, 12)}"
    family, given = rng.choice(["山田", "佐藤", "鈴木"]), rng.choice(["太郎", "花子", "健"])
    return CustomerRecord(
        kind=CustomerKind.person,
        name=f"{family} {given}",
        person_name=PersonName(family_name=family, given_name=given, key=family + given),
        birth_date=dt.date(1980, rng.randint(1, 12), rng.randint(1, 28)),
        addresses=[
            Address(
                postal_code=postal,
                prefecture=pref,
                city=city,
                town=town,
                street=street,
                site_key=f"{pref}{city}{town}{street}",
            )
        ],
        phones=[
            Phone(
                number="090-1234-5678",
                e164=f"+81901234{rng.randint(0, 20):04d}",
                line_type=PhoneLineType.mobile,
            )
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=20_000)
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5, help="runs; the best is reported")
    args = parser.parse_args()
    rng = random.Random(42)
    config = load_config()
    records = [corporation(rng) for _ in range(300)] + [individual(rng) for _ in range(100)]
    pairs = [(rng.choice(records), rng.choice(records)) for _ in range(args.pairs)]

    def timed(fn) -> float:  # type: ignore[no-untyped-def]
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        return best

    # 1. Plain records: both sides prepared on every call.
    def plain_run() -> None:
        for a, b in pairs:
            score_pair(a, b, config=config)

    plain = args.pairs / timed(plain_run)

    # 2. Incoming prepared once per request, candidates as records (the write path).
    requests = []
    for _ in range(args.requests):
        incoming = rng.choice(records)
        same_kind = [r for r in records if r.kind == incoming.kind]
        requests.append((incoming, rng.sample(same_kind, args.candidates)))
    runs: list[list[float]] = []

    def request_run() -> None:
        latencies = []
        for incoming, candidates in requests:
            s0 = time.perf_counter()
            blocking_keys(incoming)
            p = prepare(incoming, config)
            scores = [(str(i), score_pair(p, c, config=config)) for i, c in enumerate(candidates)]
            decide(
                scores,
                merge_threshold=config.merge_threshold,
                review_threshold=config.review_threshold,
            )
            latencies.append(time.perf_counter() - s0)
        runs.append(latencies)

    per_request = args.requests * args.candidates / timed(request_run)
    latencies = min(runs, key=sum)

    # 3. Both sides prepared (pure comparison cost).
    prepared = {id(r): prepare(r, config) for r in records}

    def prepared_run() -> None:
        for a, b in pairs:
            score_pair(prepared[id(a)], prepared[id(b)], config=config)

    both = args.pairs / timed(prepared_run)

    latencies.sort()
    p50 = statistics.median(latencies) * 1e3
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1e3
    info = machine()
    print(f"machine: nproc={info['nproc']} cpu={info['cpu']!r} python={info['python']}")
    print(f"best of {args.repeat} runs; load average {os.getloadavg()[0]:.2f}")
    print(f"score_pair, plain records:             {plain:10,.0f} pairs/s")
    print(f"score_pair, incoming prepared once:    {per_request:10,.0f} pairs/s")
    print(f"score_pair, both prepared:             {both:10,.0f} pairs/s")
    print(
        f"one record vs {args.candidates} candidates (keys + score + decide): "
        f"p50={p50:.3f} ms p99={p99:.3f} ms"
    )


if __name__ == "__main__":
    main()
