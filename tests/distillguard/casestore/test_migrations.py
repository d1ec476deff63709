"""Migrations: they build the schema the models describe, from the installed package, idempotently."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

import distillguard
from distillguard.casestore import Base, create_engine, current_revision, head_revision, upgrade_database
from distillguard.casestore.engine import MIGRATIONS_DIR

EXPECTED_TABLES = {
    "accounts", "account_identifiers", "clusters", "signals", "payments", "cases", "evidence_snapshots",
    "decisions", "actions", "appeals", "reversals", "policy_versions", "audit_log", "outbox", "api_clients",
    "operators", "alembic_version",
}


def schema_drift(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_upgrade_creates_the_schema_the_models_describe(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/nested/dir/case.db"
    assert await current_revision(url) is None

    await upgrade_database(url)

    assert (tmp_path / "nested" / "dir" / "case.db").exists(), "the SQLite folder is created"
    assert await current_revision(url) == head_revision()
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
            drift = await connection.run_sync(schema_drift)
    finally:
        await engine.dispose()
    assert tables == EXPECTED_TABLES
    assert drift == [], "models and migrations disagree: add a migration"


async def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/case.db"
    await upgrade_database(url)
    await upgrade_database(url)
    assert await current_revision(url) == head_revision()


async def test_downgrade_to_base_and_back(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/case.db"
    await upgrade_database(url)
    from alembic import command

    from distillguard.casestore.engine import alembic_config

    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            def downgrade(sync: Connection) -> None:
                config = alembic_config()
                config.attributes["connection"] = sync
                command.downgrade(config, "base")

            await connection.run_sync(downgrade)
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert tables == {"alembic_version"}
    await upgrade_database(url)
    assert await current_revision(url) == head_revision()


def test_migrations_ship_inside_the_package() -> None:
    package_dir = Path(distillguard.__file__).parent
    assert MIGRATIONS_DIR == package_dir / "casestore" / "migrations"
    assert (MIGRATIONS_DIR / "env.py").is_file() and (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert (MIGRATIONS_DIR / "__init__.py").is_file() and (MIGRATIONS_DIR / "versions" / "__init__.py").is_file()
    assert head_revision() == "0001"


async def test_sqlite_connections_use_wal_and_enforce_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/case.db"
    await upgrade_database(url)
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            journal = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
            foreign_keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar()
            busy = (await connection.execute(text("PRAGMA busy_timeout"))).scalar()
            with pytest.raises(Exception, match="FOREIGN KEY constraint failed"):
                await connection.execute(text(
                    "INSERT INTO decisions (case_id, decision, actor, reason, policy_version, decided_at, detail) "
                    "VALUES ('no-such-case', 'approve', 'a', '', '', '2026-01-01 00:00:00', '{}')"
                ))
    finally:
        await engine.dispose()
    assert (journal, foreign_keys, busy) == ("wal", 1, 30000)


def test_unsupported_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported case store URL"):
        create_engine("mysql+aiomysql://x/y")
