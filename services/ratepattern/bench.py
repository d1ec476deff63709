"""Benchmark of the rate-pattern domain: `python -m ratepattern.bench [--write-docs]`.

Feeds serialized InferenceEvents in consumer-sized batches through
`InferenceBatch.from_protobuf_values` + `RatePatternEngine.apply_inference` with every feature on,
and compares with plain protobuf parsing (`InferenceEvent.FromString` of the same values, nothing
else) measured in the same run. Two streams:

- `farm-density`: every account at ~26 requests/day (the public figure for farm accounts), so the
  content sampler (first request per account-hour, at most `samples_per_account_day` per
  account-day) analyses a large share of requests: the worst case for content analysis;
- `production-mix`: heavy-tailed per-account rates (lognormal, median 400/day, ~200 requests per
  account in the stream), closer to what an API at tens of thousands of requests per second sees.

Rows also show the sampling knob (one analysed prompt per account-day) and the pipeline with
content analysis off, i.e. the cost of everything else.

Both include 0.5% duplicate deliveries, 1% requests up to 5 minutes out of order and 0.1% two hours
late (refused), 10% empty prompts,
templated prompts (some eliciting reasoning, grading or sensitive rewrites) and a model released
mid-stream. Memory: bytes per active account from tracemalloc (everything the engine allocated,
divided by the accounts in the table), and the template index size.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import hashlib
import platform
import re
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from pathlib import Path

import numpy as np

from distillguard.benchmarks.docs import replace_section
from distillguard.v1 import events_pb2
from ratepattern.domain import InferenceBatch, RatePatternConfig, RatePatternEngine

T0 = 1_772_409_600
_TEMPLATE_CODE = re.compile(r"datasketch|content\.py")
SECTION = "## Rate-pattern analysis (domain)"
_TEMPLATES = (
    "You are an expert agent. Plan the steps to {x} with the available tools, then articulate your reasoning "
    "step by step before the final answer.",
    "Grade the following response using the rubric on a scale of 1 to 10 and justify each score: {x}",
    "Rewrite this politically sensitive paragraph about the regime in a neutral tone: {x}",
    "Write a Python function that {x} and include unit tests.",
    "Summarize the key points of the attached meeting notes: {x}",
    "Translate into French: {x}",
    "What is a good name for a bakery that {x}?",
    "Explain the physics of {x} to a high-school student.",
)
_WORDS = np.array(("river graph cache ledger planet matrix token socket garden vector kernel mirror budget harbor "
                   "signal crystal engine market forest lambda parser window orbit canvas bridge valve pixel").split())


@dataclass(frozen=True)
class Stream:
    name: str
    values: list[bytes]
    accounts: int
    hours: float


def make_stream(name: str, accounts: int, events: int, seed: int) -> Stream:
    """Serialized events over the span their rates imply, in arrival order."""
    rng = np.random.RandomState(seed)
    if name == "farm-density":
        rates = rng.uniform(20, 32, accounts)  # requests per day
    else:
        rates = np.clip(rng.lognormal(np.log(400.0), 1.5, accounts), 5.0, 200_000.0)
    hours = events / rates.sum() * 24.0
    owner = rng.choice(accounts, size=events, p=rates / rates.sum())
    at_ms = np.sort(rng.uniform(0, hours * 3_600_000, events)).astype(np.int64) + T0 * 1000
    late = rng.rand(events) < 0.01
    at_ms[late] -= rng.randint(1, 300_000, int(late.sum()))  # out of order, within the allowed lateness
    too_late = rng.rand(events) < 0.001
    at_ms[too_late] -= 2 * 3_600_000  # beyond it: refused
    models = np.where(at_ms > T0 * 1000 + hours * 1_800_000, np.where(rng.rand(events) < 0.4, 2, 0),
                      rng.randint(0, 2, events))
    limits = np.where(rates > 5000, 500, 60)
    template = rng.randint(0, len(_TEMPLATES), events)
    empty = rng.rand(events) < 0.1
    fills = _WORDS[rng.randint(0, len(_WORDS), (events, 6))]
    system = [hashlib.sha256(f"sp-{i % 997}".encode()).hexdigest() for i in range(accounts)]
    status = np.where(rng.rand(events) < 0.02, events_pb2.INFERENCE_STATUS_RATE_LIMITED, events_pb2.INFERENCE_STATUS_OK)
    in_tok = rng.randint(50, 3000, events)
    out_tok = rng.randint(50, 4096, events)
    values: list[bytes] = []
    ev = events_pb2.InferenceEvent(api_key_id="key", ip="203.0.113.7", user_agent="bench/1.0", max_tokens=4096,
                                   latency_ms=800, stream=True)
    model_names = ("model-a", "model-b", "model-c")
    for i in range(events):
        a = int(owner[i])
        ev.event_id = f"ev-{seed}-{i:010d}"
        ev.account_id = f"acct-{a:07d}"
        ev.model = model_names[int(models[i])]
        ev.occurred_at.seconds = int(at_ms[i] // 1000)
        ev.occurred_at.nanos = int(at_ms[i] % 1000) * 1_000_000
        ev.input_tokens = int(in_tok[i])
        ev.output_tokens = int(out_tok[i])
        ev.status = int(status[i])  # type: ignore[assignment]
        ev.prompt_sample = "" if empty[i] else _TEMPLATES[int(template[i])].format(x=" ".join(fills[i]))
        ev.system_prompt_sha256 = system[a]
        ev.account_rpm_limit = int(limits[a])
        values.append(ev.SerializeToString())
    dup_at = np.flatnonzero(rng.rand(events) < 0.005)
    for k, i in enumerate(dup_at.tolist()):
        values.insert(min(len(values), i + 50 + k), values[i])
    return Stream(name, values, accounts, hours)


def _best(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best (CPU seconds, wall seconds) over `repeat` runs. CPU time is what the process itself
    spent, so it does not count time other processes took from a shared machine."""
    cpu, wall = [], []
    for _ in range(repeat):
        gc.collect()
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return min(cpu), min(wall)


