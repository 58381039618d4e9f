"""Refitting the weights: bounded Expectation-Maximisation, as Splink does it.

* ``u`` (P(level | different customers)) is estimated from *random* pairs, which are almost all
  different customers (Splink's ``estimate_u_using_random_sampling``).
* ``m`` (P(level | same customer)) is estimated by EM on *candidate* pairs (pairs sharing a
  blocking key), with ``u`` held fixed (Splink's default).
* λ (the prior: P(match) for two records taken at random) is estimated when the caller says how
  many records of each kind the hub holds: the matches EM expects among all candidate pairs
  divided by all pairs (Splink's ``estimate_probability_two_random_records_match``, with EM's
  expectation in place of deterministic rules). It depends on the size of the master — 5,000
  persons with a duplicate each give λ ≈ 10⁻⁴, a million ≈ 10⁻⁶ — so a fixed prior over-merges
  a large master and under-merges a small one. The E-step keeps the configured prior, and a
  refit that estimates λ writes that E-step prior into the new file (``estimation_prior``) so
  the next refit uses it again: fed back into the E-step, a higher λ makes the hard negatives
  (sites sharing a 代表番号, households) look like matches, which raises λ again. λ has no
  shift bound (it is a property of the master's size, which may change by orders of magnitude);
  the summary prints it before → after.
* A random sample holds a few true matches (λ of the pairs); for a level that strangers almost
  never share (the same member number) those few *are* the count and would put ``u`` near λ.
  So ``u``, ``m`` and λ are estimated in rounds: each round counts a random pair for ``u`` by
  its probability of being *no* match under the previous round's model.
* Every m and u is **bounded**: it may move at most ``max_m_shift_bits`` / ``max_u_shift_bits``
  (factors of two) from the prior; levels marked ``fixed`` never move; a level seen or expected
  fewer than ``min_expected_count`` times keeps its prior (the data cannot say anything about it).
* Before adopting, both configurations are checked against labelled pairs (known duplicates
  and known distinct pairs): precision, recall and F1 of the automatic merges.

Nothing here touches the database: the caller samples the pairs and stores the new config.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from mdm_hub.matching.compare import PreparedRecord, comparator_for, prepare
from mdm_hub.matching.config import Bounds, FieldModel, KindModel, LevelParams, MatchConfig
from mdm_hub.matching.scoring import DISTINCT_RULES, score_pair
from mdm_hub.record import CustomerRecord

Vector = tuple[str, ...]
Pair = tuple[CustomerRecord | PreparedRecord, CustomerRecord | PreparedRecord]

MISSING = "missing"


@dataclass(frozen=True)
class ParameterChange:
    kind: str
    field: str
    level: str
    m_before: float
    m_after: float
    u_before: float
    u_after: float
    weight_before: float
    weight_after: float
    status: str
    """``estimated``, ``at_bound``, ``fixed`` (level or field not estimated) or
    ``insufficient_data``."""

    @property
    def weight_change(self) -> float:
        return self.weight_after - self.weight_before


@dataclass(frozen=True)
class Evaluation:
    """Pairwise quality of *automatic merges* on labelled pairs."""

    pairs: int
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    reviews: int
    """Pairs that would go to a steward (counted as not merged above)."""
    worst_false_merges: list[tuple[int, float]] = field(default_factory=list)
    """(index in the labelled input, probability) of distinct pairs merged, worst first."""

    @property
    def precision(self) -> float:
        merged = self.true_positives + self.false_positives
        return self.true_positives / merged if merged else 1.0

    @property
    def recall(self) -> float:
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class FitResult:
    """EM outcome for one kind."""

    m: dict[str, dict[str, float]]
    status: dict[str, dict[str, str]]
    match_rate: float  # mean posterior match probability of the training pairs
    iterations: int
    converged: bool


@dataclass(frozen=True)
class EstimationResult:
    config: MatchConfig
    iterations: dict[str, int]
    converged: dict[str, bool]
    training_pairs: dict[str, int]
    random_pairs: dict[str, int]
    training_match_rate: dict[str, float]
    changes: list[ParameterChange]
    prior_before: dict[str, float] = field(default_factory=dict)
    prior_after: dict[str, float] = field(default_factory=dict)
    before: Evaluation | None = None
    after: Evaluation | None = None

    @property
    def max_weight_change(self) -> float:
        return max((abs(c.weight_change) for c in self.changes), default=0.0)

    def summary(self) -> str:
        lines = [f"config {self.config.version}"]
        for kind in self.iterations:
            lines.append(
                f"{kind}: {self.training_pairs.get(kind, 0)} training pairs, "
                f"{self.random_pairs.get(kind, 0)} random pairs, "
                f"{self.iterations[kind]} iterations, converged={self.converged[kind]}, "
                f"match rate in training pairs={self.training_match_rate[kind]:.4f}, "
                f"prior λ {self.prior_before[kind]:.3g} → {self.prior_after[kind]:.3g}"
            )
        for c in self.changes:
            if c.status == "fixed":
                continue
            lines.append(
                f"  {c.kind}.{c.field}.{c.level}: weight {c.weight_before:+.2f} → "
                f"{c.weight_after:+.2f} (m {c.m_before:.4g} → {c.m_after:.4g}, "
                f"u {c.u_before:.4g} → {c.u_after:.4g}) {c.status}"
            )
        for label, ev in (("before", self.before), ("after", self.after)):
            if ev is not None:
                lines.append(
                    f"{label}: precision={ev.precision:.4f} recall={ev.recall:.4f} "
                    f"f1={ev.f1:.4f} (tp={ev.true_positives} fp={ev.false_positives} "
                    f"fn={ev.false_negatives} tn={ev.true_negatives} reviews={ev.reviews})"
                )
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Comparison vectors
# ---------------------------------------------------------------------------------------------


def comparison_vector(
    a: CustomerRecord | PreparedRecord, b: CustomerRecord | PreparedRecord, config: MatchConfig
) -> tuple[str, Vector] | None:
    """The comparison levels of a pair, in the order of the kind's fields (None: other kinds)."""
    pa, pb = prepare(a, config), prepare(b, config)
    if pa.kind != pb.kind:
        return None
    fields = config.kinds[pa.kind].fields
    return pa.kind, tuple(
        comparator_for(pa.kind, name, fm.compare, fm.custom_field)(pa, pb, config)[0]
        for name, fm in fields.items()
    )


