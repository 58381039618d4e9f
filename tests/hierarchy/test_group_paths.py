"""The group's closure table (customer_group_paths, migration 0017) against the recursive walks
it replaced: on random trees with dated links, after relinks, unlinks, merges and unmerges, the
tree and the roll-ups through the API equal the recursive CTEs' answers, the table equals its
recomputation from the links, and a cycle is refused exactly when an independent walk says the
link would close one on some day."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from mdm_hub.hierarchy import service
from mdm_hub.hierarchy.schemas import HierarchyOut
from tests.conftest import _asyncpg_dsn
from tests.hierarchy.test_hierarchy_api import company, put

IN_EFFECT = (
    "(r.valid_from IS NULL OR r.valid_from <= CURRENT_DATE)"
    " AND (r.valid_to IS NULL OR r.valid_to >= CURRENT_DATE)"
)

# The statements the hierarchy used before migration 0017 (walks down the links).
CTE_DESCENDANTS = f"""
WITH RECURSIVE down(id, parent_id, relation_type, valid_from, valid_to, depth, path) AS (
    SELECT r.child_id, r.parent_id, r.relation_type, r.valid_from, r.valid_to, 1,
           ARRAY[r.parent_id]
    FROM customer_relations r
    WHERE r.parent_id = $1 AND r.axis = 'group' AND {IN_EFFECT}
  UNION ALL
    SELECT r.child_id, r.parent_id, r.relation_type, r.valid_from, r.valid_to, down.depth + 1,
           down.path || down.id
    FROM down JOIN customer_relations r ON r.parent_id = down.id AND r.axis = 'group'
    WHERE {IN_EFFECT} AND down.depth < $2 AND NOT r.child_id = ANY(down.path)
)
SELECT down.id, down.parent_id, c.customer_code, c.name, c.status, down.relation_type,
       down.valid_from, down.valid_to, down.depth
FROM down JOIN customers c ON c.id = down.id
ORDER BY down.depth, c.customer_code
"""

AMOUNT = "COALESCE((c.record -> 'transactions' ->> 'annual_amount')::numeric, 0)"
CTE_ROLLUP = f"""
WITH RECURSIVE grp(id, active, amount, depth, path) AS (
    SELECT c.id, c.status = 'active', {AMOUNT}, 0, ARRAY[c.id]
    FROM customers c WHERE c.id = $1
  UNION ALL
    SELECT r.child_id, r.child_active, r.child_amount, grp.depth + 1, grp.path || r.child_id
    FROM grp JOIN customer_relations r ON r.parent_id = grp.id AND r.axis = 'group'
    WHERE {IN_EFFECT} AND NOT r.child_id = ANY(grp.path)
),
site_rows AS (
    SELECT grp.depth = 0 AS direct, r.child_amount AS amount
    FROM grp JOIN customer_relations r ON r.parent_id = grp.id AND r.axis = 'site'
    WHERE grp.active AND r.child_active AND {IN_EFFECT}
)
SELECT
    (SELECT COALESCE(sum(amount) FILTER (WHERE active AND depth = 0), 0) FROM grp) AS own,
    (SELECT count(*) FILTER (WHERE direct) FROM site_rows) AS direct_sites,
    (SELECT COALESCE(sum(amount) FILTER (WHERE direct), 0) FROM site_rows) AS direct_amount,
    (SELECT count(*) FILTER (WHERE active) FROM grp) AS companies,
    (SELECT COALESCE(sum(amount) FILTER (WHERE active), 0) FROM grp) AS company_amount,
    (SELECT count(*) FROM site_rows) AS sites,
    (SELECT COALESCE(sum(amount), 0) FROM site_rows) AS site_amount
