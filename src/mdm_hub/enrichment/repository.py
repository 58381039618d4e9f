"""The SQL of applying the registry to customers: which customers to link, which links the
registry changed since they were last applied, and the links' state."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Active corporations carrying a 法人番号 the registry publishes (not withdrawn), not a site
# (sites share their corporation's 法人番号) and not linked yet, when they are the only such
# customer with that number (two unmerged duplicates are left to matching and stewards).
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
ON CONFLICT (customer_id) DO NOTHING
RETURNING customer_id
"""


async def link_new(session: AsyncSession, numbers: Sequence[str] | None) -> int:
    """Link every customer that can be linked by its 法人番号 (only ``numbers`` when given)."""
    rows = await session.execute(
        text(_LINK_NEW), {"numbers": list(numbers) if numbers is not None else None}
    )
    return len(rows.all())


_PENDING = """
SELECT l.customer_id FROM registry_links l
JOIN nta_corporations n ON n.corporate_number = l.corporate_number
WHERE l.applied_update_date IS DISTINCT FROM n.update_date
   OR l.applied_process IS DISTINCT FROM n.process
ORDER BY l.customer_id
"""


async def pending(session: AsyncSession) -> list[uuid.UUID]:
    """Linked customers whose registry row changed since it was last applied to them."""
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


_SAVE = """
UPDATE registry_links SET applied_update_date = :update_date, applied_process = :process,
    closed_on = :closed_on, close_cause = :close_cause,
    successor_corporate_number = :successor_corporate_number,
    successor_customer_id = :successor_customer_id, withdrawn = :withdrawn, updated_at = now()
WHERE customer_id = :customer_id
"""


async def save(
    session: AsyncSession,
    customer_id: uuid.UUID,
    *,
    update_date: dt.date,
    process: str,
    state: dict[str, Any],
) -> None:
    await session.execute(
        text(_SAVE),
        {"customer_id": customer_id, "update_date": update_date, "process": process, **state},
    )
