"""Formatting a part of a slice into JSON lines and writing it out, in the generating process or in a
helper process.

Every random draw happens in the generating process (engine.py, population.py); what reaches this
module is a `Part`: the requests' final values as columns, plus the part's signup and billing lines.
Turning those into JSON lines is deterministic, so it can run anywhere: `LocalSink` formats in the
calling thread, `ProcessSink` in a second process (`python -m distillguard.simulator.formatter`),
which also owns the gzip writer. On this two-core machine that moves about a third of the per-event
work off the generating thread. Both call `format_part` and hand the gzip writer the same chunks,
so they write the same bytes.

Text columns cross as newline-joined bytes: every value is an identifier, an IP, a user agent, a
hash or a JSON-escaped prompt, none of which can hold a raw newline (`json_safe`, `json_string_body`).
The hand-off queue is bounded (a few parts of at most ~40,000 requests), so memory stays bounded.
"""

from __future__ import annotations

import pickle
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final, Protocol

import numpy as np
import orjson

from distillguard.simulator.world import HOUR_MS, MINUTE_MS, MODELS, STATUS_WORDS
from distillguard.simulator.writer import GzipLineWriter

_MODEL_NAMES: Final = np.array([name.encode() for name in MODELS], dtype=object)
_STATUS_WORDS: Final = np.array([word.encode() for word in STATUS_WORDS], dtype=object)
_STREAM_WORDS: Final = np.array([b"false", b"true"], dtype=object)

_INFERENCE_LINE: Final = (
    b'{"type":"inference","event_id":"evt_%s","occurred_at":"%s%02d:%02d.%03dZ","account_id":"%s","api_key_id":"%s",'
    b'"model":"%s",'
    b'"ip":"%s","user_agent":"%s","input_tokens":%d,"output_tokens":%d,"max_tokens":%d,"latency_ms":%d,'
    b'"status":"%s","stream":%s,"prompt_sample":"%s","system_prompt_sha256":"%s","account_rpm_limit":%d}'
)


def join_column(values: list[bytes]) -> bytes:
    """A text column for a `Part` (values must not contain a newline)."""
    return b"\n".join(values)


def split_column(blob: bytes, n: int) -> list[bytes]:
    if n == 0:
        return []
    values = blob.split(b"\n")
    if len(values) != n:
        raise AssertionError(f"a text column has {len(values)} values for {n} requests (a raw newline in a value?)")
    return values


def event_ids(random_bytes: bytes) -> list[bytes]:
    """20 hex digits per 10 random bytes (the "evt_" prefix is added by the caller)."""
    ids: list[bytes] = np.frombuffer(random_bytes.hex().encode(), dtype="S20").tolist()
    return ids


@dataclass(frozen=True, slots=True)
class Part:
    """The lines of one part of a slice: its requests in time order as columns (one entry per request;
    text columns newline-joined) and its signup and billing lines. `others[j]` goes just before
    request `positions[j]`; with `keep`, only the first `keep` lines are written."""

    ts: np.ndarray
    event_bytes: bytes  # 10 random bytes per request
    account_id: bytes
    api_key: bytes
    model: np.ndarray
    ip: bytes
    user_agent: bytes
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    max_tokens: np.ndarray
    latency_ms: np.ndarray
    status: np.ndarray
    stream: np.ndarray
    prompt: bytes
    system_prompt: bytes
    rpm_limit: np.ndarray
    others: list[bytes]
    positions: list[int]
    keep: int | None = None

    @classmethod
    def without_requests(cls, others: list[bytes]) -> Part:
        no_ints, no_text = np.zeros(0, np.int64), b""
        return cls(
            no_ints, no_text, no_text, no_text, no_ints, no_text, no_text, no_ints, no_ints, no_ints, no_ints, no_ints,
            np.zeros(0, bool), no_text, no_text, no_ints, others, [0] * len(others),
        )

    @property
    def lines(self) -> int:
        return len(self.ts) + len(self.others)


def inference_lines(part: Part) -> list[bytes]:
    """The part's inference lines (without newline), in request order."""
    n = len(part.ts)
    if n == 0:
        return []
    # occurred_at = "YYYY-MM-DDTHH:" of the hour (formatted once per hour) + minutes, seconds, millis.
    hour, within = np.divmod(part.ts, HOUR_MS)
    hours, which = np.unique(hour, return_inverse=True)
    prefixes = np.array(
        [stamp[:14] for stamp in np.datetime_as_string((hours * HOUR_MS).astype("datetime64[ms]"), unit="ms")
         .astype("S23").tolist()],
        dtype=object,
    )
    minute, within = np.divmod(within, MINUTE_MS)
    second, milli = np.divmod(within, 1000)
    columns = zip(
        event_ids(part.event_bytes),
        prefixes[which].tolist(),
        minute.tolist(),
        second.tolist(),
        milli.tolist(),
        split_column(part.account_id, n),
        split_column(part.api_key, n),
        _MODEL_NAMES[part.model].tolist(),
        split_column(part.ip, n),
        split_column(part.user_agent, n),
        part.input_tokens.tolist(),
        part.output_tokens.tolist(),
        part.max_tokens.tolist(),
        part.latency_ms.tolist(),
        _STATUS_WORDS[part.status].tolist(),
        _STREAM_WORDS[part.stream.astype(np.int64)].tolist(),
        split_column(part.prompt, n),
        split_column(part.system_prompt, n),
        part.rpm_limit.tolist(),
    )
    line = _INFERENCE_LINE
    return [line % row for row in columns]


