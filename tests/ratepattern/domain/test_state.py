"""Bounded state: bytes per account, the template index, idle accounts, and cluster membership."""

from __future__ import annotations

from collections.abc import Callable

from distillguard.v1 import identity_pb2
from ratepattern.domain import RatePatternConfig, RatePatternEngine
from ratepattern.domain.accounts import AccountTable
from ratepattern.domain.content import TemplateIndex
from ratepattern.synthetic import make_event, make_signup

from .conftest import feed

DAY = 86_400.0
Factory = Callable[..., RatePatternEngine]


def test_fixed_state_per_account_is_under_4_kb() -> None:
    table = AccountTable(RatePatternConfig())
    assert table.bytes_per_slot() <= 4096
    assert table.nbytes() == table.bytes_per_slot() * table.capacity


def test_template_index_is_bounded_and_keeps_shared_templates() -> None:
    index = TemplateIndex(RatePatternConfig(max_templates=8), lambda account: "")
    shared = "You are an expert agent. Think step by step and articulate your reasoning. Task: {}"
    for i in range(200):
        # A shared template used by two accounts every tenth prompt, among a flood of one-off prompts.
        if i % 10 == 0:
            index.assign([shared.format(f"job {i}")] * 2, [f"farm-{i}", f"farm-{i + 1}"], [i, i])
        index.assign([f"unique prompt number {i} about {i * 7} distinct {i * 13} things"], [f"user-{i}"], [i])
        assert len(index) <= 8
    survivors = [u for _, u in index.items() if len(u.members) >= 2]
    assert len(survivors) == 1 and len(survivors[0].members) == 40


def test_template_members_saturate_at_the_cap() -> None:
    index = TemplateIndex(RatePatternConfig(max_template_members=5), lambda account: "")
    facts = index.assign(["same prompt for everyone, step by step"] * 9, [f"a{i}" for i in range(9)], list(range(9)))
    assert len({f.template_id for f in facts}) == 1
    (_, usage), = index.items()
    assert len(usage.members) == 5 and usage.saturated and usage.requests == 9


def test_idle_accounts_are_dropped_but_keep_their_signup_context(engine_factory: Factory) -> None:
    engine = engine_factory(account_idle_retention_ms=2 * 86_400_000)
    engine.apply_signup(make_signup("old", org="org-x"))
    feed(engine, [make_event("old", 0.0), make_event("new", DAY)])
    assert engine.account_profile("old") is not None
    feed(engine, [make_event("new", 3.5 * DAY)])
    assert engine.account_profile("old") is None
    assert engine.account_profile("new") is not None
    feed(engine, [make_event("old", 3.6 * DAY)])
    assert engine.accounts.context(engine.accounts.slot_of["old"]).org_id == "org-x"


def test_signup_after_first_request_updates_the_unrelated_count(engine_factory: Factory) -> None:
    engine = engine_factory(sampling_starts_after=0)
    prompt = "You are an expert agent. Think step by step and articulate your reasoning. Task: job {}"
    feed(engine, [make_event(f"s{i}", 60.0 * i, prompt.format(i)) for i in range(4)])
    profile = engine.account_profile("s0")
    assert profile is not None and profile.features["template_unrelated_accounts"] == 4
    for i in range(4):
        engine.apply_signup(make_signup(f"s{i}", org="org-same"))
    profile = engine.account_profile("s0")
    assert profile is not None and profile.features["template_unrelated_accounts"] == 1


def test_cluster_updates_stale_versions_and_merges(engine_factory: Factory) -> None:
    engine = engine_factory()
    feed(engine, [make_event(a, 60.0 * i) for i, a in enumerate(["a", "b", "c", "d"])])
    engine.apply_cluster_update(identity_pb2.ClusterUpdate(cluster_id="c1", members=["a", "b"], version=2))
    engine.apply_cluster_update(identity_pb2.ClusterUpdate(cluster_id="c2", members=["c", "d"], version=1))
    engine.apply_cluster_update(identity_pb2.ClusterUpdate(cluster_id="c1", members=["a"], version=1))  # stale
    c1 = engine.cluster_profile("c1")
    assert c1 is not None and list(c1.members) == ["a", "b"]
    engine.apply_cluster_update(identity_pb2.ClusterUpdate(
        cluster_id="c1", members=["a", "b", "c", "d"], absorbed_cluster_ids=["c2"], version=3))
    assert engine.cluster_profile("c2") is None
    c1 = engine.cluster_profile("c1")
    assert c1 is not None and list(c1.members) == ["a", "b", "c", "d"]
    profile = engine.account_profile("d")
    assert profile is not None and profile.cluster_id == "c1"
    engine.apply_cluster_update(identity_pb2.ClusterUpdate(
        cluster_id="c1", members=["a", "b", "c"], removed_members=["d"], version=4))
    profile = engine.account_profile("d")
    assert profile is not None and profile.cluster_id == ""
    # Every member of c3 listed by another cluster (without naming c3 absorbed): c3 is gone, not empty.
    engine.apply_cluster_update(identity_pb2.ClusterUpdate(cluster_id="c3", members=["d"], version=1))
    engine.apply_cluster_update(identity_pb2.ClusterUpdate(cluster_id="c1", members=["a", "b", "c", "d"], version=5))
    assert engine.cluster_profile("c3") is None and "c3" not in engine.clusters.clusters


def test_profiles_of_unknown_subjects_are_none(engine_factory: Factory) -> None:
    engine = engine_factory()
    assert engine.account_profile("nobody") is None
    assert engine.cluster_profile("nothing") is None
    assert engine.list_templates(1) == []
