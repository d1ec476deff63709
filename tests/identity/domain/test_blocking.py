"""Candidate generation is bounded: a value shared by thousands proposes few comparisons."""

from __future__ import annotations

from identity.domain import IdentityGraph, LinkingConfig
from identity.synthetic import T0, billing, signup


def test_a_value_shared_by_ten_thousand_accounts_does_not_compare_all_pairs() -> None:
    accounts = 10_000
    graph = IdentityGraph()
    # Carrier NAT: every account signs up from one address, spread over a week.
    for start in range(0, accounts, 2_000):
        graph.apply_batch([
            signup(f"m{i}", ip="100.64.0.1", at=T0 + i * 60, device=f"d{i}") for i in range(start, start + 2_000)
        ])
    config = graph.config
    # Each new value of an account proposes at most block_compare_cap candidates, and none once
    # more than block_max_size accounts hold it; a signup brings three (ip, /24, signup burst).
    assert 0 < graph.stats.comparisons <= accounts * 3 * config.block_compare_cap
    assert graph.stats.comparisons < accounts * (accounts - 1) // 2 // 100
    assert graph.cluster_ids() == []
    # Once the address is common it proposes nothing: a newcomer alone in its signup minute costs nothing.
    before = graph.stats.comparisons
    graph.apply_batch([signup("late", ip="100.64.0.1", at=T0 + 30 * 24 * 3600)])
    assert graph.stats.comparisons == before
    # FindAccounts lists the oldest posting_store_cap holders.
    found = graph.find_accounts("ip", "100.64.0.1")
    assert len(found) == config.posting_store_cap == accounts and "late" not in found


def test_blocks_list_a_bounded_number_of_accounts_but_count_them_all() -> None:
    graph = IdentityGraph(LinkingConfig(posting_store_cap=50, block_max_size=20))
    graph.apply_batch([signup(f"m{i:03d}", ip="100.64.0.1", at=T0 + i) for i in range(120)])
    listed = graph.find_accounts("ip", "100.64.0.1")
    assert listed == [f"m{i:03d}" for i in range(50)]  # the oldest accounts, whatever the arrival order


def test_same_cluster_members_are_not_compared_again() -> None:
    graph = IdentityGraph()
    graph.apply_batch([billing(f"f{i}", card="farm-card", at=T0 + i) for i in range(200)])
    (cluster,) = graph.cluster_ids()
    comparisons = graph.stats.comparisons
    assert comparisons <= 200 * graph.config.per_cluster_candidates + graph.config.block_compare_cap
    graph.apply_batch([billing("f201", card="farm-card", at=T0 + 999)])
    assert graph.stats.comparisons - comparisons <= graph.config.per_cluster_candidates
    assert graph.get_cluster("f201").cluster_id == cluster
