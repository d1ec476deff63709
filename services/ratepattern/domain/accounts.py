"""Per-account state as struct-of-arrays, indexed by a slot number.

Every per-account series lives in a ring over event time with one row per bucket and one column
per slot, so a batch updates it with a handful of vectorized gathers and scatters and a column
costs a fixed number of bytes (about 2.1 KB per slot with the default config; measured by
`bytes_per_slot`). Ring row `bucket % rows` holds bucket `bucket` while that bucket is live;
`clear_rows` zeroes rows before they are reused for newer buckets.

Per-hour sums of the last day are unsigned 32-bit and saturate (4.29e9 tokens or requests in one
account-hour); the week of hourly request counts (shape features only) is 16-bit and saturates at
65,535 requests in an account-hour (1,092 rpm sustained). Saturating addition gives the same result
in any order, so replays stay exact. Capacity grows by a
quarter when full (amortized O(1), at most 25% idle columns).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ratepattern.domain.config import RatePatternConfig
from ratepattern.domain.zones import ClaimedZones

TEMPLATE_SLOTS: Final = 8
SYSTEM_PROMPT_SLOTS: Final = 4
WEEK_HOURS: Final = 168
DAY_HOURS: Final = 24

Array = npt.NDArray[Any]

# Stacked rings: [field, ring row, slot]; each field is also an attribute (a view) of its own name.
TOKEN_FIELDS: Final = ("input_tokens", "output_tokens")
COUNT_FIELDS: Final = ("requests", "cap_hits", "rate_limited", "release_requests", "new_model_requests", "gap_count", "gap_sum",
                       "gap_sumsq")
MINUTE_FIELDS: Final = ("active_minutes", "near_limit_minutes")
CONTENT_FIELDS: Final = ("sampled", "cot", "rubric", "rewrite")
STACKS: Final[dict[str, tuple[str, ...]]] = {
    "detail_tokens": TOKEN_FIELDS, "detail_counts": COUNT_FIELDS, "detail_minutes": MINUTE_FIELDS,
    "content_counts": CONTENT_FIELDS,
}


@dataclass(frozen=True)
class Context:
    """What signup said about an account: never labels."""

    org_id: str = ""
    signup_path: int = 0
    verification: int = 0
    country: str = ""  # ISO 3166-1 alpha-2, as claimed at signup


class AccountTable:
    """Slots, rings and scalars of all active accounts."""

    # (attribute, rows or 0 for a scalar column, dtype, fill)
    def __init__(self, config: RatePatternConfig, capacity: int = 1024) -> None:
        # Rows cover the lateness window plus 32 minutes of advance per segment (see engine).
        self.minute_rows = config.lateness_minutes + 35
        # Windows end at the stream's max hour and late events land at most two hours before it, so
        # one spare row beyond the window is enough.
        self.hour_rows = WEEK_HOURS + 1
        self.detail_rows = DAY_HOURS + 1
        self.day_rows = config.content_window_days + 1
        self._specs: list[tuple[str, int, type[np.generic], int | float]] = [
            # scalars
            ("first_ms", 0, np.int64, -1),
            ("last_ms", 0, np.int64, -1),
            ("org", 0, np.int32, 0),
            ("signup_path", 0, np.int8, 0),
            ("verification", 0, np.int8, 0),
            ("country", 0, np.int16, 0),
            ("dirty", 0, np.bool_, False),
            ("pending_requests", 0, np.uint32, 0),
            ("scored_ms", 0, np.int64, -1),
            ("score", 0, np.float64, 0.0),
            ("emitted_score", 0, np.float64, 0.0),
            ("emitted_band", 0, np.int8, 0),
            # shared-artifact use: id and the UTC day of the last use
            ("template_ids", -TEMPLATE_SLOTS, np.int64, 0),
            ("template_days", -TEMPLATE_SLOTS, np.int32, 0),
            ("prompt_ids", -SYSTEM_PROMPT_SLOTS, np.int64, 0),
            ("prompt_days", -SYSTEM_PROMPT_SLOTS, np.int32, 0),
            # minute ring
            ("minute_requests", self.minute_rows, np.uint16, 0),
            ("minute_limit", self.minute_rows, np.uint16, 0),
            # week of hours
            ("hour_requests", self.hour_rows, np.uint16, 0),
            # last day of hours, detail: stacks of same-typed metrics, one gather per stack
            ("detail_tokens", self.detail_rows, np.uint32, 0),
            ("detail_counts", self.detail_rows, np.uint32, 0),
            ("detail_minutes", self.detail_rows, np.uint8, 0),
            ("peak_permille", self.detail_rows, np.uint16, 0),
            # content, per UTC day
            ("content_counts", self.day_rows, np.uint8, 0),
            ("areas", self.day_rows, np.uint32, 0),
        ]
        self._stack_fields = STACKS
        self.capacity = 0
        self.slot_of: dict[str, int] = {}
        self.account_of: list[str] = []
        self._free: list[int] = []
        self.orgs: list[str] = [""]
        self._org_index: dict[str, int] = {"": 0}
        self.zones = ClaimedZones(config.night_start_hour, config.night_end_hour)
        self._allocate(capacity)

    # Typed views of the columns (set by _allocate).
    first_ms: Array
    last_ms: Array
    org: Array
    signup_path: Array
    verification: Array
    country: Array
    dirty: Array
    pending_requests: Array
    scored_ms: Array
    score: Array
    emitted_score: Array
    emitted_band: Array
    template_ids: Array
    template_days: Array
    prompt_ids: Array
    prompt_days: Array
    minute_requests: Array
    minute_limit: Array
    hour_requests: Array
    detail_tokens: Array
    detail_counts: Array
    detail_minutes: Array
    content_counts: Array
    requests: Array
    input_tokens: Array
    output_tokens: Array
    cap_hits: Array
    rate_limited: Array
    release_requests: Array
    new_model_requests: Array
    active_minutes: Array
    near_limit_minutes: Array
    peak_permille: Array
    gap_count: Array
    gap_sum: Array
    gap_sumsq: Array
    sampled: Array
    cot: Array
    rubric: Array
    rewrite: Array
    areas: Array

    def __len__(self) -> int:
        return len(self.slot_of)

    def __getstate__(self) -> dict[str, Any]:
        # Field views of the stacked rings would unpickle as copies: drop them, re-derive on load.
        views = {f for fields in self._stack_fields.values() for f in fields}
        return {k: v for k, v in self.__dict__.items() if k not in views}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for stack, fields in self._stack_fields.items():
            for i, field_name in enumerate(fields):
                setattr(self, field_name, getattr(self, stack)[i])

    def _allocate(self, capacity: int) -> None:
        old = self.capacity
        for name, rows, dtype, fill in self._specs:
            fields = self._stack_fields.get(name)
            if fields is not None:
                arr = np.full((len(fields), rows, capacity), fill, dtype=dtype)
                if old:
                    arr[:, :, :old] = getattr(self, name)
                for i, field_name in enumerate(fields):
                    setattr(self, field_name, arr[i])
            elif rows > 0:
                arr = np.full((rows, capacity), fill, dtype=dtype)
                if old:
                    arr[:, :old] = getattr(self, name)
            elif rows < 0:
                arr = np.full((capacity, -rows), fill, dtype=dtype)
                if old:
                    arr[:old] = getattr(self, name)
            else:
                arr = np.full(capacity, fill, dtype=dtype)
                if old:
                    arr[:old] = getattr(self, name)
            setattr(self, name, arr)
        self._free.extend(range(capacity - 1, old - 1, -1))
        self.account_of.extend([""] * (capacity - old))
        self.capacity = capacity

    def bytes_per_slot(self) -> int:
        """Bytes of numpy state one slot costs (excluding the id dictionary entry)."""
        total = 0
        for name, rows, dtype, _fill in self._specs:
            total += len(self._stack_fields.get(name, "x")) * max(1, abs(rows)) * np.dtype(dtype).itemsize
        return total

    def nbytes(self) -> int:
        return sum(getattr(self, name).nbytes for name, *_ in self._specs)

    def org_index(self, org_id: str) -> int:
        idx = self._org_index.get(org_id)
        if idx is None:
            idx = self._org_index[org_id] = len(self.orgs)
            self.orgs.append(org_id)
        return idx

    def slots(self, account_ids: list[str], contexts: dict[str, Context]) -> npt.NDArray[np.int64]:
        """Slots of the accounts, allocating new ones in order of first appearance."""
        get = self.slot_of.get
        found = [get(a, -1) for a in account_ids]
        if -1 in found:
            for i, a in enumerate(account_ids):
                if found[i] == -1:
                    slot = get(a)
                    if slot is None:
                        slot = self._new_slot(a, contexts.pop(a, None))
                    found[i] = slot
        return np.array(found, dtype=np.int64)

    def _new_slot(self, account_id: str, context: Context | None) -> int:
        if not self._free:
            self._allocate(self.capacity + max(1024, self.capacity // 4))
        slot = self._free.pop()
        self.slot_of[account_id] = slot
        self.account_of[slot] = account_id
        if context is not None:
            self.set_context(slot, context)
        return slot

    def set_context(self, slot: int, context: Context) -> None:
        self.org[slot] = self.org_index(context.org_id)
        self.signup_path[slot] = context.signup_path
        self.verification[slot] = context.verification
        self.country[slot] = self.zones.index(context.country)

    def context(self, slot: int) -> Context:
        return Context(self.orgs[int(self.org[slot])], int(self.signup_path[slot]), int(self.verification[slot]),
                       self.zones.countries[int(self.country[slot])])

    def release(self, slots: npt.NDArray[np.int64]) -> list[tuple[str, Context]]:
        """Free the slots (zeroing their columns); returns their accounts' contexts to keep."""
        kept = []
        for slot in slots.tolist():
            account = self.account_of[slot]
            kept.append((account, self.context(slot)))
            del self.slot_of[account]
            self.account_of[slot] = ""
            self._free.append(slot)
        for name, rows, _dtype, fill in self._specs:
            arr = getattr(self, name)
            if name in self._stack_fields:
                arr[:, :, slots] = fill
            elif rows > 0:
                arr[:, slots] = fill
            else:
                arr[slots] = fill
        return kept

    def clear_rows(self, names: tuple[str, ...], rows: int, first_bucket: int, last_bucket: int) -> None:
        """Zero ring rows of buckets first_bucket..last_bucket (inclusive) of the named rings."""
        if last_bucket < first_bucket:
            return
        if last_bucket - first_bucket + 1 >= rows:
            idx = np.arange(rows)
        else:
            idx = np.arange(first_bucket, last_bucket + 1) % rows
        for name in names:
            if name in self._stack_fields:
                getattr(self, name)[:, idx] = 0
            else:
                getattr(self, name)[idx] = 0


MINUTE_RINGS: Final = ("minute_requests", "minute_limit")
HOUR_RINGS: Final = ("hour_requests",)
DETAIL_RINGS: Final = ("detail_tokens", "detail_counts", "detail_minutes", "peak_permille")
DAY_RINGS: Final = ("content_counts", "areas")
