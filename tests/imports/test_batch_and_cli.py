"""The batch endpoint, and `mdm-hub import` as a process: progress, summary, kill -9 and
resume with no row lost or stored twice."""

from __future__ import annotations

import asyncio
import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.helpers import CORPORATION, PERSON
from tests.imports.files import rows, text_file


async def test_batch_items_answer_like_puts(client: httpx.AsyncClient) -> None:
    twin = copy.deepcopy(CORPORATION)
    twin["name"] = "(株)ＡＢＣ商事"
    items = [
        {"source_id": "A-1", "record": CORPORATION},
        {"source_id": "A-2", "record": {"kind": "corporation", "phones": "not a list"}},
        {"source_id": "A-3", "record": twin},
        {"source_id": "A-4", "record": {**PERSON, "phones": [{"number": "12"}]}},
        {"source_id": "A-5", "record": PERSON},
        {"source_id": "A-1", "record": CORPORATION},
    ]
    answer = await client.post("/v1/sources/crm/records/batch", json={"items": items})
    assert answer.status_code == 200, answer.text
    results = answer.json()["items"]
    assert [r["status"] for r in results] == [201, 422, 201, 422, 201, 200]
    assert results[1]["problem"]["errors"][0]["field"] == "/phones"
    assert results[3]["problem"]["errors"][0]["field"].startswith("/phones/0")
    assert results[2]["decision"]["outcome"] == "merged"
    assert results[2]["customer"]["id"] == results[0]["customer"]["id"]
    assert results[5]["customer"]["id"] == results[0]["customer"]["id"]
    # Each stored item is there as a PUT would have stored it; the bad ones left nothing.
    assert (await client.get("/v1/sources/crm/records/A-3")).status_code == 200
    assert (await client.get("/v1/sources/crm/records/A-4")).status_code == 404
    too_many = await client.post(
        "/v1/sources/crm/records/batch",
        json={"items": [{"source_id": str(i), "record": PERSON} for i in range(1001)]},
    )
    assert too_many.status_code == 422


