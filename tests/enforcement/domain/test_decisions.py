"""Human decisions on cases (approve, reject, escalate), reversals and appeals, all audited."""

from __future__ import annotations

import pytest

from distillguard.casestore import AuditQuery
from distillguard.v1 import enforcement_pb2, events_pb2
from enforcement.domain import EnforcementDomain, InvalidRequest, InvalidTransition, NotFound, Verdict
from enforcement.testing import Events


async def review_case(domain: EnforcementDomain, ev: Events, account_id: str = "acct-1", score: float = 0.95) -> str:
    """An id_document-verified account whose suspension waits for review; returns the case id."""
    await domain.observe_signups([ev.signup(account_id, verification=events_pb2.VERIFICATION_ID_DOCUMENT)])
    await domain.handle_signal(ev.account_signal(f"s-{account_id}", account_id, score))
    (case,) = (await domain.list_cases()).cases
    assert case.status == "review"
    return case.case_id


async def test_approve_applies_and_publishes_the_proposed_action(domain: EnforcementDomain, ev: Events) -> None:
    case_id = await review_case(domain, ev)

    result = await domain.decide_case(case_id, "approve", reason="verified doc was stolen", actor="alice")

    assert [(a.account_id, a.kind) for a in result.actions] == [("acct-1", enforcement_pb2.ACTION_KIND_SUSPEND)]
    assert result.case.status == "enforced" and result.case.review_reasons == ()
    assert domain.check("acct-1").verdict is Verdict.DENY
    detail = await domain.get_case(case_id)
    suspend = next(a for a in detail.actions if a.kind.value == "suspend")
    assert (suspend.status, suspend.applied_by) == ("applied", "alice")
    assert detail.decisions[-1].decision == "approve" and detail.decisions[-1].actor == "alice"
    entries = await domain.audit_log(AuditQuery(actor="alice"))
    assert [e.action for e in entries] == ["case.approve", "action.apply"]
    assert entries[0].reason == "verified doc was stolen" and entries[0].subject == f"case:{case_id}"


async def test_reject_closes_the_case_and_later_equal_signals_are_not_reproposed(
    domain: EnforcementDomain, ev: Events
) -> None:
    case_id = await review_case(domain, ev)

    result = await domain.decide_case(case_id, "reject", reason="known research lab", actor="bob")

    assert result.case.status == "rejected" and result.case.closed_at is not None and result.actions == ()
    assert domain.check("acct-1").verdict is Verdict.ALLOW
    # The machine does not overrule the human: the same (or a weaker) action is not proposed again ...
    assert await domain.handle_signal(ev.account_signal("again", "acct-1", 0.96)) == []
    assert [c.status for c in (await domain.list_cases()).cases] == ["rejected"]


async def test_escalate_then_approve(domain: EnforcementDomain, ev: Events) -> None:
    case_id = await review_case(domain, ev)
    escalated = await domain.decide_case(case_id, "escalate", reason="needs legal", actor="bob")
    assert escalated.case.status == "escalated"
    # Automation never moves an escalated case.
    await domain.handle_signal(ev.account_signal("more", "acct-1", 0.99, cluster_id=""))
    assert (await domain.get_case(case_id)).case.status == "escalated"
    with pytest.raises(InvalidTransition, match="already escalated"):
        await domain.decide_case(case_id, "escalate", reason="again", actor="bob")
    approved = await domain.decide_case(case_id, "approve", reason="legal agrees", actor="carol")
    assert approved.case.status == "enforced"


async def test_decisions_need_a_reason_an_actor_and_a_case_in_the_right_state(
    domain: EnforcementDomain, ev: Events
) -> None:
    case_id = await review_case(domain, ev)
    with pytest.raises(InvalidRequest, match="a reason is required"):
        await domain.decide_case(case_id, "approve", reason="  ", actor="alice")
    with pytest.raises(InvalidRequest, match="an actor is required"):
        await domain.decide_case(case_id, "approve", reason="ok", actor="")
    with pytest.raises(NotFound):
        await domain.decide_case("no-such-case", "approve", reason="ok", actor="alice")
    await domain.decide_case(case_id, "reject", reason="no", actor="alice")
    with pytest.raises(InvalidTransition, match="is rejected"):
        await domain.decide_case(case_id, "approve", reason="changed my mind", actor="alice")
    preview = await domain.preview_decision(case_id, "approve")
    assert preview.refused is not None and "is rejected" in preview.refused


async def test_rejecting_an_enforced_case_is_refused_in_favour_of_reversal(
    domain: EnforcementDomain, ev: Events
) -> None:
    await domain.handle_signal(ev.account_signal("s1", "acct-1", 0.95))
    (case,) = (await domain.list_cases()).cases
    with pytest.raises(InvalidTransition, match="reverse the actions instead"):
        await domain.decide_case(case.case_id, "reject", reason="oops", actor="alice")


