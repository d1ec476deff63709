"""Transactional outbox: an action and its message commit together; the relay publishes at least once, in
order, and a crash between publish and mark only ever duplicates (same action_id), never loses."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from distillguard.casestore import Action, AuditEntry, OutboxMessage, Signal
from distillguard.casestore.types import utcnow
from distillguard.v1 import enforcement_pb2
from enforcement.domain import EnforcementDomain, OutboxRelay, Verdict
from enforcement.domain import cases as cases_module
from enforcement.domain import outbox as outbox_module
from enforcement.domain import scope as scope_module
from enforcement.testing import Events, acknowledged


class Broker:
    """A stand-in for Kafka that can be told to fail; remembers what it acknowledged. Acknowledges at once,
    or, with `hold_acks`, only when `acknowledge` is called (as a producer batching sends would)."""

    def __init__(self, hold_acks: bool = False) -> None:
        self.sent: list[tuple[str, bytes, enforcement_pb2.EnforcementAction]] = []
        self.fail_at: int | None = None
        self.hold_acks = hold_acks
        self.unacknowledged: list[asyncio.Future[None]] = []

    async def publish(self, topic: str, key: bytes, value: bytes) -> asyncio.Future[None]:
        if self.fail_at is not None and len(self.sent) >= self.fail_at:
            raise ConnectionError("broker unavailable")
        self.sent.append((topic, key, enforcement_pb2.EnforcementAction.FromString(value)))
        if not self.hold_acks:
            return acknowledged()
        held: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.unacknowledged.append(held)
        return held

    def acknowledge(self, failing: int | None = None) -> None:
        """Resolve every held acknowledgement, the `failing`-th (0-based) with a broker error."""
        for n, acknowledged in enumerate(self.unacknowledged):
            if n == failing:
                acknowledged.set_exception(ConnectionError("not acknowledged"))
            else:
                acknowledged.set_result(None)
        self.unacknowledged = []

    def action_ids(self) -> list[str]:
        return [message.action_id for _, _, message in self.sent]


async def rows(sessions: async_sessionmaker[AsyncSession], model: type[object]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_crash_inside_the_transaction_leaves_neither_action_nor_message(
    domain: EnforcementDomain, ev: Events, sessions: async_sessionmaker[AsyncSession],
    relay: OutboxRelay, monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_enqueue_all = outbox_module.enqueue_all

    async def crash_after_writing(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
        await real_enqueue_all(session, rows)  # action, audit and outbox rows are written ...
        raise RuntimeError("process killed before commit")  # ... and the commit never happens

    monkeypatch.setattr(scope_module, "enqueue_all", crash_after_writing)
    signal = ev.account_signal("s1", "acct-1", 0.95)
    audit_before = await rows(sessions, AuditEntry)
    with pytest.raises(RuntimeError, match="killed"):
        await domain.handle_signal(signal)
    for model in (Action, OutboxMessage, Signal):
        assert await rows(sessions, model) == 0, model
    assert await rows(sessions, AuditEntry) == audit_before
    assert domain.check("acct-1").verdict is Verdict.ALLOW, "memory changes only after a commit"

    # Kafka re-delivers the uncommitted signal after the restart: processed once, completely.
    monkeypatch.undo()
    published = await domain.handle_signal(signal)
    assert len(published) == 1
    assert await rows(sessions, Action) == 1 and await rows(sessions, OutboxMessage) == 1


async def test_broker_down_after_commit_the_relay_later_publishes_exactly_the_pending_rows_in_order(
    domain: EnforcementDomain, ev: Events, relay: OutboxRelay
) -> None:
    committed = []
    for i in range(3):
        committed += await domain.handle_signal(ev.account_signal(f"s{i}", f"acct-{i}", 0.95))
    broker = Broker()
    broker.fail_at = 0
    with pytest.raises(ConnectionError):
        await relay.relay_once(broker.publish)
    assert await relay.pending() == 3 and broker.sent == []

    broker.fail_at = None
    assert await relay.relay_once(broker.publish) == 3
    assert broker.action_ids() == [a.action_id for a in committed]
    assert [key for _, key, _ in broker.sent] == [b"acct-0", b"acct-1", b"acct-2"]
    assert {topic for topic, _, _ in broker.sent} == {"enforcement.actions"}
    assert await relay.pending() == 0
    assert await relay.relay_once(broker.publish) == 0, "nothing is published twice once marked"


async def test_failure_mid_batch_marks_what_went_out_and_keeps_the_rest_in_order(
    domain: EnforcementDomain, ev: Events, relay: OutboxRelay
) -> None:
    committed = []
    for i in range(4):
        committed += await domain.handle_signal(ev.account_signal(f"s{i}", f"acct-{i}", 0.95))
    broker = Broker()
    broker.fail_at = 2
    with pytest.raises(ConnectionError):
        await relay.relay_once(broker.publish)
    assert await relay.pending() == 2

    broker.fail_at = None
    assert await relay.relay_once(broker.publish) == 2
    assert broker.action_ids() == [a.action_id for a in committed]


async def relaying_five(
    domain: EnforcementDomain, ev: Events, relay: OutboxRelay
) -> tuple[list[enforcement_pb2.EnforcementAction], Broker, asyncio.Task[int]]:
    """Five committed actions, all handed to a broker that holds its acknowledgements, by a relay still running."""
    committed = []
    for i in range(5):
        committed += await domain.handle_signal(ev.account_signal(f"s{i}", f"acct-{i}", 0.95))
    broker = Broker(hold_acks=True)
    relaying = asyncio.create_task(relay.relay_once(broker.publish))
    while len(broker.sent) < 5:
        await asyncio.sleep(0.01)
    return committed, broker, relaying


async def test_the_whole_batch_is_sent_before_any_acknowledgement_is_awaited(
    domain: EnforcementDomain, ev: Events, relay: OutboxRelay
) -> None:
    committed, broker, relaying = await relaying_five(domain, ev, relay)
    assert not relaying.done() and await relay.pending() == 5  # all sent, none acknowledged yet
    broker.acknowledge()
    assert await relaying == 5 and await relay.pending() == 0
    assert broker.action_ids() == [a.action_id for a in committed]


async def test_a_lost_acknowledgement_marks_only_the_prefix_before_it(
    domain: EnforcementDomain, ev: Events, relay: OutboxRelay
) -> None:
    committed, broker, relaying = await relaying_five(domain, ev, relay)
    broker.acknowledge(failing=2)
    with pytest.raises(ConnectionError, match="not acknowledged"):
        await relaying
    assert await relay.pending() == 3, "the third and everything after it stay pending, in order"

    broker.hold_acks = False
    assert await relay.relay_once(broker.publish) == 3
    ids = broker.action_ids()
    # The 4th and 5th went out before the failure was known: published again, same action_id (a duplicate).
    assert ids[5:] == [a.action_id for a in committed[2:]]
    assert list(dict.fromkeys(ids)) == [a.action_id for a in committed]


async def test_crash_between_publish_and_mark_duplicates_with_the_same_action_id(
    domain: EnforcementDomain, ev: Events, relay: OutboxRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    committed = await domain.handle_signal(ev.account_signal("s1", "acct-1", 0.95))
    committed += await domain.handle_signal(ev.account_signal("s2", "acct-2", 0.75))
    broker = Broker()

    async def crash(session: AsyncSession, ids: list[int]) -> None:
        raise RuntimeError("process killed after publishing, before marking")

    monkeypatch.setattr(outbox_module, "_mark", crash)
    with pytest.raises(RuntimeError, match="killed"):
        await relay.relay_once(broker.publish)
    monkeypatch.undo()

    assert await relay.relay_once(broker.publish) == 2
    ids = broker.action_ids()
    assert ids == [a.action_id for a in committed] * 2, "at-least-once: published again, identical"
    assert [m for _, _, m in broker.sent[:2]] == [m for _, _, m in broker.sent[2:]]
    # A consumer deduplicating by action_id applies each action once.
    assert list(dict.fromkeys(ids)) == [a.action_id for a in committed]


async def test_action_ids_are_derived_from_idempotency_keys(
    domain: EnforcementDomain, ev: Events, sessions: async_sessionmaker[AsyncSession]
) -> None:
    (published,) = await domain.handle_signal(ev.account_signal("s1", "acct-1", 0.95))
    async with sessions() as session:
        action = await session.get(Action, published.action_id)
    assert action is not None
    assert action.idempotency_key == "risk:s1:acct-1:account-suspend"
    assert action.action_id == cases_module._action_id(action.idempotency_key)


async def test_prune_removes_only_published_messages(
    domain: EnforcementDomain, ev: Events, relay: OutboxRelay, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await domain.handle_signal(ev.account_signal("s1", "acct-1", 0.95))
    await relay.relay_once(Broker().publish)
    await domain.handle_signal(ev.account_signal("s2", "acct-2", 0.95))
    assert await relay.prune(utcnow() + timedelta(seconds=1)) == 1
    assert await rows(sessions, OutboxMessage) == 1 and await relay.pending() == 1
