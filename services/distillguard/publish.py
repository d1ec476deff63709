"""`distillguard publish`: validate JSON Lines events and publish the good ones.

Every line is either published (on its type's topic, keyed by account_id, protobuf value) or
reported with its line number and reason in the rejects file; the summary counts both, so
nothing is silently dropped. Records are appended to per-partition batches with aiokafka's
batch API, and at most `max_in_flight` batches wait for acknowledgement (backpressure).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import gzip
import io
import sys
import time
from contextlib import ExitStack, contextmanager
from collections import Counter, deque
from collections.abc import AsyncIterator, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from distillguard.codec import InvalidEvent, decode_line
from distillguard.kafka import ensure_topics, make_producer, wait_for_broker
from distillguard.settings import Settings
from distillguard.topics import EVENT_TOPICS

CHUNK_LINES = 2000


@dataclass
class PublishSummary:
    lines: int = 0
    published: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def total_published(self) -> int:
        return sum(self.published.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "published": dict(self.published),
            "rejected": self.rejected,
            "top_reject_reasons": dict(self.reasons.most_common(10)),
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.lines / self.seconds) if self.seconds else None,
        }


@contextmanager
def open_lines(source: str) -> Iterator[io.BufferedIOBase]:
    """Open a .jsonl / .jsonl.gz file, or stdin for '-' (gzip is detected by its magic bytes)."""
    with ExitStack() as stack:
        raw: Any = sys.stdin.buffer if source == "-" else stack.enter_context(open(Path(source), "rb"))
        buffered: io.BufferedReader = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)
        if buffered.peek(2)[:2] == b"\x1f\x8b":
            unzipped = gzip.GzipFile(fileobj=buffered, mode="rb")
            stack.callback(unzipped.close)
            yield unzipped
        else:
            yield buffered


def _reject_reason_key(reason: str) -> str:
    """Group reasons for the summary ('field x is 5000 characters…' -> 'field x is … characters')."""
    return " ".join(word if not any(ch.isdigit() for ch in word) else "N" for word in reason.split())[:80]


class _PartitionedBatches:
    """Per (topic, partition) open batches; full batches go out with bounded in-flight futures."""

    def __init__(self, producer: AIOKafkaProducer, max_in_flight: int) -> None:
        self._producer = producer
        self._batches: dict[tuple[str, int], Any] = {}
        self._in_flight: list[asyncio.Future[Any]] = []
        self._max_in_flight = max_in_flight
        self._partitioner = DefaultPartitioner()
        self._partitions: dict[str, list[int]] = {}

    async def add(self, topic: str, key: bytes, value: bytes) -> None:
        partitions = self._partitions.get(topic)
        if partitions is None:
            found = await self._producer.partitions_for(topic)
            partitions = self._partitions[topic] = sorted(found)
        partition = self._partitioner(key, partitions, partitions)
        slot = (topic, partition)
        batch = self._batches.get(slot)
        if batch is None:
            batch = self._batches[slot] = self._producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None) is None:
            await self._flush(slot)
            batch = self._batches[slot] = self._producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                raise RuntimeError(f"record of {len(value)} bytes does not fit in an empty batch")

    async def _flush(self, slot: tuple[str, int]) -> None:
        batch = self._batches.pop(slot, None)
        if batch is None or batch.record_count() == 0:
            return
        batch.close()
        self._in_flight.append(await self._producer.send_batch(batch, slot[0], partition=slot[1]))
        if len(self._in_flight) >= self._max_in_flight:
            done = self._in_flight[: self._max_in_flight // 2]
            del self._in_flight[: self._max_in_flight // 2]
            await asyncio.gather(*done)

    async def close(self) -> None:
        for slot in list(self._batches):
            await self._flush(slot)
        await asyncio.gather(*self._in_flight)
        self._in_flight.clear()


@dataclass(frozen=True)
class DecodedChunk:
    """One chunk of lines, decoded: good records in line order and (line number, reason, raw) rejects."""

    records: list[tuple[str, bytes, bytes]]
    rejects: list[tuple[int, str, bytes]]


def decode_chunk(first_line: int, lines: list[bytes]) -> DecodedChunk:
    """Validate a chunk of lines (runs in a worker process); `first_line` is the 1-based number of lines[0]."""
    records: list[tuple[str, bytes, bytes]] = []
    rejects: list[tuple[int, str, bytes]] = []
    for number, line in enumerate(lines, start=first_line):
        stripped = line.strip()
        if not stripped:
            rejects.append((number, "empty line", b""))
            continue
        try:
            event = decode_line(stripped)
        except InvalidEvent as exc:
            rejects.append((number, str(exc), stripped[:4096]))
            continue
        records.append((event.event_type, event.account_id.encode(), event.message.SerializeToString()))
    return DecodedChunk(records, rejects)


def _chunks(stream: Iterable[bytes], size: int) -> Iterator[tuple[int, list[bytes]]]:
    first, chunk = 1, []
    for line in stream:
        chunk.append(line)
        if len(chunk) == size:
            yield first, chunk
            first, chunk = first + size, []
    if chunk:
        yield first, chunk


async def decoded_chunks(
    stream: Iterable[bytes], workers: int, chunk_lines: int = CHUNK_LINES
) -> AsyncIterator[DecodedChunk]:
    """Decode chunks in `workers` processes (inline when 0), yielding them in file order.

    At most 2 x workers chunks are in flight, so memory stays bounded whatever the file size.
    """
    if workers == 0:
        for first, chunk in _chunks(stream, chunk_lines):
            yield decode_chunk(first, chunk)
            await asyncio.sleep(0)
        return
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: deque[asyncio.Future[DecodedChunk]] = deque()
        for first, chunk in _chunks(stream, chunk_lines):
            pending.append(loop.run_in_executor(pool, decode_chunk, first, chunk))
            if len(pending) >= 2 * workers:
                yield await pending.popleft()
        while pending:
            yield await pending.popleft()


def default_workers() -> int:
    """Decode in a separate process when there is a spare core; the main one produces."""
    return max((os.cpu_count() or 1) - 1, 0)


async def publish_file(
    settings: Settings,
    source: str,
    rejects_path: Path,
    *,
    create_topics: bool = True,
    max_in_flight: int = 64,
    workers: int = 0,
) -> PublishSummary:
    """Publish every valid line of `source`; report invalid ones in `rejects_path`.

    `workers` > 0 decodes in that many spawned processes (the CLI uses `default_workers()`); the
    calling program's main module must then be import-safe, as multiprocessing's spawn requires.
    """
    summary = PublishSummary()
    started = time.perf_counter()
    await wait_for_broker(settings, timeout_s=15)
    if create_topics:
        await ensure_topics(settings, EVENT_TOPICS.values())
    topic_names = {kind: settings.topic(spec.name) for kind, spec in EVENT_TOPICS.items()}
    producer = make_producer(settings)
    await producer.start()
    rejects_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open_lines(source) as stream, open(rejects_path, "wb") as rejects:
            batches = _PartitionedBatches(producer, max_in_flight)
            async for chunk in decoded_chunks(stream, workers):
                for kind, key, value in chunk.records:
                    await batches.add(topic_names[kind], key, value)
                    summary.published[kind] += 1
                for number, reason, raw in chunk.rejects:
                    summary.rejected += 1
                    summary.reasons[_reject_reason_key(reason)] += 1
                    rejects.write(orjson.dumps({"line": number, "reason": reason,
                                                "raw": raw.decode("utf-8", "replace")}) + b"\n")
                summary.lines += len(chunk.records) + len(chunk.rejects)
            await batches.close()
    finally:
        await producer.stop()
    if summary.rejected == 0:
        rejects_path.unlink(missing_ok=True)
    summary.seconds = time.perf_counter() - started
    return summary
