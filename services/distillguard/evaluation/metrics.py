"""Scoring decisions against ground truth. Pure: no files, no plotting.

Definitions (the report repeats them):

- enforced: the decision's action is throttle or stronger, `enforced` is true and `shadow` is
  false. Accounts without a decision are not enforced.
- precision = enforced attack accounts / enforced accounts; recall = enforced attack accounts /
  attack accounts; F1 their harmonic mean. None when the denominator is zero.
- recall per campaign; false-positive rate per legitimate segment = enforced / accounts.
- held for review: throttle or stronger proposed, not shadow, not applied (`enforced` false): the
  guard rails made it wait for a human. Counted per campaign and segment; never counted as enforced.
- leakage of a campaign = its inference requests with occurred_at strictly before the account's
  first_enforced_at, over all its inference requests; a never-enforced account (or one enforced
  without a time) leaks every request.
- time to enforcement of an enforced attack account with requests = first_enforced_at minus its
  first request, floored at 0 (enforced before it asked anything); median and p90 use linear
  interpolation between order statistics (numpy's default).
- clusters come from the decisions' cluster_id (any action, shadow or not). A cluster is pure if
  it holds attack accounts and no legitimate one; purity = pure clusters / clusters holding attack
  accounts. Per campaign: the campaign's accounts in its largest cluster, and the share of the
  campaign's accounts that sit in clusters holding at least `CLUSTER_GROUP_MIN` of them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from distillguard.evaluation.inputs import Decision, InputIssues, Label

HOUR_MS: Final = 3_600_000
CLUSTER_GROUP_MIN: Final = 5
SAMPLE_LIMIT: Final = 5


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def quantile(values: list[float], q: float) -> float | None:
    """The q-quantile (0..1) with linear interpolation; None for no values."""
    return float(np.quantile(np.asarray(values, dtype=np.float64), q)) if values else None


@dataclass(frozen=True)
class AccountScores:
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int

    @property
    def precision(self) -> float | None:
        return ratio(self.true_positives, self.true_positives + self.false_positives)

    @property
    def recall(self) -> float | None:
        return ratio(self.true_positives, self.true_positives + self.false_negatives)

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None
        return 2 * p * r / (p + r)

    def as_dict(self) -> dict[str, Any]:
        return {
            "true_positives": self.true_positives, "false_positives": self.false_positives,
            "false_negatives": self.false_negatives, "true_negatives": self.true_negatives,
            "precision": self.precision, "recall": self.recall, "f1": self.f1,
        }


@dataclass(frozen=True)
class SegmentScores:
    """A legitimate segment: how many of its accounts were enforced against."""

    accounts: int
    enforced: int
    held_for_review: int = 0

    @property
    def false_positive_rate(self) -> float | None:
        return ratio(self.enforced, self.accounts)

    def as_dict(self) -> dict[str, Any]:
        return {"accounts": self.accounts, "enforced": self.enforced, "held_for_review": self.held_for_review,
                "false_positive_rate": self.false_positive_rate}


@dataclass
class CampaignScores:
    accounts: int = 0
    enforced: int = 0
    held_for_review: int = 0
    requests: int = 0
    leaked_requests: int = 0
    enforcement_delays_s: list[float] = field(default_factory=list)
    enforced_before_first_request: int = 0
    accounts_in_clusters: int = 0
    clusters: int = 0
    largest_cluster: int = 0
    in_large_groups: int = 0

    @property
    def recall(self) -> float | None:
        return ratio(self.enforced, self.accounts)

    @property
    def leakage(self) -> float | None:
        return ratio(self.leaked_requests, self.requests)

    @property
    def share_in_large_groups(self) -> float | None:
        return ratio(self.in_large_groups, self.accounts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accounts": self.accounts, "enforced": self.enforced, "held_for_review": self.held_for_review,
            "recall": self.recall,
            "requests": self.requests, "leaked_requests": self.leaked_requests, "leakage": self.leakage,
            "time_to_enforcement_s": {
                "median": quantile(self.enforcement_delays_s, 0.5), "p90": quantile(self.enforcement_delays_s, 0.9),
                "measured_accounts": len(self.enforcement_delays_s),
                "enforced_before_first_request": self.enforced_before_first_request,
            },
            "clusters": {
                "accounts_in_clusters": self.accounts_in_clusters, "clusters": self.clusters,
                "largest_cluster": self.largest_cluster,
                f"share_in_clusters_of_{CLUSTER_GROUP_MIN}_or_more": self.share_in_large_groups,
            },
        }


@dataclass(frozen=True)
class ClusterScores:
    clusters: int
    clusters_with_attack: int
    pure_attack_clusters: int
    attack_accounts_clustered: int
    attack_accounts_in_pure_clusters: int
    legit_accounts_in_attack_clusters: int

    @property
    def purity(self) -> float | None:
        return ratio(self.pure_attack_clusters, self.clusters_with_attack)

    @property
    def account_purity(self) -> float | None:
        return ratio(self.attack_accounts_in_pure_clusters, self.attack_accounts_clustered)

    def as_dict(self) -> dict[str, Any]:
        return {
            "clusters": self.clusters, "clusters_with_attack": self.clusters_with_attack,
            "pure_attack_clusters": self.pure_attack_clusters, "purity": self.purity,
            "attack_accounts_clustered": self.attack_accounts_clustered,
            "attack_accounts_in_pure_clusters": self.attack_accounts_in_pure_clusters,
            "account_purity": self.account_purity,
            "legit_accounts_in_attack_clusters": self.legit_accounts_in_attack_clusters,
        }


@dataclass
class Evaluation:
    """Everything the report shows; `leakage_timeline[campaign]` is a sorted list of
    (hour start in epoch ms, requests that hour, leaked requests that hour)."""

    labelled_accounts: int
    account_scores: AccountScores
    campaigns: dict[str, CampaignScores]
    segments: dict[str, SegmentScores]
    clusters: ClusterScores
    leakage_timeline: dict[str, list[tuple[int, int, int]]]
    all_delays_s: list[float]
    issues: InputIssues

    @property
    def leakage(self) -> float | None:
        return ratio(sum(c.leaked_requests for c in self.campaigns.values()),
                     sum(c.requests for c in self.campaigns.values()))

    def as_dict(self) -> dict[str, Any]:
        return {
            "accounts": {
                "labelled": self.labelled_accounts,
                "attack": sum(c.accounts for c in self.campaigns.values()),
                "legit": sum(s.accounts for s in self.segments.values()),
            },
            "account_level": self.account_scores.as_dict(),
            "leakage": self.leakage,
            "time_to_enforcement_s": {
                "median": quantile(self.all_delays_s, 0.5), "p90": quantile(self.all_delays_s, 0.9),
                "measured_accounts": len(self.all_delays_s),
            },
            "campaigns": {name: c.as_dict() for name, c in sorted(self.campaigns.items())},
            "segments": {name: s.as_dict() for name, s in sorted(self.segments.items())},
            "clusters": self.clusters.as_dict(),
            "input_issues": self.issues.as_dict(),
        }


def _enforced_at(decisions: dict[str, Decision]) -> dict[str, int | None]:
    """Enforced accounts -> first enforcement time (None when the decision has none)."""
    return {a: d.first_enforced_ms for a, d in decisions.items() if d.counts_as_enforced}


def score_accounts(labels: dict[str, Label], decisions: dict[str, Decision]) -> AccountScores:
    enforced = _enforced_at(decisions)
    tp = sum(1 for a in enforced if labels[a].attack)
    attack = sum(1 for label in labels.values() if label.attack)
    return AccountScores(
        true_positives=tp,
        false_positives=len(enforced) - tp,
        false_negatives=attack - tp,
        true_negatives=len(labels) - attack - (len(enforced) - tp),
    )


def score_clusters(
    labels: dict[str, Label], decisions: dict[str, Decision], campaigns: dict[str, CampaignScores]
) -> ClusterScores:
    """Cluster purity overall; fills the per-campaign cluster fields of `campaigns`."""
    members: dict[str, list[str]] = defaultdict(list)
    for account, decision in decisions.items():
        if decision.cluster_id:
            members[decision.cluster_id].append(account)
    with_attack = pure = clustered = in_pure = collateral = 0
    per_campaign: dict[str, list[int]] = defaultdict(list)
    for accounts in members.values():
        groups = Counter(str(labels[a]) for a in accounts)
        attack = sum(n for g, n in groups.items() if g.startswith("attack:"))
        if not attack:
            continue
        with_attack += 1
        clustered += attack
        legit = len(accounts) - attack
        collateral += legit
        if legit == 0:
            pure += 1
            in_pure += attack
        for group, n in groups.items():
            if group.startswith("attack:"):
                per_campaign[group.split(":", 1)[1]].append(n)
    for name, sizes in per_campaign.items():
        campaign = campaigns[name]
        campaign.accounts_in_clusters = sum(sizes)
        campaign.clusters = len(sizes)
        campaign.largest_cluster = max(sizes)
        campaign.in_large_groups = sum(n for n in sizes if n >= CLUSTER_GROUP_MIN)
    return ClusterScores(len(members), with_attack, pure, clustered, in_pure, collateral)


class LeakageCounter:
    """Consumes inference requests one at a time (bounded memory: per-campaign hourly counts and
    one first-request time per attack account)."""

    def __init__(self, labels: dict[str, Label], decisions: dict[str, Decision], issues: InputIssues) -> None:
        self._labels = labels
        self._issues = issues
        enforced = _enforced_at(decisions)
        # Requests strictly before this time leak; never-enforced (or untimed) accounts leak all.
        self._stop_at = {a: t for a, t in enforced.items() if t is not None and labels[a].attack}
        self.requests: Counter[str] = Counter()
        self.leaked: Counter[str] = Counter()
        self.first_request: dict[str, int] = {}
        self._hourly: dict[str, Counter[int]] = defaultdict(Counter)
        self._hourly_leaked: dict[str, Counter[int]] = defaultdict(Counter)

    def add(self, account_id: str, at_ms: int) -> None:
        label = self._labels.get(account_id)
        if label is None:
            self._issues.unlabelled_inference_requests += 1
            if len(self._issues.unlabelled_samples) < SAMPLE_LIMIT and account_id not in self._issues.unlabelled_samples:
                self._issues.unlabelled_samples.append(account_id)
            return
        if not label.attack:
            return
        campaign, hour = label.group, at_ms - at_ms % HOUR_MS
        self.requests[campaign] += 1
        self._hourly[campaign][hour] += 1
        first = self.first_request.get(account_id)
        if first is None or at_ms < first:
            self.first_request[account_id] = at_ms
        stop = self._stop_at.get(account_id)
        if stop is None or at_ms < stop:
            self.leaked[campaign] += 1
            self._hourly_leaked[campaign][hour] += 1

    def timeline(self) -> dict[str, list[tuple[int, int, int]]]:
        return {
            campaign: [(hour, hours[hour], self._hourly_leaked[campaign][hour]) for hour in sorted(hours)]
            for campaign, hours in self._hourly.items()
        }


def evaluate(
    labels: dict[str, Label],
    decisions: dict[str, Decision],
    requests: Iterable[tuple[str, int]],
    issues: InputIssues,
) -> Evaluation:
    """Score `decisions` against `labels` over the inference `requests` (account_id, epoch ms)."""
    enforced = _enforced_at(decisions)
    campaigns: dict[str, CampaignScores] = {}
    segment_counts: Counter[str] = Counter()
    segment_enforced: Counter[str] = Counter()
    segment_held: Counter[str] = Counter()
    for account, label in labels.items():
        decision = decisions.get(account)
        held = decision is not None and decision.held_for_review
        if label.attack:
            campaign = campaigns.setdefault(label.group, CampaignScores())
            campaign.accounts += 1
            campaign.enforced += account in enforced
            campaign.held_for_review += held
        else:
            segment_counts[label.group] += 1
            segment_enforced[label.group] += account in enforced
            segment_held[label.group] += held
    segments = {name: SegmentScores(n, segment_enforced[name], segment_held[name])
                for name, n in segment_counts.items()}

    leakage = LeakageCounter(labels, decisions, issues)
    for account_id, at_ms in requests:
        leakage.add(account_id, at_ms)
    for name, campaign in campaigns.items():
        campaign.requests = leakage.requests[name]
        campaign.leaked_requests = leakage.leaked[name]

    all_delays: list[float] = []
    for account, first in leakage.first_request.items():
        stop = enforced.get(account)
        if stop is None:
            continue
        campaign = campaigns[labels[account].group]
        if stop <= first:
            campaign.enforced_before_first_request += 1
        delay = max(stop - first, 0) / 1000
        campaign.enforcement_delays_s.append(delay)
        all_delays.append(delay)

    clusters = score_clusters(labels, decisions, campaigns)
    return Evaluation(
        labelled_accounts=len(labels),
        account_scores=score_accounts(labels, decisions),
        campaigns=campaigns,
        segments=segments,
        clusters=clusters,
        leakage_timeline=leakage.timeline(),
        all_delays_s=all_delays,
        issues=issues,
    )
