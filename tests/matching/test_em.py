import math
import random
from collections import Counter

import pytest

from mdm_hub.matching.config import (
    Bounds,
    FieldModel,
    KindModel,
    LevelParams,
    config_from_dict,
    load_config,
)
from mdm_hub.matching.em import estimate, estimate_u, evaluate, fit_m

from .records import MARUNOUCHI, UMEDA, address, corp

LEVELS = ("exact", "similar", "different")


def model(
    m: dict[str, tuple[float, ...]], u: dict[str, tuple[float, ...]], prior: float = 0.01
) -> KindModel:
    return KindModel(
        prior=prior,
        fields={
            name: FieldModel(
                name=name,
                levels={lv: LevelParams(m=m[name][i], u=u[name][i]) for i, lv in enumerate(LEVELS)},
            )
            for name in m
        },
    )


TRUE_M = {"a": (0.70, 0.20, 0.10), "b": (0.60, 0.25, 0.15), "c": (0.80, 0.10, 0.10)}
TRUE_U = {"a": (0.02, 0.08, 0.90), "b": (0.05, 0.10, 0.85), "c": (0.01, 0.04, 0.95)}


def synthetic(n: int, match_rate: float, seed: int = 7, missing: float = 0.1) -> Counter:
    rng = random.Random(seed)
    out: Counter = Counter()
    for _ in range(n):
        probs = TRUE_M if rng.random() < match_rate else TRUE_U
        vec = []
        for name in ("a", "b", "c"):
            if rng.random() < missing:
                vec.append("missing")
            else:
                vec.append(rng.choices(LEVELS, weights=probs[name])[0])
        out[tuple(vec)] += 1
    return out


def test_em_recovers_known_m() -> None:
    # Priors off by up to a factor of ~1.6; u known (as after estimating it from random pairs).
    prior_m = {"a": (0.50, 0.30, 0.20), "b": (0.80, 0.12, 0.08), "c": (0.60, 0.20, 0.20)}
    km = model(prior_m, TRUE_U)
    fit = fit_m(synthetic(30_000, 0.3), km, Bounds(max_m_shift_bits=2.0), max_iterations=200)
    assert fit.converged
    assert fit.match_rate == pytest.approx(0.3, abs=0.02)
    for name, true in TRUE_M.items():
        for level, value in zip(LEVELS, true, strict=True):
            assert fit.m[name][level] == pytest.approx(value, abs=0.03), (name, level)
        assert sum(fit.m[name].values()) == pytest.approx(1.0)


def test_em_respects_bounds_and_fixed_levels() -> None:
    prior_m = {"a": (0.95, 0.03, 0.02), "b": (0.60, 0.25, 0.15), "c": (0.80, 0.10, 0.10)}
    km = model(prior_m, TRUE_U)
    # Fix one level of field c.
    fields = dict(km.fields)
    c_levels = dict(fields["c"].levels)
    c_levels["similar"] = LevelParams(m=0.10, u=0.04, fixed=True)
    fields["c"] = FieldModel(name="c", levels=c_levels)
    km = KindModel(prior=km.prior, fields=fields)

    bounds = Bounds(max_m_shift_bits=0.5)
    fit = fit_m(synthetic(20_000, 0.3), km, bounds, max_iterations=100)
    factor = 2**0.5
    for name, prior in prior_m.items():
        for level, p in zip(LEVELS, prior, strict=True):
            assert p / factor * (1 - 1e-9) <= fit.m[name][level] <= min(1, p * factor) * (1 + 1e-9)
        assert sum(fit.m[name].values()) == pytest.approx(1.0)
    # The true m of a.similar (0.20) is far above its prior (0.03): it stops at the bound.
    assert fit.m["a"]["similar"] == pytest.approx(0.03 * factor)
    assert fit.status["a"]["similar"] == "at_bound"
    assert fit.m["c"]["similar"] == 0.10
    assert fit.status["c"]["similar"] == "fixed"


