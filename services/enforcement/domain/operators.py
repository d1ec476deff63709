"""Console operators: names, roles (viewer < analyst < admin) and argon2id password hashes.

Roles: viewers read; analysts also decide cases and reverse actions; admins also manage operators and
policies (`Operator.may`). Verification is deliberately slow (argon2id), so it runs in a worker thread to keep
the event loop free; an unknown name still pays one hash so timing does not reveal which names exist.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from distillguard.casestore.audit import AuditLog
from distillguard.casestore.models import Operator, OperatorRole
from distillguard.casestore.types import utcnow

_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")
_RANK: Final = {OperatorRole.VIEWER: 0, OperatorRole.ANALYST: 1, OperatorRole.ADMIN: 2}
MIN_PASSWORD_LENGTH: Final = 12


class OperatorError(ValueError):
    """A refused operator change (bad name, role or password; duplicate; unknown operator)."""


@dataclass(frozen=True)
class OperatorView:
    name: str
    role: OperatorRole
    created_at: datetime
    disabled: bool

    def may(self, role: OperatorRole | str) -> bool:
        """True when this operator's role is `role` or above it."""
        return not self.disabled and _RANK[self.role] >= _RANK[OperatorRole(role)]


def _view(row: Operator) -> OperatorView:
    return OperatorView(row.name, OperatorRole(row.role), row.created_at, row.disabled)


class OperatorStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], hasher: PasswordHasher | None = None) -> None:
        self._sessions = sessions
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None

    async def add(self, name: str, role: OperatorRole | str, password: str, *, actor: str) -> OperatorView:
        if not _NAME.match(name):
            raise OperatorError(f"invalid operator name {name!r}")
        try:
            granted = OperatorRole(role)
        except ValueError:
            raise OperatorError(f"unknown role {role!r}; expected viewer, analyst or admin") from None
        if len(password) < MIN_PASSWORD_LENGTH:
            raise OperatorError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        async with self._sessions.begin() as session:
            if await session.scalar(select(Operator.id).where(Operator.name == name)) is not None:
                raise OperatorError(f"operator {name!r} already exists")
            row = Operator(name=name, role=granted.value, password_hash=password_hash, created_at=utcnow(),
                           disabled=False)
            session.add(row)
            AuditLog.append(session, actor=actor, action="operator.add", subject=f"operator:{name}",
                            detail={"role": granted.value})
        return _view(row)

    async def set_disabled(self, name: str, disabled: bool, *, actor: str, reason: str = "") -> OperatorView:
        async with self._sessions.begin() as session:
            row = await session.scalar(select(Operator).where(Operator.name == name))
            if row is None:
                raise OperatorError(f"no operator named {name!r}")
            if row.disabled != disabled:
                row.disabled = disabled
                AuditLog.append(session, actor=actor, action="operator.disable" if disabled else "operator.enable",
                                subject=f"operator:{name}", reason=reason)
        return _view(row)

    async def get(self, name: str) -> OperatorView | None:
        async with self._sessions() as session:
            row = await session.scalar(select(Operator).where(Operator.name == name))
            return _view(row) if row is not None else None

    async def list(self) -> list[OperatorView]:
        async with self._sessions() as session:
            return [_view(row) for row in await session.scalars(select(Operator).order_by(Operator.name))]

    async def verify(self, name: str, password: str) -> OperatorView | None:
        """The enabled operator `name` if `password` is theirs, else None. Upgrades outdated hashes."""
        async with self._sessions() as session:
            row = await session.scalar(select(Operator).where(Operator.name == name))
        if row is None or row.disabled:
            if self._dummy_hash is None:
                self._dummy_hash = await asyncio.to_thread(self._hasher.hash, "not-a-real-password")
            await asyncio.to_thread(self._check, self._dummy_hash, password)
            return None
        if not await asyncio.to_thread(self._check, row.password_hash, password):
            return None
        if self._hasher.check_needs_rehash(row.password_hash):
            new_hash = await asyncio.to_thread(self._hasher.hash, password)
            async with self._sessions.begin() as session:
                current = await session.get(Operator, row.id)
                if current is not None:
                    current.password_hash = new_hash
        return _view(row)

    def _check(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
