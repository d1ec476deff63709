"""GetCluster latency over loopback gRPC (issue #4: p99 ≤ 20 ms at 500 requests/s), beside the health Check
of the same server at the same rate.

    .venv/bin/python -m identity.bench_grpc [--accounts 100000] [--rate 500] [--duration 30] [--write-docs]

The server is the identity service's own `definition().build()` (servicer and interceptors as in
production) served by `distillguard.benchmarks.grpc_load.serving`; its graph is filled in-process, without
Kafka, by the worker's processing step (`IdentityProcessor.process`) from a synthetic population and
inference traffic. The load generator runs in a separate process (grpc_load.run_load).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Final

from distillguard.benchmarks import grpc_load
from distillguard.benchmarks.docs import report
from distillguard.runtime import load_definition
from distillguard.settings import load_settings
from distillguard.v1 import identity_pb2
from identity.bench import DOCS, inference_records, population_records
from identity.service import IdentityProcessor

SECTION: Final = "## Identity gRPC latency"
METHOD: Final = "/distillguard.v1.IdentityService/GetCluster"


def queries(processor: IdentityProcessor, accounts: int, count: int, clustered_share: float, seed: int) -> list[str]:
    """Account ids to ask for: a share drawn uniformly from clustered accounts (the large answers), the rest
    uniformly from all accounts."""
    rng = random.Random(seed)
    clustered = [m for cluster in processor.graph.export_clusters() for m in cluster["members"]]
    return [
        rng.choice(clustered) if clustered and rng.random() < clustered_share else f"acct-{rng.randrange(accounts):07d}"
        for _ in range(count)
    ]


async def run(args: argparse.Namespace) -> str:
    load_start = os.getloadavg()[0]
    settings = load_settings(console_port=0)
    definition = load_definition("identity")
    parts = await definition.build(settings, None)
    processor = parts.processor
    assert isinstance(processor, IdentityProcessor)
    started = time.process_time()
    for batch in (population_records(args.accounts, args.seed), inference_records(args.accounts, args.inference, args.seed)):
        for start in range(0, len(batch), settings.batch_max_records):
            await processor.process(batch[start:start + settings.batch_max_records])
    processor.graph.drain_changes()
    clusters = list(processor.graph.export_clusters())
    sizes = sorted(len(c["members"]) for c in clusters)
    print(f"graph built in {time.process_time() - started:.0f} CPU s: {len(processor.graph):,} accounts, "
          f"{len(clusters):,} clusters (largest {sizes[-1] if sizes else 0})", file=sys.stderr)
    asked = queries(processor, args.accounts, 20_000, args.clustered_share, args.seed)
    requests = tuple(identity_pb2.GetClusterRequest(account_id=a).SerializeToString() for a in asked)
    sizes_asked = sorted(len(processor.graph.get_cluster(a).SerializeToString()) for a in asked[:2000])
    async with grpc_load.serving(definition, parts, settings) as port:
        spec = grpc_load.LoadSpec(
            target=f"127.0.0.1:{port}", method=METHOD, requests=requests, rate=args.rate,
            duration_s=args.duration, warmup_s=args.warmup,
        )
        pairs = await grpc_load.compare(spec, repeat=args.repeat, log=lambda line: print(line, file=sys.stderr))
    return render(args, pairs, len(processor.graph), len(clusters), sizes, sizes_asked, (load_start, os.getloadavg()[0]))


def render(
    args: argparse.Namespace, pairs: list[tuple[grpc_load.LoadResult, grpc_load.LoadResult]], accounts: int,
    clusters: int, sizes: list[int], response_bytes: list[int], load: tuple[float, float],
) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = (f".venv/bin/python -m identity.bench_grpc --accounts {args.accounts} --inference {args.inference} "
               f"--rate {args.rate:g} --duration {args.duration:g} --warmup {args.warmup:g} --repeat {args.repeat} "
               "--write-docs")
    worst = max(measured.p99_ms for _, measured in pairs)
    ok = all(measured.ok for _, measured in pairs)
    lines = [
        SECTION,
        "",
        "Reproduce (no Kafka needed):",
        "",
        "```bash",
        command,
        "```",
        "",
        "Target (issue #4): GetCluster p99 ≤ 20 ms at 500 requests/s over loopback. Server: the identity service's",
        "`definition().build()` (servicer, interceptor chain, health and reflection as `RunningService` wires them)",
        "in one process, its graph filled in-process by the worker's processing step from",
        f"`identity.synthetic.population({args.accounts})` and {args.inference:,} inference events ({accounts:,} accounts,",
        f"{clusters:,} clusters, largest {sizes[-1] if sizes else 0} members). Load generator",
        "(`distillguard.benchmarks.grpc_load`): a second process, grpc.aio on one channel, open loop at a fixed",
        "rate, each latency taken from the call's scheduled send time (a stall delays every call due meanwhile",
        f"and is counted in all of them), {args.warmup:g} s warm-up then {args.duration:g} s measured, any error fails the",
        f"run. Queries: {args.clustered_share:.0%} uniformly over clustered accounts, the rest uniformly over all",
        f"accounts (answers of {grpc_load.percentile(response_bytes, 0.5):,.0f} bytes median, "
        f"{grpc_load.percentile(response_bytes, 0.99):,.0f} at p99). Baseline: the standard gRPC health Check on the same",
        "server at the same rate, measured just before, the floor of the transport and of this generator.",
        "",
        f"Run of {when} (Python {platform.python_version()}, {os.cpu_count()} shared CPUs; 1-minute load average "
        f"{load[0]:.2f} when the benchmark started, {load[1]:.2f} at its end):",
        "",
        *grpc_load.table(pairs, "GetCluster"),
        "",
        f"- Against the target: **{'met' if ok and worst <= 20 else 'not met'}** (worst p99 {worst:.2f} ms, "
        f"{'no errors' if ok else 'errors or unanswered calls'}).",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m identity.bench_grpc", description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--inference", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=500.0, help="requests/s")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=1, help="(baseline, GetCluster) pairs")
    parser.add_argument("--clustered-share", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--write-docs", action="store_true", help=f"write the result into {DOCS}")
    args = parser.parse_args(argv)
    report(asyncio.run(run(args)), DOCS, SECTION, write=args.write_docs)


if __name__ == "__main__":
    main()
