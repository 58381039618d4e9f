"""The quality tables' SQL: findings (written by the write path), policies, KPI snapshots."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub import db
from mdm_hub.db import WritePart
from mdm_hub.encryption import sealed_json

_DELETE_FINDINGS = "DELETE FROM quality_findings WHERE source_record_id = :source_record_id"
_INSERT_FINDINGS = """
    INSERT INTO quality_findings (source_record_id, system, rule, field, message, value)
    SELECT :source_record_id, :system, f.rule, f.field, f.message, f.value
    FROM jsonb_to_recordset(CAST(:findings AS jsonb))
        AS f(rule text, field text, message text, value jsonb)
"""


def findings_writes(
    source_record_id: int, system: str, findings: list[dict[str, Any]], *, replace: bool
) -> list[WritePart]:
    """The writes that make ``quality_findings`` list exactly ``findings`` for a source record
    (parts for :func:`mdm_hub.db.write_together`: the delete sees the rows before the insert)."""
    parts = []
    if replace:
        parts.append(WritePart(_DELETE_FINDINGS, {"source_record_id": source_record_id}))
    if findings:
        parts.append(
            WritePart(
                _INSERT_FINDINGS,
                {
                    "source_record_id": source_record_id,
                    "system": system,
                    "findings": sealed_json(findings),
                },
            )
        )
    return parts


_DELETE_BATCH_FINDINGS = (
    "DELETE FROM quality_findings WHERE source_record_id = ANY(CAST(:ids AS bigint[]))"
)
_INSERT_REPLACED_FINDINGS = """
    INSERT INTO quality_findings (source_record_id, system, rule, field, message, value)
    SELECT b.source_record_id, CAST(:system AS text), f.rule, f.field, f.message, f.value
    FROM unnest(CAST(:ids AS bigint[]), CAST(:findings AS text[])) WITH ORDINALITY
        AS b(source_record_id, findings, position)
    CROSS JOIN LATERAL jsonb_to_recordset(CAST(b.findings AS jsonb))
        AS f(rule text, field text, message text, value jsonb)
    ORDER BY b.position
"""


def findings_replace(
    system: str, findings: list[tuple[int, list[dict[str, Any]]]]
) -> list[WritePart]:
    """:func:`findings_writes` (``replace=True``) for many source records of one system
    ((id, findings)): one delete and one insert, in their order."""
    if not findings:
        return []
    parts = [WritePart(_DELETE_BATCH_FINDINGS, {"ids": [i for i, _ in findings]})]
    present = [(i, f) for i, f in findings if f]
    if present:
        parts.append(
            WritePart(
                _INSERT_REPLACED_FINDINGS,
                {
                    "system": system,
                    "ids": [i for i, _ in present],
                    "findings": [sealed_json(f) for _, f in present],
                },
            )
        )
    return parts


# A message that quotes a personal value is stored encrypted (the findings are sealed as one
# document); read as jsonb, the engine's decoder gives it back in clear.
_FINDING_COLUMNS = """
    f.id, f.rule, f.field, to_jsonb(f.message) AS message, f.value, f.system, f.created_at,
    s.source_id,
    s.customer_id, c.kind
"""


@dataclass(frozen=True)
class FindingFilters:
    """Which findings a listing shows (None: any)."""

    rule: str | None = None
    field: str | None = None  # a JSON pointer: /phones also matches /phones/0/number
    system: str | None = None
    customer_id: uuid.UUID | None = None


async def list_findings(
    session: AsyncSession, filters: FindingFilters, *, after_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """A page of findings in id order (one more than ``limit`` when more follow)."""
    where = ["f.id > :after_id"]
    params: dict[str, Any] = {"after_id": after_id or 0, "limit": limit + 1}
    equal = {
        "f.rule": filters.rule,
        "f.system": filters.system,
        "s.customer_id": filters.customer_id,
    }
    for column, value in equal.items():
        if value is not None:
            name = column.partition(".")[2]
            where.append(f"{column} = :{name}")
            params[name] = value
    if filters.field is not None:
        # /phones matches /phones/0/number: a pointer names its subtree.
        where.append("(f.field = :field OR left(f.field, length(:field) + 1) = :field || '/')")
        params["field"] = filters.field
    sql = f"""
        SELECT {_FINDING_COLUMNS}
        FROM quality_findings AS f
        JOIN source_records AS s ON s.id = f.source_record_id
        JOIN customers AS c ON c.id = s.customer_id
        WHERE {" AND ".join(where)}
        ORDER BY f.id
        LIMIT :limit
    """
    return [dict(r) for r in await db.fetch(session, sql, params)]


async def customer_findings(session: AsyncSession, customer_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await db.fetch(
        session,
        """
        SELECT f.rule, f.field, to_jsonb(f.message) AS message, f.value, f.system, s.source_id
        FROM source_records AS s
        JOIN quality_findings AS f ON f.source_record_id = s.id
        WHERE s.customer_id = :customer_id
        ORDER BY f.id
        """,
        {"customer_id": customer_id},
    )
    return [dict(r) for r in rows]


async def policy_overrides(session: AsyncSession) -> dict[str, tuple[str, dt.datetime]]:
    rows = await db.fetch(
        session, "SELECT rule, policy, updated_at FROM quality_rule_policies ORDER BY rule", {}
    )
    return {r["rule"]: (r["policy"], r["updated_at"]) for r in rows}


async def set_policy(session: AsyncSession, rule: str, policy: str) -> dt.datetime:
    rows = await db.fetch(
        session,
        """
        INSERT INTO quality_rule_policies (rule, policy, updated_at)
        VALUES (:rule, :policy, now())
        ON CONFLICT (rule) DO UPDATE SET policy = EXCLUDED.policy, updated_at = now()
        RETURNING updated_at
        """,
        {"rule": rule, "policy": policy},
    )
    updated_at: dt.datetime = rows[0]["updated_at"]
    return updated_at


# --- counts and KPIs -------------------------------------------------------------------------

_COUNTS = """
    SELECT scope, metric, sum(value)::bigint AS value FROM (
        SELECT scope, metric, value FROM quality_counts
        WHERE left(scope, 6) <> 'daily:' AND left(scope, 13) <> 'transactions:'
          AND left(scope, 5) <> 'days:'
        UNION ALL
        SELECT scope, metric, value FROM quality_count_deltas
        WHERE left(scope, 6) <> 'daily:' AND left(scope, 13) <> 'transactions:'
          AND left(scope, 5) <> 'days:'
    ) AS counts
    GROUP BY scope, metric