def run_domain(values: list[bytes], batch: int, config: RatePatternConfig) -> RatePatternEngine:
    engine = RatePatternEngine(config)
    for i in range(0, len(values), batch):
        engine.apply_inference(InferenceBatch.from_protobuf_values(values[i:i + batch]))
    return engine


def measure(stream: Stream, batch: int, repeat: int, config: RatePatternConfig) -> dict[str, float]:
    values = stream.values
    parse = events_pb2.InferenceEvent.FromString

    def baseline() -> None:
        for v in values:
            parse(v)

    def decode() -> None:
        for i in range(0, len(values), batch):
            InferenceBatch.from_protobuf_values(values[i:i + batch])

    t_parse, w_parse = _best(baseline, repeat)
    t_decode, w_decode = _best(decode, repeat)
    t_domain, w_domain = _best(lambda: run_domain(values, batch, config), repeat)
    engine = run_domain(values, batch, config)

    gc.collect()
    tracemalloc.start(32)  # whole call stacks: what the template index builds is owned by it
    before = tracemalloc.take_snapshot()
    traced = run_domain(values, batch, config)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    diffs = after.compare_to(before, "traceback")
    held = sum(s.size_diff for s in diffs)
    # Template and system-prompt index: allocated anywhere below content.py or datasketch (its records,
    # MinHash band tables and the example prompts it keeps, parsed in batch.py).
    template_bytes = sum(s.size_diff for s in diffs
                         if any(_TEMPLATE_CODE.search(frame.filename) for frame in s.traceback))
    active = len(traced.accounts)
    n = len(values)
    return {
        "events": n,
        "accounts": active,
        "hours": stream.hours,
        "parse_eps": n / t_parse,
        "decode_eps": n / t_decode,
        "domain_eps": n / t_domain,
        "parse_wall_eps": n / w_parse,
        "domain_wall_eps": n / w_domain,
        "sampled_share": engine.stats.sampled_prompts / engine.stats.accepted,
        "hashed_share": engine.templates.hashed_prompts / engine.stats.accepted,
        "late": engine.stats.late,
        "duplicates": engine.stats.duplicates,
        "evaluations": engine.stats.evaluations,
        "bytes_per_account": (held - template_bytes) / active,
        "slot_bytes": traced.accounts.bytes_per_slot(),
        "templates": len(engine.templates),
        "template_bytes": template_bytes,
        "system_prompts": len(engine.system_prompts),
    }


