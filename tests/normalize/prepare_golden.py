"""data/prepare_golden.json.gz: payloads of many forms and hashes of what preparing each gives.

    .venv/bin/python tests/normalize/prepare_golden.py    # writes the file again

The payloads (stored, so the test does not depend on any generator staying as it is): rows of
the generated Japanese customer list of ``bench/import.py`` (``mdm_hub.imports.sample``, through
CP932 as the file is written, mapped as an import maps them), every address form of
address_forms.json as a one-line address and a structured variant of some of them, every name
form of name_forms.json (company names and フリガナ), and seeded variants of phones, e-mails,
dates, numbers, persons and contacts, including invalid ones.

For each payload, the hash of: the normalized record (JSON), its changes, or its errors; the
blocking keys of the record; the findings and problems of ``normalize_with``; and where the
sealing walk puts the personal parts of the stored documents (each part marked, not
encrypted). tests/normalize/test_prepare_golden.py checks that the code still gives the same.

Run it again, and commit the file with the change, only when a change of a normalization rule,
a key or of what is sealed is intended; a change that only makes things faster must pass as it
is.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "prepare_golden.json.gz"


def generated_payloads(count: int, seed: int) -> list[dict[str, Any]]:
    from mdm_hub.imports.mapping import map_header, map_row
    from mdm_hub.imports.sample import LIST_HEADER, generated_rows

    header = map_header(LIST_HEADER)
    out = []
    for line, (values, _) in enumerate(generated_rows(count, seed), start=2):
        row = [v.encode("cp932", errors="replace").decode("cp932") for v in values]
        out.append(map_row(line, row, header).payload)
    return out


def address_payloads() -> list[dict[str, Any]]:
    forms = json.loads((DATA / "address_forms.json").read_text(encoding="utf-8"))["categories"]
    rng = random.Random(3)
    out: list[dict[str, Any]] = []
    for category in forms.values():
        texts = [t for group in category["groups"] for t in group]
        texts += [t for pair in category["apart"] for t in pair]
        for i, text in enumerate(texts):
            kind = "person" if i % 3 == 0 else "corporation"
            address: dict[str, Any] = {"full_text": text}
            if i % 5 == 1:
                address["postal_code"] = rng.choice(
                    ["100-0005", "〒530-0001", "0600005", "999-9999"]
                )
            if i % 7 == 2:  # the same text in the structured fields, some misplaced
                address = {"city": text[: len(text) // 2], "street": text[len(text) // 2 :]}
            out.append({"kind": kind, "name": f"住所 {i}", "addresses": [address]})
    return out


def name_payloads() -> list[dict[str, Any]]:
    names = json.loads((DATA / "name_forms.json").read_text(encoding="utf-8"))
    out: list[dict[str, Any]] = []
    for section in ("branch", "legal_form", "kana"):
        for entry in names[section]:
            for form in entry["forms"]:
                if section == "kana":
                    out.append({"kind": "corporation", "name": "カナ株式会社", "name_kana": form})
                else:
                    out.append({"kind": "corporation", "name": form})
    for pair in names["apart"]:
        out.extend({"kind": "corporation", "name": n} for n in pair)
    return out


_PHONES = [
    "03-1234-5678", "0312345678", "０３－１２３４－５６７８", "(03)1234-5678", "03 1234 5678",
    "090-1234-5678", "+81 90 1234 5678", "+81-3-1234-5678", "TEL: 06-6123-4567",
    "06-6123-4567 内線123", "0120-123-456", "050-1234-5678", "+1 650-253-0000", "12",
    "abc", "03-1234-567", "0AB-CDE", "0570-000-000", "011-222-3333 ext. 45", "1234567890123",
]  # fmt: skip
_EMAILS = [
    "info@example.co.jp", "Info@Example.CO.JP", "mailto:taro@example.jp", "<x@example.com>",
    "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "a@localhost", "b@example.test", "no-at-sign", "c@d",
    "user.name+tag@sub.example.org", "postmaster@example.jp", "x@123", "日本@example.jp",
    "a..b@example.jp", "a@例え.jp", "",
]  # fmt: skip
_DATES = [
    "令和5年4月1日", "R5.4.1", "H31.4.30", "平成31年5月1日", "S50.1.1", "2023-04-01",
    "2023/4/1", "昭和64年1月8日", "明治1年1月1日", "2099-01-01", "13月", "",
]  # fmt: skip
_NUMBERS = [
    "7000012050002",
    "7000012050003",
    "T7000012050002",
    "７０００ ０１２０ ５０００２",
    "12",
]
_STREETS = [
    "一丁目2番3号", "1丁目2-3", "１－２－３", "二番地の五", "十二番地", "1-2-3-405",
    "三丁目4番5号 ABCビル5F", "1-2-3 第2ビル 201号室", "北3条西4丁目", "字北原 イ22",
]  # fmt: skip
_PERSONS = ["山田 太郎", "山田太郎", "佐藤\u3000花子", "ヤマダ タロウ", "Taro Yamada", "髙橋 一郎"]


def variant_payloads(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(count):
        kind = rng.choice(["person", "corporation"])
        payload: dict[str, Any] = {
            "kind": kind,
            "name": rng.choice(_PERSONS) if kind == "person" else f"(株)テスト商事{i}　大阪支店",
            "phones": [
                {"number": rng.choice(_PHONES), "purpose": rng.choice(["main", "fax", "mobile"])}
                for _ in range(rng.randrange(3))
            ],
            "emails": [{"address": rng.choice(_EMAILS)} for _ in range(rng.randrange(3))],
            "addresses": [
                {
                    "postal_code": rng.choice(["100-0005", "5300001", "〒060-0005", None]),
                    "prefecture": rng.choice(["東京都", "東京", "大阪府", None]),
                    "city": rng.choice(["千代田区", "大阪市北区", "札幌市中央区", None]),
                    "town": rng.choice(["丸の内", "梅田", "北五条西", "霞ヶ関", None]),
                    "street": rng.choice(_STREETS),
                    "building": rng.choice(["", "ABCビル", None]),
                }
            ],
            "transactions": {
                "started_on": rng.choice(_DATES),
                "last_transaction_on": rng.choice(_DATES),
                "annual_amount": rng.choice([0, 999_999, 1_000_000, 25_000_000, None]),
            },
            "classification": {"industry": "卸売業", "rank": rng.choice(["A", "B", "Z", None])},
        }
        if kind == "person":
            payload["birth_date"] = rng.choice(_DATES)
            payload["name_kana"] = rng.choice(["やまだ たろう", "ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ", "山田"])
        else:
            payload["corporate_number"] = rng.choice(_NUMBERS)
            payload["invoice_registration_number"] = rng.choice([*_NUMBERS, None])
            payload["contacts"] = [
                {
                    "name": rng.choice(_PERSONS),
                    "name_kana": "やまだ たろう",
                    "department": "経理部",
                    "phones": [{"number": rng.choice(_PHONES)}],
                    "emails": [{"address": rng.choice(_EMAILS)}],
                }
            ]
        out.append(payload)
    return out


def payloads() -> list[dict[str, Any]]:
    return [
        *generated_payloads(3000, 5),
        *address_payloads(),
        *name_payloads(),
        *variant_payloads(1500, 9),
    ]


def _marked(value: Any) -> Any:
    return ["SEALED", value]


def outcome(payload: dict[str, Any]) -> dict[str, Any]:
    """Everything preparing ``payload`` gives that must not change (JSON)."""
    from pydantic import ValidationError

    from mdm_hub.custom_fields.service import Configuration
    from mdm_hub.customers.prepare import changes_json, normalize_with
    from mdm_hub.encryption import _walk
    from mdm_hub.errors import ProblemError
    from mdm_hub.matching.config import load_config
    from mdm_hub.matching.keys import blocking_keys
    from mdm_hub.normalize import NormalizationError, RankRule, normalize_customer
    from mdm_hub.record import CustomerIn

    try:
        given = CustomerIn.model_validate(payload)
    except ValidationError as exc:
        return {"invalid": [e["type"] for e in exc.errors()]}
    out: dict[str, Any] = {}
    rules = (RankRule("A", 10_000_000), RankRule("B", 1_000_000), RankRule("C", 0))
    try:
        result = normalize_customer(given, rank_rules=rules)
    except NormalizationError as exc:
        out["errors"] = [[e.field, e.code, e.message] for e in exc.errors]
    else:
        out["record"] = result.record.model_dump(mode="json")
        out["changes"] = changes_json(result)
        out["keys"] = [[k.kind, k.value] for k in blocking_keys(result.record, load_config())]
    config = Configuration(fingerprint="golden", definitions=(), rank_rules=rules)
    try:
        done = normalize_with(given, config)
    except ProblemError as problem:
        out["problems"] = [[p.field, p.code, p.message] for p in problem.errors or []]
        return out
    document = {
        "payload": given.model_dump(mode="json", exclude_unset=True),
        "normalized": done.record,
        "changes": changes_json(done.result),
        "findings": done.findings,
    }
    out["findings"] = done.findings
    out["sealed"] = _walk(document, _marked, True)
    out["document"] = document  # not hashed: the test walks it again
    return out


def digest(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def hashes(payload: dict[str, Any]) -> dict[str, str]:
    """One hash per part of the outcome, so a difference says which part changed."""
    return {p: digest(v) for p, v in sorted(outcome(payload).items()) if p != "document"}


def load() -> list[dict[str, Any]]:
    with gzip.open(GOLDEN, "rt", encoding="utf-8") as f:
        golden: list[dict[str, Any]] = json.load(f)
    return golden


def main() -> None:
    from mdm_hub.normalize import postal

    postal.index()
    items = payloads()
    golden = [{"payload": p, "hashes": hashes(p)} for p in items]
    text = "[\n" + ",\n".join(json.dumps(g, ensure_ascii=False) for g in golden) + "\n]\n"
    with GOLDEN.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(text.encode())
    print(f"{len(golden)} payloads → {GOLDEN}", file=sys.stderr)


if __name__ == "__main__":
    main()
