"""Linking by 法人番号 (enrichment.repository.link_new) first finds the numbers it can link at
all from the indexes, then reads the customers of those numbers only: it must link exactly
what the linking statement run over the whole hub links."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.enrichment import repository
from mdm_hub.enrichment.service import apply_registry
from mdm_hub.settings import Settings
from tests.registry.files import corporate_number, nta_row, write_csv
from tests.registry.test_import_cli import fetch, run_cli

A, B, C, D, E, F, W = (corporate_number(n) for n in range(310001, 310008))
UNPUBLISHED = corporate_number(319999)


def crm(number: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "corporation",
        "name": name,
        "corporate_number": number,
        "addresses": [{"prefecture": "東京都", "city": "港区", "street": f"芝公園{number[-3:]}"}],
        **extra,
    }


async def put(client: httpx.AsyncClient, source_id: str, body: dict[str, Any]) -> uuid.UUID:
    answer = await client.put(f"/v1/sources/crm/records/{source_id}", json=body)
    assert answer.status_code in (200, 201), answer.text
    return uuid.UUID(answer.json()["customer"]["id"])


async def whole_hub(app: FastAPI) -> set[uuid.UUID]:
    """What the linking statement over every customer links (rolled back)."""
    async with app.state.sessionmaker() as session:
        transaction = await session.begin()
        rows = await session.execute(text(repository._LINK_NEW), {"numbers": None})
        linked = {r[0] for r in rows}
        await transaction.rollback()
    return linked


async def link_new(app: FastAPI) -> set[uuid.UUID]:
    async with app.state.sessionmaker() as session, session.begin():
        before = {
            r[0] for r in await session.execute(text("SELECT customer_id FROM registry_links"))
        }
        count = await repository.link_new(session, None)
        after = {
            r[0] for r in await session.execute(text("SELECT customer_id FROM registry_links"))
        }
    assert len(after - before) == count
    return after - before


async def test_link_new_links_what_the_statement_over_the_whole_hub_links(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    registry = write_csv(
        tmp_path / "00_zenkoku_all_20261130.csv",
        [
            *(nta_row(k, n) for k, n in enumerate((A, B, C, D, E, F), 1)),
            nta_row(7, W, "99"),  # withdrawn: never linked
        ],
    )
    done = await run_cli(database_url, "nta", "import", str(registry), "--no-apply")
    assert done.returncode == 0, done.stderr + done.stdout

    sole = await put(client, "LS-A", crm(A, "単独商事(株)"))
    duplicate_1 = await put(client, "LS-B1", crm(B, "重複商事(株)"))
    duplicate_2 = await put(client, "LS-B2", crm(UNPUBLISHED, "重複物産(株)"))
    # Two unmerged customers carrying B (matching would have merged them: set by hand).
    await fetch(
        database_url, "UPDATE customers SET corporate_number = $1 WHERE id = $2", B, duplicate_2
    )
    site = await put(
        client, "LS-C", crm(C, "支店商事株式会社 大阪支店", relations={"site_type": "branch"})
    )
    withdrawn = await put(client, "LS-W", crm(W, "抹消商事(株)"))
    unpublished = await put(client, "LS-N", crm(UNPUBLISHED, "未公表商事(株)"))
    person = await put(client, "LS-P", {**crm(D, "個人 太郎"), "kind": "person"})
    assert len({sole, duplicate_1, duplicate_2, site, withdrawn, unpublished, person}) == 7

    expected = await whole_hub(app)
    assert expected == {sole}
    assert await link_new(app) == expected

    # Later: a second carrier of a number linked already, a new sole carrier, and a customer
    # linked to E (as a steward would) that carries F, which another customer carries too.
    second = await put(client, "LS-A2", crm(UNPUBLISHED, "単独商事 二号(株)"))
    await fetch(database_url, "UPDATE customers SET corporate_number = $1 WHERE id = $2", A, second)
    new_sole = await put(client, "LS-D", crm(D, "新規商事(株)"))
    linked_elsewhere = await put(client, "LS-F1", crm(F, "別番号商事(株)"))
    await fetch(
        database_url,
        "INSERT INTO registry_links (customer_id, corporate_number, linked_by)"
        " VALUES ($1, $2, 'steward')",
        linked_elsewhere,
        E,
    )
    other_carrier = await put(client, "LS-F2", crm(UNPUBLISHED, "別番号物産(株)"))
    await fetch(
        database_url, "UPDATE customers SET corporate_number = $1 WHERE id = $2", F, other_carrier
    )

    expected = await whole_hub(app)
    assert expected == {new_sole}
    assert await link_new(app) == expected
    # Nothing is left to link: both find nothing.
    assert await whole_hub(app) == set()
    assert await link_new(app) == set()


async def test_the_apply_scans_the_hub_under_the_batch_timeout(
    app: FastAPI, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Linking and finding pending links read the whole hub: at 1M customers on a busy machine
    they outlast the API's statement timeout (15 s), which failed the whole apply."""
    seen: list[str] = []
    link_new, pending = repository.link_new, repository.pending

    async def timeout(session: AsyncSession) -> None:
        seen.append((await session.execute(text("SHOW statement_timeout"))).scalar_one())

    async def watched_link_new(session: AsyncSession, numbers: Sequence[str] | None) -> int:
        await timeout(session)
        return await link_new(session, numbers)

    async def watched_pending(session: AsyncSession) -> list[uuid.UUID]:
        await timeout(session)
        return await pending(session)

    monkeypatch.setattr(repository, "link_new", watched_link_new)
    monkeypatch.setattr(repository, "pending", watched_pending)
    await apply_registry(app.state.sessionmaker, Settings(database_url=database_url))
    async with app.state.sessionmaker() as session:
        await timeout(session)
    assert seen == [repository.SCAN_TIMEOUT, repository.SCAN_TIMEOUT, "15s"]
