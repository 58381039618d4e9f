"""What preparing a payload gives stays exactly what it was (data/prepare_golden.json.gz).

The file holds about 9,400 payloads — an import's generated rows, every address and name form
of the form tables, seeded variants of phones, e-mails, dates and numbers, invalid ones too —
and, for each, hashes of the normalized record, its changes or errors, its blocking keys, the
findings and problems of ``normalize_with``, and where the sealing walk puts the personal parts
of the stored document. Made with the code before the speed work of issue 16 (normalization of
first-seen values, sealing); a change that only makes things faster must give the same hashes.
An intended change of a rule: write the file again (``prepare_golden.py``) with the change.
"""

from __future__ import annotations

import json

from prepare_golden import hashes, load, outcome


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
