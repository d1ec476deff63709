"""Simulator benchmark: events/s and peak RSS per preset, against the I/O floor measured in the
same run.

    .venv/bin/python -m distillguard.simulator.bench [--alibaba-max-events 5000000] [--seed 1]

Each preset runs in a fresh child process (so peak RSS is that preset's own), writing to a
temporary directory. alibaba-scale is capped at --alibaba-max-events lines (a time-ordered
prefix) and its full-run time is projected from the measured rate. The machine is shared, so the
table also gives the CPU time of the generating thread (world building included) and of the
compressing thread, and the rate the pipeline would reach if each had a core to itself:
events / max(generator CPU, compressor CPU). The full alibaba-scale run is projected with setup
(world and hourly budgets) paid once and the rest scaling with the event count. The baselines, on
the same machine in the same run:

- serialise: orjson.dumps of one fixed inference event, repeated (the cost of JSON alone);
- gzip floor: the first lines of the `standard` output, already serialised and held in memory,
  written through the simulator's own gzip writer with the same chunking (the cost of
  compression and disk alone).
"""

from __future__ import annotations

import gzip
import os
import resource
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path
from typing import Any

import click
import orjson

from distillguard.simulator.engine import BATCH_REQUESTS, EVENTS_FILE, GZIP_LEVEL, simulate
from distillguard.simulator.scenario import PRESETS
from distillguard.simulator.writer import GzipLineWriter

_SAMPLE_EVENT: dict[str, Any] = {
    "type": "inference", "event_id": "evt_5a3ab4c37413e343b7cd", "occurred_at": "2025-03-03T00:01:35.731Z",
    "account_id": "acct_5810b46a733c0e88", "api_key_id": "key_d76764ef4cbeb22e", "model": "frontier-1.5",
    "ip": "143.59.157.153", "user_agent": "python-httpx/0.27.2", "input_tokens": 478, "output_tokens": 563,
    "max_tokens": 8192, "latency_ms": 14104, "status": "ok", "stream": True,
    "prompt_sample": "Task: set up monitoring and alerting for a Kubernetes cluster running 40 services. Produce a "
                     "detailed step-by-step plan with tool calls. Think step by step and show your full reasoning.",
    "system_prompt_sha256": "870ea1e321a74d02ca3133f5c0695baf75f6a392ebc28a294fa4b053d2627be7",
    "account_rpm_limit": 2000,
}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def serialise_baseline(lines: int = 300_000) -> float:
    """Lines per second of orjson.dumps on one fixed event."""
    dumps = orjson.dumps
    started = time.perf_counter()
    for _ in range(lines):
        dumps(_SAMPLE_EVENT)
    return lines / (time.perf_counter() - started)


def gzip_floor(events_file: Path, out_dir: Path, lines: int = 300_000) -> tuple[float, float]:
    """(lines/s, MB/s of uncompressed input) writing pre-serialised lines through GzipLineWriter."""
    with gzip.open(events_file, "rb") as source:
        sample = list(islice(source, lines))
    chunks = [b"".join(sample[i:i + BATCH_REQUESTS]) for i in range(0, len(sample), BATCH_REQUESTS)]
    size = sum(map(len, chunks))
    started = time.perf_counter()
    with GzipLineWriter(out_dir / "floor.jsonl.gz", GZIP_LEVEL) as writer:
        for chunk in chunks:
            writer.write(chunk)
    elapsed = time.perf_counter() - started
    return len(sample) / elapsed, size / elapsed / 1e6


def _run_child(preset: str, seed: int, out_dir: Path, max_events: int | None) -> dict[str, Any]:
    command = [sys.executable, "-m", "distillguard.simulator.bench", "--child", preset, "--seed", str(seed),
               "--workdir", str(out_dir)]
    if max_events:
        command += ["--alibaba-max-events", str(max_events)]
    done = subprocess.run(command, check=True, capture_output=True)
    result: dict[str, Any] = orjson.loads(done.stdout.splitlines()[-1])
    return result


@click.command()
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--alibaba-max-events", type=click.IntRange(min=1), default=5_000_000, show_default=True,
              help="Cap for the alibaba-scale measurement (0 events are skipped with --skip-alibaba)")
@click.option("--skip-alibaba", is_flag=True)
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where outputs go (default: a temporary directory, removed afterwards)")
@click.option("--child", type=click.Choice(sorted(PRESETS)), default=None, hidden=True)
def main(seed: int, alibaba_max_events: int, skip_alibaba: bool, workdir: Path | None, child: str | None) -> None:
    """Measure the simulator and print a Markdown table."""
    if child is not None:
        assert workdir is not None
        cap = alibaba_max_events if child == "alibaba-scale" else None
        summary = simulate(PRESETS[child], seed, workdir / child, max_events=cap)
        click.echo(orjson.dumps({**summary.as_dict(), "peak_rss_mb": round(_peak_rss_mb())}))
        return
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="simbench-") as scratch:
        root = workdir or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        rows = [_run_child("standard", seed, root, None)]
        if not skip_alibaba:
            rows.append(_run_child("alibaba-scale", seed, root, alibaba_max_events))
        floor_rate, floor_mb = gzip_floor(root / "standard" / EVENTS_FILE, root)
        serialise_rate = serialise_baseline()
    click.echo(f"{os.cpu_count()} CPUs; 1-minute load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    click.echo("")
    click.echo("| run | events | accounts | wall s | events/s | setup CPU s | generator CPU s (incl. setup) | "
               "compressor CPU s | events/s with a core per thread | peak RSS (MB) | projected full run |")
    click.echo("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for row in rows:
        busiest = max(row["generator_cpu_seconds"], row["compressor_cpu_seconds"])
        uncontended = row["events"] / busiest
        projected = ""
        if row["truncated"]:
            # Setup (world and hourly budgets) is paid once; the rest scales with the events.
            planned, setup = row["planned_events"], row["setup_cpu_seconds"]
            per_event_generator = (row["generator_cpu_seconds"] - setup) / row["events"]
            per_event_compressor = row["compressor_cpu_seconds"] / row["events"]
            full = max(setup + planned * per_event_generator, planned * per_event_compressor)
            measured = row["seconds"] * (setup + planned * per_event_generator) / row["generator_cpu_seconds"]
            projected = (f"{planned:,} events: ~{measured / 60:.0f} min at this run's contention, "
                         f"~{full / 60:.0f} min with a core per thread")
        click.echo(
            f"| {row['scenario']}{' (capped)' if row['truncated'] else ''} | {row['events']:,} | {row['accounts']:,} | "
            f"{row['seconds']:.1f} | {row['events_per_second']:,} | {row['setup_cpu_seconds']:.1f} | "
            f"{row['generator_cpu_seconds']:.1f} | "
            f"{row['compressor_cpu_seconds']:.1f} | {uncontended:,.0f} | {row['peak_rss_mb']:,} | {projected} |"
        )
    click.echo(f"| baseline: gzip floor (pre-serialised standard lines, ISA-L level {GZIP_LEVEL}) | | | | "
               f"{floor_rate:,.0f} ({floor_mb:.0f} MB/s in) | | | | | | |")
    click.echo(f"| baseline: orjson.dumps of one fixed event | | | | {serialise_rate:,.0f} | | | | | | |")


if __name__ == "__main__":
    main()
