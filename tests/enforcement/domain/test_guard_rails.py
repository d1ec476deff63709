"""Guard rails send big cluster bans and actions on verified accounts to human review, with a blast radius."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from distillguard.v1 import enforcement_pb2, events_pb2
from enforcement.domain import CaseFilter, EnforcementDomain, Verdict
from enforcement.domain.policy import default_policy_text
from enforcement.testing import T0, Events


def members(n: int, prefix: str = "m") -> list[str]:
    return [f"{prefix}{i:02d}" for i in range(n)]


async def test_small_cluster_is_banned_automatically(domain: EnforcementDomain, ev: Events) -> None:
    accounts = members(4)  # review_cluster_ban_above is 5 in the test policy
    published = await domain.handle_signal(ev.cluster_signal("s1", "c1", accounts, 0.97))

    assert sorted((a.account_id, a.kind) for a in published) == [
        (m, enforcement_pb2.ACTION_KIND_BAN) for m in accounts
    ]
    (case,) = (await domain.list_cases()).cases
    assert (case.subject_kind, case.subject_id, case.status, case.proposed_action) == ("cluster", "c1", "enforced", "ban")
    assert case.cluster_size == 4 and case.review_reasons == ()
    assert all(domain.check(m).verdict is Verdict.DENY for m in accounts)


async def test_big_cluster_ban_goes_to_review_while_the_cluster_is_suspended(
    domain: EnforcementDomain, ev: Events
) -> None:
    accounts = members(8)
    published = await domain.handle_signal(ev.cluster_signal("s1", "c1", accounts, 0.97))

    # The ban waits for a human; the strongest rule that is not held (suspend) applies meanwhile.
    assert {a.kind for a in published} == {enforcement_pb2.ACTION_KIND_SUSPEND}
    assert len(published) == 8
    (case,) = (await domain.list_cases()).cases
    assert (case.status, case.proposed_action, case.policy_rule) == ("review", "ban", "cluster-ban")
    assert case.review_reasons == ("cluster_ban_size",)
    assert case.blast_radius["accounts"] == 8
    detail = await domain.get_case(case.case_id)
    bans = [a for a in detail.actions if a.kind.value == "ban"]
    assert len(bans) == 8 and {a.status for a in bans} == {"proposed"}
    assert all(a.review_reasons == ("cluster_ban_size",) for a in bans)
    assert [d.decision for d in detail.decisions] == ["auto_review"]

    # Once a human approves, the bans apply and are published.
    result = await domain.decide_case(case.case_id, "approve", reason="confirmed farm", actor="alice")
    assert result.case.status == "enforced"
    assert sorted(a.account_id for a in result.actions) == accounts
    assert {a.kind for a in result.actions} == {enforcement_pb2.ACTION_KIND_BAN}


async def test_verified_enterprise_member_gets_its_own_review_case_and_no_automatic_action(
    domain: EnforcementDomain, ev: Events
) -> None:
    accounts = members(4)
    await domain.observe_signups([
        ev.signup("m01", signup_path=events_pb2.SIGNUP_PATH_ENTERPRISE_SALES, org_id="org-acme"),
        # enterprise_sales without an org is not "verified enterprise"
        ev.signup("m02", signup_path=events_pb2.SIGNUP_PATH_ENTERPRISE_SALES),
    ])
    published = await domain.handle_signal(ev.cluster_signal("s1", "c1", accounts, 0.97))

    assert sorted((a.account_id, a.kind) for a in published) == [
        ("m00", enforcement_pb2.ACTION_KIND_BAN),
        ("m01", enforcement_pb2.ACTION_KIND_MONITOR),  # held account: only watched meanwhile
        ("m02", enforcement_pb2.ACTION_KIND_BAN),
        ("m03", enforcement_pb2.ACTION_KIND_BAN),
    ]
    assert domain.check("m01").verdict is Verdict.ALLOW
    review = (await domain.list_cases(CaseFilter(status="review"))).cases
    assert [(c.subject_kind, c.subject_id, c.proposed_action, c.review_reasons) for c in review] == [
        ("account", "m01", "ban", ("verified_enterprise",))
    ]
    cluster_case = (await domain.list_cases(CaseFilter(subject_kind="cluster"))).cases[0]
    assert cluster_case.status == "enforced" and cluster_case.blast_radius["accounts"] == 3


async def test_id_document_verified_account_goes_to_review_for_any_restriction(
    domain: EnforcementDomain, ev: Events
) -> None:
    await domain.observe_signups([ev.signup("acct-1", verification=events_pb2.VERIFICATION_ID_DOCUMENT)])

    published = await domain.handle_signal(ev.account_signal("s1", "acct-1", 0.75))
    assert [a.kind for a in published] == [enforcement_pb2.ACTION_KIND_MONITOR]  # throttle held, watched meanwhile
    (case,) = (await domain.list_cases()).cases
    assert (case.status, case.proposed_action, case.review_reasons) == ("review", "throttle", ("id_document",))
    assert domain.check("acct-1").verdict is Verdict.ALLOW

    # A stronger proposal replaces nothing automatically either; a weaker or equal one is not re-proposed.
    assert await domain.handle_signal(ev.account_signal("s2", "acct-1", 0.74)) == []
    assert await domain.handle_signal(ev.account_signal("s3", "acct-1", 0.95)) == []
    detail = await domain.get_case(case.case_id)
    assert sorted((a.kind.severity, a.status) for a in detail.actions if not a.shadow) == [
        (0, "applied"), (1, "proposed"), (3, "proposed")  # monitor, throttle, suspend
    ]

    # Monitoring needs no human.
    await domain.observe_signups([ev.signup("acct-2", verification=events_pb2.VERIFICATION_ID_DOCUMENT)])
    published = await domain.handle_signal(ev.account_signal("s4", "acct-2", 0.55))
    assert [a.kind for a in published] == [enforcement_pb2.ACTION_KIND_MONITOR]


async def test_blast_radius_counts_accounts_paying_accounts_and_trailing_30_day_revenue(
    domain: EnforcementDomain, ev: Events
) -> None:
    accounts = members(8)
    charge, refund, chargeback = (events_pb2.BILLING_KIND_CHARGE_SUCCEEDED, events_pb2.BILLING_KIND_REFUND,
                                  events_pb2.BILLING_KIND_CHARGEBACK)
    for event in [
        ev.billing("b1", "m00", charge, 5_000),
        ev.billing("b2", "m00", charge, 2_500, at=T0 - timedelta(days=10)),
        ev.billing("b3", "m01", charge, 1_000),
        ev.billing("b4", "m01", refund, 1_000),  # fully refunded: not paying
        ev.billing("b5", "m02", charge, 9_999, at=T0 - timedelta(days=31)),  # outside the window
        ev.billing("b6", "m03", charge, 4_000),
        ev.billing("b7", "m03", charge, 4_000),
        ev.billing("b7", "m03", charge, 4_000),  # re-delivered: counted once
        ev.billing("b10", "m05", charge, 3_000),
        ev.billing("b11", "m05", chargeback, 3_000),  # charged back: not paying
        ev.billing("b8", "m04", charge, 700, at=T0 + timedelta(days=1)),  # after the signal
        ev.billing("b9", "outsider", charge, 123_456),
    ]:
        await domain.handle_billing(event)
    await domain.handle_signal(ev.cluster_signal("s1", "c1", accounts, 0.97))

    (case,) = (await domain.list_cases(CaseFilter(subject_kind="cluster"))).cases
    assert case.blast_radius == {
        "accounts": 8, "paying_accounts": 2, "revenue_cents": 15_500, "window_days": 30,
        "as_of": "2026-11-01T12:00:00Z",
    }
    detail = await domain.get_case(case.case_id)
    per_account = {a.account_id: a.blast_radius for a in detail.actions if a.kind.value == "ban"}
    assert per_account["m00"] == {"accounts": 1, "paying_accounts": 1, "revenue_cents": 7_500}
    assert per_account["m01"] == {"accounts": 1, "paying_accounts": 0, "revenue_cents": 0}

    preview = await domain.preview_decision(case.case_id, "approve")
    assert preview.refused is None and preview.status_after == "enforced"
    assert len(preview.would_apply) == 8 and preview.blast_radius["revenue_cents"] == 15_500


async def test_bundled_default_policy_on_a_large_farm_cluster(
    make_domain: Callable[..., Awaitable[EnforcementDomain]], ev: Events
) -> None:
    domain = await make_domain(default_policy_text())
    farm = members(40, "farm")
    await domain.handle_cluster_update(ev.cluster_update("c1", farm, version=1, evidence={"card_fingerprint": 12}))
    published = await domain.handle_signal(ev.cluster_signal("s1", "c1", farm, 0.97))

    # Suspended at once; the ban of 40 accounts (> 25) waits for a human; the shadow trial adds nothing here.
    assert {a.kind for a in published} == {enforcement_pb2.ACTION_KIND_SUSPEND} and len(published) == 40
    (case,) = (await domain.list_cases()).cases
    assert (case.status, case.proposed_action, case.review_reasons) == ("review", "ban", ("cluster_ban_size",))
    assert all(domain.check(m).verdict is Verdict.DENY for m in farm)
    # A lone account with a moderate score is throttled, not suspended.
    (throttle,) = await domain.handle_signal(ev.account_signal("s2", "solo", 0.78))
    assert (throttle.kind, throttle.rpm_cap) == (enforcement_pb2.ACTION_KIND_THROTTLE, 20)
