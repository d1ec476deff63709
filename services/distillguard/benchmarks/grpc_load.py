"""Open-loop gRPC latency benchmarks over loopback: a load generator in its own process, the service's
server wired as in production, and the transport floor (the standard health Check) in the same run.

The generator sends at a fixed rate on a precomputed schedule (request i is due at start + i / rate)
and measures each call's latency from its scheduled time, not from when it was actually sent: when
the server (or the machine) stalls, the requests that should have gone out meanwhile count the stall
too, instead of silently waiting their turn (coordinated omission). Requests are cycled from a list of
pre-serialised messages, so the client does no protobuf work per call. A warm-up precedes the
measured window; any failed call fails the run.

The server side is `serving()`: the parts a ServiceDefinition builds (servicers, interceptors) in a
grpc.aio server with the same interceptor chain, health and reflection services as
`distillguard.runtime.RunningService.start`, without Kafka (benchmarks fill the state in-process).
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Final

import grpc
from grpc_health.v1 import health, health_pb2

from distillguard import telemetry
from distillguard.runtime import ServiceDefinition, ServiceParts, build_grpc_server
from distillguard.settings import Settings

HEALTH_CHECK: Final = "/grpc.health.v1.Health/Check"
#: Calls in flight beyond which the run is abandoned (the server is not keeping up at all).
MAX_IN_FLIGHT: Final = 20_000


@dataclass(frozen=True)
class LoadSpec:
    """One open-loop run: `rate` calls/s of `method` at `target`, cycling through `requests`."""

    target: str
    method: str
    requests: tuple[bytes, ...]
    rate: float
    duration_s: float
    warmup_s: float = 2.0
    metadata: tuple[tuple[str, str], ...] = ()
    channels: int = 1
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.requests:
            raise ValueError("no requests to send")
        if self.rate <= 0 or self.duration_s <= 0 or self.warmup_s < 0 or self.channels < 1:
            raise ValueError("rate and duration must be positive, warm-up non-negative, channels at least 1")


@dataclass(frozen=True)
class LoadResult:
    """The measured window of one run. Latencies in milliseconds, from each call's scheduled time."""

    method: str
    target_rate: float
    duration_s: float
    sent: int  # calls sent, warm-up included
    measured: int  # calls scheduled in the measured window
    completed: int  # of those, answered without error
    errors: dict[str, int]  # status code name -> calls (warm-up included)
    achieved_rate: float  # completed / (last completion - window start)
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    send_lag_p99_ms: float  # how late the generator itself sent (timer granularity, its own CPU)
    client_cpu_share: float  # generator CPU seconds per wall second of the run
    client_cpu_ms_per_call: float  # generator CPU per call sent (warm-up included)
    load_before: float
    load_after: float
    server_cpu_ms_per_call: float = math.nan  # serving process CPU per call, when `compare` measured it
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and self.completed == self.measured


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of ascending `ordered` (q in [0, 1]); nan when empty."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(
    spec: LoadSpec,
    scheduled: Sequence[float],
    latencies: Sequence[float | None],
    lags: Sequence[float],
    errors: dict[str, int],
    *,
    client_cpu_s: float,
    wall_s: float,
    load_before: float,
    load_after: float,
) -> LoadResult:
    """The measured window's figures from per-call schedules, latencies (seconds; None = failed) and send lags.

    Calls scheduled before `spec.warmup_s` (relative to the first scheduled call) are warm-up and left out.
    Schedules are absolute clock readings (about 1e4 s), so `origin + 0.2 - origin` can come out a few
    femtoseconds short of 0.2: the comparison allows a microsecond, far below any call interval.
    """
    start = scheduled[0] if scheduled else 0.0
    window = [i for i, at in enumerate(scheduled) if at - start >= spec.warmup_s - 1e-6]
    done = sorted(latencies[i] * 1000 for i in window if latencies[i] is not None)  # type: ignore[operator]
    lag = sorted(lags[i] * 1000 for i in window)
    if window and done:
        window_start = scheduled[window[0]]
        last = max(scheduled[i] + latencies[i] for i in window if latencies[i] is not None)  # type: ignore[operator]
        achieved = len(done) / max(last - window_start, 1e-9)
    else:
        achieved = 0.0
    return LoadResult(
        method=spec.method, target_rate=spec.rate, duration_s=spec.duration_s, sent=len(scheduled),
        measured=len(window),
        completed=len(done), errors=dict(errors), achieved_rate=achieved,
        p50_ms=percentile(done, 0.50), p90_ms=percentile(done, 0.90), p99_ms=percentile(done, 0.99),
        p999_ms=percentile(done, 0.999), max_ms=done[-1] if done else math.nan,
        send_lag_p99_ms=percentile(lag, 0.99), client_cpu_share=client_cpu_s / wall_s if wall_s else 0.0,
        client_cpu_ms_per_call=1000 * client_cpu_s / len(scheduled) if scheduled else math.nan,
        load_before=load_before, load_after=load_after,
    )


