"""Event time: allowed lateness, dedupe, and the same signals whatever the batch sizes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from distillguard.v1 import identity_pb2
from ratepattern.domain import InferenceBatch, RatePatternEngine
from ratepattern.synthetic import campaign, _Builder, enterprise_seats, make_event

from .conftest import feed

HOUR = 3600.0


def requests_day(engine: RatePatternEngine, account: str) -> float:
    profile = engine.account_profile(account)
    assert profile is not None
    return profile.features["requests_day"]


def test_late_event_within_allowed_lateness_is_counted(engine_factory: Callable[..., RatePatternEngine]) -> None:
    engine = engine_factory()
    feed(engine, [make_event("a", 10 * HOUR), make_event("a", 10.8 * HOUR), make_event("b", 10.9 * HOUR)])
    feed(engine, [make_event("a", 10.1 * HOUR)])  # 48 minutes behind the newest event
    assert engine.stats.late == 0
    assert requests_day(engine, "a") == 3


def test_event_older_than_the_watermark_is_not_counted(engine_factory: Callable[..., RatePatternEngine]) -> None:
    engine = engine_factory()
    feed(engine, [make_event("a", 10 * HOUR), make_event("b", 12 * HOUR)])
    feed(engine, [make_event("a", 10.5 * HOUR)])  # 1.5 h behind: past the 1 h allowed lateness
    assert engine.stats.late == 1
    assert requests_day(engine, "a") == 1


def test_lateness_is_judged_in_stream_order_inside_a_batch(engine_factory: Callable[..., RatePatternEngine]) -> None:
    engine = engine_factory()
    # The 10.5 h event comes after the 12 h one in the same batch: late. The 11.5 h one is within lateness.
    feed(engine, [make_event("a", 10 * HOUR), make_event("b", 12 * HOUR), make_event("a", 10.5 * HOUR),
                  make_event("a", 11.5 * HOUR)])
    assert engine.stats.late == 1
    assert requests_day(engine, "a") == 2


def test_duplicates_change_nothing(engine_factory: Callable[..., RatePatternEngine]) -> None:
    events = [make_event("a", i * 60.0, f"prompt {i} step by step", rpm_limit=2) for i in range(30)]
    once = engine_factory()
    feed(once, events)
    twice = engine_factory()
    feed(twice, events)
    feed(twice, events[5:20])  # redelivered batch
    feed(twice, [events[3], events[3]])  # duplicated inside one batch
    assert twice.stats.duplicates == 17
    assert once.account_profile("a") == twice.account_profile("a")


def test_a_duplicate_within_one_batch_counts_once(engine_factory: Callable[..., RatePatternEngine]) -> None:
    engine = engine_factory()
    e = make_event("a", 100.0)
    feed(engine, [e, make_event("a", 200.0), e])
    assert engine.stats.duplicates == 1
    assert requests_day(engine, "a") == 2


def _stream() -> tuple[list[identity_pb2.ClusterUpdate], list[bytes]]:
    b = _Builder(seed=3, days=2)
    campaign(b, n=12, release_day=1.0)
    enterprise_seats(b, n=6)
    b.traffic.sort()
    return b.traffic.clusters, [e.SerializeToString() for e in b.traffic.inference]


@pytest.mark.parametrize("batch", [1, 37, 1000])
def test_signals_do_not_depend_on_batch_sizes(batch: int) -> None:
    clusters, values = _stream()

    def run(size: int) -> tuple[RatePatternEngine, list[bytes]]:
        engine = RatePatternEngine()
        out = [s.SerializeToString() for c in clusters for s in engine.apply_cluster_update(c)]
        for i in range(0, len(values), size):
            out += [s.SerializeToString()
                    for s in engine.apply_inference(InferenceBatch.from_protobuf_values(values[i:i + size]))]
        return engine, out

    reference, expected = run(len(values))
    engine, got = run(batch)
    assert len(expected) > 5  # the campaign is signalled, so the comparison means something
    assert got == expected
    for account in ("campaign-hydra-000", "campaign-hydra-011", "seat-003"):
        assert engine.account_profile(account) == reference.account_profile(account)
    assert engine.cluster_profile("cl-campaign-hydra") == reference.cluster_profile("cl-campaign-hydra")
    assert engine.list_templates(2) == reference.list_templates(2)


def test_snapshot_and_restore_continue_with_the_same_signals() -> None:
    clusters, values = _stream()
    half = len(values) // 2

    def signals(engine: RatePatternEngine, chunk: list[bytes]) -> list[bytes]:
        return [s.SerializeToString() for s in engine.apply_inference(InferenceBatch.from_protobuf_values(chunk))]

    straight = RatePatternEngine()
    for c in clusters:
        straight.apply_cluster_update(c)
    expected = signals(straight, values[:half]) + signals(straight, values[half:])

    first = RatePatternEngine()
    for c in clusters:
        first.apply_cluster_update(c)
    got = signals(first, values[:half])
    restored = RatePatternEngine.restore(first.snapshot())
    # A redelivery of events from before the checkpoint is recognised as duplicates after it.
    got += signals(restored, values[half - 50:])
    assert got == expected
    # (each is refused as a duplicate, or as late when it is older than the watermark)
    refused = restored.stats.duplicates + restored.stats.late - first.stats.duplicates - first.stats.late
    assert refused == 50 and restored.stats.duplicates > first.stats.duplicates
    assert restored.account_profile("campaign-hydra-003") == straight.account_profile("campaign-hydra-003")
    assert restored.list_templates(2) == straight.list_templates(2)
