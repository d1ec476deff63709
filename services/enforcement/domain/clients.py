"""API clients of the enforcement gRPC service and their bearer tokens.

A token is `dg_` + `secrets.token_urlsafe(32)` (256 random bits), shown once at mint time; the case store
keeps only its SHA-256. A fast hash is right here (unlike passwords): the token is high-entropy, so there is
nothing to brute-force, and every gRPC call must be authenticated in microseconds. Lookups are by hash, so
there is no secret-dependent comparison to time.

Scopes: `check` (CheckAccount), `report` (ReportExternalSignal), `operator` (case and audit methods). The gRPC
layer maps methods to scopes; `Client.allows` is the one test.

`authenticate` answers from a small in-process cache (positive entries for `cache_ttl_s`, unknown tokens for
`negative_ttl_s`) so revocation by another process (the CLI) takes effect within the TTL without a database
round trip per call.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from distillguard.casestore.audit import AuditLog
from distillguard.casestore.models import ApiClient, ClientScope
from distillguard.casestore.types import utcnow

TOKEN_PREFIX: Final = "dg_"
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class ClientError(ValueError):
    """A refused client operation (bad name or scope, duplicate, unknown client)."""


@dataclass(frozen=True)
class Client:
    name: str
    scopes: frozenset[ClientScope]
    created_at: datetime | None = None
    revoked_at: datetime | None = None

    def allows(self, scope: ClientScope | str) -> bool:
        return ClientScope(scope) in self.scopes


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def mint_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _scopes(scopes: Iterable[ClientScope | str]) -> frozenset[ClientScope]:
    result = set()
    for scope in scopes:
        try:
            result.add(ClientScope(scope))
        except ValueError:
            allowed = ", ".join(s.value for s in ClientScope)
            raise ClientError(f"unknown scope {scope!r}; expected one of {allowed}") from None
    if not result:
        raise ClientError("a client needs at least one scope")
    return frozenset(result)


def _client(row: ApiClient) -> Client:
    return Client(row.name, frozenset(ClientScope(s) for s in row.scopes), row.created_at, row.revoked_at)


class ClientRegistry:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        cache_ttl_s: float = 30.0,
        negative_ttl_s: float = 5.0,
        max_cached: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._cache_ttl = cache_ttl_s
        self._negative_ttl = negative_ttl_s
        self._max_cached = max_cached
        self._now = monotonic
        self._cache: OrderedDict[str, tuple[float, Client | None]] = OrderedDict()

    async def mint(self, name: str, scopes: Iterable[ClientScope | str], *, actor: str) -> tuple[Client, str]:
        """Create a client; return it and its token (the only time the token is visible)."""
        if not _NAME.match(name):
            raise ClientError(f"invalid client name {name!r}: letters, digits, '_', '.', '-' (max 128)")
        granted = _scopes(scopes)
        token = mint_token()
        async with self._sessions.begin() as session:
            if await session.scalar(select(ApiClient.id).where(ApiClient.name == name)) is not None:
                raise ClientError(f"client {name!r} already exists; revoke it first or pick another name")
            row = ApiClient(
                name=name, token_sha256=hash_token(token), scopes=sorted(s.value for s in granted),
                created_at=utcnow(),
            )
            session.add(row)
            AuditLog.append(
                session, actor=actor, action="client.add", subject=f"client:{name}",
                detail={"scopes": sorted(s.value for s in granted)},
            )
        return _client(row), token

    async def revoke(self, name: str, *, actor: str, reason: str = "") -> Client:
        async with self._sessions.begin() as session:
            row = await session.scalar(select(ApiClient).where(ApiClient.name == name))
            if row is None:
                raise ClientError(f"no client named {name!r}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                AuditLog.append(session, actor=actor, action="client.revoke", subject=f"client:{name}", reason=reason)
        self._cache = OrderedDict((k, v) for k, v in self._cache.items() if v[1] is None or v[1].name != name)
        return _client(row)

    async def list(self) -> list[Client]:
        async with self._sessions() as session:
            rows = await session.scalars(select(ApiClient).order_by(ApiClient.name))
            return [_client(row) for row in rows]

    async def authenticate(self, token: str) -> Client | None:
        """The active client holding `token`, or None (unknown, revoked, or malformed)."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 256:
            return None
        digest = hash_token(token)
        now = self._now()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._sessions() as session:
            row = await session.scalar(
                select(ApiClient).where(ApiClient.token_sha256 == digest, ApiClient.revoked_at.is_(None))
            )
        client = _client(row) if row is not None else None
        self._cache[digest] = (now + (self._cache_ttl if client else self._negative_ttl), client)
        self._cache.move_to_end(digest)
        while len(self._cache) > self._max_cached:
            self._cache.popitem(last=False)
        return client

    def forget_cached(self) -> None:
        self._cache.clear()
