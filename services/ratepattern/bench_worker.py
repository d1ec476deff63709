"""Benchmark of the rate-pattern worker on the real broker: `python -m ratepattern.bench_worker [--write-docs]`.

Pre-publishes serialized InferenceEvents (`ratepattern.bench.make_stream`: the `production-mix` stream
and, as the worst case, `farm-density`) to a fresh, uuid-prefixed events.inference topic, keyed by
account id, then in the same run and on the same broker, each in a fresh process, interleaved:

- **raw**: an aiokafka consumer with the worker's consumer settings (`distillguard.kafka.make_consumer`,
  getmany with the worker's max_records and timeout) draining the topic and doing nothing else;
- **worker**: the rate-pattern service as `distillguard serve ratepattern` wires it
  (`distillguard.runtime.RunningService` with `ratepattern.service.definition()`: the BatchPipeline,
  RatePatternProcessor, RatePatternEngine with the default config, i.e. every feature on, signals
  produced to risk.signals, rejects to dlq.ratepattern, offsets committed per batch, the gRPC server
  up), from offset 0 in a fresh consumer group until it has committed everything.

Both are timed from the first batch received to the last record received (raw) or the last offsets
committed (worker); CPU is the measured process's CPU time over about the same interval.
A last worker run per stream serves GetAccountProfile at `--rps` from the shared open-loop generator
(`distillguard.benchmarks.grpc_load`, its own process, latency from each call's scheduled time) while it
ingests, and for `--idle-seconds` after it caught up, next to the health Check at the same rate.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import os
import platform
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distillguard.benchmarks.docs import replace_section

SECTION = "## Rate-pattern analysis (worker)"
PROFILE_METHOD = "/distillguard.v1.RatePatternService/GetAccountProfile"


# ----------------------------------------------------------------------------- the measured processes


async def publish(prefix: str, values: Sequence[bytes]) -> None:
    """Create the platform topics under `prefix` and publish `values` to events.inference, keyed by account."""
    from distillguard.kafka import ensure_topics, make_producer
    from distillguard.settings import load_settings
    from distillguard.topics import INFERENCE
    from distillguard.v1 import events_pb2

    settings = load_settings(topic_prefix=prefix)
    await ensure_topics(settings)
    producer = make_producer(settings)
    await producer.start()
    parse = events_pb2.InferenceEvent.FromString
    try:
        topic = settings.topic(INFERENCE.name)
        waits = []
        for value in values:
            waits.append(await producer.send(topic, value, key=parse(value).account_id.encode()))
            if len(waits) >= 50_000:
                await asyncio.gather(*waits)
                waits.clear()
        await asyncio.gather(*waits)
    finally:
        await producer.stop()


async def raw_consume(prefix: str, events: int) -> dict[str, float]:
    """Drain `events` records of the prefix's events.inference with the worker's consumer settings."""
    from distillguard.kafka import make_consumer
    from distillguard.settings import load_settings
    from distillguard.topics import INFERENCE

    settings = load_settings(topic_prefix=prefix)
    consumer = make_consumer(settings, settings.topic(INFERENCE.name), group_id=f"rawbench-{uuid.uuid4().hex[:8]}")
    await consumer.start()
    seen = 0
    first_at = first_cpu = 0.0
    try:
        while seen < events:
            fetched = await consumer.getmany(timeout_ms=int(settings.batch_timeout_s * 1000),
                                             max_records=settings.batch_max_records)
            got = sum(len(records) for records in fetched.values())
            if got and not seen:
                first_at, first_cpu = time.perf_counter(), time.process_time()
            seen += got
        wall, cpu = time.perf_counter() - first_at, time.process_time() - first_cpu
    finally:
        await consumer.stop()
    return {"events": seen, "seconds": wall, "events_per_s": seen / wall, "cpu_us_per_event": cpu / seen * 1e6}


async def worker(prefix: str, events: int, profile: Path | None) -> None:
    """Run the rate-pattern service over the prefix's topics until `events` records are committed.

    Protocol on stdout (JSON lines): {"port": P} once serving, then the result once caught up; the
    service keeps serving gRPC until stdin is closed.
    """
    from distillguard.runtime import RunningService, load_definition
    from distillguard.settings import load_settings
    from ratepattern.service import RatePatternProcessor

    settings = load_settings(topic_prefix=prefix, app_id_prefix=f"wbench{uuid.uuid4().hex[:8]}", console_port=0)
    service = RunningService(settings, load_definition("ratepattern"))
    profiler = cProfile.Profile() if profile is not None else None
    await service.start(port=0)
    try:
        await service.ready()
        print(json.dumps({"port": service.port}), flush=True)
        pipeline = service.pipeline
        assert pipeline is not None
        stats = pipeline.stats
        processor = service.parts.processor
        assert isinstance(processor, RatePatternProcessor)
        known = processor.engine.accounts.slot_of  # accounts with counted traffic, in order of appearance
        if profiler is not None:
            profiler.enable()
        first_records = 0
        first_cpu: float | None = None
        while stats.records < events:
            if first_cpu is None and stats.batches:
                first_cpu, first_records = time.process_time(), stats.records
                print(json.dumps({"consuming": True, "accounts": list(known)}), flush=True)
            await asyncio.sleep(0.01)
        if first_cpu is None:
            print(json.dumps({"consuming": True, "accounts": list(known)}), flush=True)
        cpu = time.process_time() - (first_cpu or 0.0)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(profile))
        assert stats.first_batch_at is not None and stats.last_commit_at is not None
        wall = stats.last_commit_at - stats.first_batch_at
        print(json.dumps({
            "events": stats.records, "seconds": wall, "events_per_s": stats.records / wall,
            "cpu_us_per_event": cpu / max(stats.records - first_records, 1) * 1e6,
            "batches": stats.batches, "signals": stats.outputs, "dead_letters": stats.rejected,
            "max_rss_mb": peak_rss_mb(), "accounts": list(known),
        }), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        await service.stop()


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: reset by exec, unlike getrusage's ru_maxrss, which a
    subprocess inherits from the forked parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ----------------------------------------------------------------------------- the driver


def profile_spec(port: int, accounts: Sequence[str], rate: float, duration_s: float, warmup_s: float) -> Any:
    """An open-loop GetAccountProfile run (distillguard.benchmarks.grpc_load) over `accounts`."""
    from distillguard.benchmarks.grpc_load import LoadSpec
    from distillguard.v1 import ratepattern_pb2

    requests = tuple(ratepattern_pb2.GetAccountProfileRequest(account_id=a).SerializeToString() for a in accounts)
    return LoadSpec(target=f"127.0.0.1:{port}", method=PROFILE_METHOD, requests=requests, rate=rate,
                    duration_s=duration_s, warmup_s=warmup_s)


def _command(mode: str, prefix: str, events: int, extra: Sequence[str] = ()) -> list[str]:
    return [sys.executable, "-m", "ratepattern.bench_worker", f"--{mode}", prefix, "--events", str(events), *extra]


def run_raw(prefix: str, events: int) -> dict[str, float]:
    import subprocess

    done = subprocess.run(_command("raw", prefix, events), capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"raw consumer failed: {done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


async def run_worker(prefix: str, events: int, profile: Path | None = None,
                     load: tuple[float, float, float] | None = None) -> dict[str, Any]:
    """One worker process. With `load` = (rate, expected ingest seconds, caught-up seconds):
    GetAccountProfile at `rate` while it ingests (over the accounts its first batch counted, so each
    call finds its account) and, after it caught up, over every account it counted, against the
    health Check at the same rate."""
    from distillguard.benchmarks.grpc_load import compare, run_load_async

    extra = ["--profile", str(profile)] if profile is not None else []
    process = await asyncio.create_subprocess_exec(
        *_command("worker", prefix, events, extra), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        limit=1 << 26)  # a result line lists every account counted
    assert process.stdout is not None and process.stdin is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 180)
        if not line:
            raise RuntimeError("the worker exited before serving")
        port = int(json.loads(line)["port"])
        line = await asyncio.wait_for(process.stdout.readline(), 180)  # the first batch is in
        early = json.loads(line)["accounts"]
        marks: dict[str, float] = {}
        if load is not None:
            rate, ingest_s, idle_s = load
            busy_task = asyncio.create_task(
                run_load_async(profile_spec(port, early, rate, max(ingest_s * 0.6 - 1.0, 1.0), 1.0)))
            busy_task.add_done_callback(lambda _: marks.setdefault("load_done", time.perf_counter()))
        line = await asyncio.wait_for(process.stdout.readline(), 1800)
        if not line:
            raise RuntimeError("the worker exited before catching up")
        caught_up_at = time.perf_counter()
        result: dict[str, Any] = json.loads(line)
        everyone = result.pop("accounts")
        if load is not None:
            busy = await busy_task
            result["ingesting"] = busy
            # Whether the measured window ended before the worker caught up (else it also saw idle time).
            result["ingesting_within"] = marks.get("load_done", caught_up_at) <= caught_up_at
            [(baseline, served)] = await compare(profile_spec(port, everyone, rate, idle_s, 2.0), log=_log,
                                                 server_in_process=False)  # the worker is a subprocess
            result["caught_up"] = (baseline, served)
    finally:
        process.stdin.close()
        await asyncio.wait_for(process.wait(), 60)
    if process.returncode != 0:
        raise RuntimeError(f"worker exited with {process.returncode}")
    return result


def _log(message: str) -> None:
    print(message, file=sys.stderr)


@dataclass
class Row:
    label: str
    events: int
    accounts: int
    raw: dict[str, float]
    worker: dict[str, Any]
    loads: list[float]
    served: dict[str, Any] = field(default_factory=dict)
    ratios: list[float] = field(default_factory=list)  # worker / raw of each interleaved pair


def measure(label: str, name: str, events: int, accounts: int, repeat: int, rps: float, idle_seconds: float,
            profile: Path | None) -> Row:
    """Publish the stream once, then `repeat` x (raw, worker) interleaved, then one worker under gRPC load."""
    from ratepattern.bench import make_stream

    stream = make_stream(name, accounts, events, seed=11)
    prefix = f"rpwb{uuid.uuid4().hex[:8]}."
    started = time.perf_counter()
    asyncio.run(publish(prefix, stream.values))
    n = len(stream.values)
    _log(f"{label}: published {n:,} events in {time.perf_counter() - started:.1f} s")
    best_raw: dict[str, float] | None = None
    best_worker: dict[str, Any] | None = None
    loads = []
    ratios = []
    for _ in range(repeat):
        loads.append(os.getloadavg()[0])
        raw = run_raw(prefix, n)
        loads.append(os.getloadavg()[0])
        work = asyncio.run(run_worker(prefix, n, profile))
        ratios.append(work["events_per_s"] / raw["events_per_s"])
        _log(f"{label}: raw {raw['events_per_s']:,.0f} ev/s, worker {work['events_per_s']:,.0f} ev/s "
             f"({work['events_per_s'] / raw['events_per_s']:.1%}), load {loads[-1]:.2f}")
        if best_raw is None or raw["events_per_s"] > best_raw["events_per_s"]:
            best_raw = raw
        if best_worker is None or work["events_per_s"] > best_worker["events_per_s"]:
            best_worker = work
    assert best_raw is not None and best_worker is not None
    row = Row(label, n, stream.accounts, best_raw, best_worker, loads, ratios=ratios)
    if rps > 0:
        loads.append(os.getloadavg()[0])
        row.served = asyncio.run(run_worker(prefix, n, None, (rps, n / best_worker["events_per_s"], idle_seconds)))
        _log(f"{label}: under {rps:.0f}/s GetAccountProfile: worker {row.served['events_per_s']:,.0f} ev/s")
    return row


def render(rows: list[Row], command: str, repeat: int, rps: float, idle_seconds: float) -> str:
    from distillguard.settings import load_settings
    from ratepattern.domain import RatePatternConfig

    settings = load_settings()
    cfg = RatePatternConfig()
    loads = [x for row in rows for x in row.loads]
    lines = [
        SECTION,
        "",
        f"Reproduce: `{command}` (Kafka 4.1 from `make infra-up`, {settings.topic_partitions} partitions; "
        f"{platform.machine()}, {os.cpu_count()} cores shared with other work, Python {platform.python_version()}; "
        f"1-minute load average {min(loads):.2f}-{max(loads):.2f} before the runs).",
        "",
        "Each stream (`ratepattern.bench.make_stream`, the domain benchmark's generator) is published once to a "
        "fresh topic on the local broker, keyed by account; then, in the same run and each in a fresh process, "
        f"{repeat} x interleaved: **raw** = an aiokafka consumer with the worker's consumer settings "
        f"(`distillguard.kafka.make_consumer`, getmany max_records={settings.batch_max_records:,}, timeout "
        f"{settings.batch_timeout_s} s) draining the topic and doing nothing else; **worker** = the rate-pattern "
        "service as `distillguard serve ratepattern` wires it (`RunningService` with `ratepattern.service."
        "definition()`: BatchPipeline + RatePatternProcessor + RatePatternEngine with the default config, every "
        "feature on; signals produced to risk.signals, rejects to dlq.ratepattern, offsets committed after each "
        "batch, gRPC server up but not called, so batches are applied in 0.1 s slices: docs/ratepattern.md, "
        "Queries before ingestion), from offset 0 in a fresh group until everything is committed. Wall-clock rates "
        "from the first batch to the last record (raw) or the last commit (worker); the best run of each. CPU is "
        "the measured process's CPU time per event.",
        "",
        f"Sampling (the default `RatePatternConfig`): content analysis of at most "
        f"{cfg.samples_per_account_hour} request per account per event-time hour, from the account's "
        f"{cfg.sampling_starts_after + 1}rd request of the UTC day, while its analysed prompts that day are "
        f"fewer than max({cfg.samples_per_account_day}, {cfg.sample_share:.0%} of its requests); the first "
        f"{cfg.template_samples_per_account_day} per account-day MinHashed for templates (docs/ratepattern.md, "
        "Sampling). Every other feature sees every request.",
        "",
        "| stream | events | accounts | raw consumer ev/s | **worker ev/s** | **worker / raw** | worker CPU µs/event "
        "| raw CPU µs/event | signals | dead letters | worker max RSS |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        w, r = row.worker, row.raw
        lines.append(
            f"| {row.label} | {row.events:,} | {row.accounts:,} | {r['events_per_s']:,.0f} | "
            f"**{w['events_per_s']:,.0f}** | **{w['events_per_s'] / r['events_per_s']:.0%}** | "
            f"{w['cpu_us_per_event']:.1f} | {r['cpu_us_per_event']:.1f} | "
            f"{int(w['signals']):,} | {int(w['dead_letters']):,} | {w['max_rss_mb']:,.0f} MB |")
    paired = [row for row in rows if len(row.ratios) > 1]
    if paired:
        lines += ["", "Worker / raw of each interleaved pair, in run order (this machine's speed drifts between "
                  "runs): " + "; ".join(f"{row.label} " + ", ".join(f"{x:.0%}" for x in row.ratios)
                                        for row in paired) + "."]
    served = [row for row in rows if row.served]
    if served:
        lines += [
            "",
            f"GetAccountProfile at {rps:,.0f} calls/s with the shared open-loop generator "
            "(`distillguard.benchmarks.grpc_load`: its own process, latency from each call's scheduled time), "
            "against one more worker run per stream: **while it ingests** from offset 0 (the accounts its first "
            "batch counted, so every call finds its account; the window is sized to end before the worker catches "
            f"up), then **caught up** for {idle_seconds:.0f} s (every account it counted: not those whose only "
            "events came too late), "
            "after the health Check at the same rate on the same server (the transport floor).",
            "",
            "| stream | phase | worker ev/s in that run | calls | achieved/s | p50 ms | p90 ms | **p99 ms** | max ms "
            "| errors |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in served:
            baseline, caught_up = row.served["caught_up"]
            ingesting = row.served["ingesting"]
            phase = "ingesting" if row.served["ingesting_within"] else "ingesting (window overran the catch-up)"
            for name, result, eps in ((phase, ingesting, f"{row.served['events_per_s']:,.0f}"),
                                      ("caught up: health Check (floor)", baseline, ""),
                                      ("caught up", caught_up, "")):
                lines.append(
                    f"| {row.label} | {name} | {eps} | {result.measured:,} | {result.achieved_rate:,.0f} | "
                    f"{result.p50_ms:.1f} | {result.p90_ms:.1f} | **{result.p99_ms:.1f}** | {result.max_ms:.1f} | "
                    f"{sum(result.errors.values())} |")
    lines += ["", *_against_targets(rows), ""]
    return "\n".join(lines)


def _against_targets(rows: list[Row]) -> list[str]:
    """Issue #5's targets, judged on the production mix (the farm-density stream is the stated worst case)."""
    out = []
    for row in rows:
        if row.label != "production-mix":
            continue
        eps = row.worker["events_per_s"]
        share = eps / row.raw["events_per_s"]
        met = eps >= 40_000 and share >= 0.25
        out.append(f"Against the targets (issue #5, production-mix, best runs): >= 40,000 events/s and >= 25% of the "
                   f"raw consumer: **{'met' if met else 'not met'}** ({eps:,.0f} events/s, {share:.0%}).")
        if row.served:
            p99 = row.served["caught_up"][1].p99_ms
            out.append(f"GetAccountProfile p99 <= 20 ms (caught up): **{'met' if p99 <= 20 else 'not met'}** "
                       f"({p99:.1f} ms).")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ratepattern.bench_worker",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="production-mix events")
    parser.add_argument("--farm-events", type=int, default=300_000, help="farm-density events (0: skip)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--rps", type=float, default=500.0, help="GetAccountProfile calls/s (0: skip)")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the production-mix worker runs into this file")
    parser.add_argument("--write-docs", type=Path, nargs="?", const=Path("docs/benchmarks.md"), default=None)
    parser.add_argument("--raw", metavar="TOPIC_PREFIX", help=argparse.SUPPRESS)
    parser.add_argument("--worker", metavar="TOPIC_PREFIX", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.raw:
        print(json.dumps(asyncio.run(raw_consume(args.raw, args.events))))
        return 0
    if args.worker:
        asyncio.run(worker(args.worker, args.events, args.profile))
        return 0
    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # NotLeaderForPartition retries on a fresh topic
    rows = [measure("production-mix", "production-mix", args.events, args.events // 200, args.repeat, args.rps,
                    args.idle_seconds, args.profile)]
    if args.farm_events:
        rows.append(measure("farm-density (worst case)", "farm-density", args.farm_events, args.farm_events // 26,
                            args.repeat, args.rps, args.idle_seconds, None))
    command = ".venv/bin/python -m ratepattern.bench_worker " + " ".join(sys.argv[1:] if argv is None else argv)
    section = render(rows, command.strip(), args.repeat, args.rps, args.idle_seconds)
    print(section)
    if args.write_docs is not None:
        replace_section(args.write_docs, SECTION, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
