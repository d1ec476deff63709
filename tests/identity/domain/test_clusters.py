"""Clusters grow incrementally with stable ids; ClusterUpdates say exactly what changed."""

from __future__ import annotations

import random

from distillguard.v1 import events_pb2
from identity.domain import IdentityGraph
from identity.synthetic import T0, Event, billing, inference, signup

MINUTE = 60
FIRST = ["Liam", "Olivia", "Noah", "Emma", "Oliver", "Ava", "Elijah", "Sophia", "Lucas", "Mia"]
LAST = ["Walker", "Hughes", "Price", "Bennett", "Ortega", "Fischer"]


def farm_account(i: int, rng: random.Random) -> list[Event]:
    """Farm account i: pays with prepaid card i % 3 (every fourth also adds the next card, as farms
    rotate cards), unrelated generated identity, requests through rotating residential IPs."""
    account = f"farm{i:02d}"
    at = T0 + i * 17 * MINUTE
    cards = [f"prepaid-{i % 3}"] + ([f"prepaid-{(i + 1) % 3}"] if i % 4 == 0 else [])
    events: list[Event] = [signup(account, at=at, email=f"user{rng.randint(10**6, 10**7)}@proton.me",
                                  name=f"{FIRST[i % 10]} {LAST[i // 10 + i % 3]}", ip=_residential(rng))]
    for card in cards:
        events.append(billing(account, at=at + 5 * MINUTE, card=card, funding=events_pb2.CARD_FUNDING_PREPAID,
                              cardholder=f"Holder {i}", ip=_residential(rng)))
    events += [inference(account, at=at + k * MINUTE, api_key=f"k-{account}", ip=_residential(rng)) for k in range(6)]
    return events


def _residential(rng: random.Random) -> str:
    return f"{rng.randint(60, 90)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def test_farm_on_three_prepaid_cards_becomes_one_cluster_with_a_stable_id() -> None:
    rng = random.Random(3)
    graph = IdentityGraph()
    cluster_id = ""
    versions: list[int] = []
    for batch in range(6):
        events = [e for i in range(batch * 5, batch * 5 + 5) for e in farm_account(i, rng)]
        rng.shuffle(events)  # partitions interleave
        updates = graph.apply_batch(events)
        assert len(updates) == 1, updates
        update = updates[0]
        cluster_id = cluster_id or update.cluster_id
        assert update.cluster_id == cluster_id
        assert list(update.members) == [f"farm{i:02d}" for i in range(batch * 5 + 5)]
        assert set(update.added_members) == {f"farm{i:02d}" for i in range(batch * 5, batch * 5 + 5)}
        assert list(update.removed_members) == []
        versions.append(update.version)
        assert "card_fingerprint" in {c.kind for c in update.evidence_summary}
        assert update.org_count == 0
    assert versions == [1, 2, 3, 4, 5, 6]
    response = graph.get_cluster("farm29")
    assert response.cluster_id == cluster_id and len(response.members) == 30
    # The links returned connect every member: a spanning set of merged edges.
    reached = {"farm00"}
    edges = [(link.account_a, link.account_b) for link in response.links]
    assert all(link.merged for link in response.links)
    for _ in edges:
        reached |= {b for a, b in edges if a in reached} | {a for a, b in edges if b in reached}
    assert reached == set(response.members)


def test_merging_two_clusters_keeps_the_older_id_and_lists_the_absorbed_one() -> None:
    graph = IdentityGraph()
    first = graph.apply_batch([billing(f"a{i}", card="card-A", at=T0 + i) for i in range(3)])
    second = graph.apply_batch([billing(f"b{i}", card="card-B", at=T0 + i) for i in range(4)])
    older, younger = first[0].cluster_id, second[0].cluster_id
    assert older != younger
    # One account paying with both cards bridges them; the bigger cluster is the younger one.
    (update,) = graph.apply_batch([billing("bridge", card="card-A", at=T0 + 99), billing("bridge", card="card-B", at=T0 + 99)])
    assert update.cluster_id == older
    assert list(update.absorbed_cluster_ids) == [younger]
    assert set(update.added_members) == {"bridge", "b0", "b1", "b2", "b3"}
    assert update.version == 2
    assert graph.cluster_ids() == [older]
    assert graph.get_cluster("b3").cluster_id == older
    assert {e.kind: e.count for e in update.evidence_summary} == {"card_fingerprint": 2 + 3 + 2}
    assert graph.drain_changes()["c/" + younger] is None


def test_a_cluster_founded_and_absorbed_within_one_batch_is_never_announced() -> None:
    graph = IdentityGraph()
    (founding,) = graph.apply_batch([billing("a0", card="card-A"), billing("a1", card="card-A")])
    updates = graph.apply_batch([
        billing("b0", card="card-B"), billing("b1", card="card-B"),
        billing("b1", card="card-A", at=T0 + 5),
    ])
    assert [u.cluster_id for u in updates] == [founding.cluster_id]
    assert list(updates[0].absorbed_cluster_ids) == []
    assert set(updates[0].added_members) == {"b0", "b1"}


def test_events_out_of_order_across_batches_still_link() -> None:
    graph = IdentityGraph()
    assert graph.apply_batch([billing("late", card="c1", at=T0 + 3600)]) == []
    (update,) = graph.apply_batch([signup("late", at=T0), billing("early", card="c1", at=T0 - 3600)])
    assert list(update.members) == ["early", "late"]
    assert update.occurred_at.seconds == T0


def test_candidate_links_are_kept_but_not_merged() -> None:
    graph = IdentityGraph()
    graph.apply_batch([
        billing("a", cardholder="Priya Raman", card="c-a", ip="198.51.100.1"),
        billing("b", cardholder="Priya Raman", card="c-b", ip="198.51.100.1"),
    ])
    (found,) = graph.get_links("a", 0.0)
    assert not found.merged and graph.config.candidate_threshold <= found.score < graph.config.merge_threshold
    assert graph.get_cluster("a").cluster_id == ""
    assert graph.get_links("a", 0.99) == []
