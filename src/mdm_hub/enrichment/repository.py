"""The SQL of applying the registry to customers: which customers to link, which links the
registry changed since they were last applied, and the links' state."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.customers.models import Customer, SourceRecord

# Linking and finding the pending links read the whole links table and the customers' numbers:
# a batch job's statements, not a request's. The API's statement timeout
# (MDM_DB_STATEMENT_TIMEOUT_MS, 15 s) cancelled them on a busy machine at a hub of 1M customers
# (load 15-17 on 2 cores), failing the whole apply.
SCAN_TIMEOUT = "10min"


async def allow_long_scans(session: AsyncSession) -> None:
    """This transaction's statements may run for up to SCAN_TIMEOUT."""
    await session.execute(text(f"SET LOCAL statement_timeout = '{SCAN_TIMEOUT}'"))


# Active corporations carrying a 法人番号 the registry publishes (not withdrawn), not a site
# (sites share their corporation's 法人番号) and not linked yet, when they are the only such
# customer with that number (two unmerged duplicates are left to matching and stewards), and
# no steward said it is not that corporation (a rejected proposal, or an unlinked link).
_LINK_NEW = """
WITH eligible AS (
    SELECT c.id, c.corporate_number,
           count(*) OVER (PARTITION BY c.corporate_number) AS carriers
    FROM customers c
    JOIN nta_corporations n ON n.corporate_number = c.corporate_number AND NOT n.deleted
    WHERE c.status = 'active' AND c.kind = 'corporation'
      AND COALESCE(c.record #>> '{relations,site_type}', 'head_office') = 'head_office'
      AND NOT EXISTS (
          SELECT 1 FROM customer_relations r WHERE r.child_id = c.id AND r.axis = 'site')
      AND (CAST(:numbers AS text[]) IS NULL OR c.corporate_number = ANY(CAST(:numbers AS text[])))
)
INSERT INTO registry_links (customer_id, corporate_number, linked_by)
SELECT e.id, e.corporate_number, 'corporate_number' FROM eligible e
WHERE e.carriers = 1
  AND NOT EXISTS (SELECT 1 FROM registry_links l
                  WHERE l.customer_id = e.id OR l.corporate_number = e.corporate_number)
  AND NOT EXISTS (SELECT 1 FROM registry_proposals p
                  WHERE p.customer_id = e.id AND p.corporate_number = e.corporate_number
                    AND p.status = 'rejected')
ON CONFLICT (customer_id) DO NOTHING
RETURNING customer_id
"""


# The numbers _LINK_NEW can link at all: carried by a customer, linked to no customer, and
# published by the registry (withdrawn or not: _LINK_NEW reads that). From the indexes alone
# (the customers' and the links' 法人番号, the registry's primary key): at a hub of 1M
# customers, _LINK_NEW over the whole hub read every customer row and looked each one up in the
# registry (~15 s of PostgreSQL CPU at every apply, over the 15 s statement timeout on a busy
# machine), where it now reads the customers of these numbers only (usually none or a few).
_LINKABLE_NUMBERS = """
SELECT DISTINCT c.corporate_number FROM customers c
WHERE c.corporate_number IS NOT NULL
  AND (CAST(:numbers AS text[]) IS NULL OR c.corporate_number = ANY(CAST(:numbers AS text[])))
  AND NOT EXISTS (SELECT 1 FROM registry_links l WHERE l.corporate_number = c.corporate_number)
  AND EXISTS (SELECT 1 FROM nta_corporations n WHERE n.corporate_number = c.corporate_number)
"""


async def link_new(session: AsyncSession, numbers: Sequence[str] | None) -> int:
    """Link every customer that can be linked by its 法人番号 (only ``numbers`` when given)."""
    linkable = list(
        (
            await session.execute(
                text(_LINKABLE_NUMBERS),
                {"numbers": list(numbers) if numbers is not None else None},
            )
        ).scalars()
    )
    if not linkable:
        return 0
    # _LINK_NEW restricted to those numbers links what it links over the whole hub: its
    # customers all carry one of them, and it counts a number's carriers by that number alone.
    rows = await session.execute(text(_LINK_NEW), {"numbers": linkable})
    return len(rows.all())


