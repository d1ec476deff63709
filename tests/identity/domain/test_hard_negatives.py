"""Real people who share what farms share: none of them may be merged across organisations.

Each case has a control that changes only what should make the difference, so the assertion
that nothing merged cannot pass merely because nothing was compared.
"""

from __future__ import annotations

import random

from distillguard.v1 import events_pb2
from identity.domain import IdentityGraph
from identity.synthetic import T0, Event, billing, inference, signup

MINUTE = 60
FIRST = ["Anna", "Ben", "Chloe", "Dmitri", "Elif", "Farah", "Goran", "Hana", "Ivo", "Jin", "Kofi", "Lena", "Mateo",
         "Nadia", "Omar", "Pia", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Xena", "Yusuf", "Zora"]
LAST = ["Abbott", "Brandt", "Castillo", "Dvorak", "Eriksen", "Fontaine", "Gallagher", "Horvat", "Ito", "Jansen",
        "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrov", "Quiroga", "Rossi", "Sato", "Takahashi",
        "Ueda", "Varga", "Weber", "Xu", "Yilmaz", "Zeller"]


def person(i: int) -> str:
    return f"{FIRST[i % len(FIRST)]} {LAST[(i * 7 + i // len(FIRST)) % len(LAST)]}"


def clusters(graph: IdentityGraph) -> list[set[str]]:
    return [set(c["members"]) for c in graph.export_clusters()]


def enterprise(org: str, seats: int, nat_ip: str, start: int, org_id: bool = True, people: int = 0) -> list[Event]:
    """Seats onboarded in one hour behind one NAT address, one corporate card, standard device images,
    the internal tool's system prompt."""
    events: list[Event] = []
    for seat in range(seats):
        account = f"{org}-seat{seat}"
        at = start + seat * MINUTE
        first, last = person(people + seat).split()
        events.append(signup(
            account, at=at, email=f"{first}.{last}@{org}.example".lower(), name=f"{first} {last}", ip=nat_ip,
            device=f"{org}-image-{seat % 3}", org_id=f"org_{org}" if org_id else "", org_name=org.title(),
            path=events_pb2.SIGNUP_PATH_ENTERPRISE_SALES,
        ))
        events.append(billing(account, at=at + MINUTE, card=f"{org}-corporate-card", cardholder=f"{org} Inc",
                              line1="1 Corporate Plaza", city="Austin", postal_code="78701", ip=nat_ip,
                              kind=events_pb2.BILLING_KIND_CHARGE_SUCCEEDED))
        events.append(inference(account, at=at + 10 * MINUTE, api_key=f"{account}-key", ip=nat_ip,
                                system_prompt=f"{org:0<8}".encode().hex()[:16] * 4))
    return events


def test_enterprise_seats_behind_one_nat_are_not_merged_across_orgs_or_flagged() -> None:
    graph = IdentityGraph()
    # Two companies in one coworking building share the NAT address and the street address;
    # each has its own card, devices and tools.
    events = enterprise("acme", 20, "192.0.2.10", T0) + enterprise("globex", 20, "192.0.2.10", T0 + 5 * MINUTE, people=20)
    random.Random(1).shuffle(events)
    updates = graph.apply_batch(events)
    assert updates == []
    assert clusters(graph) == []
    links = [link for i in range(20) for link in graph.get_links(f"acme-seat{i}", 0.0)]
    assert graph.stats.comparisons > 0
    # At most the building shows: candidates on network and street address alone, never merged.
    assert not any(link.merged for link in links)
    assert {e.kind for link in links for e in link.evidence} <= {"ip", "ip_24", "signup_burst", "address_fuzzy"}
    assert all(link.score < 0.9 for link in links)

    # Control: the same seats without their org_id look exactly like a farm, and merge.
    control = IdentityGraph()
    control.apply_batch(enterprise("acme", 20, "192.0.2.10", T0, org_id=False))
    assert [len(c) for c in clusters(control)] == [20]


def students(count: int, verified: bool) -> list[Event]:
    """A class signing up in one lab session on the campus NAT with patterned school mailboxes,
    then sending the assignment's system prompt."""
    rng = random.Random(5)
    events: list[Event] = []
    domain = "uni.example.edu" if verified else "gmail.com"
    for i in range(count):
        account = f"student{i}"
        at = T0 + rng.randint(0, 50) * MINUTE
        ip = f"192.0.2.{rng.randint(1, 3)}"
        events.append(signup(
            account, at=at, email=f"s{1234500 + i * 37}@{domain}", name=person(i), ip=ip,
            path=events_pb2.SIGNUP_PATH_EDUCATION,
            verification=events_pb2.VERIFICATION_EMAIL if verified else events_pb2.VERIFICATION_NONE,
        ))
        events.append(inference(account, at=at + 30 * MINUTE, api_key=f"{account}-key", ip=ip,
                                system_prompt="5e" * 32))
    return events


def test_students_on_a_campus_nat_with_patterned_emails_are_not_merged() -> None:
    graph = IdentityGraph()
    assert graph.apply_batch(students(40, verified=True)) == []
    assert clusters(graph) == []
    # The school explains the shared network, enrolment wave, mailbox pattern and assignment prompt.
    assert all(graph.get_links(f"student{i}", 0.5) == [] for i in range(40))

    # Control: the same traces from unverified consumer mailboxes are worth a look — still no merge,
    # since circumstance alone never merges.
    control = IdentityGraph()
    control.apply_batch(students(40, verified=False))
    assert any(control.get_links(f"student{i}", 0.5) for i in range(40))
    assert clusters(control) == []


def family(surname: str, members: int, ip: str, card: str, street: str, start: int) -> list[Event]:
    events: list[Event] = []
    for m in range(members):
        account = f"{surname}-{m}"
        first = FIRST[(m * 5 + len(surname)) % len(FIRST)]
        events.append(signup(account, at=start + m * 3 * MINUTE, email=f"{first}.{surname}.{m}@outlook.com".lower(),
                             name=f"{first} {surname}", ip=ip))
        events.append(billing(account, at=start + m * 3 * MINUTE + MINUTE, card=card, cardholder=f"Parent {surname}",
                              line1=street, city="Leeds", postal_code="LS1 4AP", country="GB", ip=ip))
    return events


def test_families_sharing_a_card_and_home_ip_stay_within_their_household() -> None:
    graph = IdentityGraph()
    # Two households on one ISP range, signing up the same evening, and a neighbour on the same street.
    graph.apply_batch(
        family("okafor", 4, "203.0.113.20", "okafor-visa", "12 Park Lane", T0)
        + family("novak", 3, "203.0.113.21", "novak-visa", "14 Park Lane", T0 + 2 * MINUTE)
        + family("rossi", 2, "203.0.113.22", "rossi-visa", "12 Park Lane Flat 2", T0 + 4 * MINUTE)
    )
    households = [{m.split("-")[0] for m in c} for c in clusters(graph)]
    assert all(len(h) == 1 for h in households), households
    assert sorted(len(c) for c in clusters(graph)) == [2, 3, 4]  # one cluster per household, nothing more
    assert graph.account_facts("okafor-0").org_id == ""


def vpn_users(count: int, exits: list[str], shared_name: bool) -> list[Event]:
    rng = random.Random(11)
    events: list[Event] = []
    for i in range(count):
        account = f"vpn{i}"
        at = T0 + rng.randint(0, 24 * 60) * MINUTE
        exit_ip = rng.choice(exits)
        name = "Alex Morgan" if shared_name else person(i)
        events.append(signup(account, at=at, email=f"{name.replace(' ', '').lower()}{i}@proton.me",
                             name=name, ip=exit_ip, device=f"device-{i}"))
        if i % 2:
            events.append(billing(account, at=at + 5 * MINUTE, card=f"card-{i}", cardholder=name, ip=exit_ip,
                                  funding=events_pb2.CARD_FUNDING_PREPAID))
        events += [inference(account, at=at + k * 7 * MINUTE, api_key=f"key-{i}", ip=rng.choice(exits))
                   for k in range(1, 4)]
    return events


def test_unrelated_vpn_users_on_one_exit_are_not_merged() -> None:
    graph = IdentityGraph()
    assert graph.apply_batch(vpn_users(50, ["185.220.101.7"], shared_name=False)) == []
    assert clusters(graph) == []
    assert graph.stats.comparisons > 0
    assert sorted(graph.find_accounts("ip", "185.220.101.7")) == sorted(f"vpn{i}" for i in range(50))

    assert all(graph.get_links(f"vpn{i}", 0.5) == [] for i in range(50))

    # Control: the exit plus one name on every account is worth a look — but a name and a network
    # are circumstance, and circumstance alone never merges.
    control = IdentityGraph()
    control.apply_batch(vpn_users(50, ["185.220.101.7"], shared_name=True))
    assert any(control.get_links(f"vpn{i}", 0.5) for i in range(50))
    assert clusters(control) == []
