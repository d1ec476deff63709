"""The same migrations on a real PostgreSQL, including the triggers that make the audit log append-only."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError

from distillguard.casestore import (
    AuditLog,
    Base,
    create_engine,
    current_revision,
    head_revision,
    session_factory,
    upgrade_database,
)

pytestmark = pytest.mark.integration


def schema_drift(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_build_the_model_schema_on_postgres(pg_database_url: str) -> None:
    await asyncio.gather(upgrade_database(pg_database_url), upgrade_database(pg_database_url))  # advisory lock
    assert await current_revision(pg_database_url) == head_revision()
    engine = create_engine(pg_database_url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
            drift = await connection.run_sync(schema_drift)
            column_types = await connection.run_sync(
                lambda c: {col["name"]: str(col["type"]) for col in inspect(c).get_columns("cases")}
            )
    finally:
        await engine.dispose()
    assert {"cases", "actions", "audit_log", "outbox", "api_clients", "operators"} <= tables
    assert drift == []
    assert column_types["reasons"] == "JSONB" and column_types["opened_at"] == "TIMESTAMP"


@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("UPDATE audit_log SET reason = 'rewritten'", "UPDATE"),
        ("DELETE FROM audit_log", "DELETE"),
        ("TRUNCATE audit_log", "TRUNCATE"),
    ],
)
async def test_postgres_trigger_refuses_changes_to_the_audit_log(
    pg_database_url: str, statement: str, operation: str
) -> None:
    await upgrade_database(pg_database_url)
    engine = create_engine(pg_database_url)
    sessions = session_factory(engine)
    try:
        async with sessions.begin() as session:
            AuditLog.append(session, actor="alice", action="case.approve", subject="case:1", reason="ok")
        async with sessions() as session:
            with pytest.raises(DBAPIError, match=f"audit_log is append-only: {operation} refused"):
                await session.execute(text(statement))
        async with sessions() as session:
            entries = await AuditLog.entries(session)
        assert [(e.actor, e.reason) for e in entries] == [("alice", "ok")]
    finally:
        await engine.dispose()
