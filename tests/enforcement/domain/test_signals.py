"""Risk signals become actions: graduated escalation, idempotency, validation, audit and outbox rows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from distillguard.casestore import Account, Action, AuditEntry, Case, OutboxMessage, Signal
from distillguard.v1 import enforcement_pb2, ratepattern_pb2
from enforcement.domain import EnforcementDomain, InvalidSignal, Verdict
from enforcement.testing import T0, Events


async def count(sessions: async_sessionmaker[AsyncSession], model: type[object]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_account_signal_throttles_and_records_case_action_audit_and_outbox_together(
    domain: EnforcementDomain, ev: Events, sessions: async_sessionmaker[AsyncSession]
) -> None:
    published = await domain.handle_signal(ev.account_signal("s1", "acct-1", 0.75))

    assert [(a.account_id, a.kind, a.rpm_cap) for a in published] == [
        ("acct-1", enforcement_pb2.ACTION_KIND_THROTTLE, 20)
    ]
    action = published[0]
    assert action.policy_rule == "account-throttle" and action.policy_version == "test-1"
    assert action.reason_codes == ["template_cross_account"]
    assert action.signal_occurred_at.ToDatetime().isoformat() == "2026-11-01T12:00:00"

    page = await domain.list_cases()
    assert [(c.status, c.subject_kind, c.subject_id, c.proposed_action, c.shadow) for c in page.cases] == [
        ("enforced", "account", "acct-1", "throttle", False)
    ]
    async with sessions() as session:
        outbox = list(await session.scalars(select(OutboxMessage)))
        audit = [(e.action, e.subject) for e in await session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert len(outbox) == 1 and outbox[0].key == "acct-1" and outbox[0].topic == "enforcement.actions"
    assert enforcement_pb2.EnforcementAction.FromString(outbox[0].payload) == action
    assert ("action.apply", "account:acct-1") in audit
    assert ("case.open", f"case:{page.cases[0].case_id}") in audit
    assert domain.check("acct-1").verdict is Verdict.THROTTLE and domain.check("acct-1").rpm_cap == 20


async def test_redelivered_signal_changes_nothing(
    domain: EnforcementDomain, ev: Events, sessions: async_sessionmaker[AsyncSession]
) -> None:
    signal = ev.account_signal("s1", "acct-1", 0.95)
    first = await domain.handle_signal(signal)
    tables = (Action, Case, OutboxMessage, AuditEntry, Signal)
    before = [await count(sessions, model) for model in tables]

    again = await domain.handle_signal(signal)
    assert first and again == []
    assert [await count(sessions, model) for model in tables] == before


async def test_graduated_escalation_adds_a_stronger_action_and_ignores_weaker_signals(
    domain: EnforcementDomain, ev: Events
) -> None:
    assert [a.kind for a in await domain.handle_signal(ev.account_signal("s1", "acct-1", 0.55))] == [
        enforcement_pb2.ACTION_KIND_MONITOR
    ]
    assert domain.check("acct-1").verdict is Verdict.ALLOW
    assert [a.kind for a in await domain.handle_signal(ev.account_signal("s2", "acct-1", 0.75))] == [
        enforcement_pb2.ACTION_KIND_THROTTLE
    ]
    assert await domain.handle_signal(ev.account_signal("s3", "acct-1", 0.72)) == []  # not stronger
    assert await domain.handle_signal(ev.account_signal("s4", "acct-1", 0.4)) == []  # below every rule
    assert [a.kind for a in await domain.handle_signal(ev.account_signal("s5", "acct-1", 0.93))] == [
        enforcement_pb2.ACTION_KIND_SUSPEND
    ]
    assert domain.check("acct-1").verdict is Verdict.DENY

    page = await domain.list_cases()
    assert len(page.cases) == 1, "one case per account collects the escalation"
    detail = await domain.get_case(page.cases[0].case_id)
    assert [a.kind.value for a in detail.actions if not a.shadow] == ["monitor", "throttle", "suspend"]
    # The shadow rule (challenge at >= 0.6) is recorded once, where it would have done more than the live
    # policy: never published, never enforced.
    assert [(a.kind.value, a.status) for a in detail.actions if a.shadow] == [("challenge", "proposed")]
    assert detail.case.proposed_action == "suspend" and detail.case.status == "enforced"
    assert [d.decision for d in detail.decisions] == ["auto_monitor", "auto_enforce", "auto_enforce"]
    assert [e.source_id for e in detail.evidence] == ["s1", "s2", "s5"]


async def test_older_signal_does_not_overwrite_the_latest_account_score(
    domain: EnforcementDomain, ev: Events, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await domain.handle_signal(ev.account_signal("new", "acct-1", 0.3))
    await domain.handle_signal(ev.account_signal("old", "acct-1", 0.6, at=T0 - timedelta(hours=1)))
    async with sessions() as session:
        account = await session.get(Account, "acct-1")
    assert account is not None and account.last_score == 0.3 and account.last_signal_at == T0
    # The older signal is still acted on: its own score decides.
    assert [c.proposed_action for c in (await domain.list_cases()).cases] == ["monitor"]


@pytest.mark.parametrize(
    ("signal", "message"),
    [
        (ratepattern_pb2.RiskSignal(subject_kind=ratepattern_pb2.SUBJECT_KIND_ACCOUNT, account_id="a", score=0.5),
         "needs a signal_id"),
        (ratepattern_pb2.RiskSignal(signal_id="x", subject_kind=ratepattern_pb2.SUBJECT_KIND_ACCOUNT, account_id="a",
                                    score=1.5), "score 1.5 is not in [0, 1]"),
        (ratepattern_pb2.RiskSignal(signal_id="x", subject_kind=ratepattern_pb2.SUBJECT_KIND_ACCOUNT, account_id="a",
                                    score=float("nan")), "is not in [0, 1]"),
        (ratepattern_pb2.RiskSignal(signal_id="x", subject_kind=ratepattern_pb2.SUBJECT_KIND_ACCOUNT, score=0.5),
         "missing occurred_at"),
    ],
)
async def test_malformed_signals_are_refused_without_writing(
    domain: EnforcementDomain, sessions: async_sessionmaker[AsyncSession], signal: ratepattern_pb2.RiskSignal,
    message: str,
) -> None:
    with pytest.raises(InvalidSignal, match=message.replace("[", r"\[").replace("]", r"\]")):
        await domain.handle_signal(signal)
    assert await count(sessions, Signal) == 0


async def test_a_batch_is_decided_in_order_and_reports_rejects_and_duplicates(
    make_domain: Callable[..., Awaitable[EnforcementDomain]], ev: Events
) -> None:
    signals = [
        ev.account_signal("s1", "a", 0.55),
        ev.account_signal("s2", "a", 0.75),
        ev.account_signal("s3", "b", 0.95),
        ratepattern_pb2.RiskSignal(signal_id="broken", subject_kind=ratepattern_pb2.SUBJECT_KIND_ACCOUNT, score=0.5),
        ev.account_signal("s2", "a", 0.75),  # duplicate inside the batch
        ev.cluster_signal("s4", "c1", ["b", "c", "d"], 0.9),
        ev.account_signal("s5", "a", 0.93),
    ]
    batched = await make_domain()
    batch = await batched.handle_signals(signals)

    assert [index for index, _ in batch.rejected] == [3] and "broken" in batch.rejected[0][1]
    assert batch.duplicates == 1
    kinds = [(a.account_id, enforcement_pb2.ActionKind.Name(a.kind)) for a in batch.published]
    assert kinds == [
        ("a", "ACTION_KIND_MONITOR"), ("a", "ACTION_KIND_THROTTLE"), ("b", "ACTION_KIND_SUSPEND"),
        ("c", "ACTION_KIND_SUSPEND"), ("d", "ACTION_KIND_SUSPEND"), ("a", "ACTION_KIND_SUSPEND"),
    ]
    again = await batched.handle_signals(signals)
    assert again.published == () and again.duplicates == 6

    records = [r async for r in batched.export_decisions()]
    assert [(r["account_id"], r["action"], r["enforced"]) for r in records] == [
        ("a", "suspend", True), ("b", "suspend", True), ("c", "suspend", True), ("d", "suspend", True)
    ]
    cases = (await batched.list_cases()).cases
    assert sorted((c.subject_kind, c.subject_id, c.status) for c in cases) == [
        ("account", "a", "enforced"), ("account", "b", "enforced"), ("cluster", "c1", "enforced")
    ]
