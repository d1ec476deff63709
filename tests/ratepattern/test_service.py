"""The rate-pattern service on the real broker: profiles over gRPC, dead letters, rebuild after restart."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from distillguard.settings import Settings
from distillguard.v1 import events_pb2, ratepattern_pb2, ratepattern_pb2_grpc
from servicekit import publish_events, publish_raw, read_topic, running, wait_for

pytestmark = pytest.mark.integration


def traffic(account: str, requests: int) -> list[dict[str, Any]]:
    return [
        {"type": "inference", "event_id": f"{account}-{n}", "account_id": account, "model": "frontier-1",
         "occurred_at": f"2026-03-01T{n // 60 % 24:02d}:{n % 60:02d}:{n % 7:02d}Z", "status": "ok",
         "input_tokens": 800, "output_tokens": 1900, "max_tokens": 2048, "account_rpm_limit": 60,
         "prompt_sample": f"Think step by step and show your full reasoning. Task {n % 5}: plan the tool calls."}
        for n in range(requests)
    ]


async def profile(port: int, account: str) -> ratepattern_pb2.AccountProfile:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = ratepattern_pb2_grpc.RatePatternServiceStub(channel)
        reply = await stub.GetAccountProfile(ratepattern_pb2.GetAccountProfileRequest(account_id=account))
        return reply.profile


async def test_profiles_dead_letters_and_rebuild_after_restart(kafka_settings: Settings) -> None:
    await publish_events(kafka_settings, traffic("acct_r", 300))
    await publish_raw(kafka_settings, "events.inference", b"acct_bad", b"\xff\xfe broken")
    async with running(kafka_settings, "ratepattern") as service:
        await wait_for(lambda: service.pipeline is not None and service.pipeline.stats.records >= 301)
        assert service.port is not None
        first = await profile(service.port, "acct_r")
        assert sum(bucket.requests for bucket in first.hour_of_day) == 300
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = ratepattern_pb2_grpc.RatePatternServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetAccountProfile(ratepattern_pb2.GetAccountProfileRequest(account_id="acct_none"))
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        letters = await read_topic(kafka_settings, "dlq.ratepattern", events_pb2.DeadLetter, until=1)
        assert letters and "InferenceEvent" in letters[0].reason

    await publish_events(kafka_settings, traffic("acct_r", 300)[:50])  # re-delivered: must not count twice
    async with running(kafka_settings, "ratepattern") as service:
        await wait_for(lambda: service.pipeline is not None and service.pipeline.stats.records >= 50)
        assert service.port is not None
        again = await profile(service.port, "acct_r")
        assert sum(bucket.requests for bucket in again.hour_of_day) == 300
        assert again.score == pytest.approx(first.score)
        assert dict(again.features) == pytest.approx(dict(first.features))
