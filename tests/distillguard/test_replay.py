from __future__ import annotations

import gzip
from pathlib import Path

import orjson

from distillguard.replay import MIN_SLICE_EVENTS, _slices


def test_slices_follow_event_time_and_merge_sparse_stretches(tmp_path: Path) -> None:
    lines = [{"occurred_at": f"2024-01-{day:02d}T00:00:00Z"} for day in range(1, 6)]  # sparse: 5 events
    lines += [{"occurred_at": f"2026-03-01T{hour:02d}:{n % 60:02d}:00Z"} for hour in range(4)
              for n in range(MIN_SLICE_EVENTS)]
    source = tmp_path / "events.jsonl.gz"
    with gzip.open(source, "wb") as out:
        out.write(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    sizes = []
    for path in _slices(str(source), 3600, tmp_path):
        sizes.append(len(path.read_bytes().splitlines()))
    assert sum(sizes) == len(lines)
    # The sparse signups ride with the first hour; then one slice per hour of traffic.
    assert sizes == [5 + MIN_SLICE_EVENTS, MIN_SLICE_EVENTS, MIN_SLICE_EVENTS, MIN_SLICE_EVENTS]
