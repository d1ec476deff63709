"""The enforcement worker's batch processor when the case store is unreachable: the batch is retried, not dropped
and not fatal; other errors still fail it at once. (The real outage, on PostgreSQL, is in test_failures.py.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from distillguard.pipeline import InputRecord
from distillguard.v1 import enforcement_pb2, ratepattern_pb2
from enforcement import service
from enforcement.domain import EnforcementDomain, SignalContext
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
