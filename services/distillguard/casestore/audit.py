"""The append-only audit log: the only write path is `AuditLog.append`.

Three layers keep rows immutable: this API only inserts (`append`, `append_all`) and reads; an ORM flush that would update or
delete an `AuditEntry` raises `AuditLogImmutable`; and the migration installs database triggers (PostgreSQL
and SQLite) that refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) on audit_log, so even hand-written
SQL cannot rewrite history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opentelemetry import trace
from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, UOWTransaction

from distillguard.casestore.models import AuditEntry
from distillguard.casestore.types import utcnow


class AuditLogImmutable(RuntimeError):
    """Something tried to change or remove an audit row."""


@dataclass(frozen=True)
class AuditQuery:
    """Filters for reading the log; every field is optional. Results are newest first."""

    subject: str | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: Only rows with id < before_id (the next page of a newest-first listing).
    before_id: int | None = None
    limit: int = 100


def _with_trace(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    """The row's detail plus the trace id of the operation writing it, when it is being traced, so an
    operator can go from an audit row (or the console) to the trace in Jaeger."""
    out = dict(detail or {})
    context = trace.get_current_span().get_span_context()
    if context.is_valid and "trace_id" not in out:
        out["trace_id"] = format(context.trace_id, "032x")
    return out


class AuditLog:
    """Append to and read the audit log inside the caller's transaction."""

    MAX_LIMIT = 1000

    @staticmethod
    def append(
        session: AsyncSession,
        *,
        actor: str,
        action: str,
        subject: str,
        reason: str = "",
        policy_version: str = "",
        detail: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditEntry:
        """Add one row to the session; it is written when (and only if) the caller's transaction commits."""
        entry = AuditEntry(
            at=at or utcnow(),
            actor=actor,
            action=action,
            subject=subject,
            reason=reason,
            policy_version=policy_version,
            detail=_with_trace(detail),
        )
        session.add(entry)
        return entry

    @staticmethod
    def values(
        *,
        actor: str,
        action: str,
        subject: str,
        reason: str = "",
        policy_version: str = "",
        detail: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """One row for `append_all`."""
        return {
            "at": at or utcnow(), "actor": actor, "action": action, "subject": subject, "reason": reason,
            "policy_version": policy_version, "detail": _with_trace(detail),
        }

    @staticmethod
    async def append_all(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert many rows (built with `values`) in one statement, inside the caller's transaction."""
        if rows:
            await session.execute(insert(AuditEntry), [dict(row) for row in rows])

    @classmethod
    async def entries(cls, session: AsyncSession, query: AuditQuery | None = None) -> list[AuditEntry]:
        query = query or AuditQuery()
        stmt = select(AuditEntry).order_by(AuditEntry.id.desc())
        if query.subject is not None:
            stmt = stmt.where(AuditEntry.subject == query.subject)
        if query.actor is not None:
            stmt = stmt.where(AuditEntry.actor == query.actor)
        if query.action is not None:
            stmt = stmt.where(AuditEntry.action == query.action)
        if query.since is not None:
            stmt = stmt.where(AuditEntry.at >= query.since)
        if query.until is not None:
            stmt = stmt.where(AuditEntry.at < query.until)
        if query.before_id is not None:
            stmt = stmt.where(AuditEntry.id < query.before_id)
        stmt = stmt.limit(max(1, min(query.limit, cls.MAX_LIMIT)))
        return list((await session.scalars(stmt)).all())


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, flush_context: UOWTransaction, instances: object) -> None:
    for obj in session.dirty:
        if isinstance(obj, AuditEntry) and session.is_modified(obj):
            raise AuditLogImmutable(f"audit row {obj.id} is append-only: update refused")
    for obj in session.deleted:
        if isinstance(obj, AuditEntry):
            raise AuditLogImmutable(f"audit row {obj.id} is append-only: delete refused")