def count_vectors(pairs: Iterable[Pair], config: MatchConfig) -> dict[str, Counter[Vector]]:
    out: dict[str, Counter[Vector]] = {}
    for a, b in pairs:
        cv = comparison_vector(a, b, config)
        if cv is not None:
            out.setdefault(cv[0], Counter())[cv[1]] += 1
    return out


# ---------------------------------------------------------------------------------------------
# Bounded projection
# ---------------------------------------------------------------------------------------------


def _project(
    raw: Mapping[str, float], prior: Mapping[str, float], mass: float, shift_bits: float
) -> dict[str, float]:
    """Scale ``raw`` so that, clamped to ``prior · 2^±shift_bits`` (and ≤ 1), it sums to
    ``mass``. Feasible because the priors themselves sum to ``mass``."""
    if not raw:
        return {}
    factor: float = 2.0**shift_bits
    lo = {k: prior[k] / factor for k in raw}
    hi = {k: min(1.0, prior[k] * factor) for k in raw}
    base = {k: max(v, 1e-300) for k, v in raw.items()}

    def total(log_c: float) -> float:
        c = math.exp(log_c)
        return sum(min(hi[k], max(lo[k], base[k] * c)) for k in base)

    a, b = -800.0, 800.0
    for _ in range(200):
        mid = (a + b) / 2
        if total(mid) < mass:
            a = mid
        else:
            b = mid
    c = math.exp((a + b) / 2)
    return {k: min(hi[k], max(lo[k], base[k] * c)) for k in base}


