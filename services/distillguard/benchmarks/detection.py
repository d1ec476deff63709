"""Detection scorecard: a simulated scenario replayed through all three services, then scored.

    .venv/bin/python -m distillguard.benchmarks.detection --scenario standard [--slice-hours 6]

Runs identity, rate-pattern and enforcement in this process against the configured Kafka and a
fresh PostgreSQL database on the configured server (DISTILLGUARD_KAFKA_BOOTSTRAP /
DISTILLGUARD_DATABASE_URL; defaults: what `make infra-up` starts), with fresh topic and group
names; replays the events in event-time slices (see distillguard.replay), exports the decisions
and writes the `distillguard evaluate` report. Labels are read only by the scoring step.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.engine import make_url

from distillguard.casestore import upgrade_database
from distillguard.evaluation.inputs import InputIssues, inference_requests, load_decisions, load_labels
from distillguard.evaluation.metrics import Evaluation, evaluate
from distillguard.evaluation.report import summary_lines, write_json, write_markdown
from distillguard.pipeline import BatchProcessor
from distillguard.replay import replay_file
from distillguard.runtime import RunningService, load_definition
from distillguard.settings import Settings, load_settings
from enforcement.export import export_decisions
from enforcement.service import pending_actions_counter

SERVICES = ("identity", "ratepattern", "enforcement")


@dataclass
class DetectionRun:
    evaluation: Evaluation
    replay_seconds: float
    slices: int
    events: int
    # Each service's processor as the replay left it (its domain state, for checks beyond the decisions).
    processors: dict[str, BatchProcessor] = field(default_factory=dict)


async def fresh_database(base_url: str) -> str:
    """Create a uniquely named database on the server of `base_url` (PostgreSQL) and return its URL."""
    import asyncpg

    url = make_url(base_url)
    name = f"dgdetect_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(url.set(drivername="postgresql", database="postgres")
                                  .render_as_string(hide_password=False))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return url.set(database=name).render_as_string(hide_password=False)


async def run_detection(settings: Settings, events: Path, labels_path: Path, out: Path,
                        slice_hours: float, timeout_s: float = 600) -> DetectionRun:
    """Replay `events` through the three services on `settings`; score against `labels_path`."""
    await upgrade_database(settings.database_url)
    groups = {name: load_definition(name).inputs for name in SERVICES}
    started = time.perf_counter()
    processors: dict[str, BatchProcessor] = {}
    async with AsyncExitStack() as stack:
        for name in SERVICES:
            service = RunningService(settings, load_definition(name))
            await service.start(port=0)
            stack.push_async_callback(service.stop)
            await service.ready()
            processors[name] = service.parts.processor
        replayed = await replay_file(settings, str(events), out / "rejects.jsonl", groups,
                                     slice_hours=slice_hours, timeout_s=timeout_s,
                                     pending_actions=pending_actions_counter(settings))
    seconds = time.perf_counter() - started
    rows = await export_decisions(settings)
    decisions_path = out / "decisions.jsonl"
    decisions_path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    issues = InputIssues()
    labels = load_labels(labels_path)
    decisions = load_decisions(decisions_path, labels, issues)
    evaluation = evaluate(labels, decisions, inference_requests(events, issues), issues)
    write_json(evaluation, out / "report.json")
    write_markdown(evaluation, out / "report.md", {"events": str(events), "labels": str(labels_path),
                                                   "decisions": str(decisions_path)})
    return DetectionRun(evaluation, seconds, replayed.slices, replayed.published.lines, processors)


def isolated_settings(data_dir: Path, database_url: str, **overrides: Any) -> Settings:
    tag = uuid.uuid4().hex[:8]
    return load_settings(topic_prefix=f"detect{tag}.", app_id_prefix=f"dgdetect{tag}", database_url=database_url,
                         data_dir=data_dir, console_port=0, **overrides)


async def main_async(args: argparse.Namespace) -> None:
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    scenario = out / "scenario"
    if not (scenario / "events.jsonl.gz").exists():
        from distillguard.simulator.cli import simulate_command

        simulate_command.main(["--scenario", args.scenario, "--seed", str(args.seed), "--out", str(scenario)],
                              standalone_mode=False)
    database = await fresh_database(load_settings().database_url)
    settings = isolated_settings(out, database)
    run = await run_detection(settings, scenario / "events.jsonl.gz", scenario / "labels.json", out,
                              args.slice_hours)
    print(f"scenario {args.scenario} seed {args.seed}: {run.events} events in {run.slices} slices of "
          f"{args.slice_hours} h, replayed in {run.replay_seconds:.0f} s")
    print("\n".join(summary_lines(run.evaluation)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="standard")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--slice-hours", type=float, default=6.0)
    parser.add_argument("--out", default=".data/detection")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
