"""A smoke of the domain on a real PostgreSQL: the same migrations, decisions, outbox and locking relays."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from distillguard.casestore import Action, OutboxMessage, create_engine, session_factory, upgrade_database
from distillguard.v1 import enforcement_pb2, events_pb2
from enforcement.domain import EnforcementDomain, OutboxRelay, PolicyHolder, Verdict, parse_policy
from enforcement.testing import Clock, Events, acknowledged

pytestmark = pytest.mark.integration

POLICY = """\
version: pg-1
guard_rails: {review_cluster_ban_above: 3}
rules:
  - {name: cluster-ban, when: {subject: cluster, min_score: 0.95}, action: ban, scope: cluster}
  - {name: cluster-suspend, when: {subject: cluster, min_score: 0.8}, action: suspend, scope: cluster}
  - {name: account-throttle, when: {subject: account, min_score: 0.7}, action: throttle, rpm_cap: 20}
"""


@pytest.fixture
async def pg_sessions(pg_database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade_database(pg_database_url)
    engine = create_engine(pg_database_url)
    yield session_factory(engine)
    await engine.dispose()


async def make(sessions: async_sessionmaker[AsyncSession]) -> EnforcementDomain:
    domain = EnforcementDomain(sessions, PolicyHolder(parse_policy(POLICY)), clock=Clock())
    await domain.start()
    return domain


async def test_domain_smoke_on_postgres(pg_sessions: async_sessionmaker[AsyncSession], ev: Events) -> None:
    domain = await make(pg_sessions)
    members = [f"m{i}" for i in range(5)]
    await domain.observe_signups([ev.signup("m0", verification=events_pb2.VERIFICATION_ID_DOCUMENT)])
    await domain.handle_billing(ev.billing("b1", "m1", events_pb2.BILLING_KIND_CHARGE_SUCCEEDED, 1_200))
    await domain.handle_cluster_update(ev.cluster_update("c1", members, version=1))

    published = await domain.handle_signal(ev.cluster_signal("s1", "c1", members, 0.97))
    assert await domain.handle_signal(ev.cluster_signal("s1", "c1", members, 0.97)) == []

    assert sorted(a.account_id for a in published) == ["m1", "m2", "m3", "m4"]
    assert {a.kind for a in published} == {enforcement_pb2.ACTION_KIND_SUSPEND}
    cases = {(c.subject_kind, c.subject_id): c for c in (await domain.list_cases()).cases}
    cluster_case = cases[("cluster", "c1")]
    assert (cluster_case.status, cluster_case.review_reasons) == ("review", ("cluster_ban_size",))
    assert cluster_case.blast_radius["paying_accounts"] == 1 and cluster_case.blast_radius["revenue_cents"] == 1_200
    assert cases[("account", "m0")].review_reasons == ("cluster_ban_size", "id_document")

    approved = await domain.decide_case(cluster_case.case_id, "approve", reason="farm", actor="alice")
    assert {a.kind for a in approved.actions} == {enforcement_pb2.ACTION_KIND_BAN}
    restore = await domain.reverse_action(approved.actions[0].action_id, reason="appeal", actor="alice")
    assert restore.kind == enforcement_pb2.ACTION_KIND_RESTORE
    assert domain.check(restore.account_id).verdict is Verdict.DENY  # the suspension is still in force

    fresh = await make(pg_sessions)  # a restarted worker rebuilds its verdicts
    assert [fresh.check(m).verdict for m in members] == [domain.check(m).verdict for m in members]
    records = [r async for r in fresh.export_decisions()]
    assert [r["account_id"] for r in records] == members
    assert [r["enforced"] for r in records] == [False, True, True, True, True]


async def test_concurrent_relays_publish_each_message_once(
    pg_sessions: async_sessionmaker[AsyncSession], ev: Events
) -> None:
    domain = await make(pg_sessions)
    for i in range(40):
        await domain.handle_signal(ev.account_signal(f"s{i}", f"acct-{i:02d}", 0.75))
    sent: list[str] = []

    async def slow_publish(topic: str, key: bytes, value: bytes) -> asyncio.Future[None]:
        await asyncio.sleep(0.001)
        sent.append(enforcement_pb2.EnforcementAction.FromString(value).action_id)
        return acknowledged()

    relays = [OutboxRelay(pg_sessions) for _ in range(3)]
    counts = await asyncio.gather(*(relay.relay_once(slow_publish, limit=15) for relay in relays))
    while await relays[0].pending():
        await relays[0].relay_once(slow_publish)

    assert sum(counts) <= 40 and len(sent) == 40 and len(set(sent)) == 40
    async with pg_sessions() as session:
        ids = list(await session.scalars(select(Action.action_id).order_by(Action.action_id)))
        unpublished = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))
        )
    assert sorted(sent) == ids and unpublished == 0


async def test_the_same_signal_delivered_to_two_workers_at_once_acts_once(
    pg_sessions: async_sessionmaker[AsyncSession], ev: Events
) -> None:
    first, second = await make(pg_sessions), await make(pg_sessions)
    signal = ev.account_signal("s1", "acct-1", 0.75)
    results = await asyncio.gather(first.handle_signal(signal), second.handle_signal(signal))
    assert sorted(len(r) for r in results) == [0, 1]
    async with pg_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


async def test_signups_upsert_and_identifiers_on_postgres(
    pg_sessions: async_sessionmaker[AsyncSession], ev: Events
) -> None:
    domain = await make(pg_sessions)
    await domain.observe_signups([
        ev.signup("a", email="A@example.com", ip="192.0.2.1"),
        ev.signup("a", email="A@example.com", ip="192.0.2.1", org_id="org-1"),  # same account twice in a batch
        ev.signup("b", email="b@example.com"),
    ])
    await domain.observe_signups([ev.signup("a", email="a@example.com", org_id="org-2")])  # re-delivery upserts
    assert await domain.find_accounts("email", "A@EXAMPLE.com") == ["a"]
    assert await domain.find_accounts("ip", "192.0.2.1") == ["a"]
    assert await domain.record_identifiers("a", [("api_key_id", "k1"), ("api_key_id", "k1")]) == 1
