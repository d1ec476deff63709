"""Cluster updates (membership, growth of enforced clusters, stale versions) and external signals."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from distillguard.v1 import enforcement_pb2, events_pb2
from enforcement.domain import CaseFilter, EnforcementDomain, InvalidSignal, Verdict
from enforcement.testing import T0, Events

DomainFactory = Callable[..., Awaitable[EnforcementDomain]]


async def test_an_enforced_cluster_that_grows_acts_on_the_newcomers_in_the_same_case(
    domain: EnforcementDomain, ev: Events
) -> None:
    await domain.handle_cluster_update(ev.cluster_update("c1", ["a", "b", "c"], version=1))
    await domain.handle_signal(ev.cluster_signal("s1", "c1", [], 0.9))  # members from identity: suspend
    assert all(domain.check(m).verdict is Verdict.DENY for m in "abc")

    published = await domain.handle_cluster_update(
        ev.cluster_update("c1", ["a", "b", "c", "d"], version=2, added=["d"], at=T0 + timedelta(hours=1))
    )

    assert [(a.account_id, a.kind) for a in published] == [("d", enforcement_pb2.ACTION_KIND_SUSPEND)]
    assert published[0].signal_occurred_at.ToDatetime().isoformat() == "2026-11-01T13:00:00"
    (case,) = (await domain.list_cases()).cases
    assert case.cluster_size == 4 and case.blast_radius["accounts"] == 4
    detail = await domain.get_case(case.case_id)
    assert [e.kind for e in detail.evidence] == ["risk_signal", "cluster_update"]


async def test_growth_past_the_ban_limit_sends_newcomers_bans_to_review(
    domain: EnforcementDomain, ev: Events
) -> None:
    first = [f"m{i}" for i in range(4)]
    await domain.handle_signal(ev.cluster_signal("s1", "c1", first, 0.97))  # 4 <= 5: banned automatically
    grown = first + ["m4", "m5"]
    published = await domain.handle_cluster_update(ev.cluster_update("c1", grown, version=1, added=["m4", "m5"]))

    assert sorted((a.account_id, a.kind) for a in published) == [
        ("m4", enforcement_pb2.ACTION_KIND_SUSPEND), ("m5", enforcement_pb2.ACTION_KIND_SUSPEND)
    ]
    (case,) = (await domain.list_cases()).cases
    assert (case.status, case.review_reasons) == ("review", ("cluster_ban_size",))


async def test_stale_and_duplicate_cluster_updates_are_dropped(domain: EnforcementDomain, ev: Events) -> None:
    await domain.handle_cluster_update(ev.cluster_update("c1", ["a", "b"], version=5))
    await domain.handle_cluster_update(ev.cluster_update("c1", ["a", "b", "x", "y", "z"], version=4))
    await domain.handle_cluster_update(ev.cluster_update("c1", ["a", "b", "x", "y", "z"], version=5))
    await domain.handle_signal(ev.cluster_signal("s1", "c1", [], 0.9))
    (case,) = (await domain.list_cases()).cases
    assert case.cluster_size == 2


async def test_absorbed_clusters_resolve_to_the_survivor(domain: EnforcementDomain, ev: Events) -> None:
    await domain.handle_cluster_update(ev.cluster_update("old", ["a", "b"], version=1))
    await domain.handle_cluster_update(ev.cluster_update("new", ["a", "b", "c"], version=1, absorbed=["old"]))
    await domain.handle_signal(ev.cluster_signal("s1", "old", [], 0.9))
    published = await domain.handle_signal(ev.account_signal("s2", "c", 0.1))
    assert published == []
    assert all(domain.check(m).verdict is Verdict.DENY for m in "abc")


async def test_cluster_scope_rule_on_an_account_signal_acts_on_the_members_that_match(
    make_domain: DomainFactory, ev: Events
) -> None:
    domain = await make_domain(
        "version: scope-1\n"
        "rules:\n"
        "  - name: account-farm\n"
        "    when: {subject: account, min_score: 0.9, org_id_present: false}\n"
        "    action: suspend\n"
        "    scope: cluster\n"
    )
    await domain.handle_cluster_update(ev.cluster_update("c1", ["a", "b", "c"], version=1))
    await domain.observe_signups([ev.signup("c", org_id="org-1")])

    published = await domain.handle_signal(ev.account_signal("s1", "a", 0.95))

    assert sorted(a.account_id for a in published) == ["a", "b"]  # c has an org_id: the rule does not hold
    (case,) = (await domain.list_cases()).cases
    assert (case.subject_kind, case.subject_id, case.cluster_size) == ("cluster", "c1", 3)


async def test_chargeback_from_billing_is_an_external_signal(domain: EnforcementDomain, ev: Events) -> None:
    published = await domain.handle_billing(ev.billing("b1", "acct-1", events_pb2.BILLING_KIND_CHARGEBACK, 2_000))
    assert [(a.account_id, a.kind, list(a.reason_codes)) for a in published] == [
        ("acct-1", enforcement_pb2.ACTION_KIND_SUSPEND, ["chargeback"])
    ]
    assert await domain.handle_billing(ev.billing("b1", "acct-1", events_pb2.BILLING_KIND_CHARGEBACK, 2_000)) == []


async def test_report_external_signal_is_idempotent_per_caller_and_audited(
    domain: EnforcementDomain, ev: Events
) -> None:
    first = await domain.report_external_signal("acct-1", "payment_fraud", signal_id="r-1", actor="client:billing",
                                                detail="issuer flagged")
    assert [a.kind for a in first] == [enforcement_pb2.ACTION_KIND_SUSPEND]
    assert await domain.report_external_signal("acct-1", "payment_fraud", signal_id="r-1",
                                               actor="client:billing") == []
    entries = await domain.audit_log()
    assert [e.action for e in entries if e.actor == "client:billing"] == ["signal.external"]
    with pytest.raises(InvalidSignal, match="unknown external signal kind 'vibes'"):
        await domain.report_external_signal("acct-1", "vibes", signal_id="r-2", actor="client:billing")
    with pytest.raises(InvalidSignal, match="needs a signal_id"):
        await domain.report_external_signal("acct-1", "chargeback", signal_id="", actor="client:billing")


async def test_external_signal_uses_the_latest_account_score_and_facts(make_domain: DomainFactory, ev: Events) -> None:
    domain = await make_domain(
        "version: ext-1\n"
        "rules:\n"
        "  - name: risky-and-unverified\n"
        "    when: {subject: account, external_signals_any: [failed_verification], min_score: 0.5, paying: false}\n"
        "    action: challenge\n"
    )
    await domain.handle_billing(ev.billing("pay", "payer", events_pb2.BILLING_KIND_CHARGE_SUCCEEDED, 900))
    for account in ("payer", "free", "low"):
        await domain.handle_signal(ev.account_signal(f"s-{account}", account, 0.3 if account == "low" else 0.6))
    results = {
        account: await domain.report_external_signal(account, "failed_verification", signal_id=f"x-{account}",
                                                     actor="client:auth")
        for account in ("payer", "free", "low")
    }
    assert {a: [m.kind for m in published] for a, published in results.items()} == {
        "payer": [], "free": [enforcement_pb2.ACTION_KIND_CHALLENGE], "low": [],
    }
    assert [c.subject_id for c in (await domain.list_cases(CaseFilter(policy_rule="risky-and-unverified"))).cases] == [
        "free"
    ]


async def test_malformed_cluster_and_billing_events_are_refused(domain: EnforcementDomain, ev: Events) -> None:
    with pytest.raises(InvalidSignal, match="without cluster_id"):
        await domain.handle_cluster_update(ev.cluster_update("", ["a"], version=1))
    with pytest.raises(InvalidSignal, match="has no kind"):
        await domain.handle_billing(ev.billing("b", "a", events_pb2.BILLING_KIND_UNSPECIFIED))
