"""The registry applied in batches (``apply_registry``: the linked customers' ``nta`` records
written as one batch of the write path) leaves exactly what applying it one customer at a time
(``apply_one`` in a transaction of its own per customer, as the apply did before) leaves: the
same customers, source records, lineage, audit entries, change events (webhooks included),
registry links, hierarchy relations and quality figures, for a 全件 file and then a 差分 with a
商号変更, 所在地変更, closure, merger, revival, 新規 and 99 削除."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mdm_hub.enrichment import repository, service
from mdm_hub.errors import ProblemError
from mdm_hub.registry.importer import import_file
from mdm_hub.settings import Settings
from tests.registry.files import corporate_number, nta_row, write_csv, write_zip
from tests.registry.test_apply import crm, put
from tests.registry.test_import_cli import _dsn

A, B, C, D, E, F, G, H = (corporate_number(400000 + n) for n in range(1, 9))
Apply = Callable[[async_sessionmaker[AsyncSession], Settings], Awaitable[object]]


async def one_at_a_time(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """The apply as it was: link, then each pending customer in a transaction of its own."""
    async with sessions() as session, session.begin():
        await repository.link_new(session, None)
    async with sessions() as session, session.begin():
        pending = await repository.pending(session)
    for customer_id in pending:
        async with sessions() as session, session.begin():
            await service.apply_one(session, settings, customer_id)


def in_batches(size: int) -> Apply:
    async def apply(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        result = await service.apply_registry(sessions, settings, batch_size=size)
        assert result.failed == []

    return apply


async def scenario(
    client: httpx.AsyncClient,
    app: FastAPI,
    database_url: str,
    folder: Path,
    apply: Apply,
) -> dict[str, Any]:
    """Customers, a 全件 file applied, a 差分 applied; what the hub holds then."""
    await asyncio.to_thread(folder.mkdir)
    settings = Settings(
        database_url=database_url, survivorship_source_priority={"/name": ["nta", "crm"]}
    )
    sessions = app.state.sessionmaker
    await put(client, "EQ-X", crm(A, "旧商号(株)"))  # 11 商号変更
    await put(client, "EQ-Y", crm(B, "閉鎖予定(株)"))  # 21 closure
    await put(client, "EQ-Z", crm(C, "消滅会社(株)"))  # 71 merger into W
    await put(client, "EQ-W", crm(D, "存続会社(株)"))  # 12 所在地変更
    await put(client, "EQ-V", crm(E, "誤登録(株)"))  # 99 削除
    await put(client, "EQ-U", crm(F, "新設(株)"))  # 01 新規 in the 差分 only
    await put(client, "EQ-T", crm(G, "休眠(株)"))  # closed in the 全件, 22 復活
    await put(client, "EQ-S", crm(H, "不変(株)"))  # not in the 差分
    await put(
        client,
        "EQ-X-OSAKA",
        {
            **crm(A, "旧商号株式会社 大阪支店", relations={"site_type": "branch"}),
            "addresses": [{"prefecture": "大阪府", "city": "大阪市中央区", "street": "本町2-1-6"}],
        },
    )
    full = write_zip(
        folder / "00_zenkoku_all_20261130.zip",
        "00_zenkoku_all_20261130.csv",
        [
            nta_row(1, A, name="旧商号株式会社", furigana="キュウショウゴウ"),
            nta_row(2, B, name="閉鎖予定株式会社"),
            nta_row(3, C, name="消滅会社株式会社"),
            nta_row(4, D, name="存続会社株式会社"),
            nta_row(5, E, name="誤登録株式会社"),
            nta_row(6, G, "21", name="休眠株式会社", close_date="2026-10-01", close_cause="01"),
            nta_row(7, H, name="不変株式会社"),
        ],
    )
    await import_file(_dsn(database_url), full, "nta", workers=0)
    await apply(sessions, settings)
    diff = write_csv(
        folder / "diff_20261201.csv",
        [
            nta_row(1, A, "11", name="新商号株式会社", update_date="2026-12-01",
                    change_date="2026-11-28", furigana="シンショウゴウ"),
            nta_row(2, B, "21", name="閉鎖予定株式会社", update_date="2026-12-01",
                    close_date="2026-11-27", close_cause="01"),
            nta_row(3, C, "71", name="消滅会社株式会社", update_date="2026-12-01",
                    close_date="2026-11-29", close_cause="11", successor_corporate_number=D),
            nta_row(4, D, "12", name="存続会社株式会社", update_date="2026-12-01",
                    prefecture_name="大阪府", city_name="大阪市北区",
                    street_number="梅田１丁目１－３", post_code="5300001"),
            nta_row(5, E, "99"),
            nta_row(6, F, name="新設株式会社", update_date="2026-12-01"),
            nta_row(7, G, "22", name="休眠株式会社", update_date="2026-12-01"),
        ],
        encoding="cp932",
    )  # fmt: skip
    await import_file(_dsn(database_url), diff, "nta", workers=0)
    await apply(sessions, settings)
    return await snapshot(sessions, client)


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def same_anywhere(value: Any, codes: dict[str, str]) -> Any:
    """``value`` with customer ids written as their codes (ids differ between two runs, codes
    do not), other ids and times of day as placeholders (dates stay)."""
    if isinstance(value, dict):
        return {k: same_anywhere(v, codes) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [same_anywhere(v, codes) for v in value]
    if isinstance(value, uuid.UUID):
        value = str(value)
    if hasattr(value, "isoformat") and hasattr(value, "hour"):
        return "<time>"
    if isinstance(value, str):
        if _TIME.match(value):
            return "<time>"
        return _UUID.sub(lambda m: codes.get(m.group(0), "<id>"), value)
    return value


async def rows(session: AsyncSession, sql: str) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in await session.execute(text(sql))]


async def snapshot(
    sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient
) -> dict[str, Any]:
    """Everything the apply writes, by customer code, in each customer's own order (customers
    are applied in id order, and ids are random: two runs apply them in different orders)."""
    async with sessions() as session:
        customers = await rows(
            session,
            "SELECT id, customer_code, kind, status, version, name, name_key, name_kana,"
            " corporate_number, phones, emails, record, lineage FROM customers",
        )
        codes = {str(c["id"]): c["customer_code"] for c in customers}
        sources = await rows(
            session,
            "SELECT s.id, s.system, s.source_id, c.customer_code, s.raw_payload,"
            " s.payload_hash, s.normalized, s.changes, s.findings, s.decision, s.version"
            " FROM source_records s JOIN customers c ON c.id = s.customer_id",
        )
        source_names = {s["id"]: f"{s['system']}/{s['source_id']}" for s in sources}
        audit = await rows(
            session,
            "SELECT actor, action, entity_type, entity_id, customer_id, before, after"
            " FROM audit_log ORDER BY id",
        )
        events = await rows(
            session,
            "SELECT type, customer_id, customer_version, changed_fields, payload, webhook"
            " FROM customer_events ORDER BY seq",
        )
        links = await rows(
            session,
            "SELECT c.customer_code, l.corporate_number, l.linked_by, l.applied_update_date,"
            " l.applied_process, l.closed_on, l.close_cause, l.successor_corporate_number,"
            " l.successor_customer_id, l.withdrawn"
            " FROM registry_links l JOIN customers c ON c.id = l.customer_id",
        )
        relations = await rows(
            session,
            "SELECT c.customer_code AS child, p.customer_code AS parent, r.axis,"
            " r.relation_type, r.valid_from, r.valid_to, r.set_by"
            " FROM customer_relations r JOIN customers c ON c.id = r.child_id"
            " JOIN customers p ON p.id = r.parent_id",
        )
        counts = await rows(
            session,
            "SELECT scope, metric, sum(value) AS value FROM ("
            " SELECT scope, metric, value FROM quality_counts UNION ALL"
            " SELECT scope, metric, value FROM quality_count_deltas) AS t"
            " GROUP BY scope, metric HAVING sum(value) <> 0",
        )
        registry_states = await rows(
            session,
            "SELECT c.customer_code, q.kind, q.active, q.state, q.closed, q.invoice"
            " FROM quality_registry_states q JOIN customers c ON c.id = q.customer_id",
        )
        source_states = await rows(
            session,
            "SELECT source_record_id, system, kind, active, state, closed, invoice"
            " FROM quality_registry_source_states",
        )
    for state in source_states:
        state["source_record_id"] = source_names.get(state.pop("source_record_id"))
    for source in sources:
        del source["id"]
    by_customer: dict[str, dict[str, list[Any]]] = {}
    for entry in audit:
        code = codes.get(str(entry["customer_id"]), "-")
        by_customer.setdefault(code, {}).setdefault("audit", []).append(entry)
    for event in events:
        code = codes[str(event["customer_id"])]
        by_customer.setdefault(code, {}).setdefault("events", []).append(event)
    kpis = (await client.get("/v1/quality/kpis")).json()

    def key(row: dict[str, Any]) -> str:
        return repr(sorted(row.items()))

    def normal(items: Sequence[dict[str, Any]]) -> list[Any]:
        return sorted((same_anywhere(row, codes) for row in items), key=key)

    return {
        "customers": normal([{k: v for k, v in c.items() if k != "id"} for c in customers]),
        "sources": normal(sources),
        "by_customer": same_anywhere(by_customer, codes),
        "links": normal(links),
        "relations": normal(relations),
        "counts": normal(counts),
        "registry_states": normal(registry_states),
        "source_states": normal(source_states),
        "kpis": same_anywhere(kpis, codes),
    }


async def clean(database_url: str) -> None:
    """The tables emptied between the two runs (as conftest does after a test)."""
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('alembic_version', 'data_keys', 'index_keys')"
        )
        names = ", ".join(f'"{t["tablename"]}"' for t in tables)
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        await conn.execute("ALTER SEQUENCE customer_code_seq RESTART")
    finally:
        await conn.close()


async def test_batches_leave_what_one_at_a_time_leaves(
    client: httpx.AsyncClient,
    app: FastAPI,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = await scenario(client, app, database_url, tmp_path / "one", one_at_a_time)
    await clean(database_url)

    written: list[int] = []
    write_batch = service.write_batch

    async def counted(*args: Any, **kwargs: Any) -> Any:
        written.append(len(args[4]))
        return await write_batch(*args, **kwargs)

    monkeypatch.setattr(service, "write_batch", counted)
    after = await scenario(client, app, database_url, tmp_path / "batches", in_batches(4))
    # 全件: 7 customers linked (not the site), in batches of 4 and 3. 差分: 7 pending (U newly
    # linked) in two batches, the 99's customer writing no source record (in either batch:
    # customers go in id order).
    assert written[:2] == [4, 3]
    assert len(written) == 4 and sum(written[2:]) == 6

    # What the runs did, pinned (so that two equal but empty snapshots do not pass).
    by_code = {c["name_key"]: c for c in after["customers"]}
    assert len(after["customers"]) == 9
    assert sorted(c["status"] for c in after["customers"]) == ["active"] * 7 + ["closed"] * 2
    assert any(r["axis"] == "successor" for r in after["relations"])
    event_types = {
        e["type"] for history in after["by_customer"].values() for e in history.get("events", [])
    }
    assert {"customer.updated", "customer.registry_changed", "customer.relation_changed"} <= (
        event_types
    )
    assert any(s["system"] == "nta" for s in after["sources"])
    assert by_code

    for part in before:
        assert after[part] == before[part], part


async def linked_pair(
    client: httpx.AsyncClient, database_url: str, folder: Path
) -> tuple[str, str, str]:
    """Three customers and a 全件 naming them, imported (not applied)."""
    x = await put(client, "BF-X", crm(A, "一番(株)"))
    y = await put(client, "BF-Y", crm(B, "二番(株)"))
    z = await put(client, "BF-Z", crm(C, "三番(株)"))
    full = write_csv(
        folder / "00_zenkoku_all_20261130.csv",
        [nta_row(1, A, name="一番株式会社"), nta_row(2, B, name="二番株式会社"),
         nta_row(3, C, name="三番株式会社")],
    )  # fmt: skip
    await import_file(_dsn(database_url), full, "nta", workers=0)
    return x, y, z


async def nta_sources(app: FastAPI) -> set[str]:
    async with app.state.sessionmaker() as session:
        found = await session.execute(
            text(
                "SELECT c.customer_code FROM source_records s"
                " JOIN customers c ON c.id = s.customer_id WHERE s.system = 'nta'"
            )
        )
        return set(found.scalars())


async def test_a_refused_record_fails_its_customer_only(
    client: httpx.AsyncClient, app: FastAPI, database_url: str, tmp_path: Path
) -> None:
    """A record the write path refuses (here: a required custom field the registry does not
    carry) fails its customer as its own write would (the same problem), writes nothing of
    it, and leaves its link pending; in a batch, the others are applied."""
    x, y, z = await linked_pair(client, database_url, tmp_path)
    defined = await client.post(
        "/v1/custom-fields", json={"key": "sales_owner", "label": "営業担当", "type": "string",
                                   "required": True},
    )  # fmt: skip
    assert defined.status_code == 201, defined.text
    settings = Settings(database_url=database_url)
    result = await service.apply_registry(app.state.sessionmaker, settings)
    assert sorted(str(c) for c, _ in result.failed) == sorted([x, y, z])
    assert result.applied == 0
    assert await nta_sources(app) == set()
    async with app.state.sessionmaker() as session:
        assert sorted(map(str, await repository.pending(session))) == sorted([x, y, z])
        # The same problem as the customer's own write (apply_one) answers.
        with pytest.raises(ProblemError) as alone:
            await service.apply_one(session, settings, uuid.UUID(x))
    problem = alone.value
    assert dict(result.failed)[uuid.UUID(x)] == (problem.detail or problem.problem_type.title)


async def test_a_batch_refused_beyond_its_records_is_applied_one_by_one(
    client: httpx.AsyncClient,
    app: FastAPI,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When a customer's state is refused after the batch's records were written (here the
    successor link refuses one customer), the batch rolls back and its customers are applied
    one at a time: that one reported and left pending, the others applied."""
    x, y, z = await linked_pair(client, database_url, tmp_path)
    set_successors = service.set_successors

    async def refuse_y(session: AsyncSession, actor: Any, links: Any) -> None:
        if any(str(child.id) == y for child, *_ in links):
            raise ProblemError("validation-error", "refused for the test")
        await set_successors(session, actor, links)

    monkeypatch.setattr(service, "set_successors", refuse_y)
    settings = Settings(database_url=database_url)
    result = await service.apply_registry(app.state.sessionmaker, settings)
    assert result.failed == [(uuid.UUID(y), "refused for the test")]
    assert result.applied == 2
    codes = {c["id"]: c["customer_code"] for c in await customer_codes(app)}
    assert await nta_sources(app) == {codes[x], codes[z]}
    async with app.state.sessionmaker() as session:
        assert [str(c) for c in await repository.pending(session)] == [y]


async def customer_codes(app: FastAPI) -> list[dict[str, Any]]:
    async with app.state.sessionmaker() as session:
        found = await session.execute(text("SELECT id::text AS id, customer_code FROM customers"))
        return [dict(r._mapping) for r in found]
