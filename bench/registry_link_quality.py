"""Precision of linking customers without a 法人番号 to the NTA registry by name + address
(`mdm-hub nta apply`'s matching), on generated data with known truth.

A registry of corporations crowded into a few postal codes (names from a small vocabulary, so
many look alike: 山田商事株式会社 / 山田商事有限会社 / 山田産業株式会社, and one name at two
addresses), and customers written through the write path without a 法人番号:
- ``in``: a registry corporation as a CRM keeps it: (株) for 株式会社, half-width or full-width
  forms, 2-21-1 for ２丁目２１－１, sometimes no building number;
- ``moved``: the same with another 番地 (the CRM kept an old address);
- ``absent``: a corporation the registry does not have, at a registry postal code;
- ``nopostal``: an ``in`` customer whose CRM has no postal code and no 町域 (prefecture, city
  and 2-21-1 only), so that the hub cannot derive one.
The file goes through `mdm-hub nta import` (which links and proposes); the links and proposals
are then compared with the truth.

    .venv/bin/python bench/registry_link_quality.py --registry 3000 --customers 800
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import print_header
from registry_import import number, write_zip

from mdm_hub.migrate import upgrade

PREFIXES = [
    "山田",
    "鈴木",
    "佐藤",
    "東京",
    "日本",
    "中央",
    "大和",
    "富士",
    "新日本",
    "北斗",
    "三和",
    "丸井",
    "朝日",
    "昭和",
    "大成",
    "光",
]
TRADES = [
    "商事",
    "産業",
    "工業",
    "建設",
    "電機",
    "物産",
    "運輸",
    "不動産",
    "精機",
    "化学",
    "食品",
    "興産",
]
FORMS = [("株式会社", "301", "(株)"), ("有限会社", "302", "(有)"), ("合同会社", "305", "(同)")]
PLACES = [  # postal code, prefecture, city, town
    ("1500002", "東京都", "渋谷区", "渋谷"),
    ("1000005", "東京都", "千代田区", "丸の内"),
    ("5300001", "大阪府", "大阪市北区", "梅田"),
    ("4600008", "愛知県", "名古屋市中区", "栄"),
    ("8120011", "福岡県", "福岡市博多区", "博多駅前"),
    ("0600001", "北海道", "札幌市中央区", "北一条西"),
]
WIDE = str.maketrans("0123456789-", "０１２３４５６７８９－")


def corporations(count: int, rng: random.Random) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    while len(out) < count:
        body = rng.choice(PREFIXES) + rng.choice(TRADES)
        form, kind, _ = rng.choice(FORMS)
        before = rng.random() < 0.5
        name = f"{form}{body}" if before else f"{body}{form}"
        place = rng.choice(PLACES)
        street = (rng.randint(1, 5), rng.randint(1, 30), rng.randint(1, 20))
        key = (name, place[0])
        if key in seen and rng.random() < 0.9:  # a few same names at two addresses
            continue
        seen.add(key)
        out.append(
            {"name": name, "body": body, "form": form, "kind": kind, "before": str(before),
             "post": place[0], "pref": place[1], "city": place[2], "town": place[3],
             "chome": str(street[0]), "banchi": str(street[1]), "go": str(street[2])}
        )  # fmt: skip
    return out


def registry_row(seq: int, i: int, c: dict[str, str]) -> list[str]:
    street = f"{c['town']}{c['chome']}丁目{c['banchi']}－{c['go']}".translate(WIDE)
    return [
        str(seq), number(i), "01", "0", "2026-11-30", "2015-10-05", c["name"], "", c["kind"],
        c["pref"], c["city"], street, "", "13", "101", c["post"], "", "", "", "", "", "",
        "2015-10-05", "1", "", "", "", "", "", "0",
    ]  # fmt: skip


def crm_payload(
    c: dict[str, str], rng: random.Random, moved: bool, postal: bool = True
) -> dict[str, object]:
    abbreviation = next(a for f, _, a in FORMS if f == c["form"])
    form = abbreviation if rng.random() < 0.5 else c["form"]
    name = f"{form}{c['body']}" if c["before"] == "True" else f"{c['body']}{form}"
    if rng.random() < 0.3:
        name = name.translate(str.maketrans("()", "（）"))
    banchi = str(int(c["banchi"]) + rng.randint(1, 5)) if moved else c["banchi"]
    street = rng.choice(
        [f"{c['chome']}-{banchi}-{c['go']}", f"{c['chome']}丁目{banchi}番{c['go']}号"]
    )
    address = {"prefecture": c["pref"], "city": c["city"], "town": c["town"], "street": street}
    if postal:
        address["postal_code"] = f"{c['post'][:3]}-{c['post'][3:]}"
    else:  # without the 町域 either: the hub cannot derive the postal code from the address
        del address["town"]
        address["street"] = f"{c['chome']}-{banchi}-{c['go']}"
    return {"kind": "corporation", "name": name, "addresses": [address]}


async def write_customers(url: str, payloads: list[tuple[str, dict[str, object]]]) -> None:
    from mdm_hub.context import Actor
    from mdm_hub.db import create_engine, create_sessionmaker
    from mdm_hub.encryption import install_keyring
    from mdm_hub.privacy.fields import open_keyring
    from mdm_hub.record import CustomerIn
    from mdm_hub.settings import get_settings
    from mdm_hub.sources.service import put_source_record

    settings = get_settings().model_copy(update={"database_url": url})
    engine = create_engine(url, settings)
    sessions = create_sessionmaker(engine)
    try:
        # The hub's field keys (made at the first run), as the app loads them: the write path
        # seals documents and blind-indexes keys (encryption at rest).
        install_keyring(await open_keyring(engine, os.environ["MDM_FIELD_ENCRYPTION_KEY"]))
        for source_id, payload in payloads:
            async with sessions() as session, session.begin():
                await put_source_record(
                    session,
                    settings,
                    Actor(subject="bench"),
                    "crm",
                    source_id,
                    CustomerIn.model_validate(payload),
                )
    finally:
        await engine.dispose()


async def outcomes(url: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    import asyncpg

    from mdm_hub.db import sqlalchemy_url

    conn = await asyncpg.connect(
        sqlalchemy_url(url).replace("postgresql+asyncpg://", "postgresql://")
    )
    try:
        links = await conn.fetch(
            "SELECT s.source_id, l.corporate_number FROM registry_links l"
            " JOIN source_records s ON s.customer_id = l.customer_id AND s.system = 'crm'"
            " WHERE l.linked_by = 'match'"
        )
        proposals = await conn.fetch(
            "SELECT s.source_id, p.corporate_number FROM registry_proposals p"
            " JOIN source_records s ON s.customer_id = p.customer_id AND s.system = 'crm'"
            " WHERE p.status = 'pending'"
        )
    finally:
        await conn.close()
    proposed: dict[str, list[str]] = {}
    for r in proposals:
        proposed.setdefault(r["source_id"], []).append(r["corporate_number"])
    return {r["source_id"]: r["corporate_number"] for r in links}, proposed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--registry", type=int, default=3000)
    parser.add_argument("--customers", type=int, default=800)
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    print_header()
    rng = random.Random(args.seed)
    corps = corporations(args.registry, rng)
    absent = corporations(args.registry + args.customers // 5, random.Random(args.seed + 1))
    registry_names = {(c["name"], c["post"]) for c in corps}
    absent = [c for c in absent if (c["name"], c["post"]) not in registry_names]
    truth: dict[str, str | None] = {}
    payloads: list[tuple[str, dict[str, object]]] = []
    groups = {"in": 0, "moved": 0, "absent": 0, "nopostal": 0}
    picks = rng.sample(range(len(corps)), args.customers)
    for n, index in enumerate(picks):
        group = (
            "absent"
            if n % 5 == 4
            else "moved"
            if n % 5 == 3
            else "nopostal"
            if n % 10 == 2
            else "in"
        )
        source_id = f"{group}-{n}"
        if group == "absent":
            payloads.append((source_id, crm_payload(absent[n], rng, moved=False)))
            truth[source_id] = None
        else:
            payload = crm_payload(
                corps[index], rng, moved=group == "moved", postal=group != "nopostal"
            )
            payloads.append((source_id, payload))
            truth[source_id] = number(index + 1)
        groups[group] += 1
    with tempfile.TemporaryDirectory(prefix="bench-link-") as tmp:
        folder = Path(tmp)
        url = os.environ.get("DATABASE_URL")
        if not url:
            from mdm_hub.embedded import start_embedded_postgres

            url = start_embedded_postgres(folder / "pg")
        upgrade(url)
        started = time.perf_counter()
        asyncio.run(write_customers(url, payloads))
        print(f"wrote {len(payloads):,} customers in {time.perf_counter() - started:.1f} s")
        full = folder / "00_zenkoku_all_20261130.zip"
        write_zip(full, (registry_row(i + 1, i + 1, c) for i, c in enumerate(corps)))
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "mdm_hub.cli", "nta", "import", str(full)],
            env={**os.environ, "DATABASE_URL": url, "MDM_LOG_LEVEL": "WARNING"},
            capture_output=True,
            text=True,
            check=True,
        )
        print(done.stdout.strip())
        print(f"import + link + propose: {time.perf_counter() - started:.1f} s")
        linked, proposed = asyncio.run(outcomes(url))

    right = sum(1 for s, n in linked.items() if truth[s] == n)
    wrong = len(linked) - right
    in_registry = [s for s, n in truth.items() if n is not None]
    proposed_right = sum(
        1 for s in in_registry if s not in linked and truth[s] in proposed.get(s, [])
    )
    absent_proposed = sum(1 for s, n in truth.items() if n is None and s in proposed)
    print(f"customers: {groups}")
    print(
        f"automatic links: {len(linked)}, right {right}, wrong {wrong}: precision "
        f"{right / len(linked) if linked else float('nan'):.4f}"
    )
    print(
        f"of {len(in_registry)} customers in the registry: {right} linked right, "
        f"{proposed_right} with the right corporation among the proposals, "
        f"{len(in_registry) - right - proposed_right} neither (recall of links "
        f"{right / len(in_registry):.4f}, with proposals "
        f"{(right + proposed_right) / len(in_registry):.4f})"
    )
    print(
        f"customers with proposals: {len(proposed)} ({sum(map(len, proposed.values()))} "
        f"proposals); absent from the registry but proposed: {absent_proposed}"
    )
    for group in groups:
        members = [s for s in truth if s.startswith(f"{group}-")]
        linked_right = sum(1 for s in members if s in linked and linked[s] == truth[s])
        linked_wrong = sum(1 for s in members if s in linked and linked[s] != truth[s])
        with_right = sum(1 for s in members if s not in linked and truth[s] in proposed.get(s, []))
        print(
            f"  {group}: {len(members)} customers, linked right {linked_right}, linked wrong "
            f"{linked_wrong}, right one proposed {with_right}, with proposals "
            f"{sum(1 for s in members if s in proposed)} "
            f"({sum(len(proposed.get(s, [])) for s in members)} proposals)"
        )


if __name__ == "__main__":
    main()
