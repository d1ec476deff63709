"""The service runtime: readiness gating, health, and a service that keeps running until stopped."""

from __future__ import annotations

import asyncio
import gc

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from distillguard.runtime import GC_THRESHOLDS, RunningService, ServiceNotAvailable, configure_gc, load_definition
from distillguard.settings import Settings
from distillguard.v1 import identity_pb2, identity_pb2_grpc


def test_unknown_service_is_refused_with_its_name() -> None:
    with pytest.raises(ServiceNotAvailable, match="unknown service 'billing'"):
        load_definition("billing")


@pytest.mark.integration
async def test_service_serves_until_stopped_and_reports_health(kafka_settings: Settings) -> None:
    service = RunningService(kafka_settings, load_definition("identity"))
    await service.start(port=0)
    waiter = asyncio.create_task(service.wait())
    try:
        await service.ready()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            async def serving() -> bool:
                reply = await health.Check(health_pb2.HealthCheckRequest(service="distillguard.v1.IdentityService"))
                return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
            for _ in range(40):
                if await serving():
                    break
                await asyncio.sleep(0.1)
            assert await serving()
            stub = identity_pb2_grpc.IdentityServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetCluster(identity_pb2.GetClusterRequest(account_id="nobody"))
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        await asyncio.sleep(2)
        assert not waiter.done(), "wait() returned while the service was healthy"
    finally:
        await service.stop()
    await asyncio.wait_for(waiter, 10)


def test_configure_gc_freezes_start_up_objects_and_raises_the_thresholds() -> None:
    before = gc.get_threshold()
    try:
        configure_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 1000  # modules, classes: out of every later scan
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