async def drive(spec: LoadSpec) -> LoadResult:
    """Run the schedule from this process's event loop (call `run_load` to get a process of its own)."""
    load_before = os.getloadavg()[0]
    channels = [grpc.aio.insecure_channel(spec.target) for _ in range(spec.channels)]
    try:
        await asyncio.wait_for(asyncio.gather(*(channel.channel_ready() for channel in channels)), 10)
        stubs: list[Any] = [channel.unary_unary(spec.method, None, None) for channel in channels]  # bytes in and out
        total = math.ceil((spec.warmup_s + spec.duration_s) * spec.rate)
        scheduled = [0.0] * total
        latencies: list[float | None] = [None] * total
        lags = [0.0] * total
        errors: Counter[str] = Counter()
        in_flight: set[asyncio.Task[None]] = set()
        metadata = spec.metadata or None
        requests = spec.requests
        now = time.perf_counter

        async def call(i: int, due: float) -> None:
            try:
                await stubs[i % len(stubs)](requests[i % len(requests)], metadata=metadata, timeout=spec.timeout_s)
            except grpc.aio.AioRpcError as exc:
                errors[exc.code().name] += 1
                return
            latencies[i] = now() - due

        cpu, wall = time.process_time(), now()
        origin = wall + 0.01
        interval = 1.0 / spec.rate
        i = 0
        while i < total:
            due = origin + i * interval
            delay = due - now()
            if delay > 0:
                await asyncio.sleep(delay)
            # Send everything that is due (after a late wake-up, several at once): the schedule never slips.
            current = now()
            while i < total and origin + i * interval <= current:
                due = origin + i * interval
                scheduled[i], lags[i] = due, current - due
                task = asyncio.create_task(call(i, due))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                i += 1
            if len(in_flight) > MAX_IN_FLIGHT:
                errors["GENERATOR_ABANDONED"] += 1
                break
        if in_flight:
            await asyncio.wait(in_flight)
        cpu_s, wall_s = time.process_time() - cpu, now() - wall
    finally:
        for channel in channels:
            await channel.close(None)
    return summarize(
        spec, scheduled[:i], latencies[:i], lags[:i], dict(errors), client_cpu_s=cpu_s, wall_s=wall_s,
        load_before=load_before, load_after=os.getloadavg()[0],
    )


def _client_process(spec: LoadSpec, conn: Any) -> None:
    try:
        conn.send(asyncio.run(drive(spec)))
    except BaseException as exc:  # report instead of dying silently
        conn.send(RuntimeError(f"load generator failed: {exc!r}"))
    finally:
        conn.close()


def run_load(spec: LoadSpec) -> LoadResult:
    """Run `spec` from a fresh process (spawned: no state shared with the server's); block until done."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_client_process, args=(spec, sender), name="grpc-load", daemon=True)
    process.start()
    sender.close()
    try:
        outcome = receiver.recv()
    except EOFError:
        outcome = RuntimeError(f"load generator exited with code {process.exitcode} before reporting")
    process.join()
    if isinstance(outcome, Exception):
        raise outcome
    assert isinstance(outcome, LoadResult)
    return outcome


async def run_load_async(spec: LoadSpec) -> LoadResult:
    """`run_load` without blocking the caller's event loop (e.g. the one serving the server under test)."""
    return await asyncio.to_thread(run_load, spec)


# ------------------------------------------------------------------------------------------ server side