"""

# The closure recomputed from the links (as migrations 0017 and 0022 fill it): the group's
# chains, then each site's chain to its corporation and to the corporation's group ancestors.
RECOMPUTED = """
WITH RECURSIVE up(d, a, depth, vf, vt, active, amount, seen) AS (
    SELECT child_id, parent_id, 1, valid_from, valid_to, child_active, child_amount,
           ARRAY[child_id, parent_id]
    FROM customer_relations WHERE axis = 'group'
  UNION ALL
    SELECT up.d, r.parent_id, up.depth + 1, greatest(up.vf, r.valid_from),
           least(up.vt, r.valid_to), up.active, up.amount, up.seen || r.parent_id
    FROM up JOIN customer_relations r ON r.child_id = up.a AND r.axis = 'group'
    WHERE NOT r.parent_id = ANY(up.seen)
),
grp AS (SELECT * FROM up WHERE vf IS NULL OR vt IS NULL OR vf <= vt),
sites AS (
    SELECT r.parent_id AS a, r.child_id AS d, 1 AS depth, r.valid_from AS vf, r.valid_to AS vt,
           r.child_active AS active, r.child_amount AS amount, r.parent_id AS corp
    FROM customer_relations r WHERE r.axis = 'site'
  UNION ALL
    SELECT g.a, r.child_id, g.depth + 1, greatest(r.valid_from, g.vf), least(r.valid_to, g.vt),
           r.child_active, r.child_amount, r.parent_id
    FROM customer_relations r JOIN grp g ON g.d = r.parent_id WHERE r.axis = 'site'
)
SELECT a, d, false, depth, vf, vt, active, amount, NULL::uuid FROM grp
UNION ALL
SELECT a, d, true, depth, vf, vt, active, amount, corp FROM sites
WHERE vf IS NULL OR vt IS NULL OR vf <= vt
ORDER BY 2, 3, 1
"""

STORED = """
SELECT ancestor_id, descendant_id, site, depth, valid_from, valid_to, descendant_active,
       descendant_amount, corporation_id
FROM customer_group_paths ORDER BY descendant_id, site, ancestor_id
"""

# Each corporation's site totals (migration 0027) as readers see them: the folded rows plus
# the deltas not folded in yet.
SITE_TOTALS = """
SELECT corporation_id, valid_from, valid_to, sum(links)::int, sum(sites)::int, sum(amount)
FROM (SELECT corporation_id, valid_from, valid_to, links, sites, amount
      FROM customer_site_totals
      UNION ALL
      SELECT corporation_id, valid_from, valid_to, links, sites, amount
      FROM customer_site_total_deltas) t
GROUP BY 1, 2, 3 HAVING sum(links) <> 0 ORDER BY 1, 2, 3
"""
# From scratch: the site links grouped by corporation and interval (open ends as infinities).
SITE_TOTALS_RECOMPUTED = """
SELECT parent_id, COALESCE(valid_from, '-infinity'), COALESCE(valid_to, 'infinity'),
       count(*)::int, (count(*) FILTER (WHERE child_active))::int,
       COALESCE(sum(child_amount) FILTER (WHERE child_active), 0)
FROM customer_relations WHERE axis = 'site' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
TODAY = dt.date.today()
DATES: list[tuple[dt.date | None, dt.date | None]] = [
    (None, None),
    (None, None),
    (None, None),
    (dt.date(2020, 4, 1), dt.date(2024, 3, 31)),  # ended
    (TODAY + dt.timedelta(days=400), None),  # not yet
    (dt.date(2019, 1, 1), TODAY + dt.timedelta(days=30)),  # in effect, ends soon
    (None, TODAY + dt.timedelta(days=200)),
]


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


async def _link_site(
    client: httpx.AsyncClient, shop: str, corporation: str, rng: random.Random
) -> None:
    vf, vt = rng.choice(DATES)
    answer = await client.put(
        f"/v1/customers/{shop}/relations/corporation",
        json={
            "corporation": {"customer_id": corporation},
            "valid_from": _iso(vf),
            "valid_to": _iso(vt),
        },
    )
    assert answer.status_code == 200, answer.text


class Model:
    """An independent picture of the group links: child → (parent, from, to)."""

    def __init__(self) -> None:
        self.links: dict[str, tuple[str, dt.date | None, dt.date | None]] = {}
        self.refused = 0

    def is_below(self, node: str, top: str) -> bool:
        """Whatever the dates: ``top`` is on ``node``'s chain of parents."""
        seen = {node}
        while node in self.links:
            node = self.links[node][0]
            if node == top:
                return True
            if node in seen:
                return False
            seen.add(node)
        return False

    def closes_cycle(self, child: str, parent: str, vf: dt.date | None, vt: dt.date | None) -> bool:
        low, high = vf or dt.date.min, vt or dt.date.max
        node = parent
        while node != child:
            if node not in self.links or low > high:
                return False
            node, f, t = self.links[node]
            low, high = max(low, f or dt.date.min), min(high, t or dt.date.max)
        return low <= high


async def _composed(app: FastAPI, customer: str, **depths: int) -> dict[str, Any]:
    """The tree as the console composes it, statement by statement (service.hierarchy)."""
    async with app.state.sessionmaker() as session:
        tree = await service.hierarchy(session, uuid.UUID(customer), **depths)
    return HierarchyOut.model_validate(tree).model_dump(mode="json")


