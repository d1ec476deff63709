"""Exact event-id dedupe over the allowed-lateness window.

Guarantee: an event whose event_id equals that of an event already counted is not counted again.
Only ids of events whose occurred_at is at or after the watermark are kept: an older duplicate
is refused as late anyway, because the watermark never moves back. Bound: 12 bytes per counted
event whose occurred_at lies within the lateness window (event-id hash + minute), held in two
sorted numpy arrays. Ids are compared by 64-bit hash (a false "duplicate" needs a hash collision:
about n^2 / 2^65 for n ids held, 3e-8 for a million).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]


class EventIdWindow:
    def __init__(self) -> None:
        self._keys: I64 = np.zeros(0, dtype=np.int64)
        self._minutes: I32 = np.zeros(0, dtype=np.int32)  # minutes since the epoch fit in int32 until 6053
        self._expired_before = np.iinfo(np.int64).min

    def __len__(self) -> int:
        return int(self._keys.size)

    @property
    def nbytes(self) -> int:
        return int(self._keys.nbytes + self._minutes.nbytes)

    def seen(self, keys: I64) -> npt.NDArray[np.bool_]:
        """Which keys are held."""
        if not self._keys.size:
            return np.zeros(keys.size, dtype=np.bool_)
        pos = np.searchsorted(self._keys, keys)
        pos[pos == self._keys.size] = 0
        found: npt.NDArray[np.bool_] = self._keys[pos] == keys
        return found

    def add(self, keys: I64, minutes: I64) -> None:
        """Hold new keys (not already held) with the event-time minute of their events."""
        if not keys.size:
            return
        order = np.argsort(keys, kind="stable")
        keys, minutes = keys[order], minutes[order].astype(np.int32)
        at = np.searchsorted(self._keys, keys)
        self._keys = np.insert(self._keys, at, keys)
        self._minutes = np.insert(self._minutes, at, minutes)

    def expire(self, before_minute: int) -> None:
        """Forget ids of events that occurred before `before_minute`."""
        if before_minute <= self._expired_before:
            return
        self._expired_before = before_minute
        keep = self._minutes >= before_minute
        if not keep.all():
            self._keys = self._keys[keep]
            self._minutes = self._minutes[keep]
