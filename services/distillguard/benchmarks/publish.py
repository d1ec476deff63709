"""Benchmark `distillguard publish` against baselines measured in the same run on the same broker.

    .venv/bin/python -m distillguard.benchmarks.publish [--events 300000]

Rows: (1) the I/O floor — gunzip and split the same file; (2) the producer floor — pre-built
protobuf values sent through the same batch producer path, no JSON; (3) the full command path,
JSON validation included. Uses DISTILLGUARD_KAFKA_BOOTSTRAP (default: `make infra-up`'s Kafka)
and a fresh topic prefix, so it never touches real topics.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

import orjson

from distillguard.codec import decode_line
from distillguard.kafka import ensure_topics, make_producer
from distillguard.publish import _PartitionedBatches, default_workers, publish_file
from distillguard.settings import load_settings
from distillguard.topics import EVENT_TOPICS

WORDS = "plan the tool call then write python code that parses the log and explain each step".split()


def synthetic_file(path: Path, events: int, seed: int = 7) -> None:
    """Inference events shaped like real traffic (prompt samples of a few hundred characters)."""
    rng = random.Random(seed)
    with gzip.open(path, "wb", compresslevel=6) as out:
        for n in range(events):
            prompt = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 80)))
            event = {
                "type": "inference", "event_id": f"ev_{n:09d}", "occurred_at": f"2026-03-01T{n // 3600 % 24:02d}:"
                f"{n // 60 % 60:02d}:{n % 60:02d}.{n % 1000:03d}Z", "account_id": f"acct_{rng.randrange(20000):05x}",
                "api_key_id": f"key_{rng.randrange(40000):05x}", "model": "frontier-1", "ip": "198.51.100.7",
                "user_agent": "python-httpx/0.28", "input_tokens": rng.randint(50, 4000),
                "output_tokens": rng.randint(10, 4000), "max_tokens": 4096, "latency_ms": rng.randint(200, 9000),
                "status": "ok", "stream": bool(n % 2), "prompt_sample": prompt, "system_prompt_sha256": "",
                "account_rpm_limit": 60,
            }
            out.write(orjson.dumps(event) + b"\n")


async def run(events: int) -> None:
    base = load_settings()
    folder = Path(tempfile.mkdtemp(prefix="dg-bench-"))
    source = folder / "events.jsonl.gz"
    synthetic_file(source, events)

    started = time.perf_counter()
    with gzip.open(source, "rb") as stream:
        lines = sum(1 for _ in stream)
    io_floor = lines / (time.perf_counter() - started)

    with gzip.open(source, "rb") as stream:
        values = [decode_line(line).message.SerializeToString() for line in stream]
    settings = load_settings(topic_prefix=f"bench{uuid.uuid4().hex[:8]}.", data_dir=folder)
    await ensure_topics(settings, EVENT_TOPICS.values())
    producer = make_producer(settings)
    await producer.start()
    topic = settings.topic(EVENT_TOPICS["inference"].name)
    started = time.perf_counter()
    batches = _PartitionedBatches(producer, 64)
    for n, value in enumerate(values):
        await batches.add(topic, f"acct_{n % 20000:05x}".encode(), value)
    await batches.close()
    producer_floor = len(values) / (time.perf_counter() - started)
    await producer.stop()

    summary = await publish_file(settings, str(source), folder / "rejects.jsonl", workers=default_workers())
    assert summary.total_published == events and summary.rejected == 0
    full = summary.lines / summary.seconds

    print(f"broker {base.kafka_bootstrap}, {events} inference events, {source.stat().st_size / 1e6:.1f} MB gzip, "
          f"{os.cpu_count()} cores")
    print("| path | events/s |\n| --- | --- |")
    print(f"| gunzip + split lines (I/O floor) | {io_floor:,.0f} |")
    print(f"| pre-serialised protobuf through the batch producer (producer floor) | {producer_floor:,.0f} |")
    print(f"| `distillguard publish` (gunzip, validate, encode, produce, acks) | {full:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=300_000)
    args = parser.parse_args()
    asyncio.run(run(args.events))


if __name__ == "__main__":
    main()