def format_part(part: Part) -> bytes:
    """The part's newline-terminated lines, signup and billing lines merged in before the requests
    at their positions (they go first on equal times)."""
    rendered = inference_lines(part)
    if part.others:
        merged: list[bytes] = []
        previous = 0
        for position, line in zip(part.positions, part.others):
            merged += rendered[previous:position]
            merged.append(line)
            previous = position
        merged += rendered[previous:]
    else:
        merged = rendered
    if part.keep is not None:
        del merged[part.keep:]
    if not merged:
        return b""
    merged.append(b"")
    return b"\n".join(merged)


@dataclass(frozen=True)
class SinkStats:
    formatter_cpu_seconds: float  # formatting in a helper process (0 when done in the generating thread)
    compressor_cpu_seconds: float


class Sink(Protocol):
    def write(self, part: Part) -> None: ...

    def close(self) -> SinkStats: ...

    def abort(self) -> None: ...


class LocalSink:
    """Format in the calling thread; compress on the gzip writer's thread."""

    def __init__(self, path: Path, level: int) -> None:
        self._writer = GzipLineWriter(path, level)

    def write(self, part: Part) -> None:
        self._writer.write(format_part(part))

    def close(self) -> SinkStats:
        self._writer.close()
        return SinkStats(0.0, self._writer.cpu_seconds)

    def abort(self) -> None:
        self._writer.close()


_STOP: Final = None


class ProcessSink:
    """Format and compress in a helper process; parts are pickled to its stdin by a sender thread
    through a bounded queue, so generation overlaps with the transfer and memory stays bounded."""

    def __init__(self, path: Path, level: int, max_pending_parts: int = 2) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "distillguard.simulator.formatter", str(path), str(level)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._stdin: IO[bytes] = self._process.stdin
        self._queue: queue.Queue[Part | None] = queue.Queue(maxsize=max_pending_parts)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._send, name="formatter-feed", daemon=True)
        self._thread.start()
        self._closed = False

    def _send(self) -> None:
        while (part := self._queue.get()) is not _STOP:
            if self._error is None:
                try:
                    pickle.dump(part, self._stdin, protocol=pickle.HIGHEST_PROTOCOL)
                    self._stdin.flush()
                except BaseException as exc:  # noqa: BLE001 - re-raised in the producer thread
                    self._error = exc
        try:
            pickle.dump(_STOP, self._stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._stdin.close()
        except BaseException as exc:  # noqa: BLE001
            self._error = self._error or exc

    def write(self, part: Part) -> None:
        """Queue a part; blocks while `max_pending_parts` parts are waiting."""
        if self._error is not None:
            raise RuntimeError("the formatter process failed") from self._error
        self._queue.put(part)

    def close(self) -> SinkStats:
        """Wait for the helper to write everything; raises if it failed."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join()
        assert self._process.stdout is not None
        with self._process.stdout:
            report = self._process.stdout.read()
        code = self._process.wait()
        if code != 0 or self._error is not None:
            raise RuntimeError(f"the formatter process failed (exit code {code})") from self._error
        stats = orjson.loads(report)
        return SinkStats(stats["formatter_cpu_seconds"], stats["compressor_cpu_seconds"])

    def abort(self) -> None:
        """Stop the helper without waiting for it (after an error in the generator)."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:  # the sender thread may be half-way through a write
                    pass
        try:
            self._queue.put_nowait(_STOP)  # let the sender thread finish
        except queue.Full:
            pass


def _serve(path: Path, level: int) -> None:
    """The helper process: format the parts arriving on stdin, write them, report CPU times on stdout."""
    started = time.thread_time()
    source = sys.stdin.buffer
    writer = GzipLineWriter(path, level)
    with writer:
        while (part := pickle.load(source)) is not _STOP:
            writer.write(format_part(part))
    report = {"formatter_cpu_seconds": time.thread_time() - started, "compressor_cpu_seconds": writer.cpu_seconds}
    sys.stdout.buffer.write(orjson.dumps(report))


if __name__ == "__main__":
    _serve(Path(sys.argv[1]), int(sys.argv[2]))
