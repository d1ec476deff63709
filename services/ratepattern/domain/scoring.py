"""The explainable score: a logistic model over bounded, additive feature evidence.

Each feature x becomes evidence e = clip((x - baseline) / (saturation - baseline), 0, 1)
(saturation < baseline means "lower is more suspicious"); an undefined feature (NaN: too little
data) gives no evidence. The score is sigmoid(bias + sum(weight * e)); a feature's contribution is
weight * e in logit units, and the reasons are the largest contributions. Context features carry
negative weights: they explain legitimate sharing and automation away. docs/ratepattern.md holds
the table and the reasoning behind each number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from distillguard.v1 import ratepattern_pb2

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Feature:
    name: str
    baseline: float
    saturation: float
    weight: float
    log2: bool = False  # compare log2(1 + x) instead of x


@dataclass(frozen=True)
class Model:
    bias: float
    features: tuple[Feature, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def contributions(self, x: F64) -> F64:
        """Contributions (logit units) of an [n, features] matrix of raw feature values."""
        base = np.array([f.baseline for f in self.features])
        sat = np.array([f.saturation for f in self.features])
        weight = np.array([f.weight for f in self.features])
        logs = np.array([f.log2 for f in self.features])
        xt = np.where(logs, np.log2(1.0 + np.maximum(x, 0.0)), x)
        bt = np.where(logs, np.log2(1.0 + base), base)
        st = np.where(logs, np.log2(1.0 + sat), sat)
        evidence = np.clip((xt - bt) / (st - bt), 0.0, 1.0)
        result: F64 = np.nan_to_num(evidence, nan=0.0) * weight
        return result

    def scores(self, contributions: F64) -> F64:
        z = self.bias + contributions.sum(axis=1)
        result: F64 = 1.0 / (1.0 + np.exp(-z))
        return result

    def reasons(self, x: npt.NDArray[np.float64], contributions: npt.NDArray[np.float64],
                limit: int) -> list[ratepattern_pb2.Reason]:
        """The `limit` largest contributions of one subject (by magnitude), largest first."""
        order = sorted(range(len(self.features)), key=lambda j: (-abs(contributions[j]), j))
        out = []
        for j in order[:limit]:
            if contributions[j] == 0.0:
                break
            f = self.features[j]
            out.append(ratepattern_pb2.Reason(feature=f.name, value=round(float(x[j]), 6),
                                              baseline=f.baseline, contribution=round(float(contributions[j]), 6)))
        return out


# Baselines are what legitimate traffic typically shows; saturations are where the evidence is full.
ACCOUNT_MODEL: Final = Model(
    bias=-5.5,
    features=(
        # content
        Feature("template_unrelated_accounts", 2.0, 24.0, 1.5, log2=True),
        Feature("template_cluster_share", 0.1, 0.5, 2.0),
        Feature("template_flagged_share", 0.2, 0.6, 2.5),
        Feature("system_prompt_cluster_share", 0.1, 0.5, 1.0),
        Feature("cot_elicitation_share", 0.2, 0.6, 3.0),
        Feature("rubric_grading_share", 0.05, 0.25, 1.5),
        Feature("sensitive_rewrite_share", 0.02, 0.3, 1.2),
        Feature("capability_coverage", 0.35, 0.7, 1.0),
        # coordination
        Feature("new_model_share", 0.2, 0.5, 1.0),
        # shape
        Feature("hour_entropy", 0.85, 0.95, 1.0),
        Feature("claimed_night_share", 0.15, 0.35, 1.5),
        Feature("interarrival_spread", 2.0, 0.5, 0.6),
        Feature("weekend_contrast", 1.0, 0.2, 0.4),
        # volume
        Feature("cap_hit_share", 0.15, 0.6, 0.8),
        Feature("output_input_ratio", 2.0, 8.0, 0.4),
        Feature("requests_day", 500.0, 20_000.0, 0.3, log2=True),
        # limit hugging
        Feature("near_limit_minute_share", 0.05, 0.5, 0.8),
        Feature("peak_rpm_ratio", 0.6, 1.0, 0.4),
        Feature("rate_limited_share", 0.01, 0.2, 0.6),
        # context (signup): explains automation and shared content away
        Feature("verified_research_program", 0.0, 1.0, -3.5),
        Feature("education_signup", 0.0, 1.0, -1.0),
    ),
)

CLUSTER_MODEL: Final = Model(
    bias=-5.0,
    features=(
        Feature("active_members", 3.0, 40.0, 1.2, log2=True),
        Feature("member_score_mean", 0.3, 0.8, 2.5),
        Feature("shared_template_member_share", 0.2, 0.7, 2.0),
        Feature("shared_system_prompt_member_share", 0.2, 0.7, 1.0),
        Feature("cot_elicitation_share", 0.1, 0.45, 3.0),
        Feature("rubric_grading_share", 0.05, 0.25, 1.2),
        Feature("sensitive_rewrite_share", 0.02, 0.3, 0.8),
        Feature("new_model_share", 0.2, 0.5, 1.5),
        Feature("synchronized_minutes", 0.15, 0.6, 1.5),
        Feature("staggered_activation", 0.1, 0.5, 1.5),
        Feature("hour_entropy", 0.9, 0.98, 0.6),
        Feature("claimed_night_share", 0.12, 0.3, 2.0),
        Feature("requests_day", 500.0, 20_000.0, 0.6, log2=True),
        Feature("single_org", 0.0, 1.0, -3.0),
        Feature("education_share", 0.3, 0.9, -4.0),
        Feature("verified_research_share", 0.3, 0.9, -3.0),
    ),
)
