"""The quality KPIs: computed from trigger-kept counts and bounded index scans, never a scan of
the master (see docs/quality.md and bench/quality_kpis.py)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mdm_hub.quality import repository
from mdm_hub.quality.rules import RULES
from mdm_hub.settings import Settings

JAPAN = ZoneInfo("Asia/Tokyo")
KINDS = ("corporation", "person")
FIELDS = (
    "corporate_number",
    "invoice_registration_number",
    "phone",
    "email",
    "address",
    "address_with_postal_code",
    "name_kana",
    "industry",
    "rank",
    "last_transaction_on",
    "birth_date",
)


def today() -> dt.date:
    return dt.datetime.now(JAPAN).date()


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


async def compute(session: AsyncSession, settings: Settings) -> dict[str, Any]:
    """Every KPI now, as one JSON document (the shape of ``GET /v1/quality/kpis``)."""
    now = dt.datetime.now(dt.UTC)
    day = today()
    window_start = day - dt.timedelta(days=settings.quality_window_days - 1)
    counts = await repository.counts(session)
    daily = await repository.daily_counts(session, window_start)
    stale = await repository.not_updated_since(
        session, now - dt.timedelta(days=settings.quality_stale_days)
    )
    no_tx = await repository.no_transaction_since(
        session, day - dt.timedelta(days=settings.quality_no_transaction_days)
    )
    waiting = await repository.candidates_waiting(session)
    stale_sources = await repository.sources_not_updated_since(
        session, now - dt.timedelta(days=settings.quality_stale_days)
    )
    stale_transactions = await repository.sources_no_transaction_since(
        session, day - dt.timedelta(days=settings.quality_no_transaction_days)
    )

    def count(scope: str, metric: str) -> int:
        return counts.get((scope, metric), 0)

    customers: dict[str, dict[str, int]] = {}
    completeness: dict[str, dict[str, Any]] = {}
    freshness: dict[str, dict[str, Any]] = {}
    for scope_name, scope in [("all", "all"), *((k, f"kind:{k}") for k in KINDS)]:
        statuses = {
            metric.removeprefix("status:"): value
            for (s, metric), value in counts.items()
            if s == scope and metric.startswith("status:") and value
        }
        customers[scope_name] = statuses
        active = statuses.get("active", 0)
        completeness[scope_name] = {
            f: {
                "filled": count(scope, f"filled:{f}"),
                "share": _share(count(scope, f"filled:{f}"), active),
            }
            for f in FIELDS
        }
        not_updated = sum(stale.values()) if scope_name == "all" else stale.get(scope_name, 0)
        old_tx = sum(no_tx.values()) if scope_name == "all" else no_tx.get(scope_name, 0)
        without_tx = active - count(scope, "filled:last_transaction_on")
        freshness[scope_name] = {
            "active": active,
            "not_updated": not_updated,
            "not_updated_share": _share(not_updated, active),
            "no_transaction": old_tx,
            "no_transaction_share": _share(old_tx, active),
            "no_transaction_date": without_tx,
        }

    systems = sorted(
        {s.removeprefix("system:") for (s, _) in counts if s.startswith("system:")}
        | {system for _, system, _, _ in daily if system}
    )
    error_rate: dict[str, Any] = {}
    total_records = total_flagged = 0
    total_by_rule: dict[str, int] = defaultdict(int)
    for system in systems:
        scope = f"system:{system}"
        records = count(scope, "source_records")
        flagged = count(scope, "findings")
        by_rule = {
            rule: count(scope, f"finding:{rule}")
            for rule in RULES
            if count(scope, f"finding:{rule}")
        }
        total_records += records
        total_flagged += flagged
        for rule, n in by_rule.items():
            total_by_rule[rule] += n
        error_rate[system] = {
            "records": records,
            "records_with_findings": flagged,
            "share": _share(flagged, records),
            "by_rule": {r: {"records": n, "share": _share(n, records)} for r, n in by_rule.items()},
        }
    error_rate_all = {
        "records": total_records,
        "records_with_findings": total_flagged,
        "share": _share(total_flagged, total_records),
        "by_rule": {
            r: {"records": n, "share": _share(n, total_records)}
            for r, n in sorted(total_by_rule.items())
        },
    }

    slices = _source_slices(counts, stale_sources, stale_transactions)
    for system, by_kind in slices["error_rate_by_system_kind"].items():
        if system in error_rate:
            error_rate[system]["by_kind"] = by_kind

    per_system: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_day: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for d, system, metric, value in daily:
        per_system[system][metric] += value
        if metric == "writes":
            per_day[system][d.isoformat()] += value
    writes = sum(v["writes"] for s, v in per_system.items() if s)
    auto_merges = sum(v["merged"] for s, v in per_system.items() if s)
    steward_merges = per_system.get("", {}).get("steward_merges", 0)
    merges = auto_merges + steward_merges
    duplicates = {
        "candidates_waiting": waiting,
        "merged_away": count("all", "status:merged"),
        "writes": writes,
        "merges": merges,
        "merges_at_write": auto_merges,
        "steward_merges": steward_merges,
        "merges_per_1000_writes": round(merges * 1000 / writes, 3) if writes else None,
        "by_system": {
            s: {
                "writes": v["writes"],
                "merges_at_write": v["merged"],
                "merges_per_1000_writes": round(v["merged"] * 1000 / v["writes"], 3)
                if v["writes"]
                else None,
            }
            for s, v in sorted(per_system.items())
            if s
        },
    }
    update_frequency = {
        s: {
            "writes": v["writes"],
            "writes_per_day": round(v["writes"] / settings.quality_window_days, 3),
            "created": v["new_customer"],
            "by_day": dict(sorted(per_day[s].items())),
        }
        for s, v in sorted(per_system.items())
        if s
    }
    return {
        "computed_at": now.isoformat(),
        "day": day.isoformat(),
        "parameters": {
            "stale_days": settings.quality_stale_days,
            "no_transaction_days": settings.quality_no_transaction_days,
            "window_days": settings.quality_window_days,
        },
        "customers": customers,
        "completeness": completeness,
        "error_rate": {
            "all": error_rate_all,
            "by_kind": slices["error_rate_by_kind"],
            "by_system": error_rate,
        },
        "completeness_by_system": slices["completeness_by_system"],
        "freshness_by_system": slices["freshness_by_system"],
        "duplicates": duplicates,
        "freshness": freshness,
        "update_frequency": update_frequency,
        "enrichment": _enrichment(counts, "registry:corporation"),
        "enrichment_by_kind": {
            k: _coverage({m: n for (s, m), n in counts.items() if s == f"registry:{k}"})
            for k in KINDS
        },
        "enrichment_by_system": _enrichment_by_system(counts),
        "invoice_registration": _invoice(_invoice_statuses(counts, "registry:")),
        "invoice_registration_by_kind": {
            k: _invoice(_invoice_statuses(counts, f"registry:{k}")) for k in KINDS
        },
        "invoice_registration_by_system": _invoice_by_system(counts),
    }


STATES = ("confirmed", "suggested", "withdrawn", "unknown")


def _coverage(metrics: dict[str, int]) -> dict[str, Any]:
    customers = sum(metrics.get(f"state:{state}", 0) for state in STATES)
    out: dict[str, Any] = {"customers": customers}
    for state in STATES:
        n = metrics.get(f"state:{state}", 0)
        out[state] = n
        out[f"{state}_share"] = _share(n, customers)
    out["closed_still_active"] = metrics.get("closed", 0)
    return out


def _enrichment(counts: dict[tuple[str, str], int], scope: str) -> dict[str, Any]:
    """法人番号 coverage of the active customers of a scope (trigger-kept counts, migration
    0016): confirmed (linked to a registry row), suggested (a pending proposal, not linked),
    withdrawn (linked to a number the registry withdrew, 99), unknown (the rest); and linked
    customers still active whose registry row says closed. The top-level figure is of the
    corporations (``corporations`` = ``customers``)."""
    metrics = {metric: n for (s, metric), n in counts.items() if s == scope}
    figures = _coverage(metrics)
    if scope == "registry:corporation":
        figures = {
            "corporations": figures["customers"],
            **{k: v for k, v in figures.items() if k != "customers" and k != "withdrawn_share"},
        }
    return figures


def _enrichment_by_system(counts: dict[tuple[str, str], int]) -> dict[str, Any]:
    """The coverage of each source system's records (those of active customers), per kind of
    their customer and for every kind (``all``)."""
    per: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for (scope, metric), n in counts.items():
        if scope.startswith("registry-source:"):
            system, kind = scope.removeprefix("registry-source:").rsplit(":", 1)
            per[system][kind][metric] = n
    out: dict[str, Any] = {}
    for system, kinds in sorted(per.items()):
        every: dict[str, int] = defaultdict(int)
        for metrics in kinds.values():
            for metric, n in metrics.items():
                every[metric] += n
        out[system] = {"all": _coverage(every)} | {
            kind: _coverage(kinds[kind]) for kind in KINDS if kind in kinds
        }
    return out


def _invoice_statuses(counts: dict[tuple[str, str], int], scope: str) -> dict[str, int]:
    """The T-numbers by インボイス status counted under a scope (migration 0021's
    ``invoice:{status}`` metrics of the registry states); ``registry:`` sums every kind."""
    out: dict[str, int] = defaultdict(int)
    for (s, metric), n in counts.items():
        if metric.startswith("invoice:") and (s == scope or scope == "registry:" == s[:9]):
            out[metric.removeprefix("invoice:")] += n
    return out


def _invoice_by_system(counts: dict[tuple[str, str], int]) -> dict[str, Any]:
    """The T-numbers of each source system's records (those of active customers, each counted
    with its customer's T-number status), per kind of their customer and for every kind."""
    per: dict[str, dict[str, dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(int))
    )
    for (scope, metric), n in counts.items():
        if scope.startswith("registry-source:") and metric.startswith("invoice:"):
            system, kind = scope.removeprefix("registry-source:").rsplit(":", 1)
            per[system][kind][metric.removeprefix("invoice:")] += n
            per[system]["all"][metric.removeprefix("invoice:")] += n
    return {
        system: {k: _invoice(kinds.get(k, {})) for k in ("all", *KINDS) if k == "all" or k in kinds}
        for system, kinds in sorted(per.items())
    }