"""
_DAILY = """
    SELECT scope, metric, sum(value)::bigint AS value FROM (
        SELECT scope, metric, value FROM quality_counts
        WHERE left(scope, 6) = 'daily:' AND substr(scope, 7, 10) >= :since
        UNION ALL
        SELECT scope, metric, value FROM quality_count_deltas
        WHERE left(scope, 6) = 'daily:' AND substr(scope, 7, 10) >= :since
    ) AS counts
    GROUP BY scope, metric
"""


# The 最終取引日 of the source records, counted per system, kind and day (migration 0016).
_TRANSACTIONS = """
    SELECT scope, sum(value)::bigint AS value FROM (
        SELECT scope, value FROM quality_counts
        WHERE left(scope, 13) = 'transactions:' AND metric < :cutoff
        UNION ALL
        SELECT scope, value FROM quality_count_deltas
        WHERE left(scope, 13) = 'transactions:' AND metric < :cutoff
    ) AS counts
    GROUP BY scope
"""


async def counts(session: AsyncSession) -> dict[tuple[str, str], int]:
    """Every count that is not per day: (scope, metric) → value."""
    return {(r["scope"], r["metric"]): r["value"] for r in await db.fetch(session, _COUNTS, {})}


async def daily_counts(
    session: AsyncSession, since: dt.date
) -> list[tuple[dt.date, str, str, int]]:
    """(day, system, metric, value) for every day from ``since`` on."""
    rows = await db.fetch(session, _DAILY, {"since": since.isoformat()})
    out = []
    for r in rows:
        day, system = r["scope"][len("daily:") :].split(":", 1)
        out.append((dt.date.fromisoformat(day), system, r["metric"], r["value"]))
    return out


async def fold_deltas(session: AsyncSession) -> None:
    """Fold the deltas into the counts (one folder at a time; writers are never blocked)."""
    await db.fetch(session, "SELECT pg_advisory_xact_lock(hashtext('quality_fold_deltas'))", {})
    await db.fetch(
        session,
        """
        WITH moved AS (DELETE FROM quality_count_deltas RETURNING scope, metric, value)
        INSERT INTO quality_counts (scope, metric, value)
        SELECT scope, metric, sum(value) FROM moved GROUP BY scope, metric
        ON CONFLICT (scope, metric) DO UPDATE SET value = quality_counts.value + EXCLUDED.value
        """,
        {},
    )


# Per-day counts (migration 0021): scope days:{what}:{kind or system}, metric the day
# (YYYY-MM-DD; of a timestamp, its UTC day). The days before the cutoff's, and every scope's
# name (so that a scope with no day before the cutoff is listed with 0).
_DAYS_BEFORE = """
    SELECT scope, sum(value) FILTER (WHERE metric < :day)::bigint AS value FROM (
        SELECT scope, metric, value FROM quality_counts
        WHERE scope LIKE :prefix || '%'
        UNION ALL
        SELECT scope, metric, value FROM quality_count_deltas
        WHERE scope LIKE :prefix || '%'
    ) AS counts
    GROUP BY scope
