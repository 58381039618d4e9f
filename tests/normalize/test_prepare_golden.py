"""What preparing a payload gives stays exactly what it was (data/prepare_golden.json.gz).

The file holds about 9,400 payloads — an import's generated rows, every address and name form
of the form tables, seeded variants of phones, e-mails, dates and numbers, invalid ones too —
and, for each, hashes of the normalized record, its changes or errors, its blocking keys, the
findings and problems of ``normalize_with``, and where the sealing walk puts the personal parts
of the stored document. Made with main's code without the speed work of issue 16
(normalization of first-seen values, sealing; main 300d50b, with the any_part_birth keys); a
change that only makes things faster must give the same hashes.
An intended change of a rule: write the file again (``prepare_golden.py``) with the change.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from prepare_golden import hashes, load, outcome

from mdm_hub.encryption import _walk, _walk_shared


def _marked(value: Any) -> Any:
    return {"sealed": value}


def test_every_payload_prepares_as_recorded() -> None:
    golden = load()
    assert len(golden) > 9000
    differing = []
    for i, item in enumerate(golden):
        found = hashes(item["payload"])
        if found != item["hashes"]:
            parts = sorted(k for k in found.keys() | item["hashes"].keys()
                           if found.get(k) != item["hashes"].get(k))  # fmt: skip
            differing.append((i, parts, item["payload"]))
    detail = []
    for i, parts, payload in differing[:5]:
        now = {k: v for k, v in outcome(payload).items() if k in parts}
        detail.append(
            f"#{i} {parts}: {json.dumps(payload, ensure_ascii=False)} → "
            + json.dumps(now, ensure_ascii=False)[:2000]
        )
    assert not differing, f"{len(differing)} payloads differ; first ones:\n" + "\n".join(detail)


def test_the_walk_that_shares_unsealed_parts_seals_what_the_copying_walk_seals() -> None:
    """``sealed_json``'s walk (parts with nothing to seal returned as they are) against the
    walk of ``seal`` (everything copied): the same document, the same JSON text, and the
    document walked is left as it was."""
    for item in load()[::3]:
        document = outcome(item["payload"]).get("document")
        if document is None:
            continue
        before = orjson.dumps(document)
        copied, shared = _walk(document, _marked, True), _walk_shared(document, _marked, True)
        assert shared == copied
        assert orjson.dumps(shared) == orjson.dumps(copied)
        assert orjson.dumps(document) == before
