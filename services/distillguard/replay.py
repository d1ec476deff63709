"""`distillguard replay`: publish a recorded or simulated event file in event-time slices.

Publishing a whole file at once lets one service race days ahead of another (rate-pattern
analysis would see a farm's last request before identity linking had published the cluster it
belongs to), which no live deployment does. Replay publishes one slice of event time, waits
until every service is idle, then publishes the next, so the services see the same relative
order they would live; detection latency is then measured at the slice's granularity.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from distillguard.codec import InvalidEvent, parse_time
from distillguard.idle import wait_idle
from distillguard.publish import PublishSummary, open_lines, publish_file
from distillguard.settings import Settings
from distillguard.topics import TopicSpec

import orjson


@dataclass
class ReplaySummary:
    slices: int = 0
    published: PublishSummary = field(default_factory=PublishSummary)


#: A slice boundary is skipped while the slice holds fewer events than this: sparse stretches of
#: event time (e.g. signups of accounts created long before the traffic) go out together.
MIN_SLICE_EVENTS = 500


def _slices(source: str, slice_s: int, folder: Path) -> Iterator[Path]:
    """Split `source` (sorted by occurred_at) into files of one event-time slice each."""
    current: int | None = None
    out = None
    index = 0
    size = 0
    with open_lines(source) as stream:
        for line in stream:
            try:
                moment = parse_time(orjson.loads(line)["occurred_at"])
                bucket = int(moment.timestamp()) // slice_s
            except (orjson.JSONDecodeError, KeyError, TypeError, InvalidEvent):
                bucket = current if current is not None else 0  # publish reports the line itself
            if bucket != current and (out is None or size >= MIN_SLICE_EVENTS):
                if out is not None:
                    out.close()
                    yield folder / f"slice-{index:05d}.jsonl"
                    index += 1
                out = open(folder / f"slice-{index:05d}.jsonl", "wb")  # noqa: SIM115 - closed above/below
                size = 0
            current = bucket
            size += 1
            assert out is not None
            out.write(line if line.endswith(b"\n") else line + b"\n")
    if out is not None:
        out.close()
        yield folder / f"slice-{index:05d}.jsonl"


async def replay_file(
    settings: Settings,
    source: str,
    rejects_path: Path,
    groups: dict[str, tuple[TopicSpec, ...]],
    *,
    slice_hours: float,
    timeout_s: float,
    pending_actions: Callable[[], Awaitable[int]] | None = None,
    workers: int = 0,
) -> ReplaySummary:
    """Publish `source` slice by slice, waiting for `groups` to be idle after each; raise TimeoutError."""
    summary = ReplaySummary()
    slice_s = max(int(slice_hours * 3600), 1)
    rejects_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dg-replay-") as scratch, open(rejects_path, "wb") as all_rejects:
        for path in _slices(source, slice_s, Path(scratch)):
            part = await publish_file(settings, str(path), Path(scratch) / "rejects.jsonl", workers=workers)
            offset = summary.published.lines
            if part.rejected:
                for raw in (Path(scratch) / "rejects.jsonl").read_bytes().splitlines():
                    row = orjson.loads(raw)
                    row["line"] += offset
                    all_rejects.write(orjson.dumps(row) + b"\n")
            total = summary.published
            total.lines += part.lines
            total.published.update(part.published)
            total.rejected += part.rejected
            total.reasons.update(part.reasons)
            total.seconds += part.seconds
            path.unlink()
            ok, message = await wait_idle(settings, groups, timeout_s, pending_actions, settle_polls=1)
            if not ok:
                raise TimeoutError(f"slice {summary.slices}: {message}")
            summary.slices += 1
    if summary.published.rejected == 0:
        rejects_path.unlink(missing_ok=True)
    return summary