@asynccontextmanager
async def serving(
    definition: ServiceDefinition, parts: ServiceParts, settings: Settings, host: str = "127.0.0.1"
) -> AsyncIterator[int]:
    """Serve `parts` on a free loopback port (yielded) as RunningService.start does: telemetry interceptors,
    the not-ready gate (open: the state is already built), the service's own interceptors, health (SERVING)
    and reflection. No pipeline and no background tasks run."""
    tel = telemetry.configure(definition.name, settings)
    ready = asyncio.Event()
    ready.set()
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    server, names = build_grpc_server(parts, tel, ready, health_servicer)
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    port = server.add_insecure_port(f"{host}:0")
    await server.start()
    try:
        yield port
    finally:
        await server.stop(grace=1)


def health_requests() -> tuple[bytes, ...]:
    """The baseline's request: Check of the server's overall status (answered from memory by grpcio)."""
    return (health_pb2.HealthCheckRequest(service="").SerializeToString(),)


async def compare(
    service: LoadSpec, *, repeat: int = 1, log: Any = print, server_in_process: bool = True
) -> list[tuple[LoadResult, LoadResult]]:
    """`repeat` pairs of (health Check baseline, service) runs at the same rate on the same server, in turn.

    With `server_in_process` (the server runs in this process, doing nothing else meanwhile), each result
    carries the server's CPU per call: this process's CPU time over the run, all threads, per call sent."""
    baseline_spec = LoadSpec(
        target=service.target, method=HEALTH_CHECK, requests=health_requests(), rate=service.rate,
        duration_s=service.duration_s, warmup_s=service.warmup_s, channels=service.channels,
        timeout_s=service.timeout_s,
    )
    pairs = []
    measure = _with_server_cpu if server_in_process else run_load_async
    for run in range(repeat):
        baseline = await measure(baseline_spec)
        log(f"run {run + 1}: {describe(baseline)}")
        measured = await measure(service)
        log(f"run {run + 1}: {describe(measured)}")
        pairs.append((baseline, measured))
    return pairs


async def _with_server_cpu(spec: LoadSpec) -> LoadResult:
    cpu = time.process_time()
    result = await run_load_async(spec)
    return replace(result, server_cpu_ms_per_call=1000 * (time.process_time() - cpu) / max(result.sent, 1))


def describe(result: LoadResult) -> str:
    return (
        f"{result.method} at {result.target_rate:,.0f}/s: achieved {result.achieved_rate:,.0f}/s, "
        f"p50 {result.p50_ms:.2f} p90 {result.p90_ms:.2f} p99 {result.p99_ms:.2f} p99.9 {result.p999_ms:.2f} "
        f"max {result.max_ms:.2f} ms; {result.completed:,}/{result.measured:,} ok, errors {result.errors or 0}; "
        f"send lag p99 {result.send_lag_p99_ms:.2f} ms, client CPU {result.client_cpu_share:.0%} "
        f"({result.client_cpu_ms_per_call:.2f} ms/call), server CPU {result.server_cpu_ms_per_call:.2f} ms/call; "
        f"load {result.load_before:.2f}->{result.load_after:.2f}"
    )


def cores_needed(result: LoadResult) -> float:
    """CPU cores the server and the generator together use at the target rate (nan if either is unknown)."""
    return (result.server_cpu_ms_per_call + result.client_cpu_ms_per_call) * result.target_rate / 1000


def table(pairs: Sequence[tuple[LoadResult, LoadResult]], label: str) -> list[str]:
    """Markdown rows: baseline and service per run, with the CPU each call cost the server and the generator
    and the cores both together need at the target rate."""
    lines = [
        "| run | calls | load average (start → end) | target/s | achieved/s | p50 ms | p90 ms | p99 ms | p99.9 ms "
        "| max ms | errors | generator send lag p99 ms | server CPU ms/call | generator CPU ms/call "
        "| cores needed at target |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run, (baseline, measured) in enumerate(pairs, 1):
        for name, result in (("baseline: health Check", baseline), (label, measured)):
            bold = "**" if result is measured else ""
            lines.append(
                f"| {run} | {name} | {result.load_before:.2f} → {result.load_after:.2f} | {result.target_rate:,.0f} "
                f"| {result.achieved_rate:,.0f} | {result.p50_ms:.2f} | {result.p90_ms:.2f} | {bold}{result.p99_ms:.2f}{bold} "
                f"| {result.p999_ms:.2f} | {result.max_ms:.2f} | {sum(result.errors.values())} "
                f"| {result.send_lag_p99_ms:.2f} | {result.server_cpu_ms_per_call:.2f} "
                f"| {result.client_cpu_ms_per_call:.2f} | {cores_needed(result):.2f} |"
            )
    return lines
