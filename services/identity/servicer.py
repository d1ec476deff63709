"""gRPC IdentityService over the in-memory identity graph: decode, ask the domain, encode."""

from __future__ import annotations

import grpc

from distillguard.v1 import identity_pb2, identity_pb2_grpc
from identity.domain import IdentityGraph, UnknownAccount


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, graph: IdentityGraph) -> None:
        self.graph = graph

    async def GetCluster(  # noqa: N802 - gRPC method name
        self, request: identity_pb2.GetClusterRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> identity_pb2.GetClusterResponse:
        if not request.account_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "account_id is required")
        try:
            return self.graph.get_cluster(request.account_id)
        except UnknownAccount:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown account {request.account_id!r}")
        raise AssertionError("unreachable")

    async def GetLinks(  # noqa: N802
        self, request: identity_pb2.GetLinksRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> identity_pb2.GetLinksResponse:
        if not request.account_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "account_id is required")
        if not 0.0 <= request.min_score <= 1.0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "min_score must be within [0, 1]")
        try:
            return identity_pb2.GetLinksResponse(links=self.graph.get_links(request.account_id, request.min_score))
        except UnknownAccount:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown account {request.account_id!r}")
        raise AssertionError("unreachable")

    async def FindAccounts(  # noqa: N802
        self, request: identity_pb2.FindAccountsRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> identity_pb2.FindAccountsResponse:
        if not request.value:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "value is required")
        try:
            found = self.graph.find_accounts(request.attribute_kind, request.value)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return identity_pb2.FindAccountsResponse(account_ids=found)
