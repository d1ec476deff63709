"""The enforcement worker's batch processor when the case store is unreachable: the batch is retried, not dropped
and not fatal; other errors still fail it at once. (The real outage, on PostgreSQL, is in test_failures.py.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from distillguard.pipeline import InputRecord
from distillguard.v1 import enforcement_pb2, ratepattern_pb2
from enforcement import service
from enforcement.domain import EnforcementDomain, PolicyHolder, SignalContext, Verdict, load_default_policy
from enforcement.domain.cases import SignalBatch
from enforcement.testing import Events


def lost_connection() -> DBAPIError:
    orig = asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation")
    return DBAPIError("INSERT INTO signals ...", {}, orig, connection_invalidated=True)


class FlakyDomain:
    """Fails the first `failures` calls of handle_signals with `error`, then decides every signal into one action."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0
        self.rebuilds = 0

    async def rebuild_verdicts(self) -> int:
        self.rebuilds += 1
        return 0

    async def handle_signals(
        self, signals: Sequence[ratepattern_pb2.RiskSignal], context: SignalContext | None = None
    ) -> SignalBatch:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        actions = tuple(enforcement_pb2.EnforcementAction(action_id=f"a-{s.signal_id}", account_id=s.account_id)
                        for s in signals)
        return SignalBatch(actions, (), 0)


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "CASE_STORE_BACKOFF_S", (0.001, 0.004))


def batch() -> list[InputRecord]:
    signal = Events().account_signal("s1", "acct-1", 0.95)
    return [InputRecord("risk.signals", 0, 7, b"acct-1", signal.SerializeToString())]


async def test_a_batch_that_loses_the_database_is_retried_until_it_is_back() -> None:
    domain = FlakyDomain(failures=3, error=lost_connection())
    processor = service.EnforcementProcessor(cast(EnforcementDomain, domain))
    result = await processor.process(batch())
    assert domain.calls == 4 and result.rejected == [] and result.outputs == []
    assert domain.rebuilds == 1, "after an interrupted attempt the verdict index is reloaded once"


async def test_connection_refused_is_retried_too() -> None:
    domain = FlakyDomain(failures=2, error=ConnectionRefusedError(111, "Connect call failed"))
    await service.EnforcementProcessor(cast(EnforcementDomain, domain)).process(batch())
    assert domain.calls == 3


async def test_an_error_in_the_work_fails_the_batch_at_once() -> None:
    orig = asyncpg.exceptions.UniqueViolationError("duplicate key value violates unique constraint")
    domain = FlakyDomain(failures=1, error=IntegrityError("INSERT ...", {}, orig))
    with pytest.raises(IntegrityError):
        await service.EnforcementProcessor(cast(EnforcementDomain, domain)).process(batch())
    assert domain.calls == 1


async def test_a_long_outage_ends_the_worker_instead_of_outliving_the_consumer_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service, "CASE_STORE_OUTAGE_MAX_S", 0.02)
    domain = FlakyDomain(failures=10_000, error=lost_connection())
    with pytest.raises(DBAPIError):
        await service.EnforcementProcessor(cast(EnforcementDomain, domain)).process(batch())
    assert 1 < domain.calls < 10_000


@pytest.mark.parametrize(("error", "unreachable"), [
    (lost_connection(), True),
    (ConnectionRefusedError(111, "Connect call failed"), True),
    (TimeoutError(), True),
    (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), True),
    (DBAPIError("SELECT 1", {}, asyncpg.exceptions.AdminShutdownError("terminating connection")), True),
    (IntegrityError("INSERT ...", {}, asyncpg.exceptions.UniqueViolationError("duplicate key")), False),
    (ValueError("a bug"), False),
])
def test_what_counts_as_the_case_store_being_unreachable(error: BaseException, unreachable: bool) -> None:
    assert service.case_store_unreachable(error) is unreachable


class CommitLostOnce:
    """A real domain whose first handle_signals commits and then reports the connection lost: what its caller
    sees when a COMMIT succeeded but its acknowledgement never arrived (memory was not updated for it)."""

    def __init__(self, real: EnforcementDomain) -> None:
        self.real = real
        self.lost = False

    async def handle_signals(
        self, signals: Sequence[ratepattern_pb2.RiskSignal], context: SignalContext | None = None
    ) -> SignalBatch:
        decided = await self.real.handle_signals(signals, context)
        if not self.lost:
            self.lost = True
            self.real.verdicts.clear()  # the commit's memory update never ran
            raise lost_connection()
        return decided

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


async def test_a_commit_lost_but_successful_still_reaches_the_verdict_index(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    domain = EnforcementDomain(sessions, PolicyHolder(load_default_policy()))
    await domain.start()
    flaky = CommitLostOnce(domain)
    processor = service.EnforcementProcessor(cast(EnforcementDomain, flaky))
    result = await processor.process(batch())
    assert flaky.lost and result.rejected == [] and result.outputs == []  # the retry found a duplicate
    # The action committed by the interrupted attempt is answered from memory all the same.
    assert domain.check("acct-1").verdict is not Verdict.ALLOW
