"""The console's view of the other services: cluster graphs from identity linking, traffic and shared
templates from rate-pattern analysis, over their gRPC APIs (enforcement.console.ConsoleData)."""

from __future__ import annotations

from typing import Any, Final

import grpc

from distillguard.settings import Settings
from distillguard.v1 import (
    identity_pb2,
    identity_pb2_grpc,
    ratepattern_pb2,
    ratepattern_pb2_grpc,
)
from enforcement.console import (
    ClusterGraph,
    EvidenceItem,
    GraphEdge,
    GraphNode,
    Timeline,
    TemplateInfo,
    TrafficBucket,
)

CALL_TIMEOUT_S: Final = 2.0
MAX_TEMPLATES: Final = 5


class PeerServices:
    """ConsoleData over gRPC channels to the identity and rate-pattern services (opened lazily)."""

    def __init__(self, settings: Settings) -> None:
        self._identity_target = settings.identity_target
        self._ratepattern_target = settings.ratepattern_target
        self._channels: list[grpc.aio.Channel] = []
        # The generated stubs are typed for the sync API; on an aio channel their calls are awaitable.
        self._identity: Any = None
        self._ratepattern: Any = None

    def _stubs(self) -> tuple[Any, Any]:
        if self._identity is None or self._ratepattern is None:
            identity = grpc.aio.insecure_channel(self._identity_target)
            ratepattern = grpc.aio.insecure_channel(self._ratepattern_target)
            self._channels = [identity, ratepattern]
            self._identity = identity_pb2_grpc.IdentityServiceStub(identity)
            self._ratepattern = ratepattern_pb2_grpc.RatePatternServiceStub(ratepattern)
        return self._identity, self._ratepattern

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close(grace=None)

    async def _profile(self, cluster_id: str) -> ratepattern_pb2.GetClusterProfileResponse | None:
        _, ratepattern = self._stubs()
        try:
            reply: ratepattern_pb2.GetClusterProfileResponse = await ratepattern.GetClusterProfile(
                ratepattern_pb2.GetClusterProfileRequest(cluster_id=cluster_id), timeout=CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return reply

    async def cluster_graph(self, cluster_id: str) -> ClusterGraph | None:
        identity, _ = self._stubs()
        profile = await self._profile(cluster_id)
        if profile is None or not profile.members:
            return None
        try:
            reply: identity_pb2.GetClusterResponse = await identity.GetCluster(
                identity_pb2.GetClusterRequest(account_id=profile.members[0]), timeout=CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return ClusterGraph(
            cluster_id=reply.cluster_id or cluster_id,
            nodes=tuple(GraphNode(account_id) for account_id in reply.members),
            edges=tuple(
                GraphEdge(
                    source=link.account_a, target=link.account_b, score=link.score, merged=link.merged,
                    evidence=tuple(EvidenceItem(e.kind, e.detail, e.weight) for e in link.evidence),
                )
                for link in reply.links
            ),
        )

    async def cluster_timeline(self, cluster_id: str) -> Timeline | None:
        """The cluster's requests by hour of day (the rate-pattern service's daily profile)."""
        profile = await self._profile(cluster_id)
        if profile is None:
            return None
        return Timeline(cluster_id, tuple(TrafficBucket(bucket.hour, bucket.requests) for bucket in profile.hour_of_day))

    async def templates_for(self, cluster_id: str) -> list[TemplateInfo]:
        """Templates shared across clusters' accounts, most accounts first (the API does not yet say which
        clusters use a template, so these are the platform's top cross-account templates)."""
        _, ratepattern = self._stubs()
        reply: ratepattern_pb2.ListTemplatesResponse = await ratepattern.ListTemplates(
            ratepattern_pb2.ListTemplatesRequest(min_accounts=2), timeout=CALL_TIMEOUT_S)
        shared = [t for t in reply.templates if t.clusters > 0][:MAX_TEMPLATES]
        return [TemplateInfo(t.template_id, int(t.accounts), int(t.clusters), int(t.orgs), int(t.requests), t.example)
                for t in shared]
