"""Scores (Fellegi–Sunter), hard rules and the merge / review / new decision.

``match_weight = log2(λ / (1 - λ)) + Σ field weights`` and ``probability = 2^w / (1 + 2^w)``.
Each field weight is ``log2(m / u)`` of the level the field compared at (0 when a value is
missing), lowered for agreeing values many customers share (term-frequency adjustment).
A hard rule (two different 法人番号, two sites of one corporation, ...) never changes the weight
but forbids an automatic merge.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mdm_hub.matching.compare import PreparedRecord, comparator_for, prepare
from mdm_hub.matching.config import FieldModel, KindModel, MatchConfig
from mdm_hub.matching.keys import BlockingKey
from mdm_hub.matching.levels import L as _L
from mdm_hub.record import CustomerRecord


class HardRule(StrEnum):
    different_kind = "different_kind"
    different_corporate_number = "different_corporate_number"
    same_corporation_different_site = "same_corporation_different_site"
    different_birth_date = "different_birth_date"


# Hard rules that say "these are different customers" outright: not even a review candidate.
# (Other hard rules only forbid an automatic merge; a high score still goes to review.)
DISTINCT_RULES = frozenset({HardRule.different_kind, HardRule.same_corporation_different_site})


@dataclass(frozen=True, slots=True)
class FieldComparison:
    field: str
    level: str
    weight: float
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "level": self.level,
            "weight": round(self.weight, 3),
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class MatchScore:
    probability: float
    match_weight: float
    comparisons: list[FieldComparison]
    hard_rule: str | None = None
    prior_weight: float = 0.0
    config_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready explanation."""
        return {
            "probability": self.probability,
            "match_weight": round(self.match_weight, 3),
            "prior_weight": round(self.prior_weight, 3),
            "hard_rule": self.hard_rule,
            "config_version": self.config_version,
            "comparisons": [c.to_dict() for c in self.comparisons],
        }


def probability_from_weight(weight: float) -> float:
    # float ** float is typed Any (a negative base gives a complex); these bases are positive.
    if weight >= 0:
        d: float = 2.0 ** (-min(weight, 1000.0))
        return 1.0 / (1.0 + d)
    e: float = 2.0 ** max(weight, -1000.0)
    return e / (1.0 + e)


def weight_from_probability(probability: float) -> float:
    return math.log2(probability / (1.0 - probability))


# The frozen dataclasses' generated ``__init__`` costs ~1 µs per object on the hot path; these
# build the same objects through the slot descriptors (every field given, in order).
_new = object.__new__
_fc_field, _fc_level, _fc_weight, _fc_detail = (
    FieldComparison.__dict__[n].__set__ for n in ("field", "level", "weight", "detail")
)
_ms_setters = tuple(MatchScore.__dict__[n].__set__ for n in MatchScore.__dataclass_fields__)


def _comparison(name: str, level: str, weight: float, detail: str) -> FieldComparison:
    obj = _new(FieldComparison)
    _fc_field(obj, name)
    _fc_level(obj, level)
    _fc_weight(obj, weight)
    _fc_detail(obj, detail)
    return obj


def _score(*values: Any) -> MatchScore:
    obj = _new(MatchScore)
    for setter, value in zip(_ms_setters, values, strict=True):
        setter(obj, value)
    return obj


def score_pair(
    a: CustomerRecord | PreparedRecord,
    b: CustomerRecord | PreparedRecord,
    *,
    config: MatchConfig,
    key_frequencies: Mapping[BlockingKey, int] | None = None,
) -> MatchScore:
    """Score two normalized records.

    Either side may be a :class:`PreparedRecord` (``prepare(record, config)``): prepare the
    incoming record once when scoring it against many candidates.

    ``key_frequencies``: how many customers hold each blocking-key value (``name``,
    ``person_name``, ``phone``, ``email`` keys are used). An agreeing value shared by ``n``
    customers has its ``u`` multiplied by ``n`` (Splink's term-frequency adjustment), so a
    代表番号 shared by 30 branches or a very common name weighs about log2(30) bits less.
    """
    pa = a if type(a) is PreparedRecord else prepare(a, config)
    pb = b if type(b) is PreparedRecord else prepare(b, config)
    hard_rule: str | None = None
    kind = pa.kind
    if kind != pb.kind:
        hard_rule = HardRule.different_kind
        kind = "corporation"
    km = config.kinds[kind]
    total = km.prior_weight
    comparisons: list[FieldComparison] = []
    levels: dict[str, str] = {}
    # The same identifier, held by no other customer: members of one household, or a father
    # and son of one name, have different member numbers. A placeholder many customers hold
    # (0000000) identifies nobody.
    shared_identifier = False
    for name, compare, weights, tf_levels, fm in _plan(kind, km):
        level, detail, tf = compare(pa, pb, config)
        levels[name] = level
        weight = weights[level]
        common = False
        if tf is not None and key_frequencies and level in tf_levels:
            kind_, values = tf
            count = min(key_frequencies.get(BlockingKey(kind_, v), 0) for v in values)
            if count > fm.tf_reference_count:
                common = True
                weight = fm.tf_weight(level, count)
                detail = f"{detail} shared_by={count}"
        if (
            (level == _L.exact or level == _L.transposed)
            and fm.compare == "identifier"
            and not common
        ):
            shared_identifier = True
        total += weight
        comparisons.append(_comparison(name, level, weight, detail))

    # A shared identifier says the other given name is the error, not another household member.
    if kind == "person" and levels.get("name") == _L.given_differs and not shared_identifier:
        total = _discount_household(comparisons, total)
    if hard_rule is None:
        hard_rule = _hard_rule(levels, shared_identifier)
    return _score(
        probability_from_weight(total),
        total,
        comparisons,
        hard_rule,
        km.prior_weight,
        config.version,
    )


