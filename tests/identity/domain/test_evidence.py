"""One test per evidence kind: what links two accounts, how strongly, and what does not."""

from __future__ import annotations

from distillguard.v1 import events_pb2, identity_pb2
from identity.domain import IdentityGraph, LinkingConfig
from identity.synthetic import T0, Event, billing, inference, signup

HOUR = 3600


def link(graph: IdentityGraph, a: str, b: str) -> identity_pb2.Link | None:
    found = [x for x in graph.get_links(a, 0.0) if b in (x.account_a, x.account_b)]
    return found[0] if found else None


def kinds(found: identity_pb2.Link | None) -> dict[str, float]:
    assert found is not None, "no link"
    return {e.kind: e.weight for e in found.evidence}


# Keeps every scored pair as a link, so a test can read evidence too weak to be a candidate.
EVERY_LINK = LinkingConfig(candidate_threshold=1e-9)


def graph_of(*events: Event, config: LinkingConfig = LinkingConfig()) -> IdentityGraph:
    graph = IdentityGraph(config)
    graph.apply_batch(events)
    return graph


def merged(graph: IdentityGraph, a: str, b: str) -> bool:
    cluster = graph.get_cluster(a).cluster_id
    return bool(cluster) and cluster == graph.get_cluster(b).cluster_id


# ---------------------------------------------------------------- exact identifiers


def test_shared_card_merges() -> None:
    graph = graph_of(billing("a", card="cfp_1"), billing("b", card="cfp_1"), billing("c", card="cfp_2"))
    assert "card_fingerprint" in kinds(link(graph, "a", "b"))
    assert merged(graph, "a", "b")
    assert link(graph, "a", "c") is None and not merged(graph, "a", "c")


def test_shared_device_fingerprint_merges() -> None:
    graph = graph_of(signup("a", device="dev_9"), signup("b", device="dev_9"))
    assert "device_fingerprint" in kinds(link(graph, "a", "b"))
    assert merged(graph, "a", "b")


def test_phone_written_two_ways_merges() -> None:
    graph = graph_of(signup("a", phone="+1 (415) 555-0100"), signup("b", phone="0014155550100"))
    assert "phone" in kinds(link(graph, "a", "b"))
    assert merged(graph, "a", "b")


def test_gmail_dots_tags_and_googlemail_are_one_mailbox() -> None:
    graph = graph_of(
        signup("a", email="john.smith+one@gmail.com"),
        signup("b", email="JohnSmith+two@googlemail.com"),
        signup("c", email="john.smith+three@outlook.com"),
        signup("d", email="johnsmith@outlook.com"),
    )
    evidence = link(graph, "a", "b")
    assert "email_normalized" in kinds(evidence)
    assert evidence is not None and "johnsmith@gmail.com" in evidence.evidence[0].detail
    assert merged(graph, "a", "b")
    # Outside Gmail dots matter: john.smith@outlook.com and johnsmith@outlook.com are different people.
    assert not merged(graph, "c", "d")


def test_shared_api_key_merges() -> None:
    graph = graph_of(inference("a", api_key="key_1"), inference("b", api_key="key_1"))
    assert "api_key" in kinds(link(graph, "a", "b"))
    assert merged(graph, "a", "b")


def test_rare_system_prompt_is_a_candidate_not_a_merge_but_with_the_same_ip_it_merges() -> None:
    graph = graph_of(
        inference("a", system_prompt="ab" * 32, ip="198.51.100.1", at=T0),
        inference("b", system_prompt="ab" * 32, ip="203.0.113.9", at=T0),
    )
    found = link(graph, "a", "b")
    assert set(kinds(found)) == {"system_prompt"}
    assert found is not None and 0.5 <= found.score < 0.98 and not found.merged
    assert not merged(graph, "a", "b")
    graph.apply_batch([inference("b", system_prompt="ab" * 32, ip="198.51.100.1", at=T0 + HOUR)])
    assert set(kinds(link(graph, "a", "b"))) == {"system_prompt", "ip"}
    assert merged(graph, "a", "b")


def test_system_prompt_shared_by_hundreds_is_worth_little() -> None:
    template = "cd" * 32
    graph = graph_of(*(inference(f"u{i}", system_prompt=template, ip=f"198.51.{i // 200}.{i % 200}") for i in range(400)))
    graph.apply_batch([inference("x", system_prompt=template), inference("y", system_prompt=template)])
    assert link(graph, "x", "y") is None
    assert graph.cluster_ids() == []


# ---------------------------------------------------------------- network