"""


async def _days_before(session: AsyncSession, prefix: str, day: str) -> dict[str, int]:
    """The per-day counts of a scope prefix summed over the days before ``day``: name → n."""
    rows = await db.fetch(session, _DAYS_BEFORE, {"prefix": prefix, "day": day})
    return {r["scope"].removeprefix(prefix): int(r["value"] or 0) for r in rows}


def _day_start(cutoff: dt.datetime) -> tuple[str, dt.datetime]:
    """The cutoff's UTC day and that day's start."""
    day = cutoff.astimezone(dt.UTC).date()
    return day.isoformat(), dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


async def not_updated_since(session: AsyncSession, cutoff: dt.datetime) -> dict[str, int]:
    """Active customers per kind not updated since ``cutoff``: the per-day counts of the days
    before the cutoff's, and an index range count over the cutoff's own day."""
    day, start = _day_start(cutoff)
    before = await _days_before(session, "days:customer-updated:", day)
    rows = await db.fetch(
        session,
        """
        SELECT k.kind, (SELECT count(*) FROM customers AS c
                        WHERE c.status = 'active' AND c.kind = k.kind
                          AND c.updated_at >= :start AND c.updated_at < :cutoff) AS n
        FROM (VALUES ('corporation'), ('person')) AS k (kind)
        """,
        {"start": start, "cutoff": cutoff},
    )
    return {r["kind"]: before.get(r["kind"], 0) + int(r["n"]) for r in rows}


async def sources_not_updated_since(session: AsyncSession, cutoff: dt.datetime) -> dict[str, int]:
    """Source records per system not written since ``cutoff``: per-day counts, and a range
    count on (system, updated_at) over the cutoff's own day for each system."""
    day, start = _day_start(cutoff)
    before = await _days_before(session, "days:source-updated:", day)
    if not before:
        return {}
    rows = await db.fetch(
        session,
        """
        SELECT s.system, (SELECT count(*) FROM source_records AS r
                          WHERE r.system = s.system
                            AND r.updated_at >= :start AND r.updated_at < :cutoff) AS n
        FROM unnest(CAST(:systems AS text[])) AS s (system)
        """,
        {"systems": sorted(before), "start": start, "cutoff": cutoff},
    )
    return {r["system"]: before[r["system"]] + int(r["n"]) for r in rows}


async def sources_no_transaction_since(
    session: AsyncSession, cutoff: dt.date
) -> dict[tuple[str, str], int]:
    """Source records per (system, kind) whose 最終取引日, as the system sent it, is before
    ``cutoff``: a sum over the per-day counts kept by migration 0016's trigger."""
    rows = await db.fetch(session, _TRANSACTIONS, {"cutoff": cutoff.isoformat()})
    out: dict[tuple[str, str], int] = {}
    for r in rows:
        system, kind = r["scope"].removeprefix("transactions:").rsplit(":", 1)
        out[(system, kind)] = int(r["value"])
    return out


async def no_transaction_since(session: AsyncSession, cutoff: dt.date) -> dict[str, int]:
    """Active customers per kind whose 最終取引日 is before ``cutoff`` (per-day counts)."""
    return await _days_before(session, "days:customer-transactions:", cutoff.isoformat())


async def candidates_waiting(session: AsyncSession) -> int:
    rows = await db.fetch(
        session, "SELECT count(*) AS n FROM match_candidates WHERE status = 'pending'", {}
    )
    n: int = rows[0]["n"]
    return n


async def save_snapshot(session: AsyncSession, day: dt.date, figures: dict[str, Any]) -> None:
    await db.fetch(
        session,
        """
        INSERT INTO quality_kpi_snapshots (day, computed_at, figures)
        VALUES (:day, now(), CAST(:figures AS jsonb))
        ON CONFLICT (day) DO UPDATE SET computed_at = now(), figures = EXCLUDED.figures
        """,
        {"day": day, "figures": json.dumps(figures, ensure_ascii=False)},
    )


async def has_snapshot(session: AsyncSession, day: dt.date) -> bool:
    rows = await db.fetch(
        session, "SELECT 1 FROM quality_kpi_snapshots WHERE day = :day", {"day": day}
    )
    return bool(rows)


async def snapshots(session: AsyncSession, since: dt.date, until: dt.date) -> list[dict[str, Any]]:
    rows = await db.fetch(
        session,
        """
        SELECT day, computed_at, figures FROM quality_kpi_snapshots
        WHERE day >= :since AND day <= :until ORDER BY day
        """,
        {"since": since, "until": until},
    )
    return [dict(r) for r in rows]


_INSERT_BATCH_FINDINGS = """
    INSERT INTO quality_findings (source_record_id, system, rule, field, message, value)
    SELECT s.id, CAST(:system AS text), f.rule, f.field, f.message, f.value
    FROM unnest(CAST(:source_ids AS text[]), CAST(:findings AS text[])) AS b(source_id, findings)
    JOIN new_sources AS s ON s.source_id = b.source_id
    CROSS JOIN LATERAL jsonb_to_recordset(CAST(b.findings AS jsonb))
        AS f(rule text, field text, message text, value jsonb)
"""


def batch_findings_insert(
    system: str, findings: list[tuple[str, list[dict[str, Any]]]]
) -> WritePart | None:
    """The findings of a batch's new source records ((source id, findings)), joined to the
    ``new_sources`` of the statement that inserts them (``sources.repository.store_batch``)."""
    present = [(s, f) for s, f in findings if f]
    if not present:
        return None
    return WritePart(
        _INSERT_BATCH_FINDINGS,
        {
            "system": system,
            "source_ids": [s for s, _ in present],
            "findings": [sealed_json(f) for _, f in present],
        },
    )
