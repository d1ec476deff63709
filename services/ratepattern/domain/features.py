"""Pure feature arithmetic over per-account arrays; the engine gathers the arrays."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from ratepattern.domain.config import DAY_MS, HOUR_MS

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

NAN: Final = float("nan")
# 1970-01-01 was a Thursday: (day + 3) % 7 is Monday=0 .. Sunday=6.
_EPOCH_WEEKDAY_SHIFT: Final = 3
GAP_SCALE: Final = 8.0  # gap codes are round(GAP_SCALE * log2(1 + gap seconds))


def gap_codes(gap_ms: I64) -> I64:
    """Quantized log inter-arrival times: integers, so sums are exact and order-free."""
    codes: I64 = np.rint(GAP_SCALE * np.log2(1.0 + gap_ms / 1000.0)).astype(np.int64)
    return codes


def safe_ratio(num: F64, den: F64, min_den: float = 1.0) -> F64:
    """num / den where den >= min_den, NaN elsewhere (too little data to say)."""
    out: F64 = np.full(num.shape, NAN)
    ok = den >= min_den
    out[ok] = num[ok] / den[ok]
    return out


def shrunk_share(hits: F64, samples: F64, prior: float = 2.0) -> F64:
    """hits / (samples + prior): a share pulled towards 0 when few prompts were sampled."""
    out: F64 = np.where(samples > 0, hits / (samples + prior), NAN)
    return out


def hour_of_day_histogram(week: npt.NDArray[np.uint16], week_hours: I64) -> F64:
    """Fold [168 consecutive hours, n] request counts into [24 hours of day (UTC), n]."""
    n = week.shape[1]
    folded = week.reshape(7, 24, n).sum(axis=0, dtype=np.float64)
    # Row p of `folded` is hour of day (week_hours[0] + p) % 24.
    hist: F64 = np.roll(folded, int(week_hours[0] % 24), axis=0)
    return hist


def normalized_entropy(hist: F64, min_total: float = 48.0) -> F64:
    """Entropy of each column over its 24 bins, divided by ln 24.

    1.0 is flat round-the-clock activity; a human day gives about 0.7-0.85. The plug-in estimate
    is biased low for few requests (uniform traffic of 48 requests scores ~0.93), which errs on the
    side of the account; NaN below `min_total` requests, where a human day cannot be told from a flat one.
    """
    total = hist.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = hist / np.where(total > 0, total, 1.0)
        h = -np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(axis=0)
    out: F64 = np.where(total >= min_total, np.minimum(h / np.log(24.0), 1.0), NAN)
    return out


def weekend_contrast(week: npt.NDArray[np.uint16], week_hours: I64, first_ms: I64,
                     min_requests: float = 20.0) -> F64:
    """|log2(weekend hourly rate / weekday hourly rate)| over the hours since each account's first request.

    Needs a full day of each kind observed and `min_requests` requests; NaN otherwise.
    """
    weekend = ((week_hours // 24 + _EPOCH_WEEKDAY_SHIFT) % 7 >= 5).astype(np.float64)
    w = week.astype(np.float64)
    # No request precedes an account's first, so only the hour counts depend on when it started.
    we = weekend @ w
    total = w.sum(axis=0)
    we_hours_from = np.cumsum(weekend[::-1])[::-1]
    first_row = np.clip(first_ms // HOUR_MS - week_hours[0], 0, week_hours.size - 1)
    we_hours = we_hours_from[first_row]
    wd_hours = (week_hours.size - first_row) - we_hours
    we_rate = we / np.maximum(we_hours, 1.0)
    wd_rate = (total - we) / np.maximum(wd_hours, 1.0)
    ok = (we_hours >= 24) & (wd_hours >= 24) & (total >= min_requests) & (first_ms >= 0)
    eps = 1.0 / 24.0
    out: F64 = np.where(ok, np.abs(np.log2((we_rate + eps) / (wd_rate + eps))), NAN)
    return out


def interarrival_spread(count: F64, total: F64, total_sq: F64, min_gaps: float = 8.0) -> F64:
    """Standard deviation of log2(1 + inter-arrival seconds); small means machine-regular."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / count
        var = np.maximum(total_sq / count - mean * mean, 0.0)
    out: F64 = np.where(count >= min_gaps, np.sqrt(var) / GAP_SCALE, NAN)
    return out


def synchronized_minutes(active: npt.NDArray[np.bool_], min_member_minutes: int = 10,
                         min_members: int = 3) -> float:
    """How much members' active minutes coincide beyond chance, in [0, 1].

    `active` is [minutes, members]. Members acting independently would cover about
    M * (1 - prod(1 - a_i / M)) distinct minutes; 1 - observed / expected is 0 for independent
    members and approaches 1 when they all fire in the same few minutes. NaN with too little activity.
    """
    minutes = active.shape[0]
    per_member = active.sum(axis=0)
    if int((per_member > 0).sum()) < min_members or int(per_member.sum()) < min_member_minutes:
        return NAN
    expected = minutes * (1.0 - float(np.prod(1.0 - per_member / minutes)))
    observed = float(active.any(axis=1).sum())
    return max(0.0, 1.0 - observed / expected) if expected > 0 else NAN


def staggered_activation(first_ms: I64, last_ms: I64, now_ms: int, quiet_ms: int = 6 * HOUR_MS,
                         min_members: int = 4) -> float:
    """Share of members first seen within `quiet_ms` after another member went quiet for good.

    A member is quiet when its last request is older than `quiet_ms`; a hand-over is a member whose
    first request falls in (last_i, last_i + quiet_ms] of some quiet member i. NaN below `min_members`.
    """
    seen = first_ms >= 0
    first, last = first_ms[seen], last_ms[seen]
    if first.size < min_members:
        return NAN
    quiet_ends = np.sort(last[last < now_ms - quiet_ms])
    if not quiet_ends.size:
        return 0.0
    lo = np.searchsorted(quiet_ends, first - quiet_ms, side="left")
    hi = np.searchsorted(quiet_ends, first, side="left")
    return float((hi > lo).sum()) / float(first.size)


def day_index(ms: int) -> int:
    return ms // DAY_MS