# A merger's successor waits for its customer: the successor's 法人番号 is linked now, or one
# active corporation carries it. Each link looks up its registry row by the primary key, the
# links taken in 法人番号 order (the registry's index pages, and its rows as a 全件 import
# leaves them, are then read in order) — where joining the two tables hashed the whole
# registry (5M rows) at every apply — and the customers of the links found only are read.
# (LIMIT 1 and the scalar subquery keep those lookups lookups: the planner would otherwise
# hash the whole registry, or every customer, again.)
_PENDING = """
SELECT p.customer_id FROM (
    SELECT l.customer_id
    FROM (SELECT * FROM registry_links ORDER BY corporate_number OFFSET 0) AS l
    CROSS JOIN LATERAL (
        SELECT n.update_date, n.process FROM nta_corporations n
        WHERE n.corporate_number = l.corporate_number LIMIT 1) AS n
    WHERE l.applied_update_date IS DISTINCT FROM n.update_date
       OR l.applied_process IS DISTINCT FROM n.process
       OR (l.successor_corporate_number IS NOT NULL AND l.successor_customer_id IS NULL
           AND l.closed_on IS NOT NULL AND NOT l.withdrawn
           AND (EXISTS (SELECT 1 FROM registry_links s
                        WHERE s.corporate_number = l.successor_corporate_number)
                OR (SELECT count(*) FROM customers s
                    WHERE s.corporate_number = l.successor_corporate_number
                      AND s.status = 'active' AND s.kind = 'corporation') = 1))
    OFFSET 0
) AS p
WHERE (SELECT c.status FROM customers c WHERE c.id = p.customer_id) IN ('active', 'closed')
ORDER BY p.customer_id
"""


async def pending(session: AsyncSession) -> list[uuid.UUID]:
    """Active (or registry-closed) linked customers whose registry row changed since it was
    last applied to them, or whose merger's successor has a customer now (a link of a customer
    merged away, deleted or erased is left as it was)."""
    return list((await session.execute(text(_PENDING))).scalars())


_LINK_AND_ROW = """
SELECT l.customer_id, l.corporate_number, l.linked_by, l.applied_update_date, l.applied_process,
       l.closed_on, l.close_cause, l.successor_corporate_number, l.successor_customer_id,
       l.withdrawn,
       n.process, n.update_date, n.name, n.furigana, n.prefecture_name, n.city_name,
       n.street_number, n.post_code, n.address_outside, n.close_date, n.close_cause AS n_cause,
       n.successor_corporate_number AS n_successor, n.deleted
FROM registry_links l JOIN nta_corporations n ON n.corporate_number = l.corporate_number
WHERE l.customer_id = :id
FOR UPDATE OF l
"""


async def link_and_row(session: AsyncSession, customer_id: uuid.UUID) -> dict[str, Any] | None:
    """The link (row locked) and the registry's current row of its 法人番号."""
    row = (await session.execute(text(_LINK_AND_ROW), {"id": customer_id})).first()
    return dict(row._mapping) if row is not None else None


_LINKS_AND_ROWS = _LINK_AND_ROW.replace(
    "WHERE l.customer_id = :id", "WHERE l.customer_id = ANY(CAST(:ids AS uuid[]))"
).replace("FOR UPDATE OF l", "ORDER BY l.customer_id\nFOR UPDATE OF l")


