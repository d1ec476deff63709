"""The identity graph as a pure domain: no Kafka, no gRPC; events in, cluster updates and answers out."""

from identity.domain.config import EVIDENCE_KINDS, FamilyCap, FuzzyLevel, KindModel, LinkingConfig
from identity.domain.graph import AccountFacts, GraphStats, IdentityGraph, UnknownAccount, cluster_label

__all__ = [
    "EVIDENCE_KINDS",
    "AccountFacts",
    "FamilyCap",
    "FuzzyLevel",
    "GraphStats",
    "IdentityGraph",
    "KindModel",
    "LinkingConfig",
    "UnknownAccount",
    "cluster_label",
]
