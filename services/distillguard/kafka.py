"""Kafka plumbing shared by every process: topic creation, producer and consumer factories.

Producers are plain acks=all producers without idempotence: the embedded Tansu broker fails
InitProducerId, and every platform effect is idempotent by event id or action id anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from distillguard.settings import Settings
from distillguard.topics import ALL_TOPICS, TopicSpec

TOPIC_ALREADY_EXISTS = TopicAlreadyExistsError.errno


class BrokerUnavailable(RuntimeError):
    pass


async def wait_for_broker(settings: Settings, timeout_s: float = 30.0) -> None:
    """Return once a metadata request succeeds; raise BrokerUnavailable after timeout_s."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    last: BaseException | None = None
    while asyncio.get_running_loop().time() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except (KafkaConnectionError, OSError, asyncio.TimeoutError) as exc:
            last = exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
    raise BrokerUnavailable(
        f"Kafka at {settings.kafka_bootstrap} did not answer within {timeout_s:.0f}s "
        f"(DISTILLGUARD_KAFKA_BOOTSTRAP; start it with `make infra-up` or use --embedded): {last}"
    )


async def ensure_topics(settings: Settings, specs: Iterable[TopicSpec] = ALL_TOPICS) -> list[str]:
    """Create the platform topics that do not exist yet; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                settings.topic(spec.name),
                1 if spec.single_partition else settings.topic_partitions,
                settings.topic_replication,
                topic_configs=spec.config(),
            )
            for spec in specs
            if settings.topic(spec.name) not in existing
        ]
        if not wanted:
            return []
        response = await admin.create_topics(wanted)
        for name, code, message in _topic_errors(response):
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise RuntimeError(f"could not create topic {name}: error {code} {message}")
        return [topic.name for topic in wanted]
    finally:
        await admin.close()


def _topic_errors(response: Any) -> list[tuple[str, int, str | None]]:
    errors: list[tuple[str, int, str | None]] = []
    for entry in response.topic_errors:
        name, code = entry[0], entry[1]
        message = entry[2] if len(entry) > 2 else None
        errors.append((name, code, message))
    return errors


def make_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "acks": "all",
        "enable_idempotence": False,
        "linger_ms": 20,
        "max_batch_size": 256 * 1024,
        "max_request_size": 4 * 1024 * 1024,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def make_consumer(settings: Settings, *topics: str, group_id: str | None, **overrides: Any) -> AIOKafkaConsumer:
    """A consumer that never auto-commits: offsets are committed after the effect is durable."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "fetch_max_bytes": 32 * 1024 * 1024,
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)