async def links_and_rows(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> list[dict[str, Any]]:
    """``link_and_row`` of many customers in one statement, in customer id order (the links
    locked in that order); a customer without a link has no row."""
    rows = await session.execute(text(_LINKS_AND_ROWS), {"ids": list(customer_ids)})
    return [dict(r._mapping) for r in rows]


async def lock_customers(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Customer]:
    """The customers, row-locked in id order and read again (``customers.repository.
    lock_customer`` of many in one statement)."""
    query = (
        select(Customer)
        .where(Customer.id.in_(sorted(customer_ids)))
        .order_by(Customer.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {c.id: c for c in (await session.scalars(query)).all()}


_SUCCESSOR = """
SELECT customer_id FROM registry_links WHERE corporate_number = :n
UNION ALL
SELECT id FROM (
    SELECT id, count(*) OVER () AS carriers FROM customers
    WHERE corporate_number = :n AND status = 'active' AND kind = 'corporation'
      AND COALESCE(record #>> '{relations,site_type}', 'head_office') = 'head_office'
) AS c WHERE carriers = 1
LIMIT 1
"""


async def successor_customer(session: AsyncSession, number: str) -> uuid.UUID | None:
    """The customer of a successor 法人番号: the one linked to it, else the only active
    corporation (not a site) carrying it."""
    found: uuid.UUID | None = (await session.execute(text(_SUCCESSOR), {"n": number})).scalar()
    return found


# One statement for many links: registry_links' quality triggers run once per statement.
_SAVE_MANY = """
UPDATE registry_links l SET applied_update_date = v.update_date, applied_process = v.process,
    closed_on = v.closed_on, close_cause = v.close_cause,
    successor_corporate_number = v.successor_corporate_number,
    successor_customer_id = v.successor_customer_id, withdrawn = v.withdrawn,
    updated_at = now()
FROM unnest(CAST(:customer_id AS uuid[]), CAST(:update_date AS date[]),
            CAST(:process AS text[]), CAST(:closed_on AS date[]), CAST(:close_cause AS text[]),
            CAST(:successor_corporate_number AS text[]), CAST(:successor_customer_id AS uuid[]),
            CAST(:withdrawn AS boolean[]))
     AS v(customer_id, update_date, process, closed_on, close_cause,
          successor_corporate_number, successor_customer_id, withdrawn)
WHERE l.customer_id = v.customer_id
"""


async def save_many(
    session: AsyncSession, links: Sequence[tuple[uuid.UUID, dt.date, str, dict[str, Any]]]
) -> None:
    """Each link's applied registry row (update date, process) and state, in one statement."""
    if not links:
        return
    columns: dict[str, list[Any]] = {
        "customer_id": [c for c, _, _, _ in links],
        "update_date": [u for _, u, _, _ in links],
        "process": [p for _, _, p, _ in links],
    }
    for name in (
        "closed_on",
        "close_cause",
        "successor_corporate_number",
        "successor_customer_id",
        "withdrawn",
    ):
        columns[name] = [state[name] for _, _, _, state in links]
    await session.execute(text(_SAVE_MANY), columns)


# Active corporations without a 法人番号, not a site, not linked, never proposed, after ``after``
# (keyset by id), with their postal codes (the blocking of name + address matching) and their
# prefecture|city pairs (the blocking, with the name, of those without a postal code).
_UNLINKED = """
SELECT c.id, c.record,
       ARRAY(SELECT DISTINCT a ->> 'postal_code'
             FROM jsonb_array_elements(c.record -> 'addresses') a
             WHERE a ->> 'postal_code' IS NOT NULL) AS postal_codes,
       ARRAY(SELECT DISTINCT (a ->> 'prefecture') || '|' || (a ->> 'city')
             FROM jsonb_array_elements(c.record -> 'addresses') a
             WHERE a ->> 'prefecture' IS NOT NULL AND a ->> 'city' IS NOT NULL) AS places
FROM customers c
WHERE c.status = 'active' AND c.kind = 'corporation' AND c.corporate_number IS NULL
  AND c.id > :after
  AND COALESCE(c.record #>> '{relations,site_type}', 'head_office') = 'head_office'
  AND NOT EXISTS (SELECT 1 FROM customer_relations r WHERE r.child_id = c.id AND r.axis = 'site')
  AND NOT EXISTS (SELECT 1 FROM registry_links l WHERE l.customer_id = c.id)
  AND NOT EXISTS (SELECT 1 FROM registry_proposals p WHERE p.customer_id = c.id)
  AND (CAST(:recheck AS boolean) OR NOT EXISTS (
      SELECT 1 FROM registry_match_checks m
      WHERE m.customer_id = c.id AND m.checked_at >= c.updated_at))
ORDER BY c.id
LIMIT :limit
"""


async def unlinked(
    session: AsyncSession, after: uuid.UUID, limit: int, *, recheck: bool
) -> list[dict[str, Any]]:
    """A page of customers to examine: not examined since they last changed (all with
    ``recheck``)."""
    rows = await session.execute(
        text(_UNLINKED), {"after": after, "limit": limit, "recheck": recheck}
    )
    return [dict(r._mapping) for r in rows]


async def mark_checked(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> None:
    await session.execute(
        text(
            "INSERT INTO registry_match_checks (customer_id, checked_at)"
            " SELECT id, now() FROM unnest(CAST(:ids AS uuid[])) AS id"
            " ON CONFLICT (customer_id) DO UPDATE SET checked_at = now()"
        ),
        {"ids": list(customer_ids)},
    )


_BY_POSTAL_CODE = """
SELECT corporate_number, name, furigana, prefecture_name, city_name, street_number, post_code,
       address_outside
FROM nta_corporations
WHERE post_code = ANY(CAST(:codes AS text[])) AND NOT deleted AND close_date IS NULL
"""


async def registry_by_postal_code(
    session: AsyncSession, codes: Sequence[str]
) -> list[dict[str, Any]]:
    """Living, published corporations whose head office has one of these postal codes."""
    rows = await session.execute(text(_BY_POSTAL_CODE), {"codes": list(codes)})
    return [dict(r._mapping) for r in rows]


# Without a postal code: the prefecture and city (ix_nta_corporations_place), and the name
# body found in the registry's name (as written, or full-width).
_BY_PLACE = """
SELECT corporate_number, name, furigana, prefecture_name, city_name, street_number, post_code,
       address_outside
FROM nta_corporations
WHERE (prefecture_name, city_name) IN (
          SELECT p, c FROM unnest(CAST(:prefectures AS text[]), CAST(:cities AS text[])) AS t(p, c))
  AND NOT deleted AND close_date IS NULL
  AND EXISTS (SELECT 1 FROM unnest(CAST(:forms AS text[])) AS f WHERE strpos(name, f) > 0)
LIMIT 1000
"""


async def registry_by_place(
    session: AsyncSession, places: Sequence[tuple[str, ...]], forms: Sequence[str]
) -> list[dict[str, Any]]:
    """Living, published corporations of these (prefecture, city) whose name contains one of
    ``forms`` (at most 1,000)."""
    rows = await session.execute(
        text(_BY_PLACE),
        {
            "prefectures": [p[0] for p in places],
            "cities": [p[1] for p in places],
            "forms": list(forms),
        },
    )
    return [dict(r._mapping) for r in rows]


async def insert_link(
    session: AsyncSession, customer_id: uuid.UUID, number: str, linked_by: str
) -> bool:
    """A link, unless the customer or the 法人番号 is linked already; True if inserted."""
    row = await session.execute(
        text(
            "INSERT INTO registry_links (customer_id, corporate_number, linked_by)"
            " SELECT :id, :n, :by WHERE NOT EXISTS"
            " (SELECT 1 FROM registry_links WHERE corporate_number = :n)"
            " ON CONFLICT (customer_id) DO NOTHING RETURNING customer_id"
        ),
        {"id": customer_id, "n": number, "by": linked_by},
    )
    return row.first() is not None


async def insert_proposals(
    session: AsyncSession,
    customer_id: uuid.UUID,
    proposals: Sequence[tuple[str, float, dict[str, Any]]],
    status: str,
) -> None:
    for number, probability, explanation in proposals:
        await session.execute(
            text(
                "INSERT INTO registry_proposals"
                " (customer_id, corporate_number, probability, explanation, status)"
                " VALUES (:id, :n, :p, CAST(:e AS jsonb), :s)"
                " ON CONFLICT (customer_id, corporate_number) DO NOTHING"
            ),
            {
                "id": customer_id,
                "n": number,
                "p": probability,
                "e": json.dumps(explanation, ensure_ascii=False),
                "s": status,
            },
        )


_PROPOSAL_COLUMNS = (
    "p.id, p.customer_id, p.corporate_number, p.probability, p.explanation, p.status,"
    " p.decided_by, p.decided_at, p.created_at, c.customer_code, c.name AS customer_name,"
    " n.name AS registry_name, n.prefecture_name, n.city_name, n.street_number, n.post_code"
)
_PROPOSALS = f"""
SELECT {_PROPOSAL_COLUMNS}
FROM registry_proposals p JOIN customers c ON c.id = p.customer_id
LEFT JOIN nta_corporations n ON n.corporate_number = p.corporate_number
WHERE p.status = :status AND p.id > :after
ORDER BY p.id LIMIT :limit
"""


async def proposals(
    session: AsyncSession, status: str, after: int, limit: int
) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(_PROPOSALS), {"status": status, "after": after, "limit": limit}
    )
    return [dict(r._mapping) for r in rows]


_PROPOSAL = f"""
SELECT {_PROPOSAL_COLUMNS}
FROM registry_proposals p JOIN customers c ON c.id = p.customer_id
LEFT JOIN nta_corporations n ON n.corporate_number = p.corporate_number
WHERE p.id = :id
"""


async def proposal(session: AsyncSession, proposal_id: int, lock: bool) -> dict[str, Any] | None:
    sql = _PROPOSAL + (" FOR UPDATE OF p" if lock else "")
    row = (await session.execute(text(sql), {"id": proposal_id})).first()
    return dict(row._mapping) if row is not None else None


async def supersede_proposals(session: AsyncSession, customer_id: uuid.UUID) -> None:
    """The customer is linked: its other pending proposals are moot."""
    await session.execute(
        text(
            "UPDATE registry_proposals SET status = 'superseded', decided_at = now()"
            " WHERE customer_id = :id AND status = 'pending'"
        ),
        {"id": customer_id},
    )


async def registry_row(session: AsyncSession, number: str) -> dict[str, Any] | None:
    """The registry's row of a 法人番号 (whether it is withdrawn: ``deleted``)."""
    row = (
        await session.execute(
            text(
                "SELECT corporate_number, deleted FROM nta_corporations WHERE corporate_number = :n"
            ),
            {"n": number},
        )
    ).first()
    return dict(row._mapping) if row is not None else None


async def link_number(session: AsyncSession, customer_id: uuid.UUID) -> str | None:
    """The 法人番号 the customer is linked to, if any."""
    found: str | None = (
        await session.execute(
            text("SELECT corporate_number FROM registry_links WHERE customer_id = :id"),
            {"id": customer_id},
        )
    ).scalar()
    return found


async def delete_link(session: AsyncSession, customer_id: uuid.UUID) -> None:
    await session.execute(
        text("DELETE FROM registry_links WHERE customer_id = :id"), {"id": customer_id}
    )


async def remember_rejected(
    session: AsyncSession, customer_id: uuid.UUID, number: str, decided_by: str
) -> None:
    """A steward said the customer is not this corporation: it is neither linked again by its
    法人番号 nor proposed again."""
    await session.execute(
        text(
            "INSERT INTO registry_proposals"
            " (customer_id, corporate_number, probability, explanation, status, decided_by,"
            "  decided_at)"
            " VALUES (:id, :n, 0, CAST('{}' AS jsonb), 'rejected', :by, now())"
            " ON CONFLICT (customer_id, corporate_number) DO UPDATE SET status = 'rejected',"
            " decided_by = EXCLUDED.decided_by, decided_at = now()"
        ),
        {"id": customer_id, "n": number, "by": decided_by},
    )


async def delete_source_record(session: AsyncSession, source: SourceRecord) -> None:
    """The source record goes (its match keys and findings with it: ON DELETE CASCADE)."""
    await session.delete(source)
    await session.flush()
