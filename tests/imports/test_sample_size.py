"""The generated sample ends for any size: once its company names are used up it numbers them
instead of drawing forever (bench/import.py's million-row files ran into that)."""

from __future__ import annotations

import threading

import pytest

from mdm_hub.imports import sample


def test_a_sample_larger_than_its_name_lists_ends_with_distinct_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One stem and one trade leave 100 distinct company names; ask for three times as many.
    monkeypatch.setattr(sample, "STEMS", sample.STEMS[:1])
    monkeypatch.setattr(sample, "TRADES", sample.TRADES[:1])
    rows: list[list[str]] = []

    def generate() -> None:
        rows.extend(values for values, _ in sample.generated_rows(600, 7, duplicates=0.0))

    worker = threading.Thread(target=generate, daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "the generator kept drawing names it had already used"
    corporations = [values[2] for values in rows if values[1] == "法人"]
    assert len(corporations) > 300
    assert len(set(corporations)) == len(corporations)
    phones = [values[6] for values in rows]
    assert len(set(phones)) == len(phones)