def _bounded_update(
    counts: Mapping[str, float],
    params: Mapping[str, LevelParams],
    attr: str,
    shift_bits: float,
    min_count: float,
) -> tuple[dict[str, float], dict[str, str]]:
    """New probabilities for one field's levels from (weighted) level counts."""
    prior = {level: getattr(p, attr) for level, p in params.items()}
    n = sum(counts.get(level, 0.0) for level in params)
    status: dict[str, str] = {}
    kept: dict[str, float] = {}
    raw: dict[str, float] = {}
    for level, p in params.items():
        c = counts.get(level, 0.0)
        if p.fixed:
            kept[level], status[level] = prior[level], "fixed"
        elif n <= 0 or (c < min_count and n * prior[level] < min_count):
            kept[level], status[level] = prior[level], "insufficient_data"
        else:
            raw[level] = c / n
    mass = 1.0 - sum(kept.values())
    if raw:
        # Re-scale the estimated share so that kept levels keep theirs.
        share = sum(raw.values())
        raw = {k: v / share * mass if share else prior[k] for k, v in raw.items()}
        projected = _project(raw, prior, mass, shift_bits)
        factor = 2.0**shift_bits
        for level, value in projected.items():
            kept[level] = value
            at_bound = value <= prior[level] / factor * (1 + 1e-9) or value >= min(
                1.0, prior[level] * factor
            ) * (1 - 1e-9)
            status[level] = "at_bound" if at_bound else "estimated"
    return kept, status


# ---------------------------------------------------------------------------------------------
# u from random pairs, m by EM
# ---------------------------------------------------------------------------------------------


def estimate_u(
    vectors: Mapping[Vector, float], model: KindModel, bounds: Bounds
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, str]]]:
    """u per field and level from random pairs, each counted with its weight (1: surely no
    match)."""
    u: dict[str, dict[str, float]] = {}
    status: dict[str, dict[str, str]] = {}
    for i, (name, fm) in enumerate(model.fields.items()):
        counts: dict[str, float] = {}
        for vec, n in vectors.items():
            if vec[i] != MISSING:
                counts[vec[i]] = counts.get(vec[i], 0.0) + n
        u[name], status[name] = _bounded_update(
            counts, fm.levels, "u", bounds.max_u_shift_bits, bounds.min_expected_count
        )
    return u, status


def fit_m(
    vectors: Mapping[Vector, int],
    model: KindModel,
    bounds: Bounds,
    *,
    max_iterations: int = 50,
    tolerance: float = 1e-4,
    fixed_fields: Sequence[str] = (),
    prior: float | None = None,
) -> FitResult:
    """Bounded EM for m with u fixed. ``vectors``: comparison vector → number of pairs.

    ``prior``: the match probability of a random pair, held fixed in the E-step. Training pairs
    are candidate pairs; whether a pair is a candidate depends only on its values, so
    P(match | comparison vector) is the same inside the blocks as in the whole population and
    the E-step uses the global prior with every field. (Re-estimating λ inside the blocks is what
    lets the choice of training blocks swing the weights.) ``None`` estimates λ as a plain
    mixture proportion, for data that is not blocked (synthetic tests).
    """
    names = list(model.fields)
    params = {name: dict(model.fields[name].levels) for name in names}
    m = {name: {lv: p.m for lv, p in params[name].items()} for name in names}
    u = {name: {lv: p.u for lv, p in params[name].items()} for name in names}
    status = {
        name: {
            lv: ("fixed" if name in fixed_fields or p.fixed else "estimated")
            for lv, p in ps.items()
        }
        for name, ps in params.items()
    }
    items = [(vec, float(n)) for vec, n in vectors.items() if n > 0]
    total = sum(n for _, n in items)
    if not items:
        status = {
            name: {
                lv: ("fixed" if st == "fixed" else "insufficient_data") for lv, st in sts.items()
            }
            for name, sts in status.items()
        }
        return FitResult(m, status, 0.0, 0, False)
    lam = prior if prior is not None else 0.5
    mean_posterior = lam
    iterations, converged = 0, False
    for iterations in range(1, max_iterations + 1):  # noqa: B007
        # E-step: posterior match probability of each distinct vector.
        log_bf = {
            name: {lv: math.log(m[name][lv] / u[name][lv]) for lv in m[name]} for name in names
        }
        prior_logit = math.log(lam / (1.0 - lam))
        posteriors = []
        for vec, n in items:
            z = prior_logit
            for i, name in enumerate(names):
                level = vec[i]
                if level != MISSING:
                    z += log_bf[name][level]
            p = 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
            posteriors.append((vec, n, p))
        # M-step.
        mean_posterior = sum(n * p for _, n, p in posteriors) / total
        delta = 0.0
        if prior is None:
            new_lam = min(max(mean_posterior, 1e-9), 1 - 1e-9)
            delta = abs(new_lam - lam)
            lam = new_lam
        for i, name in enumerate(names):
            if name in fixed_fields:
                continue
            counts: dict[str, float] = {}
            for vec, n, p in posteriors:
                level = vec[i]
                if level != MISSING:
                    counts[level] = counts.get(level, 0.0) + n * p
            new_m, st = _bounded_update(
                counts, params[name], "m", bounds.max_m_shift_bits, bounds.min_expected_count
            )
            for lv, value in new_m.items():
                delta = max(delta, abs(value - m[name][lv]))
            m[name], status[name] = new_m, st
        if delta < tolerance:
            converged = True
            break
    return FitResult(m, status, mean_posterior, iterations, converged)


