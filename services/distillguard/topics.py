"""Every Kafka topic of the platform, declared once: name, partitions, retention, compaction, payload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from google.protobuf.message import Message

from distillguard.v1 import enforcement_pb2, events_pb2, identity_pb2, ratepattern_pb2

DAY_MS: Final = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    # The protobuf payload; None for opaque state records (service changelogs).
    payload: type[Message] | None
    retention_ms: int
    compacted: bool = False
    # Partition count relative to settings.topic_partitions (the dead-letter topics need one).
    single_partition: bool = False

    def config(self) -> dict[str, str]:
        return {
            "retention.ms": str(self.retention_ms),
            "cleanup.policy": "compact" if self.compacted else "delete",
        }


SIGNUP: Final = TopicSpec("events.signup", events_pb2.SignupEvent, retention_ms=30 * DAY_MS)
BILLING: Final = TopicSpec("events.billing", events_pb2.BillingEvent, retention_ms=30 * DAY_MS)
INFERENCE: Final = TopicSpec("events.inference", events_pb2.InferenceEvent, retention_ms=7 * DAY_MS)
CLUSTERS: Final = TopicSpec("identity.clusters", identity_pb2.ClusterUpdate, retention_ms=30 * DAY_MS)
SIGNALS: Final = TopicSpec("risk.signals", ratepattern_pb2.RiskSignal, retention_ms=30 * DAY_MS)
ACTIONS: Final = TopicSpec("enforcement.actions", enforcement_pb2.EnforcementAction, retention_ms=90 * DAY_MS)
DLQ_IDENTITY: Final = TopicSpec("dlq.identity", events_pb2.DeadLetter, retention_ms=30 * DAY_MS, single_partition=True)
DLQ_RATEPATTERN: Final = TopicSpec(
    "dlq.ratepattern", events_pb2.DeadLetter, retention_ms=30 * DAY_MS, single_partition=True
)
DLQ_ENFORCEMENT: Final = TopicSpec(
    "dlq.enforcement", events_pb2.DeadLetter, retention_ms=30 * DAY_MS, single_partition=True
)

# Compacted per-service state, written once per batch for each changed key and read back on start.
STATE_IDENTITY: Final = TopicSpec("state.identity", None, retention_ms=-1, compacted=True)
STATE_RATEPATTERN: Final = TopicSpec("state.ratepattern", None, retention_ms=-1, compacted=True)
STATE_ENFORCEMENT: Final = TopicSpec("state.enforcement", None, retention_ms=-1, compacted=True)

ALL_TOPICS: Final[tuple[TopicSpec, ...]] = (
    SIGNUP, BILLING, INFERENCE, CLUSTERS, SIGNALS, ACTIONS, DLQ_IDENTITY, DLQ_RATEPATTERN, DLQ_ENFORCEMENT,
    STATE_IDENTITY, STATE_RATEPATTERN, STATE_ENFORCEMENT,
)

#: Ingestion topic for each JSON Lines "type".
EVENT_TOPICS: Final[dict[str, TopicSpec]] = {"signup": SIGNUP, "billing": BILLING, "inference": INFERENCE}


def by_name(name: str) -> TopicSpec:
    for spec in ALL_TOPICS:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown topic {name!r}")