def test_fixed_fields_are_not_estimated() -> None:
    prior_m = {"a": (0.50, 0.30, 0.20), "b": (0.80, 0.12, 0.08), "c": (0.60, 0.20, 0.20)}
    fit = fit_m(synthetic(5_000, 0.3), model(prior_m, TRUE_U), Bounds(), fixed_fields=["a"])
    assert tuple(fit.m["a"][lv] for lv in LEVELS) == prior_m["a"]


def test_u_from_random_pairs() -> None:
    prior_u = {"a": (0.03, 0.06, 0.91), "b": (0.05, 0.10, 0.85), "c": (0.01, 0.04, 0.95)}
    km = model(TRUE_M, prior_u)
    u, _status = estimate_u(synthetic(50_000, 0.0), km, Bounds())
    for name, true in TRUE_U.items():
        for level, value in zip(LEVELS, true, strict=True):
            assert u[name][level] == pytest.approx(value, rel=0.1), (name, level)


def test_u_of_levels_the_sample_cannot_see_keeps_its_prior() -> None:
    prior_u = {"a": (1e-6, 0.08, 1 - 0.08 - 1e-6), "b": TRUE_U["b"], "c": TRUE_U["c"]}
    km = model(TRUE_M, prior_u)
    vectors = Counter(
        {("different", "different", "different"): 900, ("similar", "exact", "different"): 100}
    )
    u, status = estimate_u(vectors, km, Bounds())
    assert u["a"]["exact"] == 1e-6
    assert status["a"]["exact"] == "insufficient_data"


# -- the whole refit on records ----------------------------------------------------------------


def _companies(n: int, seed: int = 3) -> list:
    rng = random.Random(seed)
    towns = ["丸の内", "大手町", "有楽町", "内幸町", "神田", "麹町", "番町", "九段北"]
    out = []
    for i in range(n):
        town = rng.choice(towns)
        out.append(
            dict(
                key=f"会社{i:04d}",
                addr=dict(
                    MARUNOUCHI,
                    town=town,
                    street=f"{rng.randint(1, 4)}-{rng.randint(1, 20)}-{rng.randint(1, 9)}",
                ),
                phone=f"+8135{i:08d}",
            )
        )
    return out


def _record(
    c: dict, *, drop_phone: bool = False, street: str | None = "keep", name: str | None = None
):  # type: ignore[no-untyped-def]
    addr = dict(c["addr"])
    if street is None:
        addr["street"] = None
    return corp(
        name or c["key"], addresses=[address(**addr)], phones=[] if drop_phone else [c["phone"]]
    )


def test_estimate_end_to_end_is_bounded_and_checked() -> None:
    rng = random.Random(11)
    companies = _companies(300)
    config = load_config()
    duplicates = []
    for c in companies[:200]:
        variant = _record(
            c, drop_phone=rng.random() < 0.4, street=None if rng.random() < 0.2 else "keep"
        )
        duplicates.append((_record(c), variant))
    # Candidate non-matches: branches (same name, other town, shared phone).
    branches = []
    for c in companies[200:]:
        other = dict(c, addr=dict(UMEDA))
        branches.append((_record(c), _record(other)))
    randoms = [
        (_record(rng.choice(companies)), _record(rng.choice(companies))) for _ in range(2000)
    ]
    randoms = [(a, b) for a, b in randoms if a.name != b.name]
    labelled = [(a, b, True) for a, b in duplicates] + [(a, b, False) for a, b in branches]

    result = estimate(
        duplicates + branches, config, random_pairs=randoms, labelled=labelled, version="v1+test"
    )
    assert result.config.version == "v1+test"
    assert result.converged["corporation"]
    assert result.training_pairs["corporation"] == 300
    assert result.random_pairs["corporation"] == len(randoms)
    bounds = config.bounds
    for ch in result.changes:
        if ch.status == "fixed":
            assert (ch.m_after, ch.u_after) == (ch.m_before, ch.u_before)
        assert abs(math.log2(ch.m_after / ch.m_before)) <= bounds.max_m_shift_bits + 1e-6
        assert abs(math.log2(ch.u_after / ch.u_before)) <= bounds.max_u_shift_bits + 1e-6
    # Persons had no data: unchanged.
    assert all(
        (ch.m_after, ch.u_after) == (ch.m_before, ch.u_before)
        for ch in result.changes
        if ch.kind == "person"
    )
    assert result.before is not None and result.after is not None
    assert result.before.precision == 1.0 and result.after.precision == 1.0
    assert result.after.recall >= 0.9
    assert "precision" in result.summary()


