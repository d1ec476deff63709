"""The identity-linking service: wiring of the pure identity graph into the platform runtime.

Consumes events.signup, events.billing and events.inference; publishes ClusterUpdates on
identity.clusters (keyed by cluster id); keeps its graph in the state.identity changelog.
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
from distillguard.topics import BILLING, CLUSTERS, DLQ_IDENTITY, INFERENCE, SIGNUP, STATE_IDENTITY
from distillguard.v1 import identity_pb2_grpc
from identity.domain import IdentityGraph
from identity.servicer import IdentityServicer

EVENT_TYPE_OF_TOPIC: Final = {SIGNUP.name: "signup", BILLING.name: "billing", INFERENCE.name: "inference"}
# The graph is applied in slices so gRPC queries are answered between them (the loop is shared).
SLICE: Final = 500


class IdentityProcessor:
    """BatchProcessor for the identity graph."""

    replay_lookback_ms: int | None = None  # the graph is checkpointed into state.identity per batch

    def __init__(self, graph: IdentityGraph) -> None:
        self.graph = graph

    def restore(self, records: Iterable[tuple[bytes, bytes]]) -> None:
        self.graph.restore((key.decode(), value) for key, value in records)

    async def process(self, batch: Sequence[InputRecord]) -> BatchResult:
        result = BatchResult()
        events: list[Any] = []
        for record in batch:
            try:
                events.append(decode_wire(EVENT_TYPE_OF_TOPIC[record.topic], record.value))
            except InvalidEvent as exc:
                result.rejected.append(Rejected(record, str(exc)))
        for start in range(0, len(events), SLICE):
            for update in self.graph.apply_batch(events[start:start + SLICE]):
                result.outputs.append(
                    OutputRecord(CLUSTERS.name, update.cluster_id.encode(), update.SerializeToString())
                )
            await asyncio.sleep(0)
        for key, value in self.graph.drain_changes().items():
            result.state_changes[key.encode()] = value
        return result


async def build(settings: Settings, producer: Any) -> ServiceParts:
    graph = IdentityGraph()

    def register(server: grpc.aio.Server) -> list[str]:
        identity_pb2_grpc.add_IdentityServiceServicer_to_server(IdentityServicer(graph), server)
        return ["distillguard.v1.IdentityService"]

    return ServiceParts(processor=IdentityProcessor(graph), register_grpc=register)


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        name="identity",
        inputs=(SIGNUP, BILLING, INFERENCE),
        dead_letter=DLQ_IDENTITY,
        state=STATE_IDENTITY,
        grpc_port=lambda settings: settings.identity_grpc_port,
        build=build,
    )
