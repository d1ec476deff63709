"""The open-loop gRPC load generator against a real server: its schedule, its arithmetic, its error count."""

from __future__ import annotations

import dataclasses
import math

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from distillguard.benchmarks import grpc_load


def test_percentiles_are_nearest_rank() -> None:
    ordered = [float(n) for n in range(1, 101)]
    assert grpc_load.percentile(ordered, 0.5) == 50.0
    assert grpc_load.percentile(ordered, 0.99) == 99.0
    assert grpc_load.percentile(ordered, 0.999) == 100.0
    assert grpc_load.percentile([7.0], 0.99) == 7.0
    assert math.isnan(grpc_load.percentile([], 0.5))


def test_summary_leaves_out_the_warm_up_and_counts_failures() -> None:
    spec = grpc_load.LoadSpec(target="x", method="/m", requests=(b"",), rate=10, duration_s=1, warmup_s=0.5)
    scheduled = [n / 10 for n in range(15)]  # 0.0 .. 1.4 s: five warm-up calls, ten measured
    latencies: list[float | None] = [0.5] * 5 + [0.001 * n for n in range(1, 10)] + [None]
    result = grpc_load.summarize(spec, scheduled, latencies, [0.0] * 15, {"UNAVAILABLE": 1}, client_cpu_s=0.2,
                                 wall_s=2.0, load_before=1.0, load_after=1.5)
    assert (result.measured, result.completed) == (10, 9) and not result.ok
    assert result.max_ms == pytest.approx(9.0) and result.p50_ms == pytest.approx(5.0)
    # nine answers between the window's start (0.5 s) and the last completion (1.3 s + 9 ms)
    assert result.achieved_rate == pytest.approx(9 / 0.809)
    assert result.client_cpu_share == pytest.approx(0.1)
    assert result.client_cpu_ms_per_call == pytest.approx(200 / 15)
    assert math.isnan(result.server_cpu_ms_per_call)  # only `compare` measures the server
    measured = dataclasses.replace(result, server_cpu_ms_per_call=0.5)
    assert grpc_load.cores_needed(measured) == pytest.approx((0.5 + 200 / 15) * 10 / 1000)


def test_the_warm_up_cut_survives_clock_sized_schedules() -> None:
    # Schedules are absolute clock readings: here origin + 20 / 100 - origin is a hair below 0.2 s.
    spec = grpc_load.LoadSpec(target="x", method="/m", requests=(b"",), rate=100, duration_s=1, warmup_s=0.2)
    origin = 49593.9652004849
    assert (origin + 20 * (1.0 / 100)) - origin < 0.2
    scheduled = [origin + i * (1.0 / 100) for i in range(120)]
    result = grpc_load.summarize(spec, scheduled, [0.001] * 120, [0.0] * 120, {}, client_cpu_s=0.1, wall_s=1.2,
                                 load_before=0.0, load_after=0.0)
    assert result.measured == result.completed == 100


async def test_open_loop_run_against_a_real_server_from_another_process() -> None:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        spec = grpc_load.LoadSpec(target=f"127.0.0.1:{port}", method=grpc_load.HEALTH_CHECK,
                                  requests=grpc_load.health_requests(), rate=100, duration_s=1.0, warmup_s=0.2)
        [(baseline, result)] = await grpc_load.compare(spec, log=lambda line: None)
        assert baseline.method == result.method == grpc_load.HEALTH_CHECK
        for run in (baseline, result):  # the server ran in this process: its CPU per call was measured
            assert 0 < run.server_cpu_ms_per_call < 1000 and 0 < run.client_cpu_ms_per_call < 1000
        assert result.ok and result.errors == {}
        assert result.measured == result.completed == 100  # 1 s at 100/s after 20 warm-up calls
        assert 0 < result.p50_ms <= result.p90_ms <= result.p99_ms <= result.p999_ms <= result.max_ms
        assert 50 < result.achieved_rate <= 101

        unknown = grpc_load.LoadSpec(target=f"127.0.0.1:{port}", method="/no.Such/Method",
                                     requests=(b"",), rate=50, duration_s=0.2, warmup_s=0)
        failed = await grpc_load.run_load_async(unknown)
        assert not failed.ok and failed.errors == {"UNIMPLEMENTED": 10} and failed.completed == 0
    finally:
        await server.stop(None)
