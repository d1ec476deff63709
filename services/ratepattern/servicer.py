"""gRPC RatePatternService over the in-memory engine: decode, ask the domain, encode."""

from __future__ import annotations

from typing import Any

import grpc

from distillguard.v1 import ratepattern_pb2, ratepattern_pb2_grpc
from ratepattern.domain import RatePatternEngine

Context = grpc.aio.ServicerContext[Any, Any]
MAX_TEMPLATES = 500


class RatePatternServicer(ratepattern_pb2_grpc.RatePatternServiceServicer):
    def __init__(self, engine: RatePatternEngine) -> None:
        self.engine = engine

    async def GetAccountProfile(  # noqa: N802
        self, request: ratepattern_pb2.GetAccountProfileRequest, context: Context
    ) -> ratepattern_pb2.GetAccountProfileResponse:
        if not request.account_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "account_id is required")
        profile = self.engine.account_profile(request.account_id)
        if profile is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no traffic seen for account {request.account_id!r}")
        return ratepattern_pb2.GetAccountProfileResponse(profile=profile)

    async def GetClusterProfile(  # noqa: N802
        self, request: ratepattern_pb2.GetClusterProfileRequest, context: Context
    ) -> ratepattern_pb2.GetClusterProfileResponse:
        if not request.cluster_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "cluster_id is required")
        profile = self.engine.cluster_profile(request.cluster_id)
        if profile is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown cluster {request.cluster_id!r}")
        assert profile is not None
        return profile

    async def ListTemplates(  # noqa: N802
        self, request: ratepattern_pb2.ListTemplatesRequest, context: Context
    ) -> ratepattern_pb2.ListTemplatesResponse:
        if request.min_accounts < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "min_accounts must be >= 0")
        templates = self.engine.list_templates(int(request.min_accounts))
        return ratepattern_pb2.ListTemplatesResponse(templates=templates[:MAX_TEMPLATES])