async def _check(
    client: httpx.AsyncClient, conn: asyncpg.Connection, ids: list[str], app: FastAPI
) -> int:
    """The API's trees and roll-ups equal the recursive CTEs' and the console's composed tree;
    the closure and the site totals equal their recomputation."""
    stored = [tuple(r) for r in await conn.fetch(STORED)]
    assert stored == [tuple(r) for r in await conn.fetch(RECOMPUTED)]
    totals = [tuple(r) for r in await conn.fetch(SITE_TOTALS)]
    assert totals == [tuple(r) for r in await conn.fetch(SITE_TOTALS_RECOMPUTED)]
    members = 0
    for customer in ids:
        answer = await client.get(
            f"/v1/customers/{customer}/hierarchy?descendants_depth=20&limit=5000"
        )
        tree = answer.json()
        assert tree == await _composed(
            app, customer, ancestors_depth=20, descendants_depth=20, limit=5000
        )
        for depths in ((0, 0, 2), (1, 2, 3)):
            url = (
                f"/v1/customers/{customer}/hierarchy?ancestors_depth={depths[0]}"
                f"&descendants_depth={depths[1]}&limit={depths[2]}"
            )
            assert (await client.get(url)).json() == await _composed(
                app,
                customer,
                ancestors_depth=depths[0],
                descendants_depth=depths[1],
                limit=depths[2],
            )
        expected = await conn.fetch(CTE_DESCENDANTS, customer, 20)
        assert [
            (c["id"], c["parent_id"], c["depth"], c["relation_type"]) for c in tree["children"]
        ] == [(str(r["id"]), str(r["parent_id"]), r["depth"], r["relation_type"]) for r in expected]
        members += len(expected)
        shallow = (
            await client.get(f"/v1/customers/{customer}/hierarchy?descendants_depth=2")
        ).json()
        assert [c["id"] for c in shallow["children"]] == [
            str(r["id"]) for r in await conn.fetch(CTE_DESCENDANTS, customer, 2)
        ]
        rollup = (await client.get(f"/v1/customers/{customer}/rollup")).json()
        old = await conn.fetchrow(CTE_ROLLUP, customer)
        assert rollup["direct"] == {
            "sites": old["direct_sites"],
            "annual_amount": str(old["own"] + old["direct_amount"]),
        }
        assert rollup["group"] == {
            "companies": old["companies"],
            "sites": old["sites"],
            "annual_amount": str(old["company_amount"] + old["site_amount"]),
        }
    return members


async def _link(
    client: httpx.AsyncClient, model: Model, child: str, parent: str, rng: random.Random
) -> None:
    vf, vt = rng.choice(DATES)
    answer = await client.put(
        f"/v1/customers/{child}/relations/parent",
        json={
            "parent": {"customer_id": parent},
            "relation_type": rng.choice(["subsidiary", "affiliate"]),
            "valid_from": _iso(vf),
            "valid_to": _iso(vt),
        },
    )
    if child == parent:
        assert answer.status_code == 422
    elif model.closes_cycle(child, parent, vf, vt):
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["code"] == "cycle"
        model.refused += 1
    else:
        assert answer.status_code == 200, answer.text
        model.links[child] = (parent, vf, vt)


