"""Refitting the weights on the hub's own data: bounded, checked against steward decisions."""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import text

from mdm_hub.matching.config import config_from_dict, load_config
from mdm_hub.matching.refit import (
    _random_pairs,
    collect_pairs,
    pair_rank,
    record_rank,
    refit,
    write_weights,
)
from tests.helpers import corporation, other_corporation


async def test_refit_from_the_hub(client: httpx.AsyncClient, app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for i in range(40):
        await client.put(f"/v1/sources/crm/records/{i}", json=other_corporation(i))
        variant = other_corporation(i, name=f"(株)テスト{i:03d}工業")
        await client.put(f"/v1/sources/billing/records/{i}", json=variant)
    await client.put("/v1/sources/crm/records/abc", json=corporation())
    unsure = corporation(
        corporate_number=None, phones=[], emails=[], addresses=[{"postal_code": "100-0005"}]
    )
    await client.put("/v1/sources/sfa/records/abc", json=unsure)
    pair = (await client.get("/v1/match-candidates")).json()["items"][0]
    await client.post(f"/v1/match-candidates/{pair['id']}/decision", json={"decision": "distinct"})

    async with app.state.sessionmaker() as session:
        data = await collect_pairs(session, max_pairs=2_000, random_pairs=2_000)
    assert len(data.training) >= 40
    assert len(data.random) == 2_000, "82 records make 3,321 pairs: a full sample"
    assert all(a is not b for a, b in data.random)
    assert [same for _, _, same in data.labelled] == [False]
    assert data.records == {"corporation": 82}
    assert data.candidate_pairs["corporation"] == len(data.training)

    config = load_config()
    result = refit(data, config, version="v2-test")
    bounds = config.bounds
    for change in result.changes:
        if change.status == "fixed":
            assert change.m_after == change.m_before
            continue
        assert abs(math.log2(change.m_after / change.m_before)) <= bounds.max_m_shift_bits + 1e-9
        assert abs(math.log2(change.u_after / change.u_before)) <= bounds.max_u_shift_bits + 1e-9
    assert result.after is not None, "checked against the steward's decisions"
    # ~41 duplicate pairs among 82 records: λ ≈ 41 / (82·81/2), far above the packaged prior.
    assert 0.005 < result.prior_after["corporation"] < 0.02
    assert result.config.kinds["corporation"].prior == result.prior_after["corporation"]

    output = tmp_path / "weights_v2.json"
    write_weights(result, output)
    reloaded = config_from_dict(json.loads(output.read_text(encoding="utf-8")))
    assert reloaded.version == "v2-test"


async def test_the_refit_command(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    for i in range(30):
        await client.put(f"/v1/sources/crm/records/{i}", json=other_corporation(i))
        variant = other_corporation(i, name=f"(株)テスト{i:03d}工業")
        await client.put(f"/v1/sources/billing/records/{i}", json=variant)
    output = tmp_path / "weights_v9.json"
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "mdm_hub.cli", "matching-refit", "--output", str(output),
         "--max-pairs", "1000"],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # 60 records make 1,770 pairs: the random sample is all of them.
    assert "corporation: 30 training pairs, 1770 random pairs" in done.stdout
    assert "prior λ 1e-05 → " in done.stdout
    adopted = load_config(output)
    assert adopted.version == "v9"
    # 30 duplicate pairs among 60 records: λ ≈ 30 / (60·59/2) ≈ 0.017.
    assert 0.01 < adopted.kinds["corporation"].prior < 0.025


def test_random_pairs_are_distinct_and_all_of_a_small_hub() -> None:
    records = [corporation(name=f"会社{i}") for i in range(10)]
    every = _random_pairs(records, 2_000, random.Random(1))
    assert len(every) == 45  # 10·9/2, each once
    assert len({(id(a), id(b)) for a, b in every}) == 45
    some = _random_pairs(records, 20, random.Random(1))
    assert len({(id(a), id(b)) for a, b in some}) == 20
    assert all(a is not b for a, b in some)


async def test_the_refit_samples_do_not_depend_on_the_order_rows_are_read(  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient, app
) -> None:
    """The same records give the same samples (and weights) after their rows moved: samples
    were ``ORDER BY random()`` after ``setseed``, which numbers rows in the order the plan reads
    them, so one hub's refit gave other weights from one run to the next."""
    for i in range(40):
        await client.put(f"/v1/sources/crm/records/{i}", json=other_corporation(i))
        variant = other_corporation(i, name=f"(株)テスト{i:03d}工業", emails=[])
        await client.put(f"/v1/sources/billing/records/{i}", json=variant)

    async def sample() -> tuple[list[object], list[object]]:
        async with app.state.sessionmaker() as session:
            data = await collect_pairs(session, max_pairs=10, random_pairs=60)
            await session.rollback()
        assert len(data.training) == 10, "10 of the 40 candidate pairs"
        assert data.candidate_pairs["corporation"] == 40
        return (
            [(a.model_dump(), b.model_dump()) for a, b in data.training],
            [(a.model_dump(), b.model_dump()) for a, b in data.random],
        )

    before = await sample()
    # New row versions: every other source record and match key moves to another place in its
    # table (and the planner sees other row counts), as after updates, a restore or a reindex.
    async with app.state.sessionmaker() as session:
        await session.execute(text("UPDATE source_records SET version = version WHERE id % 2 = 0"))
        await session.execute(
            text("UPDATE match_keys SET customer_id = customer_id WHERE source_record_id % 3 = 0")
        )
        await session.execute(text("ANALYZE source_records"))
        await session.commit()
    after = await sample()
    assert after == before

    # The database ranks records and pairs as record_rank / pair_rank do (bench/febrl_replay.py
    # replays the refit in memory with them): the ten pairs of the lowest pair_rank, in order.
    async with app.state.sessionmaker() as session:
        rows = (await session.execute(text("SELECT system, source_id FROM source_records"))).all()
    rank = {(r.system, r.source_id): record_rank(0.42, r.system, r.source_id) for r in rows}
    expected = sorted(
        range(40), key=lambda i: pair_rank(rank["crm", str(i)], rank["billing", str(i)])
    )
    sampled = [a["company_name"]["key"] for a, _ in before[0]]
    assert sampled == [f"テスト{i:03d}工業" for i in expected[:10]]
    # Each pair's record of the lower rank first (only the billing records have no e-mail).
    first = ["crm" if a["emails"] else "billing" for a, _ in before[0]]
    lower = [min(("crm", "billing"), key=lambda s, i=i: rank[s, str(i)]) for i in expected[:10]]
    assert first == lower
    assert set(first) == {"crm", "billing"}
    # The random pairs are drawn from the 2 × 10 records of the lowest record_rank.
    lowest = sorted(rank, key=rank.__getitem__)[:20]
    drawn = {
        ("crm" if r["emails"] else "billing", r["company_name"]["key"][3:6].lstrip("0") or "0")
        for pair in before[1]
        for r in pair
    }
    assert drawn <= set(lowest)
    assert len(drawn) > 10
