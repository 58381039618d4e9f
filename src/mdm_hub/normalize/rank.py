"""顧客ランク from 取引金額: the highest threshold the annual amount reaches wins."""

from __future__ import annotations

from collections.abc import Sequence

from .base import RankRule


def derive_rank(annual_amount: int, rules: Sequence[RankRule]) -> str | None:
    """The rank of the highest ``min_amount`` that ``annual_amount`` reaches, or None."""
    best: RankRule | None = None
    for rule in rules:
        if annual_amount >= rule.min_amount and (best is None or rule.min_amount > best.min_amount):
            best = rule
    return best.rank if best else None


def check_rank_rules(rules: Sequence[RankRule]) -> None:
    """For the admin API: thresholds must be non-negative and unique, ranks non-empty and unique.

    Raises ValueError describing every problem.
    """
    problems: list[str] = []
    seen_amounts: set[int] = set()
    seen_ranks: set[str] = set()
    for rule in rules:
        if not rule.rank.strip():
            problems.append("a rank name is empty")
        if rule.min_amount < 0:
            problems.append(f"rank {rule.rank!r}: min_amount must be >= 0")
        if rule.min_amount in seen_amounts:
            problems.append(f"min_amount {rule.min_amount} is used twice")
        if rule.rank in seen_ranks:
            problems.append(f"rank {rule.rank!r} is defined twice")
        seen_amounts.add(rule.min_amount)
        seen_ranks.add(rule.rank)
    if problems:
        raise ValueError("; ".join(problems))
