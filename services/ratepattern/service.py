"""The rate-pattern analysis service: wiring of the rate-pattern engine into the platform runtime.

Consumes events.inference (columnar batches straight from the Kafka values), events.signup
(org, signup path and verification context) and identity.clusters; publishes RiskSignals on
risk.signals, keyed by account id (cluster id for cluster signals). Its windows are a
deterministic function of the recent input, so after a restart the pipeline replays the longest
window (content_window_days) plus the allowed lateness before the committed offsets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any, Final

import grpc

from distillguard.codec import InvalidEvent, decode_wire
from distillguard.pipeline import BatchResult, InputRecord, OutputRecord, Rejected
from distillguard.runtime import ServiceDefinition, ServiceParts
from distillguard.settings import Settings
from distillguard.topics import CLUSTERS, DLQ_RATEPATTERN, INFERENCE, SIGNALS, SIGNUP, STATE_RATEPATTERN
from distillguard.v1 import events_pb2, identity_pb2, ratepattern_pb2, ratepattern_pb2_grpc
from ratepattern.domain import InferenceBatch, RatePatternConfig, RatePatternEngine
from ratepattern.servicer import RatePatternServicer

DAY_MS: Final = 24 * 3600 * 1000


class RatePatternProcessor:
    """BatchProcessor for the rate-pattern engine."""

    def __init__(self, engine: RatePatternEngine) -> None:
        self.engine = engine
        # The longest window (content and shape, content_window_days) plus the allowed lateness.
        self.replay_lookback_ms: int | None = engine.config.content_window_days * DAY_MS + engine.config.allowed_lateness_ms

    def restore(self, records: Iterable[tuple[bytes, bytes]]) -> None:
        for _ in records:  # nothing is checkpointed: the windows are rebuilt by replay
            pass

    async def process(self, batch: Sequence[InputRecord]) -> BatchResult:
        result = BatchResult()
        inference: list[InputRecord] = []
        signals: list[ratepattern_pb2.RiskSignal] = []
        for record in batch:
            if record.topic == INFERENCE.name:
                inference.append(record)
            elif record.topic == SIGNUP.name:
                try:
                    signup = decode_wire("signup", record.value)
                except InvalidEvent as exc:
                    result.rejected.append(Rejected(record, str(exc)))
                    continue
                assert isinstance(signup, events_pb2.SignupEvent)
                self.engine.apply_signup(signup)
            else:
                try:
                    update = identity_pb2.ClusterUpdate.FromString(record.value)
                except Exception as exc:  # protobuf's DecodeError and friends
                    result.rejected.append(Rejected(record, f"not a valid ClusterUpdate protobuf: {exc}"))
                    continue
                signals.extend(self.engine.apply_cluster_update(update))
        if inference:
            columns = InferenceBatch.from_protobuf_values([record.value for record in inference])
            result.rejected.extend(Rejected(inference[r.index], r.reason) for r in columns.rejected)
            signals.extend(self.engine.apply_inference(columns))
            await asyncio.sleep(0)
        for signal in signals:
            key = signal.account_id or signal.cluster_id
            result.outputs.append(OutputRecord(SIGNALS.name, key.encode(), signal.SerializeToString()))
        return result


async def build(settings: Settings, producer: Any) -> ServiceParts:
    engine = RatePatternEngine(RatePatternConfig())

    def register(server: grpc.aio.Server) -> list[str]:
        ratepattern_pb2_grpc.add_RatePatternServiceServicer_to_server(RatePatternServicer(engine), server)
        return ["distillguard.v1.RatePatternService"]

    return ServiceParts(processor=RatePatternProcessor(engine), register_grpc=register)


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        name="ratepattern",
        inputs=(SIGNUP, CLUSTERS, INFERENCE),
        dead_letter=DLQ_RATEPATTERN,
        state=STATE_RATEPATTERN,
        grpc_port=lambda settings: settings.ratepattern_grpc_port,
        build=build,
    )
