"""Candidate generation is bounded: a value shared by thousands proposes few comparisons."""

from __future__ import annotations

from identity.domain import IdentityGraph, LinkingConfig
from identity.synthetic import T0, Event, billing, inference, signup


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


def _seats(org_id: str, count: int, *, start: int = 0) -> list[Event]:
    """Seats of one org on its corporate card and office NAT, each with its own mailbox and key."""
    events: list[Event] = []
    for n in range(start, start + count):
        account = f"{org_id}-{n}"
        events.append(signup(account, at=T0 + n, email=f"seat{n}@{org_id}.example", ip="192.0.2.10", org_id=org_id))
        events.append(billing(account, at=T0 + n + 1, card=f"{org_id}-card", ip="192.0.2.10"))
    return events


def test_colleagues_are_not_proposed_by_what_their_org_explains() -> None:
    graph = IdentityGraph()
    graph.apply_batch(_seats("org_acme", 30))
    # The card, address and /24 the seats share are their employer's: no seat is compared with a colleague.
    assert graph.stats.comparisons == 0 and graph.cluster_ids() == []

    # Outsiders on the same card are still compared with the seats holding it, and linked.
    graph.apply_batch([billing("outsider", at=T0 + 100, card="org_acme-card")])
    assert 0 < graph.stats.comparisons <= graph.config.block_compare_cap
    assert graph.get_links("outsider", 0.0)

    # A colleague sharing what the org does not explain (an API key) is compared through that block and
    # linked on it.
    before = graph.stats.comparisons
    graph.apply_batch([inference("org_acme-3", at=T0 + 200, api_key="shared-key"),
                       inference("org_acme-7", at=T0 + 201, api_key="shared-key")])
    assert graph.stats.comparisons > before
    assert "org_acme-7" in {link.account_b for link in graph.get_links("org_acme-3", 0.0)} | {
        link.account_a for link in graph.get_links("org_acme-3", 0.0)}


def test_skipping_colleagues_changes_no_link() -> None:
    """The same seats without org ids are compared pair by pair: every one of those comparisons stays
    below the candidate threshold once the org explains them, so skipping them loses nothing."""
    explained = IdentityGraph()
    explained.apply_batch(_seats("org_acme", 30))
    assert explained.stats.comparisons == 0 and list(explained.export_links()) == []
    unexplained = IdentityGraph()
    unexplained.apply_batch([e for e in _seats("org_acme", 30) if e.DESCRIPTOR.name == "BillingEvent"]
                            + [signup(f"org_acme-{n}", at=T0 + n, email=f"seat{n}@org_acme.example", ip="192.0.2.10")
                               for n in range(30)])
    assert unexplained.stats.comparisons > 0  # the control: without the org the same seats are compared (and merged)
