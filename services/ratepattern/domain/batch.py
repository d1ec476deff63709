"""Columnar batches of inference events.

A consumer batch is decoded in one parse, with no Python work per message: the values are framed
into one `InferenceBatchView` (views.proto), whose repeated fields then hold every event's fields
field by field, and numpy splits them into per-event columns at the sentinel frame that follows
each event. A batch that does not decode that way, or holds an invalid event, is decoded again
message by message with `InferenceEvent` to refuse exactly the bad values, each with its reason.
The prompt text and system-prompt hash are not read here: only sampled requests need them, and
`content` re-reads them from the kept source on demand.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Final, cast

import numpy as np
import numpy.typing as npt
from google.protobuf.message import DecodeError

from distillguard.v1 import events_pb2, views_pb2

I64 = npt.NDArray[np.int64]

_PARSE: Final = events_pb2.InferenceEvent.FromString
_PARSE_VIEW: Final = views_pb2.InferenceBatchView.FromString
_UNSPECIFIED: Final = events_pb2.INFERENCE_STATUS_UNSPECIFIED
_COUNTS: Final = [0, 1, 2, 4]  # the rows of token counts and rpm limit among the integer columns (not status)


def event_keys(event_ids: Sequence[str], occurred_ms: I64) -> I64:
    """Stable 64-bit dedupe keys: low 32 bits of occurred_ms above CRC-32 of the event id.

    A redelivered event has the same id and occurred_at, so the same key, in any process. Two
    different events share a key only when they occurred in the same millisecond (modulo 2**32 ms,
    about 49 days, far beyond the dedupe window) and their ids have equal CRC-32.
    """
    crc = np.fromiter(map(zlib.crc32, map(str.encode, event_ids)), dtype=np.int64, count=len(event_ids))
    keys: I64 = ((occurred_ms & 0xFFFFFFFF) << 32) | crc
    return keys


@dataclass(frozen=True)
class Rejected:
    """An input the batch refused, for the caller's dead-letter topic."""

    index: int
    reason: str


_Row = tuple[str, str, str, int, int, int, int, int, int, int]


def _row(m: events_pb2.InferenceEvent) -> _Row:
    o = m.occurred_at
    return (m.event_id, m.account_id, m.model, o.seconds, o.nanos, m.input_tokens, m.output_tokens,
            m.max_tokens, int(m.status), m.account_rpm_limit)


def _iso(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):  # beyond what datetime represents
        return f"{ms} ms since the epoch"