_Plan = list[tuple[str, Any, Mapping[str, float], tuple[str, ...], FieldModel]]
_plans: dict[int, tuple[KindModel, _Plan]] = {}


def _plan(kind: str, km: KindModel) -> _Plan:
    """The fields of a kind with their comparator and weights, looked up once per model."""
    cached = _plans.get(id(km))
    if cached is not None and cached[0] is km:
        return cached[1]
    plan = [
        (name, _comparator(kind, name, fm), fm.weights, fm.tf_levels, fm)
        for name, fm in km.fields.items()
    ]
    if len(_plans) > 64:
        _plans.clear()
    _plans[id(km)] = (km, plan)
    return plan


# What the members of one household share: their home, its landline, often one mail address.
# When the given names differ (same family name), agreement on these says "one household", not
# "one person", so it does not count for the match (a disagreement still counts against).
HOUSEHOLD_EVIDENCE: Mapping[str, frozenset[str]] = {
    "address": frozenset(
        {
            _L.exact,
            _L.same_site,
            _L.similar,
            _L.other_unit,
            _L.same_town,
            _L.other_street,
            _L.partial,
        }
    ),
    "phone": frozenset({_L.exact}),  # a landline; a shared mobile is personal and still counts
    "email": frozenset({_L.exact}),
}


def _discount_household(comparisons: list[FieldComparison], total: float) -> float:
    for i, c in enumerate(comparisons):
        if c.weight > 0 and c.level in HOUSEHOLD_EVIDENCE.get(c.field, ()):
            total -= c.weight
            detail = f"{c.detail}; household evidence, not counted (given names differ)"
            comparisons[i] = _comparison(c.field, c.level, 0.0, detail.lstrip("; "))
    return total


def _comparator(kind: str, name: str, fm: FieldModel) -> Any:
    return comparator_for(kind, name, fm.compare, fm.custom_field)


def _hard_rule(levels: Mapping[str, str], shared_identifier: bool = False) -> str | None:
    corporate_number = levels.get("corporate_number")
    if corporate_number == _L.different:
        return HardRule.different_corporate_number
    if corporate_number == _L.exact and (
        levels.get("branch") == _L.different
        or levels.get("address") in (_L.different, _L.other_street, _L.partial)
    ):
        return HardRule.same_corporation_different_site
    # A father and son of one name at one address differ only by birth date; a shared
    # identifier (their member numbers would differ) says the date is the error.
    if levels.get("birth_date") == _L.different and not shared_identifier:
        return HardRule.different_birth_date
    return None


# ---------------------------------------------------------------------------------------------
# Decision
# ---------------------------------------------------------------------------------------------


class Decision(StrEnum):
    merge = "merge"
    review = "review"
    new = "new"


@dataclass(frozen=True)
class DecisionResult:
    decision: Decision
    customer_id: str | None
    """merge: the customer to join; review/new: None."""
    score: MatchScore | None
    """The merge target's score (merge) or the best candidate's score (review/new)."""
    review: list[tuple[str, MatchScore]] = field(default_factory=list)
    """Candidates to queue for a steward, best first (for a merge: the runner-ups)."""
    related_sites: list[tuple[str, MatchScore]] = field(default_factory=list)
    """Candidates that are another site of the same corporation (same 法人番号)."""
    reason: str = ""


def decide(
    scores: Sequence[tuple[str, MatchScore]],
    *,
    merge_threshold: float,
    review_threshold: float,
) -> DecisionResult:
    """Merge into the best candidate, queue reviews, or create a new customer.

    * Candidates are ranked by probability (then weight, then id, for determinism).
    * ``merge`` only when the *best* candidate reaches ``merge_threshold`` and no hard rule
      forbids it. Other candidates above ``review_threshold`` become review candidates: a record
      that matches two existing customers joins the best one, and the two customers are never
      merged on that evidence alone.
    * A best candidate blocked by a hard rule, or between the thresholds, gives ``review``.
    * Candidates under a "distinct" hard rule (another site of the same corporation, another
      kind of customer) are never merged or reviewed; sites are reported in ``related_sites``.
    """
    if not 0.0 < review_threshold <= merge_threshold <= 1.0:
        raise ValueError("thresholds must satisfy 0 < review <= merge <= 1")
    ranked = sorted(scores, key=lambda item: (-item[1].probability, -item[1].match_weight, item[0]))
    related = [
        (cid, s) for cid, s in ranked if s.hard_rule == HardRule.same_corporation_different_site
    ]
    eligible = [(cid, s) for cid, s in ranked if s.hard_rule not in DISTINCT_RULES]
    reviewable = [(cid, s) for cid, s in eligible if s.probability >= review_threshold]
    best = ranked[0][1] if ranked else None
    if not reviewable:
        return DecisionResult(
            Decision.new,
            None,
            best,
            related_sites=related,
            reason="no candidate reached the review threshold" if ranked else "no candidates",
        )
    top_id, top = reviewable[0]
    if top.probability >= merge_threshold and top.hard_rule is None:
        rest = reviewable[1:]
        reason = f"best candidate p={top.probability:.4f} ≥ merge threshold"
        if rest:
            reason += f"; {len(rest)} other candidate(s) queued for review, not merged"
        return DecisionResult(Decision.merge, top_id, top, rest, related, reason)
    if top.probability >= merge_threshold:
        reason = f"best candidate p={top.probability:.4f} but hard rule {top.hard_rule}"
    else:
        reason = f"best candidate p={top.probability:.4f} between thresholds"
    return DecisionResult(Decision.review, None, top, reviewable, related, reason)
