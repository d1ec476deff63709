"""`distillguard wait-idle`: every platform consumer group caught up and every action published."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka import TopicPartition

from distillguard.kafka import make_consumer
from distillguard.pipeline import consumer_group
from distillguard.settings import Settings
from distillguard.topics import TopicSpec


@dataclass(frozen=True)
class Lag:
    group: str
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def behind(self) -> int:
        return max(self.end - self.committed, 0)


async def consumer_lags(settings: Settings, groups: dict[str, tuple[TopicSpec, ...]]) -> list[Lag]:
    """Lag of each (group, input partition); a group that never committed counts from offset 0.

    Committed offsets are read through a consumer of each group that never joins it (OffsetFetch
    by the group coordinator), which Kafka and the embedded Tansu broker both answer; the admin
    client's variant of the request is not understood by Tansu.
    """
    probe = make_consumer(settings, group_id=None)
    await probe.start()
    try:
        lags: list[Lag] = []
        for service, inputs in groups.items():
            group = consumer_group(settings, service)
            partitions: list[TopicPartition] = []
            for spec in inputs:
                name = settings.topic(spec.name)
                found = probe.partitions_for_topic(name) or await _partitions(probe, name)
                partitions.extend(TopicPartition(name, partition) for partition in sorted(found))
            if not partitions:
                continue
            ends = await probe.end_offsets(partitions)
            member = make_consumer(settings, group_id=group)
            await member.start()
            try:
                for tp in partitions:
                    committed = await member.committed(tp)
                    lags.append(Lag(group, tp.topic, tp.partition, committed or 0, ends[tp]))
            finally:
                await member.stop()
        return lags
    finally:
        await probe.stop()


async def _partitions(probe: object, topic: str) -> set[int]:
    client = getattr(probe, "_client")
    await client.force_metadata_update()
    found: set[int] = client.cluster.partitions_for_topic(topic) or set()
    return found


async def wait_idle(
    settings: Settings,
    groups: dict[str, tuple[TopicSpec, ...]],
    timeout_s: float,
    pending_actions: Callable[[], Awaitable[int]] | None = None,
    settle_polls: int = 2,
) -> tuple[bool, str]:
    """Poll until every lag is zero (and no action is pending) on `settle_polls` polls in a row."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    quiet = 0
    status = "no poll yet"
    while loop.time() < deadline:
        lags = await consumer_lags(settings, groups)
        behind = [lag for lag in lags if lag.behind]
        pending = await pending_actions() if pending_actions is not None else 0
        if not behind and not pending:
            quiet += 1
            if quiet >= settle_polls:
                return True, f"idle: {len(lags)} partitions caught up, no pending actions"
        else:
            quiet = 0
        worst = sorted(behind, key=lambda lag: -lag.behind)[:5]
        status = ", ".join(f"{lag.group} {lag.topic}[{lag.partition}] {lag.behind} behind" for lag in worst)
        if pending:
            status += f"; {pending} actions not yet published"
        await asyncio.sleep(1.0)
    return False, f"not idle after {timeout_s:.0f}s: {status or 'waiting for settle'}"
