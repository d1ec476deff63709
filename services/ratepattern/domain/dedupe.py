"""Exact event-id dedupe over the allowed-lateness window.

Guarantee: an event whose event_id equals that of an event already counted is not counted again.
Only ids of events whose occurred_at is at or after the watermark are needed: an older duplicate is
refused as late anyway, because the watermark never moves back. Ids are held by 64-bit hash (a false
"duplicate" needs a hash collision: about n^2 / 2^65 for n ids held, 3e-8 for a million) in sorted numpy
arrays, one per `BUCKET_MINUTES` of event time; a bucket is dropped whole once all of its minutes are
before the watermark. Bound: 8 bytes per counted event within the lateness window plus at most one
bucket's worth beyond it (about 9.3 bytes per event for a one-hour window).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
BUCKET_MINUTES: Final = 10


class EventIdWindow:
    def __init__(self) -> None:
        self._buckets: dict[int, I64] = {}  # minute // BUCKET_MINUTES -> sorted keys

    def __len__(self) -> int:
        return sum(int(keys.size) for keys in self._buckets.values())

    @property
    def nbytes(self) -> int:
        return sum(int(keys.nbytes) for keys in self._buckets.values())

    def seen(self, keys: I64) -> npt.NDArray[np.bool_]:
        """Which keys are held."""
        found = np.zeros(keys.size, dtype=np.bool_)
        for held in self._buckets.values():
            pos = np.searchsorted(held, keys)
            pos[pos == held.size] = 0
            found |= held[pos] == keys
        return found

    def add(self, keys: I64, minutes: I64) -> None:
        """Hold new keys (not already held) under the event-time minute of their events."""
        if not keys.size:
            return
        buckets = minutes // BUCKET_MINUTES
        for bucket in np.unique(buckets).tolist():
            new = np.sort(keys[buckets == bucket])
            held = self._buckets.get(bucket)
            self._buckets[bucket] = new if held is None else np.insert(held, np.searchsorted(held, new), new)

    def expire(self, before_minute: int) -> None:
        """Forget ids of events that occurred before `before_minute` (whole buckets: some are kept longer)."""
        for bucket in [b for b in self._buckets if (b + 1) * BUCKET_MINUTES <= before_minute]:
            del self._buckets[bucket]
