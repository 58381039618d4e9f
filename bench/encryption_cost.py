"""What field encryption costs per request, end to end in process: PUT of a new person, PUT of
the same person from another system (a matched write: candidates read and decrypted, source
record, golden record, audit and event sealed) and the dry run (POST /v1/match), with the
encryption on and off.

    .venv/bin/python bench/encryption_cost.py [--persons 200] [--rounds 6]

An embedded PostgreSQL in a temporary folder, migrated; the real app (create_app, its lifespan)
behind httpx's ASGI transport, as the tests run it. "off" replaces the sealing and unsealing of
documents by the identity (``mdm_hub.encryption.encrypt_record``; reading a document without an
encrypted value decrypts nothing, so reads cost only a substring search then); the blind
indexes of lookup columns and blocking keys stay in both (they are not optional). Rounds
alternate on/off with new persons each round, so the machine's load (shared: see ``uptime``
in the header) falls on both alike; the figure is the median over rounds of the Python CPU
time (``time.process_time``: app and client, one process) per request; PostgreSQL's CPU (the
embedded server's processes, from /proc) and the wall time per request are reported beside it,
with the stored size of the sealed columns. The CPU spent inside
sealing and unsealing is also summed directly (less noisy than the difference of two runs on a
shared machine).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

import mdm_hub.encryption as encryption
from mdm_hub.app import create_app
from mdm_hub.auth.dev_issuer import DevIssuer
from mdm_hub.embedded import start_embedded_postgres
from mdm_hub.migrate import upgrade
from mdm_hub.settings import Settings

try:
    from machine import print_header
except ImportError:  # run as a module from elsewhere
    sys.path.insert(0, str(Path(__file__).parent))
    from machine import print_header

FAMILY = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
# One postal code per round: no person of a round shares a blocking key with another round's.
POSTAL = [
    "100-0001",
    "100-0002",
    "100-0003",
    "100-0004",
    "100-0005",
    "100-0006",
    "100-0011",
    "100-0012",
    "100-0013",
    "100-0014",
    "150-0001",
    "150-0002",
    "150-0011",
    "150-0012",
]
GIVEN = ["太郎", "花子", "一郎", "美咲", "健太", "陽子", "翔", "由美", "大輔", "直子"]


def person(i: int, *, variant: bool, postal: str = "150-0002") -> dict[str, Any]:
    """A person no other i shares a phone, e-mail or birth date with; ``variant``: as another
    system writes the same person (phone and e-mail written differently)."""
    phone = f"090-{1000 + i // 9000:04d}-{1000 + i % 9000:04d}"
    return {
        "kind": "person",
        "person_name": {"family_name": FAMILY[i % 10], "given_name": GIVEN[i // 10 % 10]},
        "birth_date": f"{1950 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "addresses": [
            {
                "purpose": "home",
                "postal_code": postal,
                "prefecture": None if variant else "東京都",
                "city": "渋谷区",
                "town": "渋谷",
                "street": f"{1 + i % 4}-{1 + i % 20}-{1 + i % 30}",
                "building": f"メゾン{i}号室",
            }
        ],
        "phones": [{"number": phone.replace("-", "") if variant else phone, "purpose": "mobile"}],
        "emails": [{"address": (f"P{i}@Example.jp" if variant else f"p{i}@example.jp")}],
    }


# CPU spent inside sealing and unsealing (encryption.encrypt_record, and the read seam's
# encryption.unseal_json_text), summed.
_inside = [0.0]


def _timed(fn: Callable[..., Any]) -> Callable[..., Any]:
    def timed(*args: Any) -> Any:
        t0 = time.process_time()
        try:
            return fn(*args)
        finally:
            _inside[0] += time.process_time() - t0

    return timed


_TICK = os.sysconf("SC_CLK_TCK")
_postmaster: list[int] = []  # the embedded PostgreSQL's postmaster pid, once started


def postgres_cpu() -> float:
    """CPU seconds of the embedded PostgreSQL so far: the postmaster with its reaped children,
    and its live children (the backends)."""
    if not _postmaster:
        return 0.0
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == _postmaster[0]:
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        elif ppid == _postmaster[0]:
            total += int(fields[11]) + int(fields[12])
    return total / _TICK


async def round_(client: httpx.AsyncClient, first: int, n: int, postal: str) -> dict[str, float]:
    """CPU ms per request of each kind, for persons first..first+n (and the part of it spent
    sealing and unsealing)."""
    cpu: dict[str, float] = {}
    steps: list[tuple[str, Callable[[int], Any]]] = [
        (
            "PUT new person",
            lambda i: client.put(
                f"/v1/sources/crm/records/{i}", json=person(i, variant=False, postal=postal)
            ),
        ),
        (
            "PUT matched (2nd system)",
            lambda i: client.put(
                f"/v1/sources/shop/records/{i}", json=person(i, variant=True, postal=postal)
            ),
        ),
        (
            "POST /v1/match (dry run)",
            lambda i: client.post("/v1/match", json=person(i, variant=True, postal=postal)),
        ),
    ]
    for name, call in steps:
        t0, pg0, wall0 = time.process_time(), postgres_cpu(), time.perf_counter()
        _inside[0] = 0.0
        for i in range(first, first + n):
            response = await call(i)
            assert response.status_code < 300, response.text
            if name.startswith("PUT matched"):
                assert response.json()["decision"]["outcome"] == "merged", response.text
        cpu[name] = (time.process_time() - t0) / n * 1000
        cpu[f"{name}: of which sealing/unsealing"] = _inside[0] / n * 1000
        cpu[f"{name}: PostgreSQL CPU"] = (postgres_cpu() - pg0) / n * 1000
        cpu[f"{name}: wall"] = (time.perf_counter() - wall0) / n * 1000
    return cpu


async def run(args: argparse.Namespace, url: str) -> None:
    import mdm_hub.db as db

    real = (_timed(encryption.encrypt_record), _timed(encryption.unseal_json_text))
    db.unseal_json_text = real[1]
    issuer = DevIssuer.ephemeral("http://bench.test/issuer")
    settings = Settings(
        database_url=url, field_encryption_key=encryption.new_kek_text(), log_level="WARNING"
    )
    app = create_app(settings, dev_issuer=issuer)
    token = issuer.mint(subject="bench", roles=["administrator"], scopes=[], client_id="bench")
    figures: dict[str, dict[str, list[float]]] = {"on": {}, "off": {}}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://hub.test",
            headers={"Authorization": f"Bearer {token}"},
        ) as client,
    ):
        await round_(
            client, 10**6, 30, "150-0002"
        )  # warm-up: imports, the postal index, connections
        for r in range(args.rounds * 2):
            mode = "on" if r % 2 == 0 else "off"
            if mode == "on":
                encryption.encrypt_record = real[0]
            else:
                # Reading a clear document decrypts nothing (unseal_json_text looks for the
                # prefix and returns the text).
                encryption.encrypt_record = lambda _k, d: d  # type: ignore[assignment]
            postal = POSTAL[r % len(POSTAL)]
            for name, ms in (await round_(client, r * args.persons, args.persons, postal)).items():
                figures[mode].setdefault(name, []).append(ms)
        engine = app.state.engine
        from sqlalchemy import text

        async with engine.connect() as conn:
            size = (
                await conn.execute(
                    text(
                        "SELECT (raw_payload::text LIKE '%enc:v1:%') AS sealed, "
                        "avg(pg_column_size(raw_payload) + pg_column_size(normalized)) AS b "
                        "FROM source_records GROUP BY 1 ORDER BY 1"
                    )
                )
            ).all()
    print(
        f"\n{args.rounds} rounds each way, {args.persons} persons per round; "
        "Python CPU per request (median over rounds, ms):\n"
    )
    print("| request | encryption off | encryption on | more CPU |")
    print("|---|---:|---:|---:|")
    for name in figures["on"]:
        off = statistics.median(figures["off"][name])
        on = statistics.median(figures["on"][name])
        print(f"| {name} | {off:.2f} | {on:.2f} | {(on / off - 1) * 100:+.1f} % |")
    # The spread: every round's figure, and on/off of each pair of neighbouring rounds (run
    # one after the other, so under about the same load).
    print("\nper round (ms; on/off of each neighbouring pair):\n")
    for name in figures["on"]:
        ons, offs = figures["on"][name], figures["off"][name]
        pairs = [(on / off - 1) * 100 for on, off in zip(ons, offs, strict=True) if off]
        print(
            f"{name}: on {' '.join(f'{v:.2f}' for v in ons)}; "
            f"off {' '.join(f'{v:.2f}' for v in offs)}; "
            f"pairs {' '.join(f'{v:+.1f}%' for v in pairs)}"
        )
    print("\nsource_records raw + normalized stored size (bytes, average):")
    for sealed, avg in size:
        print(f"  {'sealed' if sealed else 'clear '}: {float(avg):.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=200, help="persons per round")
    parser.add_argument("--rounds", type=int, default=6, help="rounds with encryption on (and off)")
    args = parser.parse_args()
    print_header()
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    with tempfile.TemporaryDirectory(prefix="mdm-bench-") as folder:
        url = start_embedded_postgres(Path(folder), database="bench")
        pid_file = next(Path(folder).rglob("postmaster.pid"))
        _postmaster.append(int(pid_file.read_text().split()[0]))
        upgrade(url)
        asyncio.run(run(args, url))
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
