"""Simulator benchmark: events/s and peak RSS per preset, against baselines measured in the same run.

    .venv/bin/python -m distillguard.simulator.bench [--alibaba-max-events 5000000] [--seed 1] \
        [--write-docs docs/benchmarks.md]

Each run is a fresh child process (so peak RSS is that run's own), writing to a temporary
directory. alibaba-scale is capped at --alibaba-max-events lines (a time-ordered prefix) and its
full-run time is projected from the measured rate. The machine is shared, so the table also gives
the CPU time of each busy thread: the generating thread (world building included), the helper
process that formats the JSON lines (formatter.py) and the compressing thread; "events/s with a
core per thread" is events / max(those CPU times). The full alibaba-scale run is projected with
setup (world and hourly budgets) paid once and the rest scaling with the event count. The
baselines, on the same machine in the same run:

- standard without the helper process: the same bytes, formatted in the generating thread (the
  design before the helper; `simulate(..., helper_process=False)`);
- gzip floor: the first lines of the `standard` output, already serialised and held in memory,
  written through the simulator's own gzip writer with the same chunking (the cost of
  compression and disk alone);
- serialise: orjson.dumps of one fixed inference event, repeated (the cost of JSON alone; it shows
  how fast the machine was during the run).
"""

from __future__ import annotations

import gzip
import os
import platform
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

from distillguard.benchmarks.docs import replace_section
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


SECTION = "## Simulator"


def _run_child(preset: str, seed: int, out_dir: Path, max_events: int | None, helper: bool = True) -> dict[str, Any]:
    command = [sys.executable, "-m", "distillguard.simulator.bench", "--child", preset, "--seed", str(seed),
               "--workdir", str(out_dir)]
    if max_events:
        command += ["--alibaba-max-events", str(max_events)]
    if not helper:
        command.append("--no-helper")
    done = subprocess.run(command, check=True, capture_output=True)
    result: dict[str, Any] = orjson.loads(done.stdout.splitlines()[-1])
    return result


def _row(label: str, row: dict[str, Any]) -> str:
    busiest = max(row["generator_cpu_seconds"], row["formatter_cpu_seconds"], row["compressor_cpu_seconds"])
    uncontended = row["events"] / busiest
    projected = ""
    if row["truncated"]:
        # Setup (world and hourly budgets) is paid once; the rest scales with the events.
        planned, setup = row["planned_events"], row["setup_cpu_seconds"]
        per_event_generator = (row["generator_cpu_seconds"] - setup) / row["events"]
        full = max(
            setup + planned * per_event_generator,
            planned * row["formatter_cpu_seconds"] / row["events"],
            planned * row["compressor_cpu_seconds"] / row["events"],
        )
        measured = setup + (row["seconds"] - setup) * planned / row["events"]
        projected = (f"{planned:,} events: ~{measured / 60:.0f} min at this run's rate, "
                     f"~{full / 60:.0f} min with a core per thread")
    return (
        f"| {label} | {row['events']:,} | {row['accounts']:,} | {row['seconds']:.1f} | "
        f"**{row['events_per_second']:,}** | {row['setup_cpu_seconds']:.1f} | {row['generator_cpu_seconds']:.1f} | "
        f"{row['formatter_cpu_seconds']:.1f} | {row['compressor_cpu_seconds']:.1f} | {uncontended:,.0f} | "
        f"{row['peak_rss_mb']:,} | {projected} |"
    )


@click.command()
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--alibaba-max-events", type=click.IntRange(min=1), default=5_000_000, show_default=True,
              help="Cap for the alibaba-scale measurement (0 events are skipped with --skip-alibaba)")