@pytest.mark.parametrize("seed", [7, 19])
async def test_closure_answers_as_the_recursive_walks(
    client: httpx.AsyncClient, database_url: str, app: FastAPI, seed: int
) -> None:
    rng = random.Random(seed)
    ids = [await put(client, f"c{i}", company(400 + seed * 50 + i, 10 * i + 1)) for i in range(18)]

    def shop_payload(i: int, amount: int) -> dict[str, Any]:
        return company(700 + seed * 50 + i, amount, relations={"site_type": "branch"})

    shops = [await put(client, f"s{i}", shop_payload(i, i + 1)) for i in range(8)]
    for shop in shops:
        await _link_site(client, shop, rng.choice(ids), rng)
    model = Model()
    for i in range(1, len(ids)):  # a random forest
        await _link(client, model, ids[i], ids[rng.randrange(i)], rng)
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        assert await _check(client, conn, ids, app) > 0
        for _ in range(30):  # relinks: some move subtrees, some would close a cycle
            child = rng.choice(ids)
            below = [i for i in ids if i != child and model.is_below(i, child)]
            target = rng.choice(below) if below and rng.random() < 0.4 else rng.choice(ids)
            await _link(client, model, child, target, rng)
        await _check(client, conn, ids, app)
        assert model.refused > 0  # some relinks would have closed a cycle

        assert any(vf or vt for _, vf, vt in model.links.values())
        for child in rng.sample(sorted(model.links), 3):  # unlinks
            assert (
                await client.delete(f"/v1/customers/{child}/relations/parent")
            ).status_code == 204
            del model.links[child]
        await _check(client, conn, ids, app)

        # Sites: relinked (some dated), a site's 取引金額 changed, a company with sites and a
        # site deleted (inactive), a group company without sites made a site of another
        # company as well (it keeps its group link: on both axes).
        for shop in rng.sample(shops, 4):
            await _link_site(client, shop, rng.choice(ids), rng)
        await put(client, "s0", shop_payload(0, 999))
        await _check(client, conn, ids, app)
        with_sites = {
            r["parent_id"]
            for r in await conn.fetch(
                "SELECT parent_id::text FROM customer_relations WHERE axis = 'site'"
            )
        }
        closed = next(i for i in ids if i in with_sites)
        assert (await client.delete(f"/v1/customers/{closed}")).status_code == 204
        assert (await client.delete(f"/v1/customers/{shops[1]}")).status_code == 204
        both = next(i for i in ids if i not in with_sites and i in model.links and i != closed)
        corporation = next(i for i in ids if i not in (both, closed))
        answer = await client.put(
            f"/v1/customers/{both}/relations/corporation",
            json={"corporation": {"customer_id": corporation}},
        )
        assert answer.status_code == 200, answer.text
        sites_of_both = await conn.fetchval(
            "SELECT count(DISTINCT site) FROM customer_group_paths WHERE descendant_id = $1",
            uuid.UUID(both),
        )
        assert sites_of_both == 2  # rows on both axes
        await _check(client, conn, ids, app)

        # A merge of two linked companies, then its unmerge.
        survivor, absorbed = rng.sample([i for i in ids[1:] if i not in (closed, both)], 2)
        merged = await client.post(
            f"/v1/customers/{survivor}/merge", json={"customer_ids": [absorbed]}
        )
        assert merged.status_code == 200, merged.text
        await _check(client, conn, ids, app)
        source = f"c{ids.index(absorbed)}"
        unmerged = await client.post(
            f"/v1/customers/{survivor}/unmerge",
            json={"source_records": [{"system": "crm", "source_id": source}]},
        )
        assert unmerged.status_code == 200, unmerged.text
        await _check(client, conn, ids, app)
    finally:
        await conn.close()


async def test_merging_a_company_into_one_below_it_keeps_the_group_acyclic(
    client: httpx.AsyncClient, database_url: str, app: FastAPI
) -> None:
    """top ← mid ← low: merging top into low would put mid under low and low under mid; the
    merge cuts mid's link instead, and the unmerge gives it back."""
    top, mid, low = [await put(client, f"m{i}", company(900 + i, 1)) for i in range(3)]
    for child, parent_id in ((mid, top), (low, mid)):
        answer = await client.put(
            f"/v1/customers/{child}/relations/parent",
            json={"parent": {"customer_id": parent_id}, "relation_type": "subsidiary"},
        )
        assert answer.status_code == 200
    merged = await client.post(f"/v1/customers/{low}/merge", json={"customer_ids": [top]})
    assert merged.status_code == 200, merged.text
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        await _check(client, conn, [low, mid], app)
        assert (await client.get(f"/v1/customers/{mid}/hierarchy")).json()["ancestors"] == []
        assert [
            a["id"]
            for a in (await client.get(f"/v1/customers/{low}/hierarchy")).json()["ancestors"]
        ] == [mid]
        unmerged = await client.post(
            f"/v1/customers/{low}/unmerge",
            json={"source_records": [{"system": "crm", "source_id": "m0"}]},
        )
        assert unmerged.status_code == 200, unmerged.text
        await _check(client, conn, [top, mid, low], app)
        tree = (await client.get(f"/v1/customers/{low}/hierarchy")).json()
        assert [a["id"] for a in tree["ancestors"]] == [mid, top]
        # ancestors_depth limits the walk up: 0 gives none (it gave the direct parent before).
        for depth, expected in ((0, []), (1, [mid]), (2, [mid, top])):
            tree = (
                await client.get(f"/v1/customers/{low}/hierarchy?ancestors_depth={depth}")
            ).json()
            assert [a["id"] for a in tree["ancestors"]] == expected
    finally:
        await conn.close()


def test_model_sees_cycles_only_on_shared_days() -> None:
    model = Model()
    model.links["b"] = ("a", dt.date(2020, 1, 1), dt.date(2020, 12, 31))
    assert model.closes_cycle("a", "b", None, None)
    assert not model.closes_cycle("a", "b", dt.date(2021, 1, 1), None)
    assert model.closes_cycle("a", "b", dt.date(2020, 6, 1), dt.date(2021, 6, 1))
    assert not model.closes_cycle("a", "c", None, None)
