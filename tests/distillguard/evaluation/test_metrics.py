"""Metric arithmetic on a tiny hand-made case; every expected number is worked out in the comments."""

from __future__ import annotations

import pytest

from distillguard.evaluation.inputs import Decision, InputIssues, Label
from distillguard.evaluation.metrics import HOUR_MS, evaluate

T = 1_740_999_600_000  # an hour boundary (epoch ms)
MIN = 60_000

LABELS = {
    "a1": Label(True, "x"), "a2": Label(True, "x"), "a3": Label(True, "x"), "a4": Label(True, "y"),
    "l1": Label(False, "s"), "l2": Label(False, "s"), "l3": Label(False, "t"),
}


def decision(account: str, action: str, enforced: bool, at: int | None, cluster: str | None = None,
             shadow: bool = False) -> Decision:
    return Decision(account, action, enforced, shadow, at, cluster, 0.5, "rule", ())


DECISIONS = {
    "a1": decision("a1", "ban", True, T + 10 * MIN, "k1"),
    "a2": decision("a2", "throttle", True, T + 2 * HOUR_MS, "k1"),
    "a3": decision("a3", "monitor", True, T, None),  # monitor does not count as enforcement
    "a4": decision("a4", "suspend", True, T - HOUR_MS, "k2"),  # enforced before its first request
    "l1": decision("l1", "suspend", True, T, "k1"),  # a false positive, inside the hydra-like cluster
    "l2": decision("l2", "ban", True, T, None, shadow=True),  # shadow: not enforced
    "l3": decision("l3", "challenge", False, None, None),  # proposed, not enforced
}

REQUESTS = [
    ("a1", T), ("a1", T + 5 * MIN), ("a1", T + 15 * MIN), ("a1", T + HOUR_MS),  # 2 before T+10min
    ("a2", T + 30 * MIN), ("a2", T + HOUR_MS), ("a2", T + 3 * HOUR_MS),  # 2 before T+2h
    ("a3", T + HOUR_MS), ("a3", T + HOUR_MS + 1),  # never enforced: both leak
    ("a4", T), ("a4", T + 1),  # enforced earlier: none leak
    ("l1", T), ("zz", T),  # legitimate requests do not count; zz is unlabelled
]


def test_account_level_precision_recall_f1() -> None:
    evaluation = evaluate(LABELS, DECISIONS, REQUESTS, InputIssues())
    scores = evaluation.account_scores
    # Enforced: a1, a2, a4 (attack) and l1 (legit). a3 is missed; l2, l3 are true negatives.
    assert (scores.true_positives, scores.false_positives, scores.false_negatives, scores.true_negatives) == (3, 1, 1, 2)
    assert scores.precision == pytest.approx(3 / 4)
    assert scores.recall == pytest.approx(3 / 4)
    assert scores.f1 == pytest.approx(3 / 4)
    assert evaluation.campaigns["x"].recall == pytest.approx(2 / 3)
    assert evaluation.campaigns["y"].recall == 1.0
    assert evaluation.segments["s"].false_positive_rate == pytest.approx(1 / 2)
    assert evaluation.segments["t"].false_positive_rate == 0.0


def test_proposals_waiting_for_a_human_are_held_not_enforced() -> None:
    evaluation = evaluate(LABELS, DECISIONS, REQUESTS, InputIssues())
    # l3's challenge was proposed and not applied (a guard rail): held. l2's shadow ban and a3's
    # applied monitor are neither held nor enforced.
    assert (evaluation.segments["t"].held_for_review, evaluation.segments["t"].enforced) == (1, 0)
    assert evaluation.segments["s"].held_for_review == 0
    assert evaluation.campaigns["x"].held_for_review == 0
    held = dict(DECISIONS, a3=decision("a3", "ban", False, None, "k1"))
    evaluation = evaluate(LABELS, held, REQUESTS, InputIssues())
    assert (evaluation.campaigns["x"].held_for_review, evaluation.campaigns["x"].enforced) == (1, 2)


