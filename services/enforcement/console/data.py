"""Data the case store does not hold, which the console shows when the process can fetch it.

`ConsoleData` is implemented by the enforcement service's wiring over the identity service (GetCluster: the
cluster's accounts and the evidence links between them) and the rate-pattern service (GetClusterProfile /
GetAccountProfile: hourly traffic; ListTemplates: shared prompt templates). Every method may return None (or an
empty list) when the other service does not know the cluster or cannot be reached; it may also raise or be slow,
and the console then shows "not available" for that panel, never an error page: the case's own data comes from
the case store and always renders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class GraphNode:
    """One account of a cluster. `facts` are segment facts shown and coloured by in the graph, e.g.
    signup_path, verification, org_id, paying; the console adds the account's enforcement status itself."""

    account_id: str
    facts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EvidenceItem:
    """One piece of evidence behind a link (identity.proto Evidence)."""

    kind: str
    detail: str = ""
    weight: float = 0.0


@dataclass(frozen=True)
class GraphEdge:
    """A link between two accounts: its match probability and the evidence behind it (identity.proto Link).
    The edge is labelled with its strongest evidence kind and its score."""

    source: str
    target: str
    score: float
    evidence: tuple[EvidenceItem, ...] = ()
    merged: bool = True

    @property
    def kind(self) -> str:
        if not self.evidence:
            return "link"
        return max(self.evidence, key=lambda item: item.weight).kind

    @property
    def detail(self) -> str:
        return "; ".join(f"{item.kind}: {item.detail}" if item.detail else item.kind for item in self.evidence)


@dataclass(frozen=True)
class ClusterGraph:
    cluster_id: str
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]


@dataclass(frozen=True)
class TrafficBucket:
    """Traffic in one hour. `hour` is the start of the hour (UTC) for a timeline, or an hour of day (0-23)
    for a daily profile such as GetClusterProfile's hour_of_day; `models` counts requests per model."""

    hour: datetime | int
    requests: int
    tokens: int = 0
    models: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Timeline:
    cluster_id: str
    buckets: tuple[TrafficBucket, ...]


@dataclass(frozen=True)
class TemplateInfo:
    """A prompt template shared across accounts (ratepattern.proto Template) with one example prompt."""

    template_id: str
    accounts: int
    clusters: int = 0
    orgs: int = 0
    requests: int = 0
    example: str = ""


class ConsoleData(Protocol):
    async def cluster_graph(self, cluster_id: str) -> ClusterGraph | None:
        """The cluster's accounts and evidence links, or None when unknown."""
        ...

    async def cluster_timeline(self, cluster_id: str) -> Timeline | None:
        """Hourly requests, tokens and model mix of the cluster's accounts, or None when unknown."""
        ...

    async def templates_for(self, cluster_id: str) -> list[TemplateInfo]:
        """Prompt templates the cluster's accounts share (most accounts first); [] when none are known."""
        ...
