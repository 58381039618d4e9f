"""Records per second of normalize_customer on one core.

    .venv/bin/python bench/normalize.py [--seconds 5] [--distinct 20000] [--profile]

Two figures:
- "distinct payloads, first pass": N generated corporate payloads, each different (name, kana,
  phones, emails, street, amount; postal codes drawn from 8 real codes), each normalized once,
  caches cold: the cost of a bulk load where nothing repeats.
- "distinct payloads, repeated" and "same payload, repeated": the same records again (caches
  warm), as when sources re-send records they already sent (idempotent PUTs, nightly syncs).
- "library floor": the calls to ``phonenumbers`` and ``email-validator`` alone that the first
  pass must make for those payloads (parse, type and national format of every number; syntax
  check of every address), and the records/s that this time alone allows — the ceiling of the
  first pass whatever the rest of the normalizer costs.
"""

from __future__ import annotations

import argparse
import cProfile
import platform
import pstats
import time

import phonenumbers
from email_validator import validate_email

from mdm_hub.normalize import RankRule, normalize_customer
from mdm_hub.normalize.postal import index
from mdm_hub.record import CustomerIn

RULES = [RankRule("A", 10_000_000), RankRule("B", 1_000_000), RankRule("C", 0)]
POSTAL = [
    ("1000005", "東京都千代田区丸の内"),
    ("5300001", "大阪府大阪市北区梅田"),
    ("4500002", "愛知県名古屋市中村区名駅"),
    ("8120011", "福岡県福岡市博多区博多駅前"),
    ("0600005", "北海道札幌市中央区北五条西"),
    ("9800021", "宮城県仙台市青葉区中央"),
    ("7300011", "広島県広島市中区基町"),
    ("1500002", "東京都渋谷区渋谷"),
]
KANJI = "一二三四五六七八九"


def payload(i: int) -> CustomerIn:
    code, _ = POSTAL[i % len(POSTAL)]
    return CustomerIn.model_validate(
        {
            "kind": "corporation",
            "name": f"(株)ＡＢＣ商事{i}　大阪支店",
            "name_kana": f"ｶﾌﾞｼｷｶﾞｲｼｬ ｴｰﾋﾞｰｼｰｼｮｳｼﾞ{i}",
            "corporate_number": "7000012050002",
            "invoice_registration_number": "T7000012050002",
            "addresses": [
                {
                    "postal_code": f"〒{code[:3]}-{code[3:]}",
                    "street": f"{KANJI[i % 9]}丁目{i % 40 + 1}番{i % 17 + 1}号 ABCビル{i % 9 + 1}F",
                },
            ],
            "phones": [
                {"number": f"03-{1000 + i % 9000}-{i % 10000:04d}"},
                {"number": f"+81 6 {2000 + i % 8000} {i % 10000:04d}", "purpose": "fax"},
            ],
            "emails": [{"address": f"Info{i}@Example.CO.JP"}],
            "contacts": [
                {
                    "name": "山田　太郎",
                    "name_kana": "やまだ たろう",
                    "department": "経理部",
                    "phones": [{"number": f"090-{1000 + i % 9000}-{i % 10000:04d}"}],
                    "emails": [{"address": f"t.yamada{i}@example.co.jp"}],
                }
            ],
            "transactions": {"started_on": "令和5年4月1日", "annual_amount": 1_000 * i},
            "classification": {"industry": "卸売業"},
            "company_profile": {
                "employees": 120,
                "capital": 10_000_000,
                "established_on": "S50.1.1",
            },
        }
    )


def rate(payloads: list[CustomerIn], seconds: float) -> float:
    """Records/s over whole passes through ``payloads`` until ``seconds`` have gone by."""
    done, start = 0, time.perf_counter()
    while True:
        for p in payloads:
            normalize_customer(p, rank_rules=RULES)
        done += len(payloads)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def library_floor(payloads: list[CustomerIn]) -> tuple[float, float, float]:
    """Seconds per phone number and per email address spent in the two libraries alone, on
    first-seen values, and the records/s that this time alone allows."""
    phones = [
        phone.number
        for p in payloads
        for phone in [*p.phones, *(q for contact in p.contacts for q in contact.phones)]
    ]
    emails = [
        email.address
        for p in payloads
        for email in [*p.emails, *(q for contact in p.contacts for q in contact.emails)]
    ]
    start = time.perf_counter()
    for text in phones:
        number = phonenumbers.parse(text, "JP")
        phonenumbers.number_type(number)
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    phone_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for text in emails:
        validate_email(text, check_deliverability=False)
    email_seconds = time.perf_counter() - start
    ceiling = len(payloads) / (phone_seconds + email_seconds)
    return phone_seconds / len(phones), email_seconds / len(emails), ceiling


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--distinct", type=int, default=20_000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    started = time.perf_counter()
    index()  # Japan Post index: built once per process, not part of a record's cost
    print(f"postal index built in {time.perf_counter() - started:.2f} s")
    distinct = [payload(i) for i in range(args.distinct)]
    if args.profile:
        cProfile.runctx("rate(distinct, args.seconds)", globals(), locals(), "/tmp/normalize.prof")
        pstats.Stats("/tmp/normalize.prof").sort_stats("tottime").print_stats(25)
        return
    print(f"python {platform.python_version()}, one thread")
    per_phone, per_email, ceiling = library_floor(distinct)
    print(
        f"library floor: phonenumbers {per_phone * 1e6:.0f} µs/number, "
        f"email-validator {per_email * 1e6:.0f} µs/address → at most {ceiling:,.0f} records/s"
    )
    # every phone, email, name and street is new to the caches on the first pass
    cold = rate(distinct, 0)
    print(f"distinct payloads, first pass: {cold:>9,.0f} records/s ({len(distinct):,})")
    print(f"distinct payloads, repeated:   {rate(distinct, args.seconds):>9,.0f} records/s")
    same = [payload(1)] * 1000
    print(f"same payload, repeated:        {rate(same, args.seconds):>9,.0f} records/s")


if __name__ == "__main__":
    main()