async def test_reversal_restores_the_prior_state_and_emits_restore(domain: EnforcementDomain, ev: Events) -> None:
    (throttle,) = await domain.handle_signal(ev.account_signal("s1", "acct-1", 0.75))
    suspend = next(
        a for a in await domain.handle_signal(ev.account_signal("s2", "acct-1", 0.95))
        if a.kind == enforcement_pb2.ACTION_KIND_SUSPEND
    )
    assert domain.check("acct-1").verdict is Verdict.DENY
    preview = await domain.preview_reversal(suspend.action_id)
    assert (preview.verdict_before, preview.verdict_after, preview.refused) == ("deny", "throttle(20)", None)

    restore = await domain.reverse_action(suspend.action_id, reason="customer appeal upheld", actor="alice")

    assert restore.kind == enforcement_pb2.ACTION_KIND_RESTORE
    assert restore.reverses_action_id == suspend.action_id and restore.account_id == "acct-1"
    assert restore.action_id and restore.action_id != suspend.action_id
    # Prior state: the throttle that was in force before the suspension.
    answer = domain.check("acct-1")
    assert (answer.verdict, answer.rpm_cap, answer.action_id) == (Verdict.THROTTLE, 20, throttle.action_id)
    detail = await domain.get_case(restore.case_id)
    assert [(r.action_id, r.restore_action_id, r.actor) for r in detail.reversals] == [
        (suspend.action_id, restore.action_id, "alice")
    ]
    assert detail.case.status == "enforced" and detail.case.proposed_action == "throttle"
    entries = await domain.audit_log(AuditQuery(action="action.reverse"))
    assert len(entries) == 1 and entries[0].detail["restore_action_id"] == restore.action_id

    with pytest.raises(InvalidTransition, match="only applied actions can be reversed"):
        await domain.reverse_action(suspend.action_id, reason="again", actor="alice")
    with pytest.raises(InvalidTransition, match="restore action cannot be reversed"):
        await domain.reverse_action(restore.action_id, reason="undo the undo", actor="alice")

    # Reversing the last action closes the case as reversed; the account is back to allow.
    await domain.reverse_action(throttle.action_id, reason="all clear", actor="alice")
    assert domain.check("acct-1").verdict is Verdict.ALLOW
    assert (await domain.get_case(restore.case_id)).case.status == "reversed"


async def test_after_a_reversal_the_policy_does_not_reapply_and_stronger_actions_need_review(
    domain: EnforcementDomain, ev: Events
) -> None:
    (throttle,) = await domain.handle_signal(ev.account_signal("s1", "acct-1", 0.75))
    await domain.reverse_action(throttle.action_id, reason="false positive", actor="alice")

    assert await domain.handle_signal(ev.account_signal("s2", "acct-1", 0.78)) == []
    assert domain.check("acct-1").verdict is Verdict.ALLOW

    assert await domain.handle_signal(ev.account_signal("s3", "acct-1", 0.95)) == []
    review = [c for c in (await domain.list_cases()).cases if c.status == "review"]
    assert [(c.proposed_action, c.review_reasons) for c in review] == [("suspend", ("prior_human_decision",))]


async def test_upheld_appeal_reverses_and_denied_appeal_does_not(domain: EnforcementDomain, ev: Events) -> None:
    (first,) = await domain.handle_signal(ev.account_signal("s1", "acct-1", 0.75))
    (second,) = await domain.handle_signal(ev.account_signal("s2", "acct-2", 0.75))

    denied = await domain.file_appeal(first.action_id, reason="I am a student", filed_by="support:jo")
    assert denied.status == "open"
    resolved = await domain.resolve_appeal(denied.appeal_id, uphold=False, reason="traffic is scripted", actor="alice")
    assert resolved.status == "denied" and domain.check("acct-1").verdict is Verdict.THROTTLE

    upheld = await domain.file_appeal(second.action_id, reason="shared office IP", filed_by="support:jo")
    resolved = await domain.resolve_appeal(upheld.appeal_id, uphold=True, reason="confirmed", actor="alice")
    assert resolved.status == "upheld" and resolved.decided_by == "alice"
    assert domain.check("acct-2").verdict is Verdict.ALLOW
    detail = await domain.get_case(second.case_id)
    assert [r.appeal_id for r in detail.reversals] == [upheld.appeal_id]
    assert [a.appeal_id for a in detail.appeals] == [upheld.appeal_id]
    with pytest.raises(InvalidTransition, match="already upheld"):
        await domain.resolve_appeal(upheld.appeal_id, uphold=True, reason="twice", actor="alice")
    with pytest.raises(InvalidTransition, match="only applied actions can be appealed"):
        await domain.file_appeal(second.action_id, reason="again", filed_by="support:jo")


async def test_approving_a_monitor_case_acknowledges_it(domain: EnforcementDomain, ev: Events) -> None:
    await domain.handle_signal(ev.account_signal("s1", "acct-1", 0.55))
    (case,) = (await domain.list_cases()).cases
    assert case.status == "open"
    result = await domain.decide_case(case.case_id, "approve", reason="keep watching", actor="alice")
    assert result.case.status == "approved" and result.actions == ()
