"""Redelivery changes nothing; a graph rebuilt from its changelog continues exactly as if never stopped."""

from __future__ import annotations

import random
import orjson
import pytest

from distillguard.v1 import identity_pb2
from identity.domain import IdentityGraph
from identity.synthetic import T0, Event, billing, inference, population, signup


def workload(seed: int = 4) -> list[Event]:
    """Signups and billing of 400 accounts (households, seats, farms among them) and inference traffic
    that wanders across IPs, returns to old ones after days, and shares prompts."""
    rng = random.Random(seed)
    events: list[Event] = list(population(400, seed=seed))
    prompts = [f"{k:02x}" * 32 for k in range(5)]
    for n in range(1500):
        account = f"acct-{rng.randrange(400):07d}"
        at = T0 + rng.randrange(0, 6 * 24 * 3600)
        events.append(inference(account, at=at, api_key=f"key-{account}", ip=f"100.64.{rng.randrange(4)}.{rng.randrange(6)}",
                                system_prompt=rng.choice(prompts) if n % 3 == 0 else ""))
    events.sort(key=lambda e: e.occurred_at.seconds + rng.randrange(-1800, 1800))  # roughly in time order
    return events


def batches(events: list[Event], size: int) -> list[list[Event]]:
    return [events[i:i + size] for i in range(0, len(events), size)]


def apply_to_store(store: dict[str, bytes], changes: dict[str, bytes | None]) -> None:
    for key, value in changes.items():
        if value is None:
            store.pop(key, None)
        else:
            store[key] = value


def snapshot(graph: IdentityGraph) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    return list(graph.export_clusters()), list(graph.export_links(0.0))


def test_redelivered_events_change_nothing() -> None:
    events = workload()
    graph = IdentityGraph()
    first = [u for batch in batches(events, 300) for u in graph.apply_batch(batch)]
    assert first, "the workload should produce clusters"
    graph.drain_changes()
    before = snapshot(graph)
    comparisons = graph.stats.comparisons

    # The whole stream again, reordered and with duplicates inside one batch.
    again = events + events[:500]
    random.Random(9).shuffle(again)
    for batch in batches(again, 700):
        assert graph.apply_batch(batch) == []
    assert graph.drain_changes() == {}
    assert snapshot(graph) == before
    assert graph.stats.comparisons == comparisons


def test_duplicates_within_the_first_batch_count_once() -> None:
    events: list[Event] = [billing("a", card="c"), billing("b", card="c"), signup("a", ip="198.51.100.1")]
    once, twice = IdentityGraph(), IdentityGraph()
    assert once.apply_batch(events) == twice.apply_batch(events + events[::-1])
    assert once.drain_changes() == twice.drain_changes()


@pytest.mark.parametrize("restart_every", [1, 4])
def test_restore_then_continue_equals_never_stopping(restart_every: int) -> None:
    chunks = batches(workload(), 250)
    steady = IdentityGraph()
    steady_store: dict[str, bytes] = {}
    steady_updates: list[identity_pb2.ClusterUpdate] = []
    for chunk in chunks:
        steady_updates += steady.apply_batch(chunk)
        apply_to_store(steady_store, steady.drain_changes())

    restarted = IdentityGraph()
    store: dict[str, bytes] = {}
    updates: list[identity_pb2.ClusterUpdate] = []
    for n, chunk in enumerate(chunks):
        if n and n % restart_every == 0:
            restarted = IdentityGraph()
            restarted.restore(list(store.items())[::-1])  # a changelog has no useful order
        updates += restarted.apply_batch(chunk)
        apply_to_store(store, restarted.drain_changes())

    assert updates == steady_updates
    assert len({u.cluster_id for u in updates}) > 3
    assert snapshot(restarted) == snapshot(steady)
    assert store == steady_store
    for account in ("acct-0000000", "acct-0000100", "acct-0000399"):
        assert restarted.get_cluster(account) == steady.get_cluster(account)
        assert restarted.get_links(account, 0.0) == steady.get_links(account, 0.0)
        assert restarted.account_facts(account) == steady.account_facts(account)


def test_restored_graph_keeps_posting_lists_and_cluster_versions() -> None:
    graph = IdentityGraph()
    graph.apply_batch([billing(f"a{i}", card="shared", at=T0 + i) for i in range(5)])
    restored = IdentityGraph()
    restored.restore((k, v) for k, v in graph.drain_changes().items() if v is not None)
    assert restored.find_accounts("card_fingerprint", "shared") == [f"a{i}" for i in range(5)]
    (update,) = restored.apply_batch([billing("a5", card="shared", at=T0 + 9)])
    assert update.version == 2 and len(update.members) == 6


def test_restore_refuses_a_used_graph_and_unknown_records() -> None:
    graph = IdentityGraph()
    graph.apply_batch([billing("a", card="c")])
    with pytest.raises(RuntimeError):
        graph.restore([])
    with pytest.raises(ValueError, match="unknown state record"):
        IdentityGraph().restore([("x/1", orjson.dumps({"v": 1}))])
    with pytest.raises(ValueError, match="version"):
        IdentityGraph().restore([("a/a", orjson.dumps({"v": 99}))])


def test_drained_records_are_per_account_and_per_cluster() -> None:
    graph = IdentityGraph()
    graph.apply_batch([billing("a", card="c"), billing("b", card="c")])
    changes = graph.drain_changes()
    keys = sorted(changes)
    assert keys[:2] == ["a/a", "a/b"] and keys[2].startswith("c/cl-") and keys[3] == "g/meta"
    assert graph.drain_changes() == {}
    graph.apply_batch([inference("a", ip="198.51.100.1")])
    assert list(graph.drain_changes()) == ["a/a"]
