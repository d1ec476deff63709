"""`distillguard wait-idle`: every platform consumer group caught up and every action published."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

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


class LagProbe:
    """Reads each group's lag on its input partitions; keeps its consumers open between polls.

    Committed offsets are read through a consumer of each group that never joins it (OffsetFetch
    by the group coordinator), which Kafka and the embedded Tansu broker both answer; the admin
    client's variant of the request is not understood by Tansu. A group that never committed
    counts from offset 0.
    """

    def __init__(self, settings: Settings, groups: dict[str, tuple[TopicSpec, ...]]) -> None:
        self._settings = settings
        self._groups = groups
        self._probe = make_consumer(settings, group_id=None)
        self._members: dict[str, AIOKafkaConsumer] = {}

    async def __aenter__(self) -> LagProbe:
        await self._probe.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for member in self._members.values():
            await member.stop()
        await self._probe.stop()

    async def lags(self) -> list[Lag]:
        lags: list[Lag] = []
        for service, inputs in self._groups.items():
            group = consumer_group(self._settings, service)
            partitions: list[TopicPartition] = []
            for spec in inputs:
                name = self._settings.topic(spec.name)
                found = self._probe.partitions_for_topic(name) or await _partitions(self._probe, name)
                partitions.extend(TopicPartition(name, partition) for partition in sorted(found))
            if not partitions:
                continue
            ends = await self._probe.end_offsets(partitions)
            member = self._members.get(group)
            if member is None:
                member = self._members[group] = make_consumer(self._settings, group_id=group)
                await member.start()
            for tp in partitions:
                committed = await member.committed(tp)
                lags.append(Lag(group, tp.topic, tp.partition, committed or 0, ends[tp]))
        return lags


async def consumer_lags(settings: Settings, groups: dict[str, tuple[TopicSpec, ...]]) -> list[Lag]:
    """One reading of every group's lag (see LagProbe)."""
    async with LagProbe(settings, groups) as probe:
        return await probe.lags()


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
    interval = 0.1
    async with LagProbe(settings, groups) as probe:
        while loop.time() < deadline:
            lags = await probe.lags()
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
            await asyncio.sleep(interval)
            interval = min(interval * 2, 1.0)
    return False, f"not idle after {timeout_s:.0f}s: {status or 'waiting for settle'}"
