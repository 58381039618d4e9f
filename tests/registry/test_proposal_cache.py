"""Name + address proposals normalize each registry row once per run (not once per customer of
its postal code), and score exactly as without the cache."""

from __future__ import annotations

from typing import Any

import pytest

from mdm_hub.enrichment import proposals
from mdm_hub.normalize.customer import normalize_customer
from mdm_hub.record import CustomerIn
from mdm_hub.settings import Settings


def row(number: str, name: str, street: str) -> dict[str, Any]:
    return {
        "corporate_number": number, "name": name, "furigana": None,
        "prefecture_name": "東京都", "city_name": "渋谷区", "street_number": street,
        "post_code": "1500002", "address_outside": None,
    }  # fmt: skip


def customer(name: str, street: str) -> Any:
    payload = {
        "kind": "corporation",
        "name": name,
        "addresses": [{"postal_code": "150-0002", "prefecture": "東京都", "city": "渋谷区",
                       "town": "渋谷", "street": street}],
    }  # fmt: skip
    return normalize_customer(CustomerIn.model_validate(payload)).record


ROWS = [
    row("2010001000001", "渋谷精密工業株式会社", "渋谷３丁目１－１"),
    row("2010001000002", "渋谷精密工業有限会社", "渋谷３丁目１－１"),
    row("2010001000003", "株式会社渋谷ソフトウェア開発", "渋谷２丁目２１－１"),
]


def test_each_registry_row_is_normalized_once_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    customers = [customer("渋谷精密工業", "3-1-1"), customer("(株)渋谷ソフトウェア開発", "2-21-1")]
    uncached = [proposals.score_registry(settings, c, ROWS) for c in customers]

    calls: list[str] = []
    original = proposals.registry_record

    def counting(r: dict[str, Any]) -> Any:
        calls.append(r["corporate_number"])
        return original(r)

    monkeypatch.setattr(proposals, "registry_record", counting)
    cache: proposals.PreparedRows = {}
    cached = [proposals.score_registry(settings, c, ROWS, cache) for c in customers]
    assert sorted(calls) == sorted(r["corporate_number"] for r in ROWS)  # once each, not twice

    def outcome(scored: proposals.Scored) -> tuple[Any, ...]:
        return (
            scored.decision,
            [(n, s.probability) for n, s in scored.above],
            [(n, s.probability) for n, s in scored.near],
        )

    assert [outcome(c) for c in cached] == [outcome(u) for u in uncached]
    assert cached[0].above  # the look-alikes reach the review threshold: the test scores something

    # A registry row that changed (a 商号変更 in the same run) is normalized again.
    renamed = [{**ROWS[0], "name": "渋谷精密機械株式会社"}, *ROWS[1:]]
    proposals.score_registry(settings, customers[0], renamed, cache)
    assert calls.count(ROWS[0]["corporate_number"]) == 2
