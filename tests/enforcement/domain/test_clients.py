"""API client tokens: minted once, stored only as SHA-256, scoped, revocable."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from distillguard.casestore import ApiClient, AuditQuery
from enforcement.domain import ClientError, ClientRegistry, EnforcementDomain


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_token_is_stored_only_as_its_sha256(sessions: async_sessionmaker[AsyncSession]) -> None:
    registry = ClientRegistry(sessions)
    client, token = await registry.mint("billing", ["check", "report"], actor="admin")

    assert token.startswith("dg_") and len(token) > 40
    assert client.name == "billing" and client.allows("check") and client.allows("report")
    assert not client.allows("operator")
    async with sessions() as session:
        row = await session.scalar(select(ApiClient))
        dump = "\n".join(str(r) for r in (await session.execute(text("SELECT * FROM api_clients"))).all())
    assert row is not None and row.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in dump and token[3:] not in dump


async def test_authenticate_accepts_the_token_and_refuses_anything_else(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    registry = ClientRegistry(sessions)
    _, token = await registry.mint("auth", ["check"], actor="admin")

    client = await registry.authenticate(token)
    assert client is not None and client.name == "auth" and client.scopes == frozenset({"check"})
    assert await registry.authenticate(token + "x") is None
    assert await registry.authenticate("dg_" + "A" * 43) is None
    assert await registry.authenticate("") is None
    assert await registry.authenticate("Bearer " + token) is None


async def test_revocation_takes_effect_in_this_process_at_once_and_elsewhere_within_the_ttl(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FakeMonotonic()
    here = ClientRegistry(sessions, monotonic=clock)
    elsewhere = ClientRegistry(sessions, monotonic=clock, cache_ttl_s=30)
    _, token = await here.mint("billing", ["report"], actor="admin")
    assert await here.authenticate(token) is not None
    assert await elsewhere.authenticate(token) is not None

    revoked = await here.revoke("billing", actor="admin", reason="rotated")
    assert revoked.revoked_at is not None
    assert await here.authenticate(token) is None
    assert await elsewhere.authenticate(token) is not None  # cached ...
    clock.now += 31
    assert await elsewhere.authenticate(token) is None  # ... until the TTL expires


async def test_bad_names_scopes_and_duplicates_are_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    registry = ClientRegistry(sessions)
    with pytest.raises(ClientError, match="unknown scope 'admin'"):
        await registry.mint("x", ["admin"], actor="admin")
    with pytest.raises(ClientError, match="at least one scope"):
        await registry.mint("x", [], actor="admin")
    with pytest.raises(ClientError, match="invalid client name"):
        await registry.mint("has space", ["check"], actor="admin")
    await registry.mint("x", ["check"], actor="admin")
    with pytest.raises(ClientError, match="already exists"):
        await registry.mint("x", ["check"], actor="admin")
    with pytest.raises(ClientError, match="no client named"):
        await registry.revoke("nobody", actor="admin")
    assert [c.name for c in await registry.list()] == ["x"]


async def test_minting_and_revoking_are_audited(
    sessions: async_sessionmaker[AsyncSession], domain: EnforcementDomain
) -> None:
    registry = ClientRegistry(sessions)
    await registry.mint("billing", ["check", "report"], actor="admin")
    await registry.revoke("billing", actor="admin", reason="rotated")
    entries = await domain.audit_log(AuditQuery(subject="client:billing"))
    assert [(e.action, e.actor) for e in entries] == [("client.revoke", "admin"), ("client.add", "admin")]
    assert entries[1].detail == {"scopes": ["check", "report"]}
