import pytest

from mdm_hub.matching.scoring import Decision, HardRule, MatchScore, decide, weight_from_probability

MERGE, REVIEW = 0.99, 0.30


def s(p: float, hard_rule: str | None = None) -> MatchScore:
    return MatchScore(
        probability=p, match_weight=weight_from_probability(p), comparisons=[], hard_rule=hard_rule
    )


def run(*scores: tuple[str, MatchScore]):  # type: ignore[no-untyped-def]
    return decide(list(scores), merge_threshold=MERGE, review_threshold=REVIEW)


def test_no_candidates_is_new() -> None:
    r = run()
    assert r.decision == Decision.new and r.customer_id is None and r.review == []


def test_below_review_threshold_is_new() -> None:
    r = run(("c1", s(0.1)), ("c2", s(0.29)))
    assert r.decision == Decision.new
    assert r.score is not None and r.score.probability == 0.29


def test_between_thresholds_is_review() -> None:
    r = run(("c1", s(0.5)), ("c2", s(0.8)), ("c3", s(0.01)))
    assert r.decision == Decision.review
    assert [cid for cid, _ in r.review] == ["c2", "c1"]


def test_sure_match_merges_into_best() -> None:
    r = run(("c1", s(0.995)), ("c2", s(0.9999)))
    assert r.decision == Decision.merge
    assert r.customer_id == "c2"


def test_record_matching_two_customers_joins_best_and_runner_up_is_reviewed() -> None:
    r = run(("c1", s(0.9999)), ("c2", s(0.999)), ("c3", s(0.4)), ("c4", s(0.05)))
    assert r.decision == Decision.merge
    assert r.customer_id == "c1"
    # c2 is never merged on this evidence: it becomes a review candidate (with c3).
    assert [cid for cid, _ in r.review] == ["c2", "c3"]


def test_hard_rule_on_best_turns_merge_into_review() -> None:
    r = run(("c1", s(0.99999, HardRule.different_corporate_number)), ("c2", s(0.995)))
    assert r.decision == Decision.review
    assert r.customer_id is None
    assert [cid for cid, _ in r.review] == ["c1", "c2"]


def test_other_site_of_same_corporation_is_neither_merged_nor_reviewed() -> None:
    r = run(("head", s(0.99999, HardRule.same_corporation_different_site)), ("x", s(0.05)))
    assert r.decision == Decision.new
    assert r.review == []
    assert [cid for cid, _ in r.related_sites] == ["head"]


def test_site_rule_does_not_hide_a_real_match() -> None:
    r = run(("head", s(0.99999, HardRule.same_corporation_different_site)), ("same", s(0.999)))
    assert r.decision == Decision.merge and r.customer_id == "same"
    assert [cid for cid, _ in r.related_sites] == ["head"]


def test_ties_are_broken_deterministically() -> None:
    a = run(("b", s(0.999)), ("a", s(0.999)))
    b = run(("a", s(0.999)), ("b", s(0.999)))
    assert a.customer_id == b.customer_id == "a"


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValueError):
        decide([], merge_threshold=0.5, review_threshold=0.9)