# ---------------------------------------------------------------------------------------------
# Evaluation on labelled pairs
# ---------------------------------------------------------------------------------------------


def evaluate(
    labelled: Iterable[
        tuple[CustomerRecord | PreparedRecord, CustomerRecord | PreparedRecord, bool]
    ],
    config: MatchConfig,
    *,
    merge_threshold: float | None = None,
    review_threshold: float | None = None,
    worst: int = 10,
) -> Evaluation:
    """Precision/recall of automatic merges on known pairs (``True`` = same customer)."""
    merge_t = config.merge_threshold if merge_threshold is None else merge_threshold
    review_t = config.review_threshold if review_threshold is None else review_threshold
    tp = fp = fn = tn = reviews = 0
    false_merges: list[tuple[int, float]] = []
    count = 0
    for index, (a, b, same) in enumerate(labelled):
        count += 1
        s = score_pair(a, b, config=config)
        merged = s.probability >= merge_t and s.hard_rule is None
        if not merged and s.hard_rule not in DISTINCT_RULES and s.probability >= review_t:
            reviews += 1
        if merged and same:
            tp += 1
        elif merged:
            fp += 1
            false_merges.append((index, s.probability))
        elif same:
            fn += 1
        else:
            tn += 1
    false_merges.sort(key=lambda x: -x[1])
    return Evaluation(count, tp, fp, fn, tn, reviews, false_merges[:worst])


# ---------------------------------------------------------------------------------------------
# The whole refit
# ---------------------------------------------------------------------------------------------


