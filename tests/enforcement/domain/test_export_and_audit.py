"""export_decisions format, the case queue, and an audit row for every state change."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from distillguard.casestore import AuditEntry, AuditQuery
from distillguard.v1 import events_pb2
from enforcement.domain import CaseFilter, EnforcementDomain, InvalidRequest, PageRequest
from enforcement.testing import T0, Events


async def test_export_decisions_one_record_per_account(domain: EnforcementDomain, ev: Events) -> None:
    await domain.handle_cluster_update(ev.cluster_update("c1", ["farm-1", "farm-2"], version=1))
    await domain.handle_signal(ev.cluster_signal("s1", "c1", [], 0.9, at=T0 + timedelta(minutes=30)))
    await domain.handle_signal(ev.account_signal("s2", "farm-1", 0.75, at=T0))  # earlier event, weaker: no action
    await domain.handle_signal(ev.account_signal("s3", "watched", 0.55))
    (suspend,) = await domain.handle_signal(ev.account_signal("s4", "reversed", 0.95))
    await domain.reverse_action(suspend.action_id, reason="fp", actor="alice")
    await domain.observe_signups([ev.signup("held", verification=events_pb2.VERIFICATION_ID_DOCUMENT)])
    await domain.handle_signal(ev.account_signal("s5", "held", 0.95))

    records = {r["account_id"]: r async for r in domain.export_decisions()}

    assert list(records) == sorted(records)
    assert set(records) == {"farm-1", "farm-2", "watched", "reversed", "held"}
    assert records["farm-1"] == {
        "account_id": "farm-1", "action": "suspend", "enforced": True,
        "first_enforced_at": "2026-11-01T12:30:00Z", "cluster_id": "c1", "score": 0.9,
        "reasons": ["synchronized_timing"], "policy_rule": "cluster-suspend", "shadow": False,
    }
    assert (records["watched"]["action"], records["watched"]["enforced"], records["watched"]["first_enforced_at"]) == (
        "monitor", False, None
    )
    assert (records["reversed"]["action"], records["reversed"]["enforced"]) == ("monitor", False)
    # Awaiting review: the proposal is reported, and it is not enforced.
    assert (records["held"]["action"], records["held"]["enforced"], records["held"]["policy_rule"]) == (
        "suspend", False, "account-suspend"
    )
    for record in records.values():
        assert set(record) == {"account_id", "action", "enforced", "first_enforced_at", "cluster_id", "score",
                               "reasons", "policy_rule", "shadow"}
        assert record["action"] in {"monitor", "throttle", "challenge", "suspend", "ban"}


async def test_first_enforced_at_is_the_event_time_of_the_first_enforcing_signal(
    domain: EnforcementDomain, ev: Events
) -> None:
    await domain.handle_signal(ev.account_signal("s1", "a", 0.55, at=T0))  # monitor: not enforcement
    await domain.handle_signal(ev.account_signal("s2", "a", 0.75, at=T0 + timedelta(hours=2)))
    await domain.handle_signal(ev.account_signal("s3", "a", 0.95, at=T0 + timedelta(hours=3)))
    (record,) = [r async for r in domain.export_decisions()]
    assert (record["action"], record["first_enforced_at"]) == ("suspend", "2026-11-01T14:00:00Z")


async def test_case_queue_filters_sorts_and_pages(domain: EnforcementDomain, ev: Events) -> None:
    for i, score in enumerate([0.55, 0.75, 0.95, 0.76, 0.93]):
        await domain.handle_signal(ev.account_signal(f"s{i}", f"acct-{i}", score))

    throttled = await domain.list_cases(CaseFilter(proposed_action="throttle"))
    assert sorted(c.subject_id for c in throttled.cases) == ["acct-1", "acct-3"]
    by_score = await domain.list_cases(CaseFilter(min_score=0.7), PageRequest(size=2, sort="score"))
    assert [c.score for c in by_score.cases] == [0.95, 0.93] and by_score.total == 4
    following = await domain.list_cases(
        CaseFilter(min_score=0.7), PageRequest(size=2, sort="score", token=by_score.next_page_token)
    )
    assert [c.score for c in following.cases] == [0.76, 0.75] and following.next_page_token == ""
    assert [c.subject_id for c in (await domain.list_cases(CaseFilter(account_id="acct-2"))).cases] == ["acct-2"]
    assert (await domain.list_cases(CaseFilter(status=["enforced", "open"]))).total == 5
    assert (await domain.list_cases(CaseFilter(policy_rule="watch"))).total == 1
    with pytest.raises(InvalidRequest, match="invalid page token"):
        await domain.list_cases(page=PageRequest(token="not base64!"))
    proto = by_score.cases[0].to_proto()
    assert proto.status == "enforced" and proto.reasons == ["template_cross_account"]
    assert '"accounts": 1' in proto.blast_radius_json


async def test_every_state_change_writes_an_audit_row(
    domain: EnforcementDomain, ev: Events, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await domain.observe_signups([ev.signup("held", verification=events_pb2.VERIFICATION_ID_DOCUMENT)])
    await domain.handle_signal(ev.account_signal("s1", "held", 0.95))
    (case,) = (await domain.list_cases()).cases
    await domain.decide_case(case.case_id, "escalate", reason="unsure", actor="alice")
    result = await domain.decide_case(case.case_id, "approve", reason="sure now", actor="bob")
    suspend = next(a for a in result.actions)
    appeal = await domain.file_appeal(suspend.action_id, reason="please", filed_by="support")
    await domain.resolve_appeal(appeal.appeal_id, uphold=True, reason="granted", actor="carol")

    async with sessions() as session:
        entries = list(await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    counted = Counter(e.action for e in entries)
    assert counted == Counter({
        "policy.activate": 1, "case.open": 1, "action.apply": 2, "action.propose": 1, "case.escalate": 1,
        "case.approve": 1, "appeal.file": 1, "action.reverse": 1, "appeal.uphold": 1,
    })  # action.apply: the monitor by policy, the suspend by bob
    assert all(e.actor and e.at.tzinfo is not None for e in entries)
    assert all(e.policy_version == "test-1" for e in entries if e.action.startswith(("case.", "action.")))
    by_account = await domain.audit_log(AuditQuery(subject="account:held"))
    assert [e.action for e in by_account] == [
        "appeal.uphold", "action.reverse", "appeal.file", "action.apply", "action.apply", "action.propose"
    ]
    page = await domain.audit_log(AuditQuery(subject="account:held", limit=2))
    older = await domain.audit_log(AuditQuery(subject="account:held", before_id=page[-1].id))
    assert [e.id for e in page + older] == [e.id for e in by_account]
    assert page[0].to_proto().actor == "carol"
