"""Scores end to end: hard negatives stay below enforcement, a campaign goes above, signals are sparse."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from distillguard.v1 import ratepattern_pb2
from ratepattern.domain import RatePatternConfig, RatePatternEngine
from ratepattern.domain.scoring import ACCOUNT_MODEL, CLUSTER_MODEL

from .conftest import Run

ENFORCE = RatePatternConfig().enforce_threshold
HARD_NEGATIVES = ["legit:production_app", "legit:enterprise_seats", "legit:students", "legit:evaluation_labs",
                  "legit:casual"]


@pytest.mark.parametrize("segment", HARD_NEGATIVES)
def test_hard_negative_accounts_stay_below_enforcement(full_run: Run, segment: str) -> None:
    accounts = full_run.accounts(segment)
    assert accounts
    # A signal is emitted whenever a score enters the enforce band, so the emitted maximum covers
    # every evaluation of the run, not just the final profile.
    assert full_run.emitted_max(accounts) < ENFORCE
    assert max(full_run.account_scores(segment)) < ENFORCE


@pytest.mark.parametrize("cluster_id", ["cl-acme", "cl-campus"])
def test_hard_negative_clusters_stay_below_enforcement(full_run: Run, cluster_id: str) -> None:
    profile = full_run.engine.cluster_profile(cluster_id)
    assert profile is not None
    assert profile.score < ENFORCE
    assert all(s.score < ENFORCE for s in full_run.signals if s.cluster_id == cluster_id
               and s.subject_kind == ratepattern_pb2.SUBJECT_KIND_CLUSTER)


def test_campaign_accounts_and_cluster_cross_enforcement(full_run: Run) -> None:
    accounts = full_run.accounts("attack:campaign-hydra")
    assert len(accounts) == 40
    peak: dict[str, float] = {}
    for s in full_run.signals:
        if s.subject_kind == ratepattern_pb2.SUBJECT_KIND_ACCOUNT:
            peak[s.account_id] = max(peak.get(s.account_id, 0.0), s.score)
    # Every account active for two days or more reaches enforcement on its own; of the short-lived
    # ones (a quarter quit after ~1.2 days, a quarter start late; few prompts sampled) most reach watch;
    # the cluster reaches enforcement as a whole.
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for e in full_run.traffic.inference:
        first.setdefault(e.account_id, e.occurred_at.seconds)
        last[e.account_id] = e.occurred_at.seconds
    lasting = [a for a in accounts if last[a] - first[a] >= 2 * 86_400]
    brief = [a for a in accounts if a not in lasting]
    assert len(lasting) >= 20
    assert all(peak.get(a, 0.0) >= ENFORCE for a in lasting)
    assert sum(peak.get(a, 0.0) >= RatePatternConfig().watch_threshold for a in brief) >= 0.8 * len(brief)
    cluster = full_run.engine.cluster_profile("cl-campaign-hydra")
    assert cluster is not None and cluster.score >= ENFORCE
    top = {r.feature for r in cluster.reasons}
    assert {"member_score_mean", "shared_template_member_share"} <= top
    cluster_signals = [s for s in full_run.signals if s.subject_kind == ratepattern_pb2.SUBJECT_KIND_CLUSTER]
    assert cluster_signals and all(s.cluster_id == "cl-campaign-hydra" for s in cluster_signals)
    assert max(s.score for s in cluster_signals) >= ENFORCE
    assert sorted(cluster_signals[-1].members) == accounts


def test_campaign_reasons_name_distillation_features(full_run: Run) -> None:
    profile = full_run.engine.account_profile("campaign-hydra-030")
    assert profile is not None and profile.score >= ENFORCE
    reasons = [r.feature for r in profile.reasons]
    # What the prompts ask for and who shares them: the two heaviest account-level reasons.
    assert set(reasons[:2]) == {"cot_elicitation_share", "template_cluster_share"}
    assert "template_unrelated_accounts" in reasons
    for r in profile.reasons:
        assert r.contribution > 0 and r.value > r.baseline
    contributions = [abs(r.contribution) for r in profile.reasons]
    assert contributions == sorted(contributions, reverse=True)


def test_signals_are_sparse_not_per_request(full_run: Run) -> None:
    per_account = Counter(s.account_id for s in full_run.signals if s.subject_kind == ratepattern_pb2.SUBJECT_KIND_ACCOUNT)
    requests = Counter(e.account_id for e in full_run.traffic.inference)
    assert per_account
    for account, n in per_account.items():
        # a signal per band change or 0.1 move: at most a handful, never one per request
        assert n <= 6 and n <= requests[account] / 4
    for s in full_run.signals:
        assert s.signal_id and s.occurred_at.seconds > 0 and s.reasons


def test_hysteresis_and_material_change() -> None:
    engine = RatePatternEngine()
    bands = np.zeros(1, dtype=np.int8)
    emitted = np.zeros(1)
    out = []
    for score in (0.3, 0.55, 0.6, 0.7, 0.82, 0.78, 0.84, 0.74, 0.48, 0.47, 0.44, 0.2):
        emit, new = engine._transitions(np.array([score]), emitted, bands)
        if emit[0]:
            out.append(score)
            emitted, bands = np.array([score]), new
    # 0.55 enters watch; 0.6 is no material change; 0.7 moved 0.15; 0.82 enters enforce; 0.78 and 0.84
    # stay in it (hysteresis, small moves); 0.74 leaves it; 0.48 stays in watch (hysteresis) but moved
    # 0.26; 0.44 leaves watch; 0.2 is quiet and stays quiet.
    assert out == [0.55, 0.7, 0.82, 0.74, 0.48, 0.44]


def test_score_model_arithmetic() -> None:
    x = np.full((1, len(ACCOUNT_MODEL.features)), np.nan)
    contributions = ACCOUNT_MODEL.contributions(x)
    assert not contributions.any()
    assert ACCOUNT_MODEL.scores(contributions)[0] == pytest.approx(1 / (1 + np.exp(-ACCOUNT_MODEL.bias)))
    j = ACCOUNT_MODEL.names.index("cot_elicitation_share")
    feature = ACCOUNT_MODEL.features[j]
    x[0, j] = (feature.baseline + feature.saturation) / 2
    assert ACCOUNT_MODEL.contributions(x)[0, j] == pytest.approx(feature.weight / 2)
    x[0, j] = 5.0
    assert ACCOUNT_MODEL.contributions(x)[0, j] == pytest.approx(feature.weight)
    reasons = ACCOUNT_MODEL.reasons(x[0], ACCOUNT_MODEL.contributions(x)[0], 5)
    assert [r.feature for r in reasons] == ["cot_elicitation_share"]


def test_no_single_feature_can_reach_enforcement() -> None:
    # An explainable score should need corroboration: the strongest feature alone stays below the threshold.
    for model in (ACCOUNT_MODEL, CLUSTER_MODEL):
        strongest = max(f.weight for f in model.features)
        assert 1 / (1 + np.exp(-(model.bias + strongest))) < ENFORCE
