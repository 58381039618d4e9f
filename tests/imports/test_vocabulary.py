"""The import vocabulary (src/mdm_hub/imports/vocabulary.yaml): every header it names is
recognized as its target, no header means two targets, and every target reaches the body a
PUT would send (a target the row builder does not know would be dropped silently)."""

from __future__ import annotations

from collections import Counter

import pytest

from mdm_hub.imports.mapping import (
    KIND_VALUES,
    LABELS,
    RELATION_TYPES,
    SITE_TYPES,
    header_key,
    map_header,
    map_row,
)

_SAMPLE = {
    "kind": "個人",
    "site_type": "支店",
    "parent_relation_type": "子会社",
    "annual_amount": "1,000円",
    "employees": "12",
    "capital": "1000000",
    "email": "info@example.co.jp",
    "corporate_number": "7000012050002",
}


def test_no_header_means_two_targets() -> None:
    targets = Counter(
        key for labels in LABELS.values() for key in {header_key(label) for label in labels}
    )
    assert [key for key, count in targets.items() if count > 1] == []


@pytest.mark.parametrize("target", [t for t in LABELS if t != "source_id"])
def test_every_label_of_a_target_is_recognized(target: str) -> None:
    for label in LABELS[target]:
        mapped = map_header(["顧客コード", label])
        assert [(c.header, c.target, c.by) for c in mapped.columns] == [
            ("顧客コード", "source_id", "label"),
            (label, target, "label"),
        ]


@pytest.mark.parametrize("target", [t for t in LABELS if t not in ("source_id", "kind")])
def test_every_target_reaches_the_body(target: str) -> None:
    label = LABELS[target][0]
    value = _SAMPLE.get(target, "2020-04-01" if "valid" in target or "_on" in target else "A1")
    row = map_row(2, ["ACC-1", value], map_header(["顧客コード", label]))
    reached = set(row.pointers.values()) | {p.column for p in row.problems}
    assert label in reached, (target, row)


def test_the_id_and_kind_columns() -> None:
    row = map_row(2, ["ACC-1", "個人"], map_header(["顧客コード", "区分"]))
    assert (row.source_id, row.payload["kind"], row.problems) == ("ACC-1", "person", [])


def test_value_vocabularies() -> None:
    assert KIND_VALUES["法人"] == "corporation" and KIND_VALUES["個人事業主"] == "person"
    assert SITE_TYPES["営業所"] == "sales_office" and SITE_TYPES["branch"] == "branch"
    assert RELATION_TYPES["持分法適用会社"] == "affiliate"
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in KIND_VALUES.items())
