"""The rate-pattern analysis service: wiring of the rate-pattern engine into the platform runtime.

Consumes events.inference (columnar batches straight from the Kafka values), events.signup
(org, signup path and verification context) and identity.clusters; publishes RiskSignals on
risk.signals, keyed by account id (cluster id for cluster signals). Its windows are a
deterministic function of the recent input, so after a restart the pipeline replays the longest
window (content_window_days) plus the allowed lateness before the committed offsets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

import grpc

from distillguard.codec import InvalidEvent, decode_wire
from distillguard.pipeline import BatchResult, InputBatch, InputRecord, OutputRecord, Rejected
from distillguard.runtime import ServiceDefinition, ServiceParts
from distillguard.settings import Settings
from distillguard.topics import CLUSTERS, DLQ_RATEPATTERN, INFERENCE, SIGNALS, SIGNUP, STATE_RATEPATTERN
from distillguard.v1 import events_pb2, identity_pb2, ratepattern_pb2, ratepattern_pb2_grpc
from ratepattern.domain import InferenceBatch, RatePatternConfig, RatePatternEngine
from ratepattern.servicer import CallsInFlight, RatePatternServicer

DAY_MS: Final = 24 * 3600 * 1000
MIN_SLICE: Final = 256  # events per slice at least: each engine call has a fixed cost
_INFERENCE: Final = INFERENCE.name


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class RatePatternProcessor:
    """BatchProcessor for the rate-pattern engine.

    Inference records are applied in slices sized to take about `slice_seconds` each, yielding to
    the event loop between slices so the gRPC API answers while a batch is being applied (the
    engine's results do not depend on how the stream is cut into batches); with `calls`, the API's
    calls in flight are answered before the next slice (waiting at most `max_give_way_s` per slice).
    Each engine call has a fixed cost (about 1.5 ms, a few hundred numpy operations), so slices are
    short only while the API is in use (`calls.recent()`): `idle_slice_seconds` otherwise.
    `clock_ms` is the processing clock against which far-future occurred_at values are refused (the
    engine's `max_future_skew_ms`); it is the wall clock in production and injectable for tests.
    """

    def __init__(self, engine: RatePatternEngine, *, clock_ms: Callable[[], int] = wall_clock_ms,
                 slice_seconds: float = 0.01, idle_slice_seconds: float = 0.1,
                 calls: CallsInFlight | None = None, max_give_way_s: float = 0.05) -> None:
        self.engine = engine
        self._calls = calls
        self._max_give_way_s = max_give_way_s
        # The longest window (content and shape, content_window_days) plus the allowed lateness.
        self.replay_lookback_ms: int | None = engine.config.content_window_days * DAY_MS + engine.config.allowed_lateness_ms
        self._clock_ms = clock_ms
        self._slice_seconds = slice_seconds
        self._idle_slice_seconds = idle_slice_seconds
        self._seconds_per_event = 20e-6  # running estimate, refined by every slice

    def restore(self, records: Iterable[tuple[bytes, bytes]]) -> None:
        for _ in records:  # nothing is checkpointed: the windows are rebuilt by replay
            pass

    async def process(self, batch: Sequence[InputRecord]) -> BatchResult:
        result = BatchResult()
        signals: list[ratepattern_pb2.RiskSignal] = []
        # Inference values go to the domain in bulk: no per-record object unless the record is refused.
        inference, context = InputBatch.of(batch).split(_INFERENCE)
        for record in context:
            if record.topic == SIGNUP.name:
                try:
                    signup = decode_wire("signup", record.value)
                except InvalidEvent as exc:
                    result.rejected.append(Rejected(record, str(exc)))
                    continue
                assert isinstance(signup, events_pb2.SignupEvent)
                self.engine.apply_signup(signup)
            else:  # identity.clusters
                try:
                    update = identity_pb2.ClusterUpdate.FromString(record.value)
                except Exception as exc:  # protobuf's DecodeError and friends
                    result.rejected.append(Rejected(record, f"not a valid ClusterUpdate protobuf: {exc}"))
                    continue
                signals.extend(self.engine.apply_cluster_update(update))
        if inference:
            skew = self.engine.config.max_future_skew_ms
            not_after = self._clock_ms() + skew if skew is not None else None
            values = inference.values()
            start = 0
            while start < len(values):
                budget = self._slice_seconds if self._calls is None or self._calls.recent() else self._idle_slice_seconds
                size = min(max(int(budget / self._seconds_per_event), MIN_SLICE), len(values) - start)
                began = time.perf_counter()
                columns = InferenceBatch.from_protobuf_values(values[start:start + size], not_after)
                result.rejected.extend(Rejected(inference[start + r.index], r.reason) for r in columns.rejected)
                signals.extend(self.engine.apply_inference(columns))
                per_event = (time.perf_counter() - began) / size
                self._seconds_per_event = 0.7 * self._seconds_per_event + 0.3 * per_event
                start += size
                await asyncio.sleep(0)  # let the gRPC API answer between slices
                if self._calls is not None:
                    await self._calls.give_way(self._max_give_way_s)
        for signal in signals:
            key = signal.account_id or signal.cluster_id
            result.outputs.append(OutputRecord(SIGNALS.name, key.encode(), signal.SerializeToString()))
        return result


async def build(settings: Settings, producer: Any) -> ServiceParts:
    engine = RatePatternEngine(RatePatternConfig())
    calls = CallsInFlight()

    def register(server: grpc.aio.Server) -> list[str]:
        ratepattern_pb2_grpc.add_RatePatternServiceServicer_to_server(RatePatternServicer(engine, calls), server)
        return ["distillguard.v1.RatePatternService"]

    return ServiceParts(processor=RatePatternProcessor(engine, calls=calls), register_grpc=register)


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        name="ratepattern",
        inputs=(SIGNUP, CLUSTERS, INFERENCE),
        dead_letter=DLQ_RATEPATTERN,
        state=STATE_RATEPATTERN,
        grpc_port=lambda settings: settings.ratepattern_grpc_port,
        build=build,
    )
