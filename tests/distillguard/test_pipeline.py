"""BatchPipeline's batch step without a broker: records in, processor called, effects out, commit last."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from distillguard.pipeline import BatchPipeline, BatchResult, InputBatch, InputRecord, OutputRecord
from distillguard.settings import load_settings
from distillguard.topics import DLQ_RATEPATTERN, INFERENCE, SIGNALS, SIGNUP, STATE_RATEPATTERN
from distillguard.v1 import events_pb2


class Recorder:
    """Producer and consumer stand-in: records sends and commits in order."""

    async def send(self, topic: str, value: bytes | None, key: bytes | None = None) -> asyncio.Future[None]:
        self.log.append(("send", topic, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def __init__(self) -> None:
        self.log: list[tuple[str, str, bytes | None]] = []
        self.assigned = {TopicPartition("p.events.inference", 0), TopicPartition("p.events.signup", 0)}

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.log.append(("commit", repr(sorted((tp.topic, tp.partition, o) for tp, o in offsets.items())), None))


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


def pipeline_on(io: Recorder, processor: Echo) -> BatchPipeline:
    """A rate-pattern pipeline (topic prefix "p.") whose producer and consumer are `io`."""
    pipeline = BatchPipeline(load_settings(topic_prefix="p."), "ratepattern", (SIGNUP, INFERENCE), DLQ_RATEPATTERN,
                             STATE_RATEPATTERN, processor, io)
    pipeline._consumer = io
    return pipeline


async def test_a_batch_reaches_the_processor_in_order_and_commits_after_its_effects() -> None:
    io, processor = Recorder(), Echo()
    pipeline = pipeline_on(io, processor)
    fetched: dict[TopicPartition, list[Any]] = {
        TopicPartition("p.events.inference", 0): [record("p.events.inference", 5, b"a"),
                                                   record("p.events.inference", 6, None),  # a tombstone
                                                   record("p.events.inference", 7, b"b")],
        TopicPartition("p.events.signup", 0): [record("p.events.signup", 1, b"s")],
    }
    await pipeline._process_batch(fetched)
    await pipeline.committed()

    assert [(r.topic, r.offset, r.value) for r in processor.seen] == [
        ("events.inference", 5, b"a"), ("events.inference", 7, b"b"), ("events.signup", 1, b"s")]
    assert processor.seen[0] == InputRecord("events.inference", 0, 5, b"k", b"a", [("h", b"1")])
    sends = [entry for entry in io.log if entry[0] == "send"]
    assert [topic for _, topic, _ in sends] == ["p.risk.signals"] * 3 + ["p.dlq.ratepattern"]
    letter = events_pb2.DeadLetter.FromString(sends[-1][2] or b"")
    assert (letter.source_topic, letter.source_offset, letter.reason) == ("p.events.inference", 6, "record has no value")
    assert io.log[-1] == ("commit", "[('p.events.inference', 0, 8), ('p.events.signup', 0, 2)]", None)
    assert pipeline.stats.records == 4 and pipeline.stats.rejected == 1 and pipeline.stats.outputs == 3
    assert pipeline.stats.first_batch_at is not None and pipeline.stats.last_commit_at is not None
    assert pipeline.stats.last_commit_at >= pipeline.stats.first_batch_at


class SlowCommits(Recorder):
    """Commits that complete only when released, or fail."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.fail = False

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        await super().commit(offsets)
        await self.release.wait()
        if self.fail:
            raise RuntimeError("commit refused")


async def test_a_commit_overlaps_the_next_batch_and_commits_stay_in_order() -> None:
    io, processor = SlowCommits(), Echo()
    pipeline = pipeline_on(io, processor)
    tp = TopicPartition("p.events.inference", 0)
    await pipeline._process_batch({tp: [record(tp.topic, 0, b"a")]})
    # The first commit is in flight: the next batch is processed meanwhile, but its commit waits.
    second = asyncio.create_task(pipeline._process_batch({tp: [record(tp.topic, 1, b"b")]}))
    await asyncio.sleep(0.01)
    assert [r.offset for r in processor.seen] == [0, 1]
    assert [e[1] for e in io.log if e[0] == "commit"] == ["[('p.events.inference', 0, 1)]"]
    assert pipeline.stats.records == 0  # records count once committed
    io.release.set()
    await second
    await pipeline.committed()
    assert [e[1] for e in io.log if e[0] == "commit"] == ["[('p.events.inference', 0, 1)]",
                                                          "[('p.events.inference', 0, 2)]"]
    assert pipeline.stats.records == 2 and pipeline.stats.batches == 2

    # A partition revoked before its commit is not committed (its new owner re-reads it).
    io.assigned = {TopicPartition("p.events.signup", 0)}
    await pipeline._process_batch({tp: [record(tp.topic, 2, b"c")]})
    await pipeline.committed()
    assert len([e for e in io.log if e[0] == "commit"]) == 2 and pipeline.stats.records == 3
    io.assigned.add(tp)

    # A failed commit is raised by the pipeline, not lost.
    io.fail = True
    await pipeline._process_batch({tp: [record(tp.topic, 3, b"d")]})
    with pytest.raises(RuntimeError, match="commit refused"):
        await pipeline.committed()
    assert pipeline.stats.records == 3


def test_an_input_batch_reads_like_the_list_of_its_records() -> None:
    batch = InputBatch()
    first = [record("p.events.inference", offset, value) for offset, value in ((3, b"a"), (4, b""), (5, b"c"))]
    assert batch.add("events.inference", 0, first) == []
    tombstones = batch.add("events.signup", 2, [record("p.events.signup", 8, b"s"), record("p.events.signup", 9, None)])
    batch.add("events.inference", 1, [record("p.events.inference", 0, b"d")])
    batch.add("events.inference", 3, [])
    listed = [InputRecord("events.inference", 0, 3, b"k", b"a", [("h", b"1")]),
              InputRecord("events.inference", 0, 4, b"k", b"", [("h", b"1")]),
              InputRecord("events.inference", 0, 5, b"k", b"c", [("h", b"1")]),
              InputRecord("events.signup", 2, 8, b"k", b"s", [("h", b"1")]),
              InputRecord("events.inference", 1, 0, b"k", b"d", [("h", b"1")])]
    assert [(r.topic, r.offset) for r in tombstones] == [("events.signup", 9)]
    assert list(batch) == listed and len(batch) == 5
    assert [batch[i] for i in range(-5, 5)] == listed * 2 and batch[1:4] == listed[1:4]
    with pytest.raises(IndexError):
        batch[5]
    inference, others = batch.split("events.inference")
    assert list(inference) == [r for r in listed if r.topic == "events.inference"] and list(others) == [listed[3]]
    assert inference.values() == [b"a", b"", b"c", b"d"] and inference[3] == listed[4]
    assert InputBatch.of(batch) is batch and list(InputBatch.of(listed)) == listed
    assert len(InputBatch()) == 0 and not InputBatch() and InputBatch().values() == []