def test_evaluate_counts_false_merges() -> None:
    c = _companies(2)
    same = (_record(c[0]), _record(c[0]), True)
    wrongly_labelled = (_record(c[1]), _record(c[1]), False)
    distinct = (_record(c[0]), _record(c[1]), False)
    ev = evaluate([same, wrongly_labelled, distinct], load_config())
    assert (ev.true_positives, ev.false_positives, ev.true_negatives, ev.false_negatives) == (
        1,
        1,
        1,
        0,
    )
    assert ev.precision == 0.5 and ev.recall == 1.0
    assert ev.worst_false_merges[0][0] == 1


def _duplicates_and_branches(rng: random.Random) -> tuple[list, list]:
    companies = _companies(300)
    duplicates = [(_record(c), _record(c, drop_phone=rng.random() < 0.4)) for c in companies[:200]]
    branches = [(_record(c), _record(dict(c, addr=dict(UMEDA)))) for c in companies[200:]]
    return duplicates, branches


def test_prior_is_estimated_from_the_size_of_the_master() -> None:
    # 600 records, 300 candidate pairs of which 200 are duplicates: λ = 200 / (600·599/2).
    rng = random.Random(5)
    duplicates, branches = _duplicates_and_branches(rng)
    config = load_config()
    result = estimate(duplicates + branches, config, records={"corporation": 600})
    expected = result.training_match_rate["corporation"] * 300 / (600 * 599 / 2)
    assert result.training_match_rate["corporation"] == pytest.approx(2 / 3, abs=0.05)
    assert result.prior_after["corporation"] == pytest.approx(expected, rel=1e-3)
    assert result.config.kinds["corporation"].prior == result.prior_after["corporation"]
    assert result.prior_before["corporation"] == config.kinds["corporation"].prior
    # Persons had no pairs: their prior is kept; without record counts nothing moves.
    assert result.prior_after["person"] == config.kinds["person"].prior
    unchanged = estimate(duplicates + branches, config)
    assert unchanged.prior_after == unchanged.prior_before
    # Refitting the refit: the E-step keeps the first prior, so λ does not feed on itself.
    assert result.config.kinds["corporation"].estimation_prior == config.kinds["corporation"].prior
    again = estimate(duplicates + branches, result.config, records={"corporation": 600})
    assert again.prior_after["corporation"] == pytest.approx(
        result.prior_after["corporation"], rel=0.05
    )
    reloaded = config_from_dict(result.config.to_dict())
    assert reloaded.kinds["corporation"].estimation_prior == config.kinds["corporation"].prior
    # A sample of the candidate pairs: λ scales with how many there are in all.
    sampled = estimate(
        duplicates + branches,
        config,
        records={"corporation": 600},
        candidate_pairs={"corporation": 3000},
    )
    assert sampled.prior_after["corporation"] == pytest.approx(
        10 * result.prior_after["corporation"], rel=0.05
    )


def test_true_matches_in_the_random_sample_do_not_become_u() -> None:
    # A random sample of a small master holds a few duplicates; they agree on everything, so
    # counted as strangers they would make an exact name look common (u near λ).
    rng = random.Random(9)
    duplicates, branches = _duplicates_and_branches(rng)
    companies = _companies(300)
    strangers = [
        (_record(a), _record(b))
        for a, b in (rng.sample(companies, 2) for _ in range(3000))
        if a["key"] != b["key"]
    ]
    config = load_config()
    clean = estimate(duplicates + branches, config, random_pairs=strangers)
    dirty = estimate(duplicates + branches, config, random_pairs=strangers + duplicates[:30])

    def u(result, field: str, level: str) -> float:  # type: ignore[no-untyped-def]
        return result.config.kinds["corporation"].fields[field].levels[level].u

    assert u(dirty, "name", "exact") == pytest.approx(u(clean, "name", "exact"), rel=0.05)
