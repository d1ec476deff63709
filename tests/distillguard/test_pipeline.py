"""BatchPipeline's batch step without a broker: records in, processor called, effects out, commit last."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from distillguard.pipeline import BatchPipeline, BatchResult, InputRecord, OutputRecord
from distillguard.settings import load_settings
from distillguard.topics import DLQ_RATEPATTERN, INFERENCE, SIGNALS, SIGNUP, STATE_RATEPATTERN
from distillguard.v1 import events_pb2


class Recorder:
    """Producer and consumer stand-in: records sends and commits in order."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, bytes | None]] = []

    async def send(self, topic: str, value: bytes | None, key: bytes | None = None) -> asyncio.Future[None]:
        self.log.append(("send", topic, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def commit(self) -> None:
        self.log.append(("commit", "", None))


class Echo:
    replay_lookback_ms: int | None = None

    def __init__(self) -> None:
        self.seen: list[InputRecord] = []

    def restore(self, records: Iterable[tuple[bytes, bytes]]) -> None:
        pass

    async def process(self, batch: Sequence[InputRecord]) -> BatchResult:
        self.seen.extend(batch)
        return BatchResult(outputs=[OutputRecord(SIGNALS.name, r.key or b"", r.value) for r in batch])


def record(topic: str, offset: int, value: bytes | None) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, 0, offset, 0, 0, b"k", value, None, 1, len(value or b""), [("h", b"1")])


async def test_a_batch_reaches_the_processor_in_order_and_commits_after_its_effects() -> None:
    settings = load_settings(topic_prefix="p.")
    io, processor = Recorder(), Echo()
    pipeline = BatchPipeline(settings, "ratepattern", (SIGNUP, INFERENCE), DLQ_RATEPATTERN, STATE_RATEPATTERN,
                             processor, io)
    pipeline._consumer = io
    fetched: dict[TopicPartition, list[Any]] = {
        TopicPartition("p.events.inference", 0): [record("p.events.inference", 5, b"a"),
                                                   record("p.events.inference", 6, None),  # a tombstone
                                                   record("p.events.inference", 7, b"b")],
        TopicPartition("p.events.signup", 0): [record("p.events.signup", 1, b"s")],
    }
    await pipeline._process_batch(fetched)

    assert [(r.topic, r.offset, r.value) for r in processor.seen] == [
        ("events.inference", 5, b"a"), ("events.inference", 7, b"b"), ("events.signup", 1, b"s")]
    assert processor.seen[0] == InputRecord("events.inference", 0, 5, b"k", b"a", [("h", b"1")])
    sends = [entry for entry in io.log if entry[0] == "send"]
    assert [topic for _, topic, _ in sends] == ["p.risk.signals"] * 3 + ["p.dlq.ratepattern"]
    letter = events_pb2.DeadLetter.FromString(sends[-1][2] or b"")
    assert (letter.source_topic, letter.source_offset, letter.reason) == ("p.events.inference", 6, "record has no value")
    assert io.log[-1][0] == "commit"
    assert pipeline.stats.records == 4 and pipeline.stats.rejected == 1 and pipeline.stats.outputs == 3
    assert pipeline.stats.first_batch_at is not None and pipeline.stats.last_commit_at is not None
    assert pipeline.stats.last_commit_at >= pipeline.stats.first_batch_at
