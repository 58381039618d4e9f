"""Refitting the weights on the hub's own data: bounded, checked against steward decisions."""

from __future__ import annotations

import json
import math
from pathlib import Path

import httpx

from mdm_hub.matching.config import config_from_dict, load_config
from mdm_hub.matching.refit import collect_pairs, refit, write_weights
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
        data = await collect_pairs(session, max_pairs=5_000)
    assert len(data.training) >= 40
    assert len(data.random) >= 20
    assert [same for _, _, same in data.labelled] == [False]

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

    output = tmp_path / "weights_v2.json"
    write_weights(result, output)
    reloaded = config_from_dict(json.loads(output.read_text(encoding="utf-8")))
    assert reloaded.version == "v2-test"
