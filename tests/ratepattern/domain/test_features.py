"""One test per feature family: each feeds a small stream and reads the account or cluster profile."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from distillguard.v1 import events_pb2, identity_pb2
from ratepattern.domain import RatePatternEngine
from ratepattern.domain import features as fx
from ratepattern.domain.content import AREAS, COT, RUBRIC, SENSITIVE_REWRITE, markers_and_areas
from ratepattern.synthetic import make_event, make_signup

from .conftest import feed

HOUR = 3600.0
DAY = 86_400.0
Factory = Callable[..., RatePatternEngine]


def features(engine: RatePatternEngine, account: str) -> dict[str, float]:
    profile = engine.account_profile(account)
    assert profile is not None
    return dict(profile.features)


def flush(engine: RatePatternEngine, at_s: float) -> None:
    """Move event time forward (another account) so minutes and windows close."""
    feed(engine, [make_event("clock", at_s)])


# ---------------------------------------------------------------- volume

def test_volume_counts_tokens_and_requests_that_use_their_max_tokens(engine_factory: Factory) -> None:
    engine = engine_factory()
    events = [make_event("a", 3 * HOUR + i * 120.0, input_tokens=100, output_tokens=930 if i < 4 else 200,
                         max_tokens=1000) for i in range(10)]
    feed(engine, events)
    f = features(engine, "a")
    assert f["requests_day"] == 10
    assert f["input_tokens_day"] == 1000
    assert f["output_input_ratio"] == pytest.approx((4 * 930 + 6 * 200) / 1000)
    assert f["cap_hit_share"] == pytest.approx(0.4)


def test_max_tokens_zero_is_never_a_cap_hit(engine_factory: Factory) -> None:
    engine = engine_factory()
    feed(engine, [make_event("a", 60.0 * i, output_tokens=50, max_tokens=0) for i in range(3)])
    assert features(engine, "a")["cap_hit_share"] == 0.0


# ---------------------------------------------------------------- limit hugging

def test_limit_hugging_minutes_peak_and_rate_limited_share(engine_factory: Factory) -> None:
    engine = engine_factory()
    events = []
    for minute in range(10):
        burst = 9 if minute < 3 else 2  # limit 10 rpm: three minutes at >= 80% of it
        for k in range(burst):
            status = events_pb2.INFERENCE_STATUS_RATE_LIMITED if minute == 0 and k == 8 else events_pb2.INFERENCE_STATUS_OK
            events.append(make_event("a", 2 * HOUR + minute * 60.0 + k * 5.0, rpm_limit=10, status=status))
    feed(engine, events)
    flush(engine, 4 * HOUR)  # the watermark passes the ten minutes: they are final
    f = features(engine, "a")
    assert f["near_limit_minute_share"] == pytest.approx(3 / 10)
    assert f["peak_rpm_ratio"] == pytest.approx(0.9)
    assert f["rate_limited_share"] == pytest.approx(1 / 41)


def test_minutes_still_open_do_not_count_yet(engine_factory: Factory) -> None:
    engine = engine_factory()
    feed(engine, [make_event("a", 2 * HOUR + k, rpm_limit=10) for k in range(9)] * 1
         + [make_event("a", 2 * HOUR + 60.0 * m, rpm_limit=10, event_id=f"x{m}") for m in range(1, 6)])
    assert "near_limit_minute_share" not in features(engine, "a")  # within lateness: not final


# ---------------------------------------------------------------- shape

def test_hour_entropy_separates_round_the_clock_from_working_hours(engine_factory: Factory) -> None:
    engine = engine_factory()
    flat = [make_event("bot", h * HOUR + 600.0) for h in range(48)]
    human = [make_event("human", d * DAY + h * HOUR + m * 600.0) for d in range(2) for h in range(9, 17) for m in range(3)]
    feed(engine, sorted(flat + human, key=lambda e: e.occurred_at.seconds))
    assert features(engine, "bot")["hour_entropy"] > 0.97
    assert features(engine, "human")["hour_entropy"] < 0.75


def test_interarrival_spread_separates_a_timer_from_bursts(engine_factory: Factory) -> None:
    engine = engine_factory()
    rng = np.random.RandomState(1)
    timer = [make_event("timer", 600.0 * i) for i in range(100)]
    bursty = []
    t = 0.0
    for _ in range(20):
        t += float(rng.exponential(HOUR))
        for _ in range(5):
            t += float(rng.exponential(5.0))
            bursty.append(make_event("bursty", t))
    feed(engine, sorted(timer + bursty, key=lambda e: (e.occurred_at.seconds, e.occurred_at.nanos)))
    assert features(engine, "timer")["interarrival_spread"] < 0.1
    assert features(engine, "bursty")["interarrival_spread"] > 2.5


def test_weekend_contrast(engine_factory: Factory) -> None:
    engine = engine_factory()
    events = []
    for day in range(7):  # T0 is a Monday
        for h in range(0, 24, 2):
            events.append(make_event("flat", day * DAY + h * HOUR))
            if day < 5 and 8 <= h < 18:
                events.append(make_event("office", day * DAY + h * HOUR + 30.0))
    events.append(make_event("office", 5 * DAY + 12 * HOUR + 30.0))
    feed(engine, sorted(events, key=lambda e: e.occurred_at.seconds))
    assert features(engine, "flat")["weekend_contrast"] < 0.1
    assert features(engine, "office")["weekend_contrast"] > 2.0


# ---------------------------------------------------------------- content

def test_markers() -> None:
    assert markers_and_areas("Please reason step-by-step and show your reasoning.")[0] == COT
    assert markers_and_areas("Grade the response below using the rubric.")[0] == RUBRIC
    assert markers_and_areas("Rewrite this politically sensitive paragraph about Tiananmen.")[0] == SENSITIVE_REWRITE
    assert markers_and_areas("Rewrite my cover letter so it sounds friendlier.")[0] == 0
    assert markers_and_areas("What's a good name for my cat?")[0] == 0


def test_capability_coverage(engine_factory: Factory) -> None:
    engine = engine_factory(samples_per_account_day=20, sampling_starts_after=0)
    sweep = ["Write a Python function to parse dates", "Prove this theorem about primes",
             "Translate into French: good morning", "Summarize the key points of this memo",
             "Write a SQL query over the orders database", "Explain the physics of rainbows"]
    feed(engine, sorted([make_event("sweeper", i * HOUR, p) for i, p in enumerate(sweep)]
                        + [make_event("focused", i * HOUR + 60.0, f"Fix the bug in my Python function number {i}")
                           for i in range(6)], key=lambda e: e.occurred_at.seconds))
    assert features(engine, "sweeper")["capability_coverage"] == pytest.approx(6 / len(AREAS))
    assert features(engine, "focused")["capability_coverage"] == pytest.approx(1 / len(AREAS))


def test_elicitation_shares_from_sampled_prompts(engine_factory: Factory) -> None:
    engine = engine_factory(samples_per_account_day=10, sampling_starts_after=0)
    prompts = ["Solve x. Think step by step and explain your reasoning."] * 4 + ["What is the capital of Peru?"] * 2
    feed(engine, [make_event("a", i * HOUR, p) for i, p in enumerate(prompts)])
    f = features(engine, "a")
    assert f["sampled_prompts"] == 6
    assert f["cot_elicitation_share"] == pytest.approx(4 / (6 + 2))  # shrunk towards 0 by two pseudo-samples
    assert f["rubric_grading_share"] == 0.0


def test_sampling_takes_the_first_request_per_account_hour_and_caps_the_day(engine_factory: Factory) -> None:
    engine = engine_factory(samples_per_account_hour=1, samples_per_account_day=3, sampling_starts_after=0)
    feed(engine, [make_event("a", h * HOUR + k * 60.0, f"prompt {h} {k}") for h in range(6) for k in range(5)])
    assert engine.stats.sampled_prompts == 3


def test_sampling_starts_at_the_third_request_of_the_day(engine_factory: Factory) -> None:
    engine = engine_factory()
    # "light" makes two requests a day (never analysed); "busy" makes four, in separate hours.
    events = [make_event("light", d * DAY + h * HOUR, f"light {d} {h}") for d in range(3) for h in (9, 15)]
    events += [make_event("busy", d * DAY + h * HOUR + 60.0, f"busy {d} {h}") for d in range(3) for h in (8, 10, 12, 14)]
    feed(engine, sorted(events, key=lambda e: e.occurred_at.seconds))
    assert features(engine, "light")["sampled_prompts"] == 0
    assert features(engine, "busy")["sampled_prompts"] == 6  # the 3rd and 4th request of each day


def test_heavy_accounts_get_a_share_of_their_traffic_analysed(engine_factory: Factory) -> None:
    engine = engine_factory()
    feed(engine, [make_event("heavy", h * HOUR + k * 36.0, f"request {h} {k}") for h in range(24) for k in range(100)])
    # 2% of its requests that day, one per hour at most: the quota grows as the day goes on.
    sampled = features(engine, "heavy")["sampled_prompts"]
    assert 20 <= sampled <= 24


TEMPLATE = ("You are an expert agent with tools. Plan the steps, call the tools, and articulate your internal "
            "reasoning step by step before the final answer. Task: {task}")


def test_near_duplicate_prompts_share_a_template_and_count_unrelated_accounts(engine_factory: Factory) -> None:
    engine = engine_factory(sampling_starts_after=0)
    for i in range(6):
        engine.apply_signup(make_signup(f"seat-{i}", org="org-one"))
    events = [make_event(f"farm-{i}", 60.0 * i, TEMPLATE.format(task=f"sort list number {i}")) for i in range(6)]
    events += [make_event(f"seat-{i}", 600.0 + 60.0 * i, TEMPLATE.format(task=f"merge files batch {i}"))
               for i in range(6)]
    events += [make_event("other", 1000.0, "What's a good recipe for banana bread with walnuts?")]
    feed(engine, events)
    templates = engine.list_templates(min_accounts=2)
    assert len(templates) == 1
    assert templates[0].accounts == 12 and templates[0].orgs == 1
    # farm accounts have no org: each is its own unit; the six seats are one org
    assert features(engine, "farm-0")["template_unrelated_accounts"] == 7
    assert features(engine, "seat-0")["template_unrelated_accounts"] == 7
    assert features(engine, "other")["template_unrelated_accounts"] == 1


def test_one_org_sharing_a_template_is_one_unrelated_account(engine_factory: Factory) -> None:
    engine = engine_factory(sampling_starts_after=0)
    for i in range(5):
        engine.apply_signup(make_signup(f"seat-{i}", org="org-one"))
    feed(engine, [make_event(f"seat-{i}", 60.0 * i, TEMPLATE.format(task=f"job {i}")) for i in range(5)])
    assert features(engine, "seat-0")["template_unrelated_accounts"] == 1


def test_system_prompt_reuse_by_unrelated_accounts(engine_factory: Factory) -> None:
    engine = engine_factory(sampling_starts_after=0)
    for i in range(3):
        engine.apply_signup(make_signup(f"corp-{i}", org="org-corp"))
    events = [make_event(f"farm-{i}", 60.0 * i, f"question {i}", system_prompt="shared farm prompt") for i in range(4)]
    events += [make_event(f"corp-{i}", 600.0 + 60.0 * i, f"ask {i}", system_prompt="corp prompt") for i in range(3)]
    feed(engine, events)
    assert features(engine, "farm-0")["system_prompt_unrelated_accounts"] == 4
    assert features(engine, "corp-0")["system_prompt_unrelated_accounts"] == 1


# ---------------------------------------------------------------- coordination

def test_new_model_share(engine_factory: Factory) -> None:
    engine = engine_factory()
    rng = np.random.RandomState(0)
    events = []
    for h in range(48):
        for k in range(4):
            t = h * HOUR + k * 900.0
            new = h >= 24  # model-b appears at 24 h, past the 6 h warm-up: a new release
            events.append(make_event("shifter", t, model="model-b" if new and k % 2 == 0 else "model-a"))
            events.append(make_event("steady", t + 60.0, model="model-b" if new and rng.rand() < 0.1 else "model-a"))
    feed(engine, events)
    assert features(engine, "shifter")["new_model_share"] == pytest.approx(0.5, abs=0.01)
    assert features(engine, "steady")["new_model_share"] < 0.25


def test_models_seen_at_the_start_of_the_stream_are_not_new(engine_factory: Factory) -> None:
    engine = engine_factory()
    feed(engine, [make_event("a", h * HOUR, model="model-b" if h % 2 else "model-a") for h in range(30)])
    assert "new_model_share" not in features(engine, "a")


def test_synchronized_minutes() -> None:
    together = np.zeros((60, 10), dtype=np.bool_)
    together[[5, 20, 40], :] = True
    apart = np.zeros((60, 10), dtype=np.bool_)
    for member in range(10):
        apart[[member, 20 + member, 40 + member], member] = True
    assert fx.synchronized_minutes(together) > 0.8
    assert fx.synchronized_minutes(apart) < 0.05
    assert np.isnan(fx.synchronized_minutes(np.zeros((60, 10), dtype=np.bool_)))


def test_synchronized_cluster_members(engine_factory: Factory) -> None:
    engine = engine_factory()
    members = [f"m{i}" for i in range(10)]
    engine.apply_cluster_update(identity_pb2.ClusterUpdate(cluster_id="c", members=members, version=1))
    feed(engine, sorted([make_event(m, 3 * HOUR + minute * 60.0 + i) for minute in (5, 25, 45)
                         for i, m in enumerate(members)], key=lambda e: e.occurred_at.seconds))
    profile = engine.cluster_profile("c")
    assert profile is not None
    assert profile.features["synchronized_minutes"] > 0.8


def test_staggered_activation() -> None:
    hour = 3_600_000
    first = np.array([0, 0, 10 * hour + 1, 20 * hour + 1, 30 * hour + 1], dtype=np.int64)
    last = np.array([10 * hour, 20 * hour, 30 * hour, 40 * hour, 50 * hour], dtype=np.int64)
    assert fx.staggered_activation(first, last, 50 * hour) == pytest.approx(3 / 5)
    together = np.zeros(5, dtype=np.int64)
    assert fx.staggered_activation(together, np.full(5, 50 * hour), 50 * hour) == 0.0


def test_staggered_cluster_members(engine_factory: Factory) -> None:
    engine = engine_factory()
    members = [f"m{i}" for i in range(6)]
    engine.apply_cluster_update(identity_pb2.ClusterUpdate(cluster_id="c", members=members, version=1))
    events = []
    for i, m in enumerate(members):  # each account works 8 hours, the next starts when it stops
        events += [make_event(m, i * 8 * HOUR + k * 600.0 + 1.0) for k in range(48)]
    feed(engine, events)
    profile = engine.cluster_profile("c")
    assert profile is not None
    assert profile.features["staggered_activation"] >= 0.5


# ---------------------------------------------------------------- claimed time zone

def test_claimed_night_share_against_the_signup_country(engine_factory: Factory) -> None:
    engine = engine_factory()
    for account, country in (("night-owl", "GB"), ("local", "GB"), ("no-country", "")):
        engine.apply_signup(make_signup(account, country=country))
    events = []
    for day in range(3):
        # A UTC+8 working day (01:00-13:00 UTC): the middle of the night in the UK it claims.
        events += [make_event("night-owl", day * DAY + h * HOUR + 60.0) for h in range(1, 13)]
        events += [make_event("no-country", day * DAY + h * HOUR + 60.0) for h in range(1, 13)]
        events += [make_event("local", day * DAY + h * HOUR + 120.0) for h in range(9, 21)]
    feed(engine, sorted(events, key=lambda e: e.occurred_at.seconds))
    assert features(engine, "night-owl")["claimed_night_share"] == pytest.approx(5 / 12)
    assert features(engine, "local")["claimed_night_share"] == 0.0
    assert "claimed_night_share" not in features(engine, "no-country")


def test_claimed_night_share_needs_enough_requests(engine_factory: Factory) -> None:
    engine = engine_factory(night_min_requests=20)
    engine.apply_signup(make_signup("few", country="GB"))
    feed(engine, [make_event("few", h * HOUR + 60.0) for h in range(1, 6)])
    assert "claimed_night_share" not in features(engine, "few")


def test_claimed_night_share_of_a_cluster_judges_each_member_in_its_own_country(engine_factory: Factory) -> None:
    engine = engine_factory()
    # Same UTC hours (01:00-06:00): night in Germany, the working day in Japan.
    members = {"de-1": "DE", "de-2": "DE", "jp-1": "JP", "jp-2": "JP"}
    for account, country in members.items():
        engine.apply_signup(make_signup(account, country=country))
    engine.apply_cluster_update(identity_pb2.ClusterUpdate(cluster_id="c", members=sorted(members), version=1))
    feed(engine, sorted([make_event(m, d * DAY + h * HOUR + 60.0 + i) for d in range(2) for h in range(0, 5)
                         for i, m in enumerate(sorted(members))], key=lambda e: e.occurred_at.seconds))
    profile = engine.cluster_profile("c")
    assert profile is not None
    assert profile.features["claimed_night_share"] == pytest.approx(0.5)


COVER = "Give me a simple weeknight recipe for {dish} with a shopping list, the oven temperature and the total cooking time"


def test_template_flagged_share_counts_users_in_other_clusters_in_the_enforce_band(engine_factory: Factory) -> None:
    engine = engine_factory(sampling_starts_after=0)
    farm = [f"farm-{i}" for i in range(8)]
    engine.apply_cluster_update(identity_pb2.ClusterUpdate(cluster_id="farm", members=farm, version=1))
    events = [make_event(a, 60.0 * i, TEMPLATE.format(task=f"sort list number {i}")) for i, a in enumerate(farm)]
    events += [make_event(a, HOUR + 60.0 * i, COVER.format(dish=f"dish {i}")) for i, a in enumerate(farm)]
    events += [make_event("newcomer", 900.0, TEMPLATE.format(task="sort list number 99")),
               make_event("stranger", 960.0, "What's a good recipe for banana bread with walnuts?"),
               make_event("cook", HOUR + 1020.0, COVER.format(dish="dish 99"))]
    feed(engine, sorted(events, key=lambda e: e.occurred_at.seconds))
    assert sorted(t.accounts for t in engine.list_templates(min_accounts=2)) == [9, 9]
    cluster = engine.clusters.clusters["farm"]
    cluster.score = 0.2  # below the enforce band: sharing its template says nothing
    assert features(engine, "newcomer")["template_flagged_share"] == 0.0
    cluster.score = engine.config.enforce_threshold
    assert features(engine, "newcomer")["template_flagged_share"] == pytest.approx(8 / 9)
    assert features(engine, "stranger")["template_flagged_share"] == 0.0
    # The farm's ordinary cover prompts are shared with ordinary people: no reasoning asked, no evidence.
    assert features(engine, "cook")["template_flagged_share"] == 0.0
    # A cluster's own members are not counted for it: its score never feeds back into itself.
    assert features(engine, "farm-0")["template_flagged_share"] == 0.0
