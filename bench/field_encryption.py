"""CPU of field encryption's primitives, one call at a time (the end-to-end cost of the wired
write path and dry run is bench/encryption_cost.py).

A PUT of a person stores the personal parts in the raw payload, the normalized source record
and the golden record (and again in its audit entries and event), and hashes its phones and
e-mails for the lookup columns and match keys; a candidate the scorer compares is decrypted
once. This measures each primitive in process:

    .venv/bin/python bench/field_encryption.py --iterations 20000
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mdm_hub.encryption import (
    decrypt_record,
    encrypt_record,
    keyring_from,
    new_data_key,
    parse_kek,
    wrap_data_key,
)
from mdm_hub.normalize import normalize_customer
from mdm_hub.record import CustomerIn

try:
    from machine import print_header
except ImportError:  # run as a module from elsewhere
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from machine import print_header

PERSON = {
    "kind": "person",
    "name": "山田 花子",
    "name_kana": "ヤマダ ハナコ",
    "birth_date": "1985-04-01",
    "phones": [{"number": "090-1234-5678"}, {"number": "03-1234-5678", "purpose": "other"}],
    "emails": [{"address": "hanako.yamada@example.jp"}],
    "addresses": [
        {
            "postal_code": "1000005",
            "prefecture": "東京都",
            "city": "千代田区",
            "town": "丸の内",
            "street": "一丁目2番3号",
            "building": "丸の内ビル5F",
        }
    ],
}


def cpu_per_call(fn: Callable[[], Any], iterations: int) -> float:
    """CPU milliseconds per call."""
    fn()
    start = time.process_time()
    for _ in range(iterations):
        fn()
    return (time.process_time() - start) / iterations * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=20000)
    args = parser.parse_args()
    print_header()
    kek = parse_kek("q0jV8pJ1cQz5m0c2a9Xl3kq7Yb1nT4sR6uW8eD0fH2g=")
    ring = keyring_from(kek, "dk1", {"dk1": wrap_data_key(kek, "dk1", new_data_key())})
    normalized = normalize_customer(CustomerIn.model_validate(PERSON)).record.model_dump(
        mode="json"
    )
    sealed = encrypt_record(ring, normalized)
    values = [("phone", "+819012345678"), ("phone", "+81312345678"), ("email", "a@b.jp")]
    n = args.iterations
    enc = cpu_per_call(lambda: encrypt_record(ring, normalized), n)
    dec = cpu_per_call(lambda: decrypt_record(ring, sealed), n)
    idx = cpu_per_call(lambda: [ring.blind_index(k, v) for k, v in values], n)
    dump = cpu_per_call(lambda: json.dumps(normalized, ensure_ascii=False), n)
    print(f"encrypt_record (person, 5 parts)   {enc:.4f} ms")
    print(f"decrypt_record (person, 5 parts)   {dec:.4f} ms")
    print(f"blind indexes (3 values)           {idx:.4f} ms")
    print(f"json.dumps of the record (compare) {dump:.4f} ms")
    per_put = 3 * enc + idx + dec
    print(f"per PUT (3 encryptions, 3 indexes, 1 candidate decrypted) {per_put:.4f} ms")


if __name__ == "__main__":
    main()
