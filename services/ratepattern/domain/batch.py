"""Columnar batches of inference events.

Decoding is the one per-message Python loop on the hot path: each value is parsed with the
generated message class (upb) and the ten scalar fields the features need are read into columns.
The prompt text and system-prompt hash are not read here: only sampled requests need them, and
`content` re-reads them from the kept source on demand.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, cast

import numpy as np
import numpy.typing as npt
from google.protobuf.message import DecodeError

from distillguard.v1 import events_pb2

I64 = npt.NDArray[np.int64]

_PARSE: Final = events_pb2.InferenceEvent.FromString
_UNSPECIFIED: Final = events_pb2.INFERENCE_STATUS_UNSPECIFIED


def event_keys(event_ids: Sequence[str], occurred_ms: I64) -> I64:
    """Stable 64-bit dedupe keys: low 32 bits of occurred_ms above CRC-32 of the event id.

    A redelivered event has the same id and occurred_at, so the same key, in any process. Two
    different events share a key only when they occurred in the same millisecond (modulo 2**32 ms,
    about 49 days, far beyond the dedupe window) and their ids have equal CRC-32.
    """
    crc = np.fromiter((zlib.crc32(e.encode()) for e in event_ids), dtype=np.int64, count=len(event_ids))
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


def _validate(row: _Row) -> str | None:
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
    return None


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
    def from_protobuf_values(cls, values: Sequence[bytes]) -> InferenceBatch:
        """Decode serialized InferenceEvent values (Kafka record values) into a batch."""
        try:
            # The hot loop: one C parse and ten attribute reads per message, no Python-level call.
            rows = cast(list[_Row], [
                (m.event_id, m.account_id, m.model, (o := m.occurred_at).seconds, o.nanos, m.input_tokens,
                 m.output_tokens, m.max_tokens, m.status, m.account_rpm_limit) for m in map(_PARSE, values)])
            return cls._from_rows(rows, range(len(rows)), [], values)
        except DecodeError:
            pass
        good: list[_Row] = []
        index: list[int] = []
        rejected: list[Rejected] = []
        for i, v in enumerate(values):
            try:
                good.append(_row(_PARSE(v)))
                index.append(i)
            except DecodeError as exc:
                rejected.append(Rejected(i, f"undecodable InferenceEvent: {exc}"))
        return cls._from_rows(good, index, rejected, values)

    @classmethod
    def from_events(cls, events: Sequence[events_pb2.InferenceEvent]) -> InferenceBatch:
        """Build a batch from already-parsed messages (tests, simulator replays)."""
        return cls._from_rows([_row(m) for m in events], range(len(events)), [], events)

    @classmethod
    def _from_rows(cls, rows: list[_Row], index: Sequence[int], rejected: list[Rejected],
                   sources: Sequence[bytes] | Sequence[events_pb2.InferenceEvent]) -> InferenceBatch:
        if rows:
            cols = list(zip(*rows))
            event_ids, accounts, models = cols[0], cols[1], cols[2]
            bad = not (all(event_ids) and all(accounts) and all(models))
            seconds = np.array(cols[3], dtype=np.int64)
            nanos = np.array(cols[4], dtype=np.int64)
            ints = np.array(cols[5:], dtype=np.int64)
            bad = bad or bool((ints < 0).any()) or bool(((seconds <= 0) & (nanos <= 0)).any()) \
                or bool((ints[3] == _UNSPECIFIED).any())
            if bad:
                keep: list[int] = []
                rejected = list(rejected)
                for j, row in enumerate(rows):
                    reason = _validate(row)
                    if reason is None:
                        keep.append(j)
                    else:
                        rejected.append(Rejected(index[j], reason))
                rejected.sort(key=lambda r: r.index)
                return cls._from_rows([rows[j] for j in keep], [index[j] for j in keep], rejected, sources)
            intern: dict[str, int] = {}
            model_index = np.array([intern.setdefault(m, len(intern)) for m in models], dtype=np.int32)
            occurred_ms = seconds * 1000 + nanos // 1_000_000
            return cls(
                account_ids=list(accounts),
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
        empty = np.zeros(0, dtype=np.int64)
        return cls([], empty, empty, [], np.zeros(0, dtype=np.int32), empty, empty, empty,
                   np.zeros(0, dtype=np.int8), empty, empty, rejected, sources)

    def content(self, row: int) -> tuple[str, str]:
        """(prompt_sample, system_prompt_sha256) of row `row`, read from the kept source."""
        src = self._sources[int(self.source_index[row])]
        m = _PARSE(src) if isinstance(src, bytes) else src
        return m.prompt_sample, m.system_prompt_sha256
