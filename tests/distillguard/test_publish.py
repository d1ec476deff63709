from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from distillguard.codec import decode_wire
from distillguard.kafka import make_consumer
from distillguard.publish import publish_file
from distillguard.settings import Settings, load_settings
from distillguard.topics import EVENT_TOPICS

GOOD: list[dict[str, Any]] = [
    {"type": "signup", "event_id": "s1", "occurred_at": "2026-03-01T10:00:00Z", "account_id": "acct_a",
     "email": "a@example.org", "signup_path": "self_serve", "verification": "email"},
    {"type": "billing", "event_id": "b1", "occurred_at": "2026-03-01T10:01:00Z", "account_id": "acct_a",
     "kind": "payment_method_added", "card_fingerprint": "fp_1", "card_funding": "prepaid"},
    *[
        {"type": "inference", "event_id": f"i{n}", "occurred_at": f"2026-03-01T10:{n:02d}:00Z",
         "account_id": f"acct_{'ab'[n % 2]}", "model": "frontier-1", "status": "ok", "input_tokens": n}
        for n in range(10)
    ],
]
BAD: list[bytes] = [
    b"this is not json",
    b'{"type": "pageview", "event_id": "x"}',
    b'{"type": "inference", "event_id": "x", "occurred_at": "2026-03-01T10:00:00Z", "account_id": "a",'
    b' "model": "m", "status": "ok", "input_tokens": -3}',
    b'{"type": "signup", "event_id": "x", "occurred_at": "noon", "account_id": "a"}',
]


def write_mixed_file(folder: Path) -> Path:
    lines = [orjson.dumps(event) for event in GOOD]
    for index, bad in enumerate(BAD):
        lines.insert(2 + 3 * index, bad)  # spread the bad lines between good ones
    path = folder / "mixed.jsonl.gz"
    with gzip.open(path, "wb") as out:
        out.write(b"\n".join(lines) + b"\n")
    return path


async def consume_all(settings: Settings, expected: int) -> dict[str, list[tuple[bytes | None, Any]]]:
    names = {settings.topic(spec.name): kind for kind, spec in EVENT_TOPICS.items()}
    consumer = make_consumer(settings, *names, group_id=None)
    await consumer.start()
    seen: dict[str, list[tuple[bytes | None, Any]]] = {kind: [] for kind in EVENT_TOPICS}
    try:
        for _ in range(60):
            fetched = await consumer.getmany(timeout_ms=500)
            for tp, records in fetched.items():
                kind = names[tp.topic]
                seen[kind].extend((r.key, decode_wire(kind, r.value or b"")) for r in records)
            if sum(map(len, seen.values())) >= expected:
                break
    finally:
        await consumer.stop()
    return seen


async def check_publish(settings: Settings, tmp_path: Path) -> None:
    source = write_mixed_file(tmp_path)
    rejects = tmp_path / "rejects.jsonl"
    summary = await publish_file(settings, str(source), rejects)

    assert summary.lines == len(GOOD) + len(BAD)
    assert summary.published == {"signup": 1, "billing": 1, "inference": 10}
    assert summary.rejected == len(BAD)
    reported = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert [row["line"] for row in reported] == [3, 6, 9, 12]
    reasons = [row["reason"] for row in reported]
    assert reasons[0].startswith("not JSON")
    assert "unknown type 'pageview'" in reasons[1]
    assert "input_tokens must not be negative" in reasons[2]
    assert "unparseable RFC 3339 time 'noon'" in reasons[3]

    seen = await consume_all(settings, expected=12)
    assert {kind: len(events) for kind, events in seen.items()} == {"signup": 1, "billing": 1, "inference": 10}
    for key, event in seen["inference"]:
        assert key == event.account_id.encode()
    assert sorted(event.event_id for _, event in seen["inference"]) == sorted(f"i{n}" for n in range(10))


@pytest.mark.integration
async def test_publish_reports_bad_lines_and_publishes_good_ones_on_kafka(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    await check_publish(kafka_settings, tmp_path)


@pytest.mark.embedded
async def test_publish_on_the_embedded_broker(embedded_broker: Settings, tmp_path: Path) -> None:
    prefixed = load_settings(
        kafka_bootstrap=embedded_broker.kafka_bootstrap, topic_prefix=f"{tmp_path.name}.", data_dir=tmp_path
    )
    await check_publish(prefixed, tmp_path)
