"""Shadow mode: a shadow rule decides and records, and enforces nothing until a human approves."""

from __future__ import annotations

import textwrap
from collections.abc import Awaitable, Callable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from distillguard.casestore import OutboxMessage
from distillguard.v1 import enforcement_pb2
from enforcement.domain import CaseFilter, EnforcementDomain, Verdict
from enforcement.testing import Events

SHADOW_ONLY = textwrap.dedent(
    """\
    version: shadow-1
    rules:
      - name: trial-ban
        when: {subject: account, min_score: 0.8}
        action: ban
        shadow: true
    """
)


async def outbox_rows(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def test_shadow_rule_records_a_proposal_and_publishes_nothing(
    make_domain: Callable[..., Awaitable[EnforcementDomain]], ev: Events, sessions: async_sessionmaker[AsyncSession]
) -> None:
    domain = await make_domain(SHADOW_ONLY)
    assert await domain.handle_signal(ev.account_signal("s1", "acct-1", 0.9)) == []

    assert await outbox_rows(sessions) == 0
    assert domain.check("acct-1").verdict is Verdict.ALLOW
    (case,) = (await domain.list_cases(CaseFilter(shadow=True))).cases
    assert (case.status, case.shadow, case.proposed_action, case.policy_rule) == ("proposed", True, "ban", "trial-ban")
    assert case.blast_radius["accounts"] == 1  # what it would hit
    detail = await domain.get_case(case.case_id)
    assert [(a.kind.value, a.status, a.shadow) for a in detail.actions] == [("ban", "proposed", True)]
    assert [d.decision for d in detail.decisions] == ["auto_shadow"]
    assert [e.action for e in await domain.audit_log()][:2] == ["case.open", "action.shadow"]
    records = [r async for r in domain.export_decisions()]
    assert records == [{
        "account_id": "acct-1", "action": "ban", "enforced": False, "first_enforced_at": None, "cluster_id": None,
        "score": 0.9, "reasons": ["template_cross_account"], "policy_rule": "trial-ban", "shadow": True,
    }]
    assert await domain.rule_stats() == {
        "trial-ban": {"applied": 0, "proposed": 0, "reversed": 0, "rejected": 0, "shadow": 1}
    }

    # Re-evaluating does not pile up duplicate shadow records.
    assert await domain.handle_signal(ev.account_signal("s2", "acct-1", 0.95)) == []
    assert len((await domain.get_case(case.case_id)).actions) == 1


async def test_approving_a_shadow_case_enforces_it(
    make_domain: Callable[..., Awaitable[EnforcementDomain]], ev: Events, sessions: async_sessionmaker[AsyncSession]
) -> None:
    domain = await make_domain(SHADOW_ONLY)
    await domain.handle_signal(ev.account_signal("s1", "acct-1", 0.9))
    (case,) = (await domain.list_cases()).cases

    result = await domain.decide_case(case.case_id, "approve", reason="trial looks right", actor="alice")

    assert [a.kind for a in result.actions] == [enforcement_pb2.ACTION_KIND_BAN]
    assert result.case.status == "enforced" and result.case.shadow is False
    assert domain.check("acct-1").verdict is Verdict.DENY
    assert await outbox_rows(sessions) == 1


async def test_shadow_next_to_live_rules_changes_nothing_live(domain: EnforcementDomain, ev: Events) -> None:
    published = await domain.handle_signal(ev.account_signal("s1", "acct-1", 0.65))  # watch + trial challenge

    assert [a.kind for a in published] == [enforcement_pb2.ACTION_KIND_MONITOR]
    assert domain.check("acct-1").verdict is Verdict.ALLOW
    (case,) = (await domain.list_cases()).cases
    assert case.shadow is False and case.status == "open"
    detail = await domain.get_case(case.case_id)
    assert sorted((a.kind.value, a.shadow) for a in detail.actions) == [("challenge", True), ("monitor", False)]
    # The export reports the live decision, not the shadow one.
    (record,) = [r async for r in domain.export_decisions()]
    assert (record["action"], record["shadow"], record["enforced"]) == ("monitor", False, False)


async def test_shadow_is_not_recorded_where_live_policy_already_does_as_much(
    domain: EnforcementDomain, ev: Events
) -> None:
    await domain.handle_signal(ev.account_signal("s1", "acct-1", 0.95))  # live suspend > shadow challenge
    (case,) = (await domain.list_cases()).cases
    assert [a.shadow for a in (await domain.get_case(case.case_id)).actions] == [False]