def _invoice(statuses: dict[str, int]) -> dict[str, Any]:
    """Active customers (or source records) carrying a T-number, and those the インボイス
    registry does not confirm as registered (not published, expired, revoked or deleted)."""
    with_number = sum(statuses.values())
    unconfirmed = with_number - statuses.get("registered", 0)
    return {
        "with_number": with_number,
        "registered": statuses.get("registered", 0),
        "not_confirmed": unconfirmed,
        "not_confirmed_share": _share(unconfirmed, with_number),
        "by_status": {
            s: statuses.get(s, 0) for s in ("not_registered", "expired", "revoked", "deleted")
        },
    }


def _rate(records: int, flagged: int, by_rule: dict[str, int]) -> dict[str, Any]:
    return {
        "records": records,
        "records_with_findings": flagged,
        "share": _share(flagged, records),
        "by_rule": {
            r: {"records": n, "share": _share(n, records)} for r, n in sorted(by_rule.items())
        },
    }


def _source_slices(
    counts: dict[tuple[str, str], int],
    stale_sources: dict[str, int],
    stale_transactions: dict[tuple[str, str], int],
) -> dict[str, Any]:
    """The slices counted per source system and kind (scope ``source:{system}:{kind}``, kept by
    migration 0014's trigger): error rate per kind, completeness and freshness per system."""
    per: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for (scope, metric), value in counts.items():
        if scope.startswith("source:"):
            system, kind = scope.removeprefix("source:").rsplit(":", 1)
            per[(system, kind)][metric] = value

    def rate(groups: list[dict[str, int]]) -> dict[str, Any]:
        by_rule: dict[str, int] = defaultdict(int)
        for metrics in groups:
            for metric, n in metrics.items():
                if metric.startswith("finding:") and n:
                    by_rule[metric.removeprefix("finding:")] += n
        records = sum(m.get("records", 0) for m in groups)
        return _rate(records, sum(m.get("findings", 0) for m in groups), by_rule)

    def filled(groups: list[dict[str, int]]) -> dict[str, Any]:
        records = sum(m.get("records", 0) for m in groups)
        return {
            "records": records,
            "fields": {
                f: {
                    "filled": sum(m.get(f"filled:{f}", 0) for m in groups),
                    "share": _share(sum(m.get(f"filled:{f}", 0) for m in groups), records),
                }
                for f in FIELDS
            },
        }

    systems = sorted({system for system, _ in per})
    by_kind = {k: rate([m for (_, kind), m in per.items() if kind == k]) for k in KINDS}
    by_system_kind = {s: {k: rate([per[(s, k)]]) for k in KINDS if (s, k) in per} for s in systems}
    completeness = {
        s: {
            "all": filled([m for (system, _), m in per.items() if system == s]),
            **{k: filled([per[(s, k)]]) for k in KINDS if (s, k) in per},
        }
        for s in systems
    }
    freshness = {}
    for s in systems:
        records = sum(m.get("records", 0) for (system, _), m in per.items() if system == s)
        stale = stale_sources.get(s, 0)
        old_tx = sum(n for (system, _), n in stale_transactions.items() if system == s)
        dated = sum(m.get("filled:last_transaction_on", 0) for (sy, _), m in per.items() if sy == s)
        freshness[s] = {
            "records": records,
            "not_updated": stale,
            "not_updated_share": _share(stale, records),
            "no_transaction": old_tx,
            "no_transaction_share": _share(old_tx, records),
            "no_transaction_date": records - dated,
            "by_kind": {
                k: {
                    "records": per[(s, k)].get("records", 0),
                    "no_transaction": stale_transactions.get((s, k), 0),
                    "no_transaction_share": _share(
                        stale_transactions.get((s, k), 0), per[(s, k)].get("records", 0)
                    ),
                }
                for k in KINDS
                if (s, k) in per
            },
        }
    return {
        "error_rate_by_kind": by_kind,
        "error_rate_by_system_kind": by_system_kind,
        "completeness_by_system": completeness,
        "freshness_by_system": freshness,
    }


async def snapshot(session: AsyncSession, settings: Settings) -> dict[str, Any]:
    """Fold the counts, compute the KPIs and keep them as today's row of the history."""
    await repository.fold_deltas(session)
    figures = await compute(session, settings)
    await repository.save_snapshot(session, dt.date.fromisoformat(figures["day"]), figures)
    return figures


async def daily_snapshot(session: AsyncSession, settings: Settings) -> bool:
    """The worker's daily job: today's snapshot unless one exists. True if it took one."""
    await repository.fold_deltas(session)
    if await repository.has_snapshot(session, today()):
        return False
    await snapshot(session, settings)
    return True


async def daily_snapshot_job(engine: AsyncEngine, settings: Settings) -> bool:
    """The worker's periodic job (mdm_hub.housekeeping): fold the counts, and take today's
    snapshot unless one exists, in a transaction of its own. True if it took one."""
    async with AsyncSession(engine) as session, session.begin():
        return await daily_snapshot(session, settings)


async def history(session: AsyncSession, since: dt.date, until: dt.date) -> list[dict[str, Any]]:
    return await repository.snapshots(session, since, until)
