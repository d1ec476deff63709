"""EventIdWindow: exact over the lateness window, bounded by buckets of event time."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ratepattern.domain.dedupe import BUCKET_MINUTES, EventIdWindow


def keys(*values: int) -> npt.NDArray[np.int64]:
    return np.array(values, dtype=np.int64)


def test_held_keys_are_seen_across_buckets_and_others_are_not() -> None:
    window = EventIdWindow()
    window.add(keys(30, 10, 20), keys(0, 5, BUCKET_MINUTES + 1))  # two buckets
    window.add(keys(15), keys(7))  # into the middle of a held bucket
    assert window.seen(keys(10, 11, 15, 20, 30, -5, 2**62)).tolist() == [True, False, True, True, True, False, False]
    assert len(window) == 4 and window.nbytes == 4 * 8
    assert not EventIdWindow().seen(keys(1, 2)).any()


def test_a_bucket_is_forgotten_only_once_all_its_minutes_are_before_the_watermark() -> None:
    window = EventIdWindow()
    window.add(keys(1, 2), keys(0, BUCKET_MINUTES - 1))
    window.add(keys(3), keys(BUCKET_MINUTES))
    window.expire(BUCKET_MINUTES - 1)  # minute 9 of the first bucket may still see late events
    assert window.seen(keys(1, 2, 3)).all()
    window.expire(BUCKET_MINUTES)
    assert window.seen(keys(1, 2, 3)).tolist() == [False, False, True]
    assert len(window) == 1


def test_many_keys_stay_exact() -> None:
    rng = np.random.default_rng(3)
    held = rng.choice(2**40, size=20_000, replace=False).astype(np.int64)
    window = EventIdWindow()
    for part, minute in zip(np.array_split(held, 40), range(40)):
        window.add(part, np.full(part.size, minute, dtype=np.int64))
    others = held + 2**41
    assert window.seen(held).all() and not window.seen(others).any()
    assert window.nbytes == held.size * 8