def test_same_ip_within_the_window_is_evidence_but_never_links_alone() -> None:
    alone = graph_of(signup("a", ip="198.51.100.7", at=T0), signup("b", ip="198.51.100.7", at=T0 + 5 * HOUR))
    assert link(alone, "a", "b") is None  # network alone stays below the candidate threshold
    # Namesakes are not compared for their names alone; the shared address proposes the pair.
    graph = graph_of(signup("a", name="Maria Gonzalez", at=T0), signup("b", name="Maria Gonzales", at=T0))
    assert link(graph, "a", "b") is None
    graph.apply_batch([signup("a", ip="198.51.100.7", at=T0), signup("b", ip="198.51.100.7", at=T0 + 5 * HOUR)])
    found = link(graph, "a", "b")
    evidence = kinds(found)
    assert evidence.keys() == {"ip", "name_fuzzy"}
    assert 0 < evidence["ip"] <= 8.0
    assert found is not None and not found.merged  # a name and a network are circumstance


def test_same_ip_outside_the_window_is_not_evidence() -> None:
    prompt = "9f" * 32
    graph = graph_of(
        inference("a", ip="198.51.100.7", system_prompt=prompt, at=T0),
        inference("b", ip="198.51.100.7", system_prompt=prompt, at=T0 + 3 * 24 * HOUR),
    )
    assert set(kinds(link(graph, "a", "b"))) == {"system_prompt"}
    assert not merged(graph, "a", "b")


def test_same_slash24_within_an_hour_counts_and_five_hours_apart_does_not() -> None:
    prompt = "9f" * 32
    near = graph_of(
        inference("a", ip="198.51.100.7", system_prompt=prompt, at=T0),
        inference("b", ip="198.51.100.200", system_prompt=prompt, at=T0 + 40 * 60),
    )
    assert set(kinds(link(near, "a", "b"))) == {"ip_24", "system_prompt"}
    far = graph_of(
        inference("a", ip="198.51.100.7", system_prompt=prompt, at=T0),
        inference("b", ip="198.51.100.200", system_prompt=prompt, at=T0 + 5 * HOUR),
    )
    assert set(kinds(link(far, "a", "b"))) == {"system_prompt"}


def test_signup_burst_from_one_range() -> None:
    wave = [signup(f"w{i}", ip=f"198.51.100.{10 + i}", at=T0 + 30 * i) for i in range(4)]
    graph = graph_of(*wave, config=EVERY_LINK)
    evidence = kinds(link(graph, "w0", "w1"))
    assert 0 < evidence["signup_burst"] <= graph.config.models["signup_burst"].cap_bits  # type: ignore[operator]
    assert set(evidence) == {"ip_24", "signup_burst"}
    # A burst is grounds to look at most: by default it is not even a candidate.
    assert graph_of(*wave).get_links("w0", 0.0) == []
    lone = graph_of(signup("x", ip="198.51.100.10", at=T0), signup("y", ip="198.51.100.11", at=T0 + 60), config=EVERY_LINK)
    assert "signup_burst" not in kinds(link(lone, "x", "y"))


def test_network_evidence_together_is_capped() -> None:
    graph = graph_of(
        *(signup(f"w{i}", ip="198.51.100.10", at=T0 + 30 * i) for i in range(3)),
        signup("w0", name="Olga Ivanova"), signup("w1", name="Olga Ivanova"),
    )
    evidence = kinds(link(graph, "w0", "w1"))
    network = sum(w for kind, w in evidence.items() if kind in ("ip", "ip_24", "signup_burst"))
    assert network == next(f.cap_bits for f in graph.config.family_caps if f.name == "network")


# ---------------------------------------------------------------- fuzzy


def test_names_with_typos_and_reordering_match() -> None:
    graph = graph_of(
        billing("a", cardholder="Jonathan Smith", ip="198.51.100.1"),
        billing("b", cardholder="SMITH, Jonathon", ip="198.51.100.1"),
        billing("c", cardholder="Jane Smith", ip="198.51.100.1"),
    )
    assert "name_fuzzy" in kinds(link(graph, "a", "b"))
    assert link(graph, "a", "c") is None or "name_fuzzy" not in kinds(link(graph, "a", "c"))


def test_addresses_with_abbreviations_reordering_and_typos_match() -> None:
    def paid(account: str, line1: str, line2: str = "", postal: str = "94110") -> events_pb2.BillingEvent:
        return billing(account, card=f"card_{account}", line1=line1, line2=line2, city="San Francisco",
                       postal_code=postal, cardholder=f"Person {account}")

    graph = graph_of(
        paid("a", "123 Main Street", "Apartment 4"),
        paid("b", "123 Main St", "#4"),
        paid("c", "Main St 123", "Apt 4"),
        paid("d", "123 Mian Street", "Apt 4"),
        paid("e", "123 Main Street", "Apt 7"),  # the neighbour
    )
    for other in ("b", "c", "d"):
        assert "address_fuzzy" in kinds(link(graph, "a", other)), other
    assert link(graph, "a", "e") is None


