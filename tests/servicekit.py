"""Helpers for service-level tests: run a service in-process, publish events, read a topic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from google.protobuf.message import Message

from distillguard.casestore import create_engine, session_factory
from distillguard.codec import decode_object
from distillguard.kafka import ensure_topics, make_consumer, make_producer
from distillguard.runtime import RunningService, load_definition
from distillguard.settings import Settings
from distillguard.topics import EVENT_TOPICS
from enforcement.domain import ClientRegistry


@asynccontextmanager
async def running(settings: Settings, name: str) -> AsyncIterator[RunningService]:
    """Start service `name` on a free gRPC port; stop it afterwards (re-raising a task failure)."""
    service = RunningService(settings, load_definition(name))
    await service.start(port=0)
    try:
        await service.ready()
        yield service
    finally:
        await service.stop()


async def publish_events(settings: Settings, events: Sequence[dict[str, Any]]) -> None:
    """Publish JSON-contract events (validated by the codec) to their topics, keyed by account."""
    await ensure_topics(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        waits = []
        for event in events:
            decoded = decode_object(event)
            topic = settings.topic(EVENT_TOPICS[decoded.event_type].name)
            waits.append(await producer.send(topic, decoded.message.SerializeToString(),
                                             key=decoded.account_id.encode()))
        await asyncio.gather(*waits)
    finally:
        await producer.stop()


async def publish_raw(settings: Settings, topic: str, key: bytes, value: bytes) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic(topic), value, key=key)
    finally:
        await producer.stop()


async def read_topic(
    settings: Settings, topic: str, payload: type[Message], *, until: int, timeout_s: float = 60.0
) -> list[Any]:
    """Read `topic` from the beginning until `until` messages arrived or the timeout passed."""
    consumer = make_consumer(settings, settings.topic(topic), group_id=None)
    await consumer.start()
    out: list[Any] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while len(out) < until and loop.time() < deadline:
            fetched = await consumer.getmany(timeout_ms=500)
            for records in fetched.values():
                out.extend(payload.FromString(record.value or b"") for record in records)
    finally:
        await consumer.stop()
    return out


async def wait_for(predicate: Any, timeout_s: float = 60.0, interval_s: float = 0.25) -> None:
    """Poll an (async or sync) predicate until it is true; AssertionError on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        await asyncio.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s")


async def mint(url: str, name: str, *scopes: str) -> str:
    """An API client token with `scopes` in the case store at `url`."""
    engine = create_engine(url)
    try:
        _, token = await ClientRegistry(session_factory(engine)).mint(name, scopes, actor="test")
    finally:
        await engine.dispose()
    return token
