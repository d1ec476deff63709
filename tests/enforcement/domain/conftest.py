"""Fixtures for the enforcement domain: a SQLite case store per test built by the real migrations, a domain over
it with a small test policy and a controllable clock, and the message builders of `enforcement.testing`."""

from __future__ import annotations

import textwrap
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from enforcement.domain import EnforcementDomain, OutboxRelay, PolicyHolder, VerdictIndex, parse_policy
from enforcement.testing import Clock, Events

#: A small policy with one rule per behaviour under test (the bundled default is tested separately).
TEST_POLICY = textwrap.dedent(
    """\
    version: test-1
    mode: most_severe
    guard_rails:
      review_cluster_ban_above: 5
    rules:
      - name: cluster-ban
        when: {subject: cluster, min_score: 0.95, min_cluster_size: 2}
        action: ban
        scope: cluster
      - name: cluster-suspend
        when: {subject: cluster, min_score: 0.85, min_cluster_size: 2}
        action: suspend
        scope: cluster
      - name: account-suspend
        when: {subject: account, min_score: 0.9}
        action: suspend
      - name: account-throttle
        when: {subject: account, min_score: 0.7}
        action: throttle
        rpm_cap: 20
      - name: watch
        when: {min_score: 0.5}
        action: monitor
      - name: chargeback-suspend
        when: {subject: account, external_signals_any: [chargeback, payment_fraud]}
        action: suspend
      - name: trial-account-challenge
        when: {subject: account, min_score: 0.6}
        action: challenge
        shadow: true
    """
)


@pytest.fixture
def ev() -> Events:
    return Events()


DomainFactory = Callable[..., Awaitable[EnforcementDomain]]


@pytest.fixture
def make_domain(sessions: async_sessionmaker[AsyncSession]) -> DomainFactory:
    async def make(policy_text: str = TEST_POLICY, verdicts: VerdictIndex | None = None) -> EnforcementDomain:
        domain = EnforcementDomain(
            sessions, PolicyHolder(parse_policy(policy_text, "test-policy.yaml")), verdicts, clock=Clock()
        )
        await domain.start()
        return domain

    return make


@pytest.fixture
async def domain(make_domain: DomainFactory) -> EnforcementDomain:
    return await make_domain()


@pytest.fixture
def relay(sessions: async_sessionmaker[AsyncSession]) -> OutboxRelay:
    return OutboxRelay(sessions)