def _validate(row: _Row, not_after_ms: int | None) -> str | None:
    if not row[0]:
        return "missing required field event_id"
    if not row[1]:
        return "missing required field account_id"
    if not row[2]:
        return "missing required field model"
    if row[3] <= 0 and row[4] <= 0:
        return "missing required field occurred_at"
    if row[8] == _UNSPECIFIED:
        return "missing required field status"
    if min(row[5], row[6], row[7], row[9]) < 0:
        return "negative token count or rpm limit"
    if not_after_ms is not None and (at_ms := row[3] * 1000 + row[4] // 1_000_000) > not_after_ms:
        return (f"occurred_at {_iso(at_ms)} is in the future: later than {_iso(not_after_ms)}, the processing "
                "clock plus the allowed clock skew (max_future_skew_ms)")
    return None


# ----------------------------------------------------------------------------- one-parse decoding

_FRAME_TAG: Final = b"\x0a"  # field 1 (InferenceBatchView.events), wire type 2 (length-delimited)
_SENTINEL: Final = -1  # closes each event's values in every numeric column read
# Closes each event's values in every column read: "" in the string columns, _SENTINEL in the
# numeric ones. Explicit values are on the wire even when they are the default (repeated fields).
_SENTINEL_EVENT: Final = views_pb2.InferenceColumns(
    event_id=[""], occurred_at=views_pb2.TimestampColumns(seconds=[_SENTINEL], nanos=[_SENTINEL]), account_id=[""],
    model=[""], input_tokens=[_SENTINEL], output_tokens=[_SENTINEL], max_tokens=[_SENTINEL],
    status=[_SENTINEL],  # type: ignore[list-item]  # an open enum keeps any int32
    account_rpm_limit=[_SENTINEL]).SerializeToString()


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SENTINEL_FRAME: Final = _FRAME_TAG + _varint(len(_SENTINEL_EVENT)) + _SENTINEL_EVENT


class _FrameHeaders(dict[int, bytes]):
    """Tag and length that frame a value of `size` bytes; sizes under 16 KiB (every valid event) cached."""

    def __missing__(self, size: int) -> bytes:
        header = _FRAME_TAG + _varint(size)
        if size < 1 << 14:
            self[size] = header
        return header


_FRAME_HEADER: Final = _FrameHeaders().__getitem__

_Columns = tuple[list[str], list[str], list[str], I64, I64, I64]


def _required_strings(column: Sequence[str], n: int) -> list[str] | None:
    """The value of each of n events in a string column, or None unless every event has exactly one,
    non-empty.

    The column is each event's values followed by the sentinel "". Length 2n with "" at every odd
    position and a non-empty string at every even one proves that each event has exactly one value:
    by induction every event starts at an even position and has an odd number of values (with an
    even number, its sentinel "" would fall at an even position), and n odd counts summing to n
    (the length is the values plus n sentinels) are all 1.
    """
    if len(column) != 2 * n or any(column[1::2]):
        return None
    firsts = list(column[0::2])
    return firsts if all(firsts) else None


def _last_numbers(column: Sequence[int], n: int) -> I64 | None:
    """The value of each of n events in a numeric column (the last occurrence wins, as when parsing
    one message; 0 when it has none), or None when a value equals the sentinel: the column is each
    event's values followed by the sentinel, so exactly n sentinels means none is a value."""
    values = np.array(column, dtype=np.int64)
    ends = np.flatnonzero(values == _SENTINEL)
    if ends.size != n:
        return None
    starts = np.zeros_like(ends)
    starts[1:] = ends[:-1] + 1
    last: I64 = np.where(ends > starts, values[ends - 1], 0)
    return last


def _decode_columns(values: Sequence[bytes]) -> _Columns | None:
    """(event ids, account ids, models, seconds, nanos, [input tokens, output tokens, max tokens, status,
    rpm limit]) of non-empty `values`, decoded in one parse; None when they do not all decode as
    InferenceEvents with one non-empty event id, account id and model each (the caller decodes them
    one by one)."""
    n = len(values)
    parts = [_SENTINEL_FRAME] * (3 * n)  # header, event, sentinel frame; per event
    parts[0::3] = map(_FRAME_HEADER, map(len, values))
    parts[1::3] = values
    try:
        events = _PARSE_VIEW(b"".join(parts)).events
    except DecodeError:
        return None
    event_ids = _required_strings(events.event_id, n)
    accounts = _required_strings(events.account_id, n)
    models = _required_strings(events.model, n)
    numbers = [_last_numbers(column, n) for column in (
        events.occurred_at.seconds, events.occurred_at.nanos, events.input_tokens, events.output_tokens,
        events.max_tokens, events.status, events.account_rpm_limit)]
    if event_ids is None or accounts is None or models is None or any(c is None for c in numbers):
        return None
    seconds, nanos, *ints = cast(list[I64], numbers)
    return event_ids, accounts, models, seconds, nanos, np.stack(ints)


@dataclass(frozen=True, eq=False)
class InferenceBatch:
    """Valid inference events of one consumer batch, in stream order, as columns.

    `event_keys` are stable 64-bit dedupe keys (see `event_keys`). `occurred_ms` is occurred_at in
    epoch milliseconds.
    Row i came from input `source_index[i]`; refused inputs are listed in `rejected`.
    """

    account_ids: list[str]
    event_keys: I64
    occurred_ms: I64
    models: list[str]
    model_index: npt.NDArray[np.int32]
    input_tokens: I64
    output_tokens: I64
    max_tokens: I64
    status: npt.NDArray[np.int8]
    rpm_limit: I64
    source_index: I64
    rejected: list[Rejected] = field(default_factory=list)
    _sources: Sequence[bytes] | Sequence[events_pb2.InferenceEvent] = ()

    def __len__(self) -> int:
        return len(self.account_ids)

    @classmethod
    def from_protobuf_values(cls, values: Sequence[bytes], not_after_ms: int | None = None) -> InferenceBatch:
        """Decode serialized InferenceEvent values (Kafka record values) into a batch.

        With `not_after_ms`, events whose occurred_at is later are refused (listed in `rejected`): the
        caller passes its clock plus the allowed skew, so a far-future timestamp cannot move event time.
        The domain has no clock of its own; replays of recorded traffic pass none.
        """
        if values and (columns := _decode_columns(values)) is not None:
            batch = cls._from_columns(*columns, range(len(values)), [], values, not_after_ms)
            if batch is not None:
                return batch
            # Some event is invalid: validate the decoded events one by one.
            event_ids, accounts, models, seconds, nanos, ints = columns
            rows = cast(list[_Row], list(zip(event_ids, accounts, models, seconds.tolist(), nanos.tolist(),
                                             *ints.tolist())))
            return cls._from_rows(rows, range(len(values)), [], values, not_after_ms)
        # Not decodable in one parse (an undecodable value, a required string missing or repeated, a value
        # equal to a sentinel): decode message by message to refuse exactly the bad values.
        good: list[_Row] = []
        index: list[int] = []
        rejected: list[Rejected] = []
        for i, v in enumerate(values):
            try:
                good.append(_row(_PARSE(v)))
                index.append(i)
            except DecodeError as exc:
                rejected.append(Rejected(i, f"undecodable InferenceEvent: {exc}"))
        return cls._from_rows(good, index, rejected, values, not_after_ms)

    @classmethod
    def from_events(cls, events: Sequence[events_pb2.InferenceEvent]) -> InferenceBatch:
        """Build a batch from already-parsed messages (tests, simulator replays)."""
        return cls._from_rows([_row(m) for m in events], range(len(events)), [], events, None)

    @classmethod
    def _from_rows(cls, rows: list[_Row], index: Sequence[int], rejected: list[Rejected],
                   sources: Sequence[bytes] | Sequence[events_pb2.InferenceEvent],
                   not_after_ms: int | None) -> InferenceBatch:
        if not rows:
            empty = np.zeros(0, dtype=np.int64)
            return cls([], empty, empty, [], np.zeros(0, dtype=np.int32), empty, empty, empty,
                       np.zeros(0, dtype=np.int8), empty, empty, rejected, sources)
        cols = list(zip(*rows))
        batch = cls._from_columns(
            cast(list[str], list(cols[0])), cast(list[str], list(cols[1])), cast(list[str], list(cols[2])),
            np.array(cols[3], dtype=np.int64), np.array(cols[4], dtype=np.int64), np.array(cols[5:], dtype=np.int64),
            index, rejected, sources, not_after_ms)
        if batch is not None:
            return batch
        keep: list[int] = []
        rejected = list(rejected)
        for j, row in enumerate(rows):
            reason = _validate(row, not_after_ms)
            if reason is None:
                keep.append(j)
            else:
                rejected.append(Rejected(index[j], reason))
        rejected.sort(key=lambda r: r.index)
        return cls._from_rows([rows[j] for j in keep], [index[j] for j in keep], rejected, sources, None)

    @classmethod
    def _from_columns(cls, event_ids: list[str], accounts: list[str], models: list[str], seconds: I64, nanos: I64,
                      ints: I64, index: Sequence[int], rejected: list[Rejected],
                      sources: Sequence[bytes] | Sequence[events_pb2.InferenceEvent],
                      not_after_ms: int | None) -> InferenceBatch | None:
        """The batch of these (non-empty) columns; None when a row is invalid (`_validate` says why).

        `ints` rows: input tokens, output tokens, max tokens, status, rpm limit.
        """
        occurred_ms = seconds * 1000 + nanos // 1_000_000
        if not (all(event_ids) and all(accounts) and all(models)) or bool((ints[_COUNTS] < 0).any()) \
                or bool(((seconds <= 0) & (nanos <= 0)).any()) or bool((ints[3] == _UNSPECIFIED).any()) \
                or (not_after_ms is not None  # seconds first: seconds * 1000 can wrap around int64
                    and bool(((seconds > not_after_ms // 1000) | (occurred_ms > not_after_ms)).any())):
            return None
        intern = {m: i for i, m in enumerate(dict.fromkeys(models))}  # first appearance order
        model_index = np.fromiter(map(intern.__getitem__, models), dtype=np.int32, count=len(models))
        return cls(
            account_ids=accounts,
            event_keys=event_keys(event_ids, occurred_ms),
            occurred_ms=occurred_ms,
            models=list(intern),
            model_index=model_index,
            input_tokens=ints[0],
            output_tokens=ints[1],
            max_tokens=ints[2],
            status=ints[3].astype(np.int8),
            rpm_limit=ints[4],
            source_index=np.asarray(index, dtype=np.int64),
            rejected=rejected,
            _sources=sources,
        )

    def content(self, row: int) -> tuple[str, str]:
        """(prompt_sample, system_prompt_sha256) of row `row`, read from the kept source."""
        src = self._sources[int(self.source_index[row])]
        m = _PARSE(src) if isinstance(src, bytes) else src
        return m.prompt_sample, m.system_prompt_sha256