def test_email_local_part_shape_only_supports_other_evidence() -> None:
    pair = (
        signup("a", email="kevinlee1990@gmail.com", name="Kevin Lee", ip="198.51.100.1", at=T0),
        signup("b", email="sarahkim1991@gmail.com", name="Sarah Kim", ip="198.51.100.1", at=T0 + HOUR),
    )
    evidence = kinds(link(graph_of(*pair, config=EVERY_LINK), "a", "b"))
    assert 0 < evidence["email_shape"] <= 2.5
    assert graph_of(*pair).get_links("a", 0.0) == []


# ---------------------------------------------------------------- same organisation


def test_same_org_explains_shared_card_and_network() -> None:
    seats = [
        signup(f"s{i}", org_id="org_acme", org_name="Acme", ip="192.0.2.10", email=f"p{i}@acme.example",
               name=f"Seat Person{i}x", path=events_pb2.SIGNUP_PATH_ENTERPRISE_SALES)
        for i in range(2)
    ]
    graph = graph_of(*seats, billing("s0", card="corp_card"), billing("s1", card="corp_card"))
    assert not merged(graph, "s0", "s1")
    assert graph.get_links("s0", 0.5) == []
    # Without the org the same sharing is damning.
    control = graph_of(signup("t0", ip="192.0.2.10"), signup("t1", ip="192.0.2.10"),
                       billing("t0", card="corp_card"), billing("t1", card="corp_card"))
    assert merged(control, "t0", "t1")


def test_same_org_evidence_is_shown_with_negative_weight() -> None:
    graph = graph_of(
        signup("s0", org_id="org_acme", ip="192.0.2.10", device="image_1", email="shared.mailbox@acme.example"),
        signup("s1", org_id="org_acme", ip="192.0.2.10", device="image_1", email="shared.mailbox@acme.example"),
        billing("s0", card="corp_card"), billing("s1", card="corp_card"),
    )
    evidence = kinds(link(graph, "s0", "s1"))
    assert evidence.keys() == {"card_fingerprint", "device_fingerprint", "email_normalized", "ip", "same_org"}
    # A shared mailbox is one person's, whatever the org: it is not explained away, and merges.
    assert evidence["same_org"] == -(evidence["card_fingerprint"] + evidence["device_fingerprint"] + evidence["ip"])
    assert merged(graph, "s0", "s1")


def test_verified_school_domain_explains_network_but_not_payment() -> None:
    students = [
        signup(f"s{i}", email=f"s100000{i}@uni.example.edu", ip="192.0.2.10", at=T0 + 60 * i,
               path=events_pb2.SIGNUP_PATH_EDUCATION, verification=events_pb2.VERIFICATION_EMAIL)
        for i in range(2)
    ]
    graph = graph_of(*students, billing("s0", card="shared"), billing("s1", card="shared"))
    evidence = kinds(link(graph, "s0", "s1"))
    assert evidence["same_org"] == -(evidence["ip"] + evidence.get("email_shape", 0.0))
    assert merged(graph, "s0", "s1")


# ---------------------------------------------------------------- collective


def proxy_group(tag: str, card: str, pool: list[str], start: int) -> list[Event]:
    """Four accounts on one prepaid card, each sending requests through ten addresses of `pool`."""
    events: list[Event] = []
    for n in range(4):
        account = f"{tag}{n}"
        events.append(billing(account, card=card, at=start))
        events += [inference(account, ip=pool[(n * 3 + k) % len(pool)], at=start + k * 600) for k in range(10)]
    return events


def test_groups_on_one_proxy_pool_are_merged_on_shared_infrastructure() -> None:
    pool = [f"81.{k}.7.{k + 1}" for k in range(16)]
    graph = graph_of(*proxy_group("x", "card-x", pool, T0), *proxy_group("y", "card-y", pool, T0 + 300))
    assert merged(graph, "x0", "y0")
    assert any(
        "shared_infrastructure" in kinds(found) for found in graph.get_cluster("x0").links
        if found.account_a[0] != found.account_b[0]
    )


def test_groups_meeting_on_a_vpn_exit_crowd_are_not() -> None:
    exits = [f"185.220.{k}.9" for k in range(16)]
    crowd = [inference(f"user{i}", ip=exits[i % 16], at=T0 + i) for i in range(400)]
    graph = graph_of(*crowd, *proxy_group("x", "card-x", exits, T0), *proxy_group("y", "card-y", exits, T0 + 300))
    assert not merged(graph, "x0", "y0")
    assert len(graph.cluster_ids()) == 2
