"""Fixtures for the rate-pattern domain tests: engines fed with synthetic traffic."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest

from distillguard.v1 import events_pb2, ratepattern_pb2
from ratepattern.domain import InferenceBatch, RatePatternConfig, RatePatternEngine
from ratepattern.synthetic import Traffic, scenario


@dataclass
class Run:
    engine: RatePatternEngine
    traffic: Traffic
    signals: list[ratepattern_pb2.RiskSignal]

    def accounts(self, label: str) -> list[str]:
        return sorted(a for a, lab in self.traffic.labels.items() if lab == label)

    def account_scores(self, label: str) -> list[float]:
        scores = []
        for account in self.accounts(label):
            profile = self.engine.account_profile(account)
            assert profile is not None, account
            scores.append(profile.score)
        return scores

    def emitted_max(self, accounts: Sequence[str]) -> float:
        wanted = set(accounts)
        return max((s.score for s in self.signals if s.account_id in wanted), default=0.0)


def feed(engine: RatePatternEngine, events: Sequence[events_pb2.InferenceEvent], batch: int = 5000,
         serialized: bool = True) -> list[ratepattern_pb2.RiskSignal]:
    """Feed events in batches (through the protobuf decoder unless serialized=False)."""
    signals: list[ratepattern_pb2.RiskSignal] = []
    for i in range(0, len(events), batch):
        chunk = events[i:i + batch]
        if serialized:
            signals += engine.apply_inference(InferenceBatch.from_protobuf_values([e.SerializeToString() for e in chunk]))
        else:
            signals += engine.apply_inference(InferenceBatch.from_events(chunk))
    return signals


def run_traffic(traffic: Traffic, config: RatePatternConfig = RatePatternConfig(), batch: int = 5000) -> Run:
    engine = RatePatternEngine(config)
    signals: list[ratepattern_pb2.RiskSignal] = []
    for signup in traffic.signups:
        engine.apply_signup(signup)
    # Identity links are known up front, as identity.clusters runs ahead of the inference stream.
    for update in traffic.clusters:
        signals += engine.apply_cluster_update(update)
    signals += feed(engine, traffic.inference, batch)
    for update in traffic.clusters:
        refreshed = type(update)()
        refreshed.CopyFrom(update)
        refreshed.version = update.version + 1
        signals += engine.apply_cluster_update(refreshed)
    return Run(engine, traffic, signals)


@pytest.fixture(scope="session")
def full_run() -> Run:
    """Every legitimate segment and one 40-account campaign over three days."""
    return run_traffic(scenario(seed=7, days=3))


@pytest.fixture
def engine_factory() -> Callable[..., RatePatternEngine]:
    def make(**overrides: object) -> RatePatternEngine:
        return RatePatternEngine(RatePatternConfig(**overrides))  # type: ignore[arg-type]
    return make
