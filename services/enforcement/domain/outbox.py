"""Transactional outbox: actions reach enforcement.actions at least once, and exactly once in effect.

Writing (`enqueue`): the domain adds the outbox row in the same database transaction that records the action
and its audit row. Either all of them commit or none does, so there is no moment where an action exists
without a pending message, or a message without its action. A crash before the commit loses nothing that was
ever visible; the input (signal, decision) is simply processed again and is idempotent.

Publishing (`OutboxRelay.relay_once`): read pending rows in id order, hand them all to the producer (which
batches them), wait for the broker's acknowledgements in the same order, then mark the acknowledged prefix
published. A batch of 500 actions costs one round of produce requests, not 500 round trips.

- Crash after publishing and before the mark commits: the rows are still pending and are published again.
  That is a duplicate, never a loss.
- The duplicate is harmless: the payload bytes are the stored row, unchanged, so the second copy carries the
  same action_id (itself derived from the action's idempotency key) and consumers dedupe by action_id.
- A failed send or acknowledgement stops the batch at that row: the rows before it are marked, the failing
  row and the rest stay pending in order (some of them may have gone out: they are published again, a
  duplicate), and the error propagates to the caller (who retries with backoff).

On PostgreSQL the batch is claimed with SELECT ... FOR UPDATE SKIP LOCKED and held until marked, so two relays
never publish the same row concurrently. SQLite (embedded mode, one process) cannot upgrade a long read
transaction to a write safely under WAL, so there the batch is read, published, then marked in a second short
transaction; one relay per database is assumed there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from distillguard.casestore.models import OutboxMessage
from distillguard.casestore.types import utcnow

#: publish(topic, key, value): resolves once the message is handed to the producer, to an awaitable that
#: resolves once the broker has acknowledged it (raising if it was not). aiokafka's `producer.send` is one.
Publish = Callable[[str, bytes, bytes], Awaitable[Awaitable[object]]]


def enqueue(session: AsyncSession, topic: str, key: str, payload: bytes) -> OutboxMessage:
    """Add a message to the caller's transaction; it becomes visible to the relay only when that commits."""
    message = OutboxMessage(topic=topic, key=key, payload=payload, created_at=utcnow())
    session.add(message)
    return message


def outbox_values(topic: str, key: str, payload: bytes) -> dict[str, Any]:
    """One row for `enqueue_all`."""
    return {"topic": topic, "key": key, "payload": payload, "created_at": utcnow(), "published_at": None}


async def enqueue_all(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add many messages (built with `outbox_values`) to the caller's transaction in one statement."""
    if rows:
        await session.execute(insert(OutboxMessage), [dict(row) for row in rows])


class OutboxRelay:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def relay_once(self, publish: Publish, limit: int = 500) -> int:
        """Publish up to `limit` pending messages in order; return how many were published and marked."""
        async with self._sessions() as session:
            dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            return await self._relay_locked(publish, limit)
        return await self._relay_unlocked(publish, limit)

    async def _relay_locked(self, publish: Publish, limit: int) -> int:
        async with self._sessions() as session:
            await session.begin()
            rows = list(
                await session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.published_at.is_(None))
                    .order_by(OutboxMessage.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            published, error = await _publish_in_order(rows, publish)
            await _mark(session, published)
            await session.commit()
        if error is not None:
            raise error
        return len(published)

    async def _relay_unlocked(self, publish: Publish, limit: int) -> int:
        async with self._sessions() as session:
            rows = list(
                await session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.published_at.is_(None))
                    .order_by(OutboxMessage.id)
                    .limit(limit)
                )
            )
        published, error = await _publish_in_order(rows, publish)
        async with self._sessions.begin() as session:
            await _mark(session, published)
        if error is not None:
            raise error
        return len(published)

    async def pending(self) -> int:
        """Messages committed and not yet marked published (for wait-idle and metrics)."""
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))
            )
            return int(count or 0)

    async def prune(self, published_before: datetime) -> int:
        """Delete messages published before the given instant; pending ones are never touched."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(OutboxMessage).where(
                    OutboxMessage.published_at.is_not(None), OutboxMessage.published_at < published_before
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)


async def _publish_in_order(rows: list[OutboxMessage], publish: Publish) -> tuple[list[int], BaseException | None]:
    """Send every row, then await the acknowledgements in row order: the ids of the acknowledged prefix and
    the first error (which ends the prefix)."""
    sent: list[tuple[int, Awaitable[object]]] = []
    error: BaseException | None = None
    for row in rows:
        try:
            sent.append((row.id, await publish(row.topic, row.key.encode("utf-8"), row.payload)))
        except Exception as exc:  # noqa: BLE001 - handed back to the caller after marking what did go out
            error = exc
            break
    published: list[int] = []
    for position, (row_id, acknowledged) in enumerate(sent):
        try:
            await acknowledged
        except Exception as exc:  # noqa: BLE001 - as above
            error = exc
            for _, later in sent[position + 1:]:  # collected, so no "exception never retrieved" noise
                await asyncio.gather(later, return_exceptions=True)
            break
        published.append(row_id)
    return published, error


async def _mark(session: AsyncSession, ids: list[int]) -> None:
    if not ids:
        return
    now = utcnow()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(chunk)).values(published_at=now)
        )
