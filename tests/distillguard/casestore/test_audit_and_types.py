"""The audit log is append-only at every layer; instants are timezone-aware UTC on every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from distillguard.casestore import (
    AuditEntry,
    AuditLog,
    AuditLogImmutable,
    AuditQuery,
    OutboxMessage,
    create_engine,
    session_factory,
    upgrade_database,
)

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = f"sqlite+aiosqlite:///{tmp_path}/case.db"
    await upgrade_database(url)
    engine = create_engine(url)
    yield session_factory(engine)
    await engine.dispose()


async def seed(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        for i, (actor, action, subject) in enumerate([
            ("alice", "case.approve", "case:1"), ("policy", "action.apply", "account:a"),
            ("bob", "case.reject", "case:2"), ("alice", "action.reverse", "account:a"),
        ]):
            AuditLog.append(session, actor=actor, action=action, subject=subject, reason=f"r{i}",
                            policy_version="v1", detail={"i": i}, at=T0 + timedelta(minutes=i))


async def test_entries_filter_and_page_newest_first(sessions: async_sessionmaker[AsyncSession]) -> None:
    await seed(sessions)
    async with sessions() as session:
        everything = await AuditLog.entries(session)
        alice = await AuditLog.entries(session, AuditQuery(actor="alice"))
        account = await AuditLog.entries(session, AuditQuery(subject="account:a", action="action.apply"))
        window = await AuditLog.entries(session, AuditQuery(since=T0 + timedelta(minutes=1),
                                                            until=T0 + timedelta(minutes=3)))
        page = await AuditLog.entries(session, AuditQuery(limit=2))
        rest = await AuditLog.entries(session, AuditQuery(before_id=page[-1].id))
    assert [e.reason for e in everything] == ["r3", "r2", "r1", "r0"]
    assert [e.reason for e in alice] == ["r3", "r0"]
    assert [e.reason for e in account] == ["r1"]
    assert [e.reason for e in window] == ["r2", "r1"]
    assert [e.reason for e in page + rest] == ["r3", "r2", "r1", "r0"]
    assert everything[0].at == T0 + timedelta(minutes=3) and everything[0].detail == {"i": 3}


def test_the_repository_offers_no_way_to_change_history() -> None:
    public = {name for name in vars(AuditLog) if not name.startswith("_")}
    assert public == {"append", "append_all", "values", "entries", "MAX_LIMIT"}


async def test_orm_updates_and_deletes_are_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    await seed(sessions)
    async with sessions() as session:
        (entry,) = await AuditLog.entries(session, AuditQuery(limit=1))
        entry.reason = "rewritten"
        with pytest.raises(AuditLogImmutable, match="update refused"):
            await session.flush()
        await session.rollback()
        (entry,) = await AuditLog.entries(session, AuditQuery(limit=1))
        await session.delete(entry)
        with pytest.raises(AuditLogImmutable, match="delete refused"):
            await session.flush()


@pytest.mark.parametrize(
    "statement",
    [
        update(AuditEntry).values(reason="rewritten"),
        delete(AuditEntry),
        text("UPDATE audit_log SET actor = 'mallory'"),
        text("DELETE FROM audit_log"),
    ],
)
async def test_the_database_refuses_bulk_and_raw_changes(
    sessions: async_sessionmaker[AsyncSession], statement: object
) -> None:
    await seed(sessions)
    async with sessions() as session:
        with pytest.raises(DBAPIError, match="audit_log is append-only"):
            await session.execute(statement)  # type: ignore[call-overload]
    async with sessions() as session:
        assert len(await AuditLog.entries(session)) == 4


async def test_instants_are_utc_aware_and_naive_ones_are_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    plus_two = timezone(timedelta(hours=2))
    async with sessions.begin() as session:
        session.add(OutboxMessage(topic="t", key="k", payload=b"x", created_at=datetime(2026, 1, 1, 14, tzinfo=plus_two)))
    async with sessions() as session:
        row = await session.get(OutboxMessage, 1)
    assert row is not None and row.created_at == datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    assert row.created_at.tzinfo == timezone.utc
    async with sessions() as session:
        session.add(OutboxMessage(topic="t", key="k", payload=b"x", created_at=datetime(2026, 1, 1)))
        with pytest.raises(StatementError, match="naive datetime"):
            await session.flush()