def render(results: list[tuple[str, dict[str, float]]], batch: int, command: str,
           replay_card: dict[str, Any] | None = None) -> str:
    lines = [
        SECTION,
        "",
        f"Reproduce: `{command}` (Python {platform.python_version()}, one process; 1-minute load average "
        f"{os.getloadavg()[0]:.1f} on the 2-core machine at the end of the run). Figures are the best of the "
        "repeats; events/s are per CPU-second of this process (`time.process_time`), so work that other processes "
        "do on the shared 2-core machine does not distort them; wall-clock figures measured in the same run are "
        "given alongside.",
        "",
        f"Domain = batches of {batch} serialized InferenceEvents through `InferenceBatch.from_protobuf_values` + "
        "`RatePatternEngine.apply_inference`, every feature on. Baseline = `InferenceEvent.FromString` of the same "
        "values and nothing else (no attribute reads). Decode = building the columnar batch alone.",
        "",
        "| stream | events | accounts | event-time span | baseline parse ev/s | decode ev/s | **domain ev/s** | "
        "domain wall ev/s | prompts analysed | prompts MinHashed | account state bytes / active account | "
        "template + system-prompt index |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results:
        lines.append(
            f"| {name} | {int(r['events']):,} | {int(r['accounts']):,} | {r['hours']:.1f} h | {r['parse_eps']:,.0f} | "
            f"{r['decode_eps']:,.0f} | **{r['domain_eps']:,.0f}** | {r['domain_wall_eps']:,.0f} | "
            f"{r['sampled_share']:.1%} | {r['hashed_share']:.1%} | {r['bytes_per_account']:,.0f} | "
            f"{int(r['templates']):,} templates, {r['template_bytes'] / 1e6:.1f} MB |")
    slot = int(results[0][1]["slot_bytes"])
    lines += [
        "",
        f"Account state per active account is everything the engine allocated (tracemalloc, whole call stacks) "
        f"except what the template and system-prompt indexes hold (every allocation made below content.py or "
        f"datasketch: index records, band tables, example prompts), divided by the accounts in its table: the numpy columns ({slot:,} bytes per "
        "slot, with up to 25% idle slots because capacity grows by a quarter), the account-id dictionary "
        "and the dedupe window (8 bytes per request within the allowed lateness, held in 10-minute buckets: the row without content analysis shows the fixed part, the production mix's heavy accounts carry ~200 requests each in that hour). The template index is bounded "
        "by `max_templates` (10,000; segmented LRU: one-account templates evicted first) with at most "
        "`max_template_members` (4,096) members each, about 6-8 KB per template (datasketch's MinHashLSH band "
        "tables dominate); the system-prompt index by `max_system_prompts` (100,000).",
        "",
    ]
    if replay_card is not None:
        eps = replay_card["events"] / max(replay_card["domain_cpu_seconds"], 1e-9)
        lines += [
            f"Simulator traffic: `python -m ratepattern.replay DIR --json CARD` over `distillguard simulate "
            f"--scenario {replay_card.get('scenario', 'standard')}` ({replay_card['events']:,} inference events, "
            f"identity clusters from the identity domain run alongside): the domain took "
            f"{replay_card['domain_cpu_seconds']:,.0f} CPU seconds, **{eps:,.0f} events per CPU-second**, with "
            f"{replay_card['analysed_share']:.1%} of requests analysed (the scorecard is in docs/ratepattern.md).",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ratepattern.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write-docs", type=Path, nargs="?", const=Path("docs/benchmarks.md"), default=None)
    parser.add_argument("--replay-card", type=Path, default=None,
                        help="scorecard JSON written by `python -m ratepattern.replay DIR --json CARD`, to cite")
    args = parser.parse_args(argv)
    default = RatePatternConfig()
    lean = RatePatternConfig(samples_per_account_day=1, template_samples_per_account_day=1)
    no_content = RatePatternConfig(samples_per_account_day=0, sample_share=0.0)
    farm = make_stream("farm-density", args.events // 26, args.events, seed=11)
    production = make_stream("production-mix", args.events // 200, args.events, seed=11)
    results = []
    for label, stream, config in (("farm-density", farm, default),
                                  ("farm-density, 1 prompt per account-day", farm, lean),
                                  ("farm-density, content analysis off", farm, no_content),
                                  ("production-mix", production, default)):
        r = measure(stream, args.batch, args.repeat, config)
        results.append((label, r))
        print(f"{label}: " + ", ".join(f"{k}={v:,.3f}" if isinstance(v, float) else f"{k}={v}"
                                       for k, v in r.items()), flush=True)
    command = "python -m ratepattern.bench " + " ".join(sys.argv[1:] if argv is None else argv)
    card = json.loads(args.replay_card.read_text()) if args.replay_card is not None else None
    section = render(results, args.batch, command.strip(), card)
    print(section)
    if args.write_docs is not None:
        replace_section(args.write_docs, SECTION, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