def estimate(
    pairs: Iterable[Pair],
    config: MatchConfig,
    *,
    max_iterations: int = 50,
    bounds: Bounds | None = None,
    tolerance: float = 1e-4,
    random_pairs: Iterable[Pair] | None = None,
    labelled: Iterable[tuple[CustomerRecord, CustomerRecord, bool]] | None = None,
    fixed_fields: Mapping[str, Sequence[str]] | None = None,
    version: str | None = None,
    records: Mapping[str, int] | None = None,
    candidate_pairs: Mapping[str, int] | None = None,
    max_rounds: int = 5,
) -> EstimationResult:
    """Refit ``config`` on the hub's own data and report what changed.

    ``pairs``: candidate pairs (records sharing a blocking key), for m by EM.
    ``random_pairs``: random pairs, for u (omitted: u keeps its priors).
    ``labelled``: known pairs ``(a, b, same)``, to compare old and new before adopting.
    ``fixed_fields``: per kind, fields not to estimate (e.g. the field the training pairs were
    blocked on, whose m the blocking biases — as in Splink).
    ``records``: per kind, how many records the hub holds; given, λ is estimated (omitted: λ
    keeps its prior). ``candidate_pairs``: per kind, how many candidate pairs the hub holds
    when ``pairs`` is a sample of them (default: ``pairs`` is all of them).
    The new config is versioned ``version`` (default ``"<old>+refit"``).
    """
    bounds = bounds or config.bounds
    fixed_fields = fixed_fields or {}
    labelled_list = list(labelled) if labelled is not None else None
    training = count_vectors(pairs, config)
    randoms = count_vectors(random_pairs, config) if random_pairs is not None else {}

    new_kinds: dict[str, KindModel] = {}
    changes: list[ParameterChange] = []
    iterations: dict[str, int] = {}
    converged: dict[str, bool] = {}
    match_rate: dict[str, float] = {}
    prior_after: dict[str, float] = {}
    for kind, km in config.kinds.items():
        vectors = training.get(kind, Counter())
        population = (records or {}).get(kind, 0)
        candidates = (candidate_pairs or {}).get(kind, sum(vectors.values()))
        rounds = max_rounds if randoms.get(kind) or population >= 2 else 1
        current, prior = km, km.prior
        e_step_prior = km.estimation_prior or km.prior
        u_status: dict[str, dict[str, str]] = {}
        for _ in range(rounds):
            u_model = replace(km, prior=prior)
            if randoms.get(kind):
                # Count each random pair for u by its chance of being no match (module doc).
                unmatched = {
                    vec: n * (1.0 - _posterior(current, vec)) for vec, n in randoms[kind].items()
                }
                u_new, u_status = estimate_u(unmatched, km, bounds)
                u_model = _with_params(u_model, u=u_new)
            fit = fit_m(
                vectors,
                u_model,
                bounds,
                max_iterations=max_iterations,
                tolerance=tolerance,
                fixed_fields=fixed_fields.get(kind, ()),
                prior=e_step_prior,
            )
            previous = current
            expected_matches = fit.match_rate * candidates
            if population >= 2 and expected_matches >= bounds.min_expected_count:
                prior = min(expected_matches / (population * (population - 1) / 2), 0.5)
            current = _with_params(u_model, m=fit.m, prior=prior)
            if prior != km.prior:
                current = replace(current, estimation_prior=e_step_prior)
            if _max_relative_change(previous, current) < 1e-3:
                break
        new_kinds[kind] = current
        iterations[kind], converged[kind], match_rate[kind] = (
            fit.iterations,
            fit.converged,
            fit.match_rate,
        )
        prior_after[kind] = current.prior
        for name, fm in km.fields.items():
            nfm = current.fields[name]
            for level, p in fm.levels.items():
                q = nfm.levels[level]
                st_m = fit.status.get(name, {}).get(level, "fixed")
                st_u = u_status.get(name, {}).get(level)
                status = _combine_status(st_m, st_u)
                changes.append(
                    ParameterChange(
                        kind, name, level, p.m, q.m, p.u, q.u, p.weight, q.weight, status
                    )
                )
    new_config = replace(config, version=version or f"{config.version}+refit", kinds=new_kinds)
    before = after = None
    if labelled_list is not None:
        before = evaluate(labelled_list, config)
        after = evaluate(labelled_list, new_config)
    return EstimationResult(
        config=new_config,
        iterations=iterations,
        converged=converged,
        training_pairs={k: sum(v.values()) for k, v in training.items()},
        random_pairs={k: sum(v.values()) for k, v in randoms.items()},
        training_match_rate=match_rate,
        changes=changes,
        before=before,
        after=after,
        prior_before={kind: km.prior for kind, km in config.kinds.items()},
        prior_after=prior_after,
    )


def _posterior(km: KindModel, vector: Vector) -> float:
    """P(match | comparison vector) under ``km``."""
    z = math.log(km.prior / (1.0 - km.prior))
    for level, fm in zip(vector, km.fields.values(), strict=True):
        if level != MISSING:
            p = fm.levels[level]
            z += math.log(p.m / p.u)
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def _max_relative_change(a: KindModel, b: KindModel) -> float:
    changes = [abs(b.prior / a.prior - 1.0)]
    for name, fm in a.fields.items():
        for level, p in fm.levels.items():
            q = b.fields[name].levels[level]
            changes += [abs(q.m / p.m - 1.0), abs(q.u / p.u - 1.0)]
    return max(changes)


def _combine_status(st_m: str, st_u: str | None) -> str:
    order = ["at_bound", "estimated", "insufficient_data", "fixed"]
    candidates = [s for s in (st_m, st_u) if s is not None]
    return min(candidates, key=order.index)


def _with_params(
    km: KindModel,
    *,
    m: Mapping[str, Mapping[str, float]] | None = None,
    u: Mapping[str, Mapping[str, float]] | None = None,
    prior: float | None = None,
) -> KindModel:
    fields: dict[str, FieldModel] = {}
    for name, fm in km.fields.items():
        levels = {
            level: replace(
                p,
                m=m[name][level] if m and name in m else p.m,
                u=u[name][level] if u and name in u else p.u,
            )
            for level, p in fm.levels.items()
        }
        fields[name] = replace(fm, levels=levels)
    return KindModel(
        prior=km.prior if prior is None else prior,
        fields=fields,
        estimation_prior=km.estimation_prior,
    )