def _cli(database_url: str, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mdm_hub.cli", "import", *args],
        env={**os.environ, "DATABASE_URL": database_url, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _fetch(database_url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


def _children(pid: int) -> dict[int, str]:
    """The live processes whose parent is ``pid`` (from /proc): pid → command line."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # ended meanwhile
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found[int(entry.name)] = command
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


async def test_kill_9_and_resume(database_url: str, tmp_path: Path) -> None:
    path = text_file(tmp_path / "big.csv", "cp932", rows(400))
    # Batches of 5 rows, so the kill lands between checkpoints. Two normalization processes:
    # staging's batch (400 rows) starts the pool, which must not outlive the killed worker.
    worker = _cli(
        database_url,
        str(path),
        "--system",
        "crm",
        "--batch-size",
        "5",
        MDM_IMPORT_LEASE_SECONDS="2",
        MDM_IMPORT_PROCESSES="2",
    )
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline:
        found = await _fetch(
            database_url, "SELECT coalesce(max(rows_done), 0) AS n FROM import_jobs"
        )
        done = found[0]["n"]
        if done >= 60:
            break
        await asyncio.sleep(0.2)
    assert worker.poll() is None, worker.communicate()
    # The pool's processes, and multiprocessing's resource tracker (which ends once they do).
    pool = {pid: cmd for pid, cmd in _children(worker.pid).items() if "multiprocessing" in cmd}
    assert sum("spawn_main" in cmd for cmd in pool.values()) == 2, pool
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    gone_by = time.monotonic() + 30
    while time.monotonic() < gone_by:
        if not any(_alive(pid) for pid in pool):
            break
        await asyncio.sleep(0.1)
    assert not [pool[pid] for pid in pool if _alive(pid)], "outlived the killed worker"
    interrupted = await _fetch(database_url, "SELECT status, rows_done FROM import_jobs")
    assert interrupted[0]["status"] == "running" and 60 <= interrupted[0]["rows_done"] < 400
    await asyncio.sleep(2.5)  # the dead worker's lease runs out
    again = _cli(database_url, str(path), "--system", "crm", MDM_IMPORT_LEASE_SECONDS="2")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert "resuming import" in err
    assert "new_customer" in out and "merged" in out
    jobs = await _fetch(database_url, "SELECT status, rows_done, counts FROM import_jobs")
    assert len(jobs) == 1 and jobs[0]["status"] == "done" and jobs[0]["rows_done"] == 400
    per_row = await _fetch(
        database_url,
        "SELECT count(*) FILTER (WHERE status = 'done') AS done, count(*) AS total "
        "FROM import_rows",
    )
    assert per_row[0]["done"] == per_row[0]["total"] == 400
    stored = await _fetch(
        database_url,
        "SELECT count(*) AS n, count(DISTINCT source_id) AS d FROM source_records",
    )
    assert stored[0]["n"] == stored[0]["d"] == 399  # every good row once (one is rejected)
    events = await _fetch(
        database_url,
        "SELECT count(*) FILTER (WHERE type = 'customer.created') AS created, "
        "count(DISTINCT customer_id) AS customers FROM customer_events",
    )
    assert events[0]["created"] == events[0]["customers"]  # no customer created twice
    audit = await _fetch(
        database_url,
        "SELECT count(*) AS n FROM audit_log WHERE action = 'source_record.created'",
    )
    assert audit[0]["n"] == 399


async def test_cli_sample_and_bad_arguments(database_url: str, tmp_path: Path) -> None:
    bad = _cli(database_url, str(tmp_path / "none.csv"), "--system", "crm")
    _, err = bad.communicate(timeout=60)
    assert bad.returncode == 2 and "no file" in err
    sample = _cli(database_url, "--sample", "--sample-size", "300")
    out, err = sample.communicate(timeout=300)
    assert sample.returncode == 0, err
    assert out.count(": done") == 2  # two systems
    assert "rows/s" in err
    counts = await _fetch(
        database_url,
        "SELECT count(DISTINCT system) AS systems, count(*) AS sources, "
        "count(DISTINCT customer_id) AS customers FROM source_records",
    )
    assert counts[0]["systems"] == 2
    assert counts[0]["customers"] < counts[0]["sources"]  # duplicates merged across systems
    # The CRM file's hierarchy is linked: sites to their corporation (never merged into it),
    # subsidiaries to their parent; nothing left waiting (every code named is in the file).
    links = await _fetch(
        database_url,
        "SELECT r.axis, count(*) AS n, count(*) FILTER (WHERE r.child_id = r.parent_id) AS self, "
        "count(*) FILTER (WHERE c.status <> 'active' OR p.status <> 'active') AS inactive "
        "FROM customer_relations r JOIN customers c ON c.id = r.child_id "
        "JOIN customers p ON p.id = r.parent_id GROUP BY r.axis",
    )
    by_axis = {row["axis"]: row for row in links}
    assert by_axis["site"]["n"] > 0 and by_axis["group"]["n"] > 0
    assert all(row["self"] == 0 and row["inactive"] == 0 for row in links)
    waiting = await _fetch(database_url, "SELECT count(*) AS n FROM customer_relation_pending")
    assert waiting[0]["n"] == 0
    sites = await _fetch(
        database_url,
        "SELECT count(*) AS n, count(*) FILTER (WHERE s.customer_id = h.customer_id) AS merged "
        "FROM source_records s JOIN source_records h ON h.system = 'crm' "
        "AND h.source_id = substring(s.source_id FROM 1 FOR 9) "
        "WHERE s.system = 'crm' AND s.source_id ~ '^CRM-[0-9]{5}-[0-9]{2}$'",
    )
    assert sites[0]["n"] == by_axis["site"]["n"] and sites[0]["merged"] == 0


async def test_batch_item_of_an_erased_person_is_held_and_kept(client: httpx.AsyncClient) -> None:
    """A batch item carrying an erased person's values answers 202 like the PUT, and the held
    write stays (its savepoint is released, not rolled back) beside the other items."""
    first = await client.put("/v1/sources/crm/records/P-1", json=PERSON)
    customer_id = first.json()["customer"]["id"]
    erased = await client.post(f"/v1/customers/{customer_id}/erase", json={"reason": "請求"})
    assert erased.status_code == 200, erased.text
    stranger = {
        **PERSON,
        "person_name": {"family_name": "佐藤", "given_name": "花子"},
        "phones": [{"number": "080-2222-3333"}],
        "emails": [],
        "birth_date": None,
    }
    answer = await client.post(
        "/v1/sources/crm/records/batch",
        json={
            "items": [
                {"source_id": "P-2", "record": {**PERSON, "emails": [], "birth_date": None}},
                {"source_id": "P-3", "record": stranger},
            ]
        },
    )
    assert answer.status_code == 200, answer.text
    results = answer.json()["items"]
    assert [r["status"] for r in results] == [202, 201]
    assert results[0]["held"]["status"] == "held"
    waiting = (await client.get("/v1/privacy/held-writes")).json()["items"]
    assert [w["id"] for w in waiting] == [results[0]["held"]["id"]]


def _python(script: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


async def test_pool_processes_end_with_a_terminated_parent() -> None:
    # SIGTERM's default action ends the process without the pool's shutdown, as SIGKILL does.
    script = (
        "import os, sys, time\n"
        "from mdm_hub.sources import prepare\n"
        "prepare.use_processes(2)\n"
        "pool = prepare._executor()\n"
        "assert pool is not None\n"
        "pids = {pool.submit(os.getpid).result() for _ in range(20)}\n"
        "print(' '.join(map(str, sorted(pids))), flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = _python(script)
    assert parent.stdout is not None
    line = await asyncio.to_thread(parent.stdout.readline)
    workers = [int(pid) for pid in line.split()]
    assert workers and all(_alive(pid) for pid in workers), parent.stderr
    os.kill(parent.pid, signal.SIGTERM)
    parent.wait(timeout=30)
    gone_by = time.monotonic() + 30
    while time.monotonic() < gone_by:
        if not any(_alive(pid) for pid in workers):
            break
        await asyncio.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)]


def _company(name: str, phone: str, **relations: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "corporation",
        "name": name,
        "addresses": [{"full_text": "大阪府大阪市北区梅田1-2-3"}],
        "phones": [{"number": phone, "purpose": "main"}],
    }
    if relations:
        body["relations"] = relations
    return body


async def test_batch_answers_name_the_links_refused(client: httpx.AsyncClient) -> None:
    """In a batch the records stay stored without a refused link (a PUT would answer 422);
    the answer says which links were refused: on the item that named them, or, for a waiting
    link named by a record of an earlier batch, at the top of the answer."""
    first = await client.post(
        "/v1/sources/crm/records/batch",
        json={
            "items": [
                # W1 waits for W2, which arrives in the next batch and names W1: a cycle.
                {
                    "source_id": "W1",
                    "record": _company(
                        "株式会社青葉商事", "06-6111-0001", parent_source={"source_id": "W2"}
                    ),
                },
                # Itself: refused, stored without it.
                {
                    "source_id": "S1",
                    "record": _company(
                        "株式会社白石工業", "06-6111-0002", parent_source={"source_id": "S1"}
                    ),
                },
                {"source_id": "OK", "record": _company("株式会社緑町物産", "06-6111-0003")},
            ]
        },
    )
    assert first.status_code == 200, first.text
    items = first.json()["items"]
    assert [i["status"] for i in items] == [201, 201, 201]
    assert items[0]["refused_links"] == []
    assert [(p["field"], p["code"]) for p in items[1]["refused_links"]] == [
        ("/relations/parent_source", "self_link")
    ]
    assert items[2]["refused_links"] == []
    assert first.json()["refused_waiting_links"] == []

    second = await client.post(
        "/v1/sources/crm/records/batch",
        json={
            "items": [
                {
                    "source_id": "W2",
                    "record": _company(
                        "株式会社黒田製作所", "06-6111-0004", parent_source={"source_id": "W1"}
                    ),
                }
            ]
        },
    )
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["items"][0]["status"] == 201
    assert body["items"][0]["refused_links"] == []
    assert [
        (w["system"], w["source_id"], [e["code"] for e in w["errors"]])
        for w in body["refused_waiting_links"]
    ] == [("crm", "W1", ["cycle"])]
    # Both records are stored; only W2's link to W1 stands.
    w2 = (await client.get("/v1/sources/crm/records/W2")).json()["customer_id"]
    tree = (await client.get(f"/v1/customers/{w2}/hierarchy")).json()
    assert tree["waiting"] == []
    assert (await client.get("/v1/sources/crm/records/S1")).status_code == 200
