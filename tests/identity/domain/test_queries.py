"""What the gRPC servicer and the export commands read: clusters, links, lookups, account facts."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest

from distillguard.v1 import events_pb2
from identity.domain import IdentityGraph, UnknownAccount
from identity.synthetic import T0, billing, inference, signup


@pytest.fixture
def graph() -> IdentityGraph:
    graph = IdentityGraph()
    graph.apply_batch([
        signup("a", email="Kim.Lee+x@gmail.com", phone="+44 20 7946 0018", ip="198.51.100.4", org_id="org_1",
               org_name="Acme", path=events_pb2.SIGNUP_PATH_STARTUP_PROGRAM, verification=events_pb2.VERIFICATION_PHONE),
        billing("a", card="cfp_1", kind=events_pb2.BILLING_KIND_CHARGE_SUCCEEDED, amount_cents=500,
                funding=events_pb2.CARD_FUNDING_PREPAID),
        billing("b", card="cfp_1", cardholder="Kim Lee", ip="198.51.100.4"),
        billing("c", cardholder="Kim Lee", card="cfp_3", ip="198.51.100.4"),
        signup("c", name="Kim Lee", at=T0 - 60),
        inference("d", api_key="key_d", system_prompt="AB" * 32),
    ])
    return graph


def test_get_cluster_returns_members_and_the_edges_that_connect_them(graph: IdentityGraph) -> None:
    response = graph.get_cluster("b")
    assert response.cluster_id.startswith("cl-")
    assert list(response.members) == ["a", "b"]
    (edge,) = response.links
    assert (edge.account_a, edge.account_b, edge.merged) == ("a", "b", True)
    assert edge.evidence[0].kind == "card_fingerprint" and edge.evidence[0].weight > 15


def test_unclustered_and_unknown_accounts(graph: IdentityGraph) -> None:
    response = graph.get_cluster("d")
    assert response.cluster_id == "" and list(response.members) == ["d"] and list(response.links) == []
    with pytest.raises(UnknownAccount):
        graph.get_cluster("nobody")
    with pytest.raises(UnknownAccount):
        graph.get_links("nobody", 0.0)
    with pytest.raises(UnknownAccount):
        graph.account_facts("nobody")


def test_get_links_filters_by_score_strongest_first(graph: IdentityGraph) -> None:
    links = graph.get_links("b", 0.0)
    assert [(x.account_a, x.account_b) for x in links] == [("a", "b"), ("b", "c")]
    assert links[0].score > links[1].score
    assert links[1].merged is False
    assert [x.account_b for x in graph.get_links("b", links[0].score)] == ["b"]
    assert all(0.0 <= x.score <= 1.0 for x in links)


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("card_fingerprint", "cfp_1", ["a", "b"]),
        ("email", "kimlee@googlemail.com", ["a"]),
        ("phone", "00442079460018", ["a"]),
        ("ip", "198.51.100.4", ["a", "b", "c"]),
        ("api_key", "key_d", ["d"]),
        ("system_prompt", "ab" * 32, ["d"]),
        ("device_fingerprint", "none", []),
        ("email", "not-an-email", []),
    ],
)
def test_find_accounts_normalises_like_ingestion(graph: IdentityGraph, kind: str, value: str, expected: list[str]) -> None:
    assert graph.find_accounts(kind, value) == expected


def test_find_accounts_rejects_unknown_kinds(graph: IdentityGraph) -> None:
    with pytest.raises(ValueError, match="unknown attribute kind 'name'"):
        graph.find_accounts("name", "Kim Lee")


def test_account_facts(graph: IdentityGraph) -> None:
    facts = graph.account_facts("a")
    assert (facts.org_id, facts.org_name, facts.signup_path, facts.verification) == (
        "org_1", "Acme", "startup_program", "phone")
    assert (facts.email_domain, facts.paying, facts.prepaid_card, facts.chargeback) == ("gmail.com", True, True, False)
    assert facts.signed_up_at == datetime.fromtimestamp(T0, timezone.utc)
    assert facts.cluster_id == graph.get_cluster("a").cluster_id
    bare = graph.account_facts("d")
    assert (bare.signup_path, bare.signed_up_at, bare.paying, bare.cluster_id) == ("", None, False, "")


def test_exports_are_json_lines_in_the_documented_shape(graph: IdentityGraph) -> None:
    (cluster,) = graph.export_clusters()
    assert orjson.loads(orjson.dumps(cluster)) == {
        "cluster_id": graph.get_cluster("a").cluster_id, "members": ["a", "b"], "evidence": {"card_fingerprint": 1, "ip": 1},
    }
    links = list(graph.export_links())
    assert [(x["a"], x["b"], x["merged"]) for x in links] == [("a", "b", True), ("b", "c", False)]
    assert set(links[1]) == {"a", "b", "score", "merged", "evidence"}
    assert [e["kind"] for e in links[1]["evidence"]] == ["ip", "name_fuzzy"]
    assert links[1]["evidence"][1]["detail"].startswith("names 'kim lee' and 'kim lee' are 100% similar")
    assert [x["a"] for x in graph.export_links(min_score=0.99)] == ["a"]
