"""wait-idle: lag is computed per consumer group from committed offsets, on Kafka and on Tansu."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillguard.idle import wait_idle
from distillguard.kafka import ensure_topics, make_consumer
from distillguard.pipeline import consumer_group
from distillguard.settings import Settings, load_settings
from distillguard.topics import SIGNUP, TopicSpec
from servicekit import publish_events

EVENTS = [
    {"type": "signup", "event_id": f"s{n}", "occurred_at": "2026-03-01T10:00:00Z", "account_id": f"acct_{n}"}
    for n in range(10)
]


async def check_idle(settings: Settings) -> None:
    await ensure_topics(settings)
    await publish_events(settings, EVENTS)
    groups: dict[str, tuple[TopicSpec, ...]] = {"identity": (SIGNUP,)}
    ok, message = await wait_idle(settings, groups, timeout_s=3)
    assert not ok and "behind" in message

    pending = 2

    async def two_then_none() -> int:
        nonlocal pending
        pending = max(pending - 1, 0)
        return pending

    consumer = make_consumer(settings, settings.topic(SIGNUP.name), group_id=consumer_group(settings, "identity"))
    await consumer.start()
    try:
        seen = 0
        for _ in range(60):
            fetched = await consumer.getmany(timeout_ms=500)
            seen += sum(map(len, fetched.values()))
            if seen >= len(EVENTS):
                break
        await consumer.commit()
    finally:
        await consumer.stop()
    ok, message = await wait_idle(settings, groups, timeout_s=30, pending_actions=two_then_none)
    assert ok, message
    assert pending == 0, "idle was declared while actions were still pending"


@pytest.mark.integration
async def test_wait_idle_on_kafka(kafka_settings: Settings) -> None:
    await check_idle(kafka_settings)


@pytest.mark.embedded
async def test_wait_idle_on_tansu(embedded_broker: Settings, tmp_path: Path) -> None:
    await check_idle(load_settings(kafka_bootstrap=embedded_broker.kafka_bootstrap, topic_prefix=f"{tmp_path.name}.",
                                   app_id_prefix=tmp_path.name, data_dir=tmp_path, console_port=0))