def test_leakage_counts_requests_before_enforcement() -> None:
    issues = InputIssues()
    evaluation = evaluate(LABELS, DECISIONS, REQUESTS, issues)
    x, y = evaluation.campaigns["x"], evaluation.campaigns["y"]
    assert (x.requests, x.leaked_requests) == (9, 6)  # 2 + 2 + 2 of 4 + 3 + 2
    assert (y.requests, y.leaked_requests) == (2, 0)
    assert x.leakage == pytest.approx(6 / 9)
    assert evaluation.leakage == pytest.approx(6 / 11)
    assert issues.unlabelled_inference_requests == 1 and issues.unlabelled_samples == ["zz"]
    # Hourly timeline of x: hour T holds a1 x3 + a2 (a1 twice and a2 leak), hour T+1h a1, a2, a3 x2
    # (a2 and a3 twice leak), hour T+3h a2 (enforced by then).
    assert evaluation.leakage_timeline["x"] == [(T, 4, 3), (T + HOUR_MS, 4, 3), (T + 3 * HOUR_MS, 1, 0)]


def test_time_to_enforcement_median_and_p90() -> None:
    evaluation = evaluate(LABELS, DECISIONS, REQUESTS, InputIssues())
    x, y = evaluation.campaigns["x"], evaluation.campaigns["y"]
    # a1: first request T, enforced T+10min -> 600 s; a2: T+30min -> T+2h = 5400 s; a4: floored at 0.
    assert sorted(x.enforcement_delays_s) == [600.0, 5400.0]
    assert y.enforcement_delays_s == [0.0] and y.enforced_before_first_request == 1
    report = evaluation.as_dict()
    assert report["campaigns"]["x"]["time_to_enforcement_s"]["median"] == pytest.approx(3000.0)
    assert report["campaigns"]["x"]["time_to_enforcement_s"]["p90"] == pytest.approx(600 + 0.9 * 4800)
    # All attack accounts: [0, 600, 5400] -> median 600, p90 at rank 1.8 -> 600 + 0.8 * 4800.
    assert report["time_to_enforcement_s"]["median"] == pytest.approx(600.0)
    assert report["time_to_enforcement_s"]["p90"] == pytest.approx(4440.0)


def test_cluster_purity_and_campaign_grouping() -> None:
    evaluation = evaluate(LABELS, DECISIONS, REQUESTS, InputIssues())
    clusters = evaluation.clusters
    # k1 = {a1, a2, l1}: attack but impure; k2 = {a4}: pure.
    assert (clusters.clusters, clusters.clusters_with_attack, clusters.pure_attack_clusters) == (2, 2, 1)
    assert clusters.purity == pytest.approx(1 / 2)
    assert (clusters.attack_accounts_clustered, clusters.attack_accounts_in_pure_clusters) == (3, 1)
    assert clusters.account_purity == pytest.approx(1 / 3)
    assert clusters.legit_accounts_in_attack_clusters == 1
    x = evaluation.campaigns["x"]
    assert (x.accounts_in_clusters, x.clusters, x.largest_cluster, x.share_in_large_groups) == (2, 1, 2, 0.0)


def test_five_campaign_accounts_in_one_cluster_count_as_grouped() -> None:
    labels = {f"h{i}": Label(True, "hydra") for i in range(7)} | {"l": Label(False, "casual")}
    decisions = {f"h{i}": decision(f"h{i}", "ban", True, T, "big" if i < 5 else f"solo{i}") for i in range(7)}
    evaluation = evaluate(labels, decisions, [], InputIssues())
    hydra = evaluation.campaigns["hydra"]
    assert (hydra.largest_cluster, hydra.clusters, hydra.in_large_groups) == (5, 3, 5)
    assert hydra.share_in_large_groups == pytest.approx(5 / 7)
    assert evaluation.clusters.purity == 1.0


def test_nothing_enforced_gives_undefined_precision_and_full_leakage() -> None:
    evaluation = evaluate(LABELS, {}, REQUESTS, InputIssues())
    assert evaluation.account_scores.precision is None
    assert evaluation.account_scores.recall == 0.0
    assert evaluation.account_scores.f1 is None
    assert evaluation.leakage == 1.0