@click.option("--skip-alibaba", is_flag=True)
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where outputs go (default: a temporary directory, removed afterwards)")
@click.option("--write-docs", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=f"Replace the '{SECTION}' section of this Markdown file (docs/benchmarks.md) with the results")
@click.option("--child", type=click.Choice(sorted(PRESETS)), default=None, hidden=True)
@click.option("--no-helper", is_flag=True, hidden=True)
def main(
    seed: int, alibaba_max_events: int, skip_alibaba: bool, workdir: Path | None, write_docs: Path | None,
    child: str | None, no_helper: bool,
) -> None:
    """Measure the simulator and print a Markdown table."""
    if child is not None:
        assert workdir is not None
        cap = alibaba_max_events if child == "alibaba-scale" else None
        summary = simulate(
            PRESETS[child], seed, workdir / (child + ("-no-helper" if no_helper else "")), max_events=cap,
            helper_process=False if no_helper else None,
        )
        click.echo(orjson.dumps({**summary.as_dict(), "peak_rss_mb": round(_peak_rss_mb())}))
        return
    load_before = os.getloadavg()[0]
    started = time.strftime("%Y-%m-%d %H:%M")
    with tempfile.TemporaryDirectory(prefix="simbench-") as scratch:
        root = workdir or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        # The baseline runs right after, in the same conditions.
        standard = _run_child("standard", seed, root, None)
        without_helper = _run_child("standard", seed, root, None, helper=False)
        capped = None if skip_alibaba else _run_child("alibaba-scale", seed, root, alibaba_max_events)
        floor_rate, floor_mb = gzip_floor(root / "standard" / EVENTS_FILE, root)
        serialise_rate = serialise_baseline()
    load_after = os.getloadavg()[0]
    command = "python -m distillguard.simulator.bench " + (
        "--skip-alibaba" if skip_alibaba else f"--alibaba-max-events {alibaba_max_events}"
    )
    lines = [
        f"{SECTION}\n",
        f"Reproduce: `{command}` (seed {seed}; Python {platform.python_version()}, {os.cpu_count()} CPUs; each run "
        "in its own child process, so peak RSS is that run's own; add `--write-docs docs/benchmarks.md` to "
        "rewrite this section).\n",
        "Target: >= 100,000 events/s for the whole pipeline (world building, generation, JSON, gzip) with memory "
        "bounded by the account count, never by the event count.\n",
        f"Run of {started}; 1-minute load average {load_before:.1f} before, {load_after:.1f} after (the machine is "
        "shared with other sessions, so absolute rates move with that load; the baselines ran in the same "
        "conditions).\n",
        "| run | events | accounts | wall s | events/s (wall) | setup CPU s | generator CPU s (incl. setup) | "
        "formatter CPU s (helper process) | compressor CPU s | events/s with a core per thread | peak RSS (MB) | "
        "projected full run |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        _row("standard", standard),
        _row("baseline: standard without the helper process (formatting in the generating thread)", without_helper),
    ]
    if capped is not None:
        lines.append(_row(f"alibaba-scale, first {capped['events']:,} lines", capped))
    lines += [
        f"| baseline: gzip floor (pre-serialised standard lines, ISA-L level {GZIP_LEVEL}) | | | | "
        f"{floor_rate:,.0f} ({floor_mb:.0f} MB/s in) | | | | | | | |",
        f"| baseline: orjson.dumps of one fixed event | | | | {serialise_rate:,.0f} | | | | | | | |",
    ]
    table = "\n".join(lines)
    click.echo(table)
    if write_docs is not None:
        replace_section(write_docs, SECTION, table + "\n\n" + NOTES)


NOTES = """\
How to read it:

- Three threads do the work: the generating thread (every random draw: world, hourly budgets, accounts
  and times of requests, prompts, outcomes), a helper process that formats the JSON lines from the
  columns it is sent (`formatter.py`; the same function formats in the generating thread for small
  scenarios, so the bytes are the same either way), and the helper's ISA-L compressing thread (which
  releases the GIL). The baseline row is the same code with formatting left in the generating thread;
  its generator CPU minus the helper run's is what moving the formatting saved that thread.
- With two cores and three busy threads, wall time is at best (generator + formatter + compressor
  CPU) / 2, and only when nothing else runs; "events/s with a core per thread" is the ceiling if each
  thread had a core. The split pays off only when the simulator gets both cores: when other sessions
  keep the machine busy (1-minute load 4-6), the helper run can be slower in wall time than the
  baseline, because every stage of the pipeline waits whenever another is descheduled.
- Same seed, same bytes: the helper only formats values drawn in the generating thread and hands the
  gzip writer the same chunks, so `events.jsonl.gz` is byte-identical with or without it.
- Memory: the world (accounts with identities, cards and per-account arrays) plus a bounded working
  set: one part of at most ~40,000 requests being generated, at most two parts queued for the helper,
  three compressed-chunk buffers there. `alibaba-scale` also pays its setup (107,214 accounts and every
  population's hourly budgets) once, a large share of a capped run.
"""


if __name__ == "__main__":
    main()
