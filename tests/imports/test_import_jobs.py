"""Import jobs through the API and the runner, on a real PostgreSQL, with real files."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from mdm_hub.imports.service import Runner
from tests.imports.files import posted_import, rows, text_file, xlsx_file


async def _run(app: Any, batch_size: int = 500) -> None:
    await Runner(app.state.sessionmaker, app.state.settings, batch_size=batch_size).run_until_idle()


async def _report(client: httpx.AsyncClient, job_id: str) -> list[dict[str, str]]:
    answer = await client.get(f"/v1/imports/{job_id}/report")
    assert answer.status_code == 200
    assert answer.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads it as UTF-8
    return list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))


async def _clusters(database_url: str) -> set[frozenset[str]]:
    """Which source records share a customer (pending review pairs listed apart)."""
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        found = await conn.fetch(
            "SELECT array_agg(source_id ORDER BY source_id) AS ids FROM source_records "
            "GROUP BY customer_id"
        )
        reviews = await conn.fetchval("SELECT count(*) FROM match_candidates")
    finally:
        await conn.close()
    return {frozenset(r["ids"]) for r in found} | {frozenset({f"reviews:{reviews}"})}


async def _truncate(database_url: str) -> None:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('alembic_version', 'data_keys')"
        )
        await conn.execute(f"TRUNCATE {', '.join(t['tablename'] for t in tables)} CASCADE")
    finally:
        await conn.close()


async def test_cp932_file_end_to_end(client: httpx.AsyncClient, app: Any, tmp_path: Path) -> None:
    path = text_file(tmp_path / "顧客.csv", "cp932", rows(40))
    job = await posted_import(client, path)
    assert job["status"] == "queued" and job["rows_done"] == 0
    await _run(app)
    done = (await client.get(f"/v1/imports/{job['id']}")).json()
    assert done["status"] == "done", done
    assert done["rows_total"] == 40 and done["rows_done"] == 40
    assert done["detected"]["encoding"] == "cp932"
    assert done["detected"]["unknown_columns"] == ["備考"]
    counts = done["counts"]
    assert counts["rejected"] == 1  # line 7: TEL "12"
    assert counts["merged"] == 10  # every fourth row repeats the one before, as typed elsewhere
    assert counts["new_customer"] == 29
    report = await _report(client, job["id"])
    assert len(report) == 40
    rejected = [r for r in report if r["outcome"] == "rejected"]
    assert [r["line"] for r in rejected] == ["7"] and "TEL:" in rejected[0]["problems"]
    by_line = {r["line"]: r for r in report}
    assert by_line["5"]["outcome"] == "merged"  # T0003 joins T0002's customer
    assert by_line["5"]["customer_code"] == by_line["4"]["customer_code"]
    stored = (await client.get("/v1/sources/crm/records/T0000")).json()
    assert stored["raw_payload"]["name"] == "㈱能登ソフト表計算0"
    assert "髙橋ビル①Ⅲ" in stored["raw_payload"]["addresses"][0]["full_text"]

    # The same file again: every row already stored, nothing changes.
    again = await posted_import(client, path)
    await _run(app)
    second = (await client.get(f"/v1/imports/{again['id']}")).json()
    assert second["counts"]["unchanged"] == 39 and second["counts"]["rejected"] == 1


async def test_same_customers_whatever_the_batch_size(
    client: httpx.AsyncClient, app: Any, tmp_path: Path, database_url: str
) -> None:
    data = rows(60)
    for row in data[::5]:
        row[0] = ""  # no id: the content gives one
    path = text_file(tmp_path / "a.csv", "utf-8-sig", data)
    results = []
    for batch_size in (1, 500):
        await _truncate(database_url)
        await posted_import(client, path)
        await _run(app, batch_size)
        results.append(await _clusters(database_url))
    assert results[0] == results[1]
    assert len(results[0]) < 60  # duplicates were merged


async def test_xlsx_sheet_mapping_and_dry_run(
    client: httpx.AsyncClient, app: Any, tmp_path: Path
) -> None:
    path = xlsx_file(tmp_path / "list.xlsx", rows(12))
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns:\n  備考: ignore\n", encoding="utf-8")
    with path.open("rb") as f, mapping.open("rb") as m:
        answer = await client.post(
            "/v1/imports",
            files={"file": ("list.xlsx", f), "mapping": ("m.yaml", m)},
            data={"system": "crm", "sheet": "顧客一覧", "dry_run": "true"},
        )
    assert answer.status_code == 202, answer.text
    job = answer.json()
    await _run(app)
    done = (await client.get(f"/v1/imports/{job['id']}")).json()
    assert done["status"] == "done" and done["dry_run"]
    assert done["detected"]["format"] == "xlsx" and done["detected"]["unknown_columns"] == []
    assert done["counts"]["merged"] == 3 and done["counts"]["new_customer"] == 8
    customers = (await client.get("/v1/customers")).json()
    assert customers["items"] == []  # a dry run writes nothing
    report = await _report(client, job["id"])
    assert all(r["customer_code"] == "" for r in report)  # no customer existed before


async def test_bad_input_is_problem_json(
    client: httpx.AsyncClient, tmp_path: Path, app: Any
) -> None:
    path = text_file(tmp_path / "a.csv", "utf-8", rows(3))
    with path.open("rb") as f:
        answer = await client.post(
            "/v1/imports", files={"file": ("a.csv", f)}, data={"system": "Bad System"}
        )
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["errors"][0]["field"].endswith("system")
    with path.open("rb") as f:
        answer = await client.post(
            "/v1/imports",
            files={"file": ("a.csv", f), "mapping": ("m.yaml", b"columns: [1, 2")},
            data={"system": "crm"},
        )
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "mapping"
    missing = await client.get("/v1/imports/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    # A file without a name column fails as a whole, with the reason.
    nameless = tmp_path / "n.csv"
    nameless.write_text("TEL\n03-1234-5678\n", encoding="utf-8")
    job = await posted_import(client, nameless)
    await _run(app)
    failed = (await client.get(f"/v1/imports/{job['id']}")).json()
    assert failed["status"] == "failed" and failed["error"]["code"] == "no_name_column"


async def test_cancel(client: httpx.AsyncClient, app: Any, tmp_path: Path) -> None:
    job = await posted_import(client, text_file(tmp_path / "a.csv", "utf-8", rows(10)))
    cancelled = await client.post(f"/v1/imports/{job['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    await _run(app)
    assert (await client.get("/v1/customers")).json()["items"] == []
    again = await client.post(f"/v1/imports/{job['id']}/cancel")
    assert again.status_code == 409


async def test_roles(client_as: Any, tmp_path: Path) -> None:
    path = text_file(tmp_path / "a.csv", "utf-8", rows(3))
    async with client_as(roles=["viewer"]) as viewer:
        with path.open("rb") as f:
            refused = await viewer.post(
                "/v1/imports", files={"file": ("a.csv", f)}, data={"system": "crm"}
            )
        assert refused.status_code == 403
        batch = await viewer.post(
            "/v1/sources/crm/records/batch",
            json={"items": [{"source_id": "x", "record": {"kind": "person", "name": "a"}}]},
        )
        assert batch.status_code == 403
    async with client_as(roles=["data_entry"]) as entry:
        job = await posted_import(entry, path)
        assert (await entry.get(f"/v1/imports/{job['id']}")).status_code == 200


async def test_cancel_while_staging_stays_cancelled(
    client: httpx.AsyncClient, app: Any, tmp_path: Path
) -> None:
    from mdm_hub.imports import repository

    job = await posted_import(client, text_file(tmp_path / "a.csv", "utf-8", rows(10)))
    runner = Runner(app.state.sessionmaker, app.state.settings)
    async with app.state.sessionmaker() as session, session.begin():
        claimed = await repository.claim_job_to_stage(session, 60)
    assert claimed is not None and claimed.status == "staging"
    assert (await client.post(f"/v1/imports/{job['id']}/cancel")).status_code == 200
    await runner._stage(claimed)
    after = (await client.get(f"/v1/imports/{job['id']}")).json()
    assert after["status"] == "cancelled"
    await _run(app)
    assert (await client.get("/v1/customers")).json()["items"] == []


async def test_a_row_refused_at_write_time_leaves_nothing_half_written(
    client: httpx.AsyncClient, app: Any, tmp_path: Path, database_url: str
) -> None:
    """Rows pass staging; then a required custom field appears, so every write fails after
    its source record was inserted (the golden record lacks the field). Batches run without
    savepoints are rolled back and written again row by row in savepoints: every row is
    rejected with its problem, and nothing of any row stays."""
    job = await posted_import(client, text_file(tmp_path / "a.csv", "utf-8", rows(8)))
    runner = Runner(app.state.sessionmaker, app.state.settings, batch_size=3)
    assert await runner.run_once()  # staged
    staged = (await client.get(f"/v1/imports/{job['id']}")).json()
    assert staged["status"] == "running" and staged["rows_done"] == 1  # the bad TEL row
    created = await client.post(
        "/v1/custom-fields",
        json={"key": "credit_limit", "label": "与信限度額", "type": "integer", "required": True},
    )
    assert created.status_code == 201, created.text
    await runner.run_until_idle()
    done = (await client.get(f"/v1/imports/{job['id']}")).json()
    assert done["status"] == "done" and done["counts"]["rejected"] == 8
    report = await _report(client, job["id"])
    assert {r["problems"] for r in report if r["line"] != "7"} == {
        "/custom_fields/credit_limit:missing"
    }
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        for table in ("source_records", "customers", "match_keys", "customer_events"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    finally:
        await conn.close()


async def test_upload_with_idempotency_key_starts_one_job(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    path = text_file(tmp_path / "a.csv", "utf-8", rows(3))
    answers = []
    for _ in range(2):
        with path.open("rb") as f:
            answers.append(
                await client.post(
                    "/v1/imports",
                    files={"file": ("a.csv", f)},
                    data={"system": "crm"},
                    headers={"Idempotency-Key": "upload-1"},
                )
            )
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json()["id"] == answers[1].json()["id"]
    assert answers[1].headers.get("Idempotent-Replayed") == "true"
