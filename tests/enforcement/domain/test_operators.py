"""Console operators: argon2 password hashes, roles, disabling."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from distillguard.casestore import Operator, OperatorRole
from enforcement.domain import OperatorError, OperatorStore

# Cheap parameters: these tests check behaviour, not hashing cost.
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


async def test_password_is_stored_as_an_argon2_hash_and_verified(sessions: async_sessionmaker[AsyncSession]) -> None:
    store = OperatorStore(sessions, FAST)
    created = await store.add("alice", "analyst", "correct horse battery", actor="admin")
    assert created.role is OperatorRole.ANALYST and not created.disabled

    async with sessions() as session:
        row = await session.scalar(select(Operator))
    assert row is not None and row.password_hash.startswith("$argon2id$")
    assert "correct horse" not in row.password_hash

    verified = await store.verify("alice", "correct horse battery")
    assert verified is not None and verified.name == "alice"
    assert await store.verify("alice", "wrong password!!") is None
    assert await store.verify("mallory", "correct horse battery") is None


async def test_roles_rank_viewer_analyst_admin_and_disabled_operators_may_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = OperatorStore(sessions, FAST)
    viewer = await store.add("vic", "viewer", "a long password 1", actor="admin")
    admin = await store.add("ada", "admin", "a long password 2", actor="admin")
    assert viewer.may("viewer") and not viewer.may("analyst")
    assert admin.may("analyst") and admin.may("admin")

    disabled = await store.set_disabled("ada", True, actor="root", reason="left the team")
    assert disabled.disabled and not disabled.may("viewer")
    assert await store.verify("ada", "a long password 2") is None


async def test_invalid_operators_are_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    store = OperatorStore(sessions, FAST)
    with pytest.raises(OperatorError, match="unknown role 'root'"):
        await store.add("x", "root", "a long password", actor="admin")
    with pytest.raises(OperatorError, match="too short"):
        await store.add("x", "viewer", "short", actor="admin")
    await store.add("x", "viewer", "a long password", actor="admin")
    with pytest.raises(OperatorError, match="already exists"):
        await store.add("x", "viewer", "a long password", actor="admin")


async def test_outdated_hashes_are_upgraded_on_login(sessions: async_sessionmaker[AsyncSession]) -> None:
    await OperatorStore(sessions, FAST).add("alice", "viewer", "a long password", actor="admin")
    stronger = OperatorStore(sessions, PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    assert await stronger.verify("alice", "a long password") is not None
    async with sessions() as session:
        row = await session.scalar(select(Operator))
    assert row is not None and "t=2" in row.password_hash
