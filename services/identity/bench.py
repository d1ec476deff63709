"""Identity-linking benchmark: events/s through IdentityGraph.apply_batch against a protobuf-parse
baseline measured in the same run, memory per 100k accounts, and get_cluster latency in process.

    .venv/bin/python -m identity.bench [--accounts 100000] [--batch 500] [--inference 200000]

Throughput is CPU time of this process (one core), so other load on the machine skews it less than
wall time would; wall time is printed too. Memory is the resident-set growth while the graph is
built from serialized events (allocator slack included).
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from distillguard.v1 import events_pb2
from identity.domain import IdentityGraph
from identity.synthetic import T0, Event, inference, population

_PARSERS: dict[int, Callable[[bytes], Event]] = {
    0: events_pb2.SignupEvent.FromString,
    1: events_pb2.BillingEvent.FromString,
    2: events_pb2.InferenceEvent.FromString,
}


@dataclass(frozen=True)
class Timing:
    events: int
    cpu_s: float
    wall_s: float

    @property
    def per_second(self) -> float:
        return self.events / self.cpu_s if self.cpu_s else float("inf")


def _encode(events: Sequence[Event]) -> list[tuple[int, bytes]]:
    kinds = {events_pb2.SignupEvent: 0, events_pb2.BillingEvent: 1, events_pb2.InferenceEvent: 2}
    return [(kinds[type(e)], e.SerializeToString()) for e in events]


def _parse(wire: Sequence[tuple[int, bytes]]) -> list[Event]:
    return [_PARSERS[kind](payload) for kind, payload in wire]


def _timed(run: Callable[[], object], events: int) -> Timing:
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return Timing(events, time.process_time() - cpu, time.perf_counter() - wall)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def _apply(graph: IdentityGraph, wire: Sequence[tuple[int, bytes]], batch: int) -> Callable[[], None]:
    def run() -> None:
        for start in range(0, len(wire), batch):
            graph.apply_batch(_parse(wire[start:start + batch]))
            graph.drain_changes()

    return run


def _inference_wire(accounts: int, requests: int, seed: int) -> list[tuple[int, bytes]]:
    """Requests of random accounts over a week: each account keeps to its key, a home IP and a few
    others, a third of requests carry a system prompt from a small set of popular templates."""
    rng = random.Random(seed)
    prompts = [f"{k:064x}" for k in range(50)]
    events: list[Event] = []
    for n in range(requests):
        a = rng.randrange(accounts)
        ip = f"{11 + a % 200}.{a // 200 % 256}.{a % 251}.{1 + rng.randrange(3)}"
        events.append(inference(f"acct-{a:07d}", at=T0 + 3 * 24 * 3600 + n * 3, api_key=f"key-{a}", ip=ip,
                                system_prompt=prompts[a % 50] if n % 3 == 0 else ""))
    return _encode(events)


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m identity.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500, help="events per apply_batch (the worker's slice)")
    parser.add_argument("--inference", type=int, default=500_000, help="inference events after signups")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    wire = _encode(list(population(args.accounts, seed=args.seed)))
    baseline = _timed(lambda: _parse(wire), len(wire))

    graph = IdentityGraph()
    gc.collect()
    rss_before = _rss_bytes()
    linking = _timed(_apply(graph, wire, args.batch), len(wire))
    gc.collect()
    rss_per_100k = (_rss_bytes() - rss_before) / len(graph) * 100_000
    clusters = list(graph.export_clusters())

    requests = _inference_wire(args.accounts, args.inference, args.seed)
    request_baseline = _timed(lambda: _parse(requests), len(requests))
    serving = _timed(_apply(graph, requests, args.batch), len(requests))

    rng = random.Random(args.seed)
    ids = [f"acct-{rng.randrange(args.accounts):07d}" for _ in range(5_000)]
    ids += [c["members"][0] for c in clusters[:5_000]]
    latencies = []
    for account in ids:
        start = time.perf_counter()
        graph.get_cluster(account).SerializeToString()
        latencies.append((time.perf_counter() - start) * 1000)

    stats = graph.stats
    print(f"identity linking, {len(graph):,} accounts, batches of {args.batch}, seed {args.seed}")
    print("| measure | events | CPU s | wall s | events/s (CPU) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    rows = [
        ("baseline: protobuf parse of the signup+billing events", baseline),
        ("parse + IdentityGraph.apply_batch + drain_changes, signup+billing", linking),
        ("baseline: protobuf parse of the inference events", request_baseline),
        ("parse + apply_batch + drain_changes, inference", serving),
    ]
    for label, timing in rows:
        print(f"| {label} | {timing.events:,} | {timing.cpu_s:.1f} | {timing.wall_s:.1f} | {timing.per_second:,.0f} |")
    print(f"\nlinking costs {baseline.per_second / linking.per_second:.0f}x the bare parse "
          f"(signup+billing), {request_baseline.per_second / serving.per_second:.0f}x (inference)")
    print(f"memory: {rss_per_100k / 2**20:,.0f} MiB resident per 100k accounts (after signup+billing)")
    print(f"comparisons: {stats.comparisons:,} ({stats.comparisons / len(graph):.1f} per account), "
          f"merges {stats.merges:,}, clusters {len(clusters):,}")
    print(f"get_cluster + encode in process, {len(latencies):,} calls: p50 {_percentile(latencies, 0.5):.3f} ms, "
          f"p99 {_percentile(latencies, 0.99):.3f} ms, max {max(latencies):.3f} ms")


if __name__ == "__main__":
    main()
