"""The generator: build the world, then write it out in event-time order, one time slice at a time.

Memory is bounded by the number of accounts (their compact state) plus one part of a slice of
events: the file opens with the registry backfill (signups and card additions of accounts that
existed before the window, in weekly slices), then the hours of the window, a few at a time at
small scale and in minute-aligned parts of a busy hour at large scale, are generated for all
populations, sorted, written and dropped before the next. Randomness comes from numpy Generators seeded with
(seed, stream[, slice]), so one seed always gives the same bytes. Every draw happens here; each
part leaves as a `formatter.Part` (columns of final values) for a sink that formats and compresses
it, in this process or, at scale, in a helper process.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson

from distillguard.simulator import campaigns, segments
from distillguard.simulator.identity_data import DECLINE_CODES
from distillguard.simulator.formatter import LocalSink, Part, ProcessSink, Sink, SinkStats
from distillguard.simulator.population import (
    NEW_MODEL,
    BuildContext,
    Population,
    RequestBatch,
    Timeline,
    _event_ids,
    finish_requests,
)
from distillguard.simulator.scenario import Scenario
from distillguard.simulator.world import (
    BILLING_WORDS,
    CHARGE_FAILED,
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    MODELS,
    PAYMENT_METHOD_ADDED,
    PAYMENT_METHOD_REMOVED,
    SIGNUP,
    AccountRecord,
    FrozenSchedule,
    Identities,
    Schedule,
)

POPULATION_TYPES: Final[dict[str, type[Population]]] = {
    cls.kind: cls
    for cls in (
        segments.Casual, segments.Developer, segments.ProductionApp, segments.Enterprise, segments.Student,
        segments.EvalLab, segments.Family, segments.Vpn, campaigns.Hydra, campaigns.Mimic, campaigns.Reseller,
    )
}
EVENTS_FILE: Final = "events.jsonl.gz"
LABELS_FILE: Final = "labels.json"
MANIFEST_FILE: Final = "scenario.json"
BACKFILL_SLICE_MS: Final = 7 * DAY_MS
GZIP_LEVEL: Final = 2  # ISA-L level (0-3)
BATCH_REQUESTS: Final = 20_000  # hours are grouped into slices of at least this many requests
MAX_PART_REQUESTS: Final = 40_000  # a slice is rendered in parts of at most about this many
HELPER_PROCESS_MIN_REQUESTS: Final = 200_000  # below this, a second process costs more than it saves

_BUILD, _BUDGET, _SLICE = 0, 1, 2


def _generator(*key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(key))))


@dataclass
class World:
    """Accounts, their populations and the schedule of signup and billing events."""

    scenario: Scenario
    timeline: Timeline
    populations: list[Population]
    registry: list[AccountRecord]
    schedule: FrozenSchedule

    def labels(self) -> dict[str, str]:
        return {record.account_id: record.label for record in self.registry}


def build_world(scenario: Scenario, seed: int) -> World:
    """Create every account of the scenario (deterministic in `seed`)."""
    start_ms = int(scenario.start.timestamp() * 1000)
    timeline = Timeline(start_ms, scenario.days * 24, start_ms + scenario.release_day * DAY_MS + 17 * HOUR_MS)
    ctx = BuildContext(Identities(_generator(seed, _BUILD)), Schedule(), [], timeline)
    populations = [POPULATION_TYPES[spec.kind](spec, ctx) for spec in scenario.populations]
    return World(scenario, timeline, populations, ctx.registry, ctx.schedule.freeze())


def hourly_budgets(world: World, seed: int) -> np.ndarray:
    """Requests per (population, hour): each population's exact total, spread over the hours in
    proportion to its accounts' summed intensity."""
    rng = _generator(seed, _BUDGET)
    hours = world.timeline.hours
    budgets = np.zeros((len(world.populations), hours), dtype=np.int64)
    for p, population in enumerate(world.populations):
        if population.spec.requests == 0:
            continue
        weight = np.array([population.intensity(h)[0].sum() for h in range(hours)])
        if weight.sum() <= 0:
            raise ValueError(f"{population.label} has requests to make but no account is ever active")
        budgets[p] = rng.multinomial(population.spec.requests, weight / weight.sum())
    return budgets


def _schedule_lines(world: World, where: slice, rng: np.random.Generator) -> tuple[np.ndarray, list[bytes], int]:
    """Signup and billing events at schedule positions `where`: (times, lines, signup count)."""
    schedule = world.schedule
    times = schedule.times[where]
    n = len(times)
    if n == 0:
        return times, [], 0
    stamps = np.datetime_as_string(times.astype("datetime64[ms]"), unit="ms").tolist()
    event_ids = _event_ids(rng, n)
    declines = rng.integers(0, len(DECLINE_CODES), n).tolist()
    lines: list[bytes] = []
    signups = 0
    rows = zip(
        event_ids, stamps, schedule.accounts[where].tolist(), schedule.kinds[where].tolist(),
        schedule.amounts[where].tolist(), declines,
    )
    for event_id, stamp, account, kind, amount, decline in rows:
        record = world.registry[account]
        head: dict[str, Any] = {
            "event_id": "evt_" + event_id.decode(), "occurred_at": stamp + "Z", "account_id": record.account_id,
        }
        if kind == SIGNUP:
            assert record.signup is not None, "an account signs up once"
            lines.append(orjson.dumps({"type": "signup", **head, **record.signup}))
            record.signup = None
            signups += 1
            continue
        card = record.card
        assert card is not None, "billing events are only scheduled for accounts with a card"
        event: dict[str, Any] = {"type": "billing", **head, "kind": BILLING_WORDS[kind]}
        if kind in (PAYMENT_METHOD_ADDED, PAYMENT_METHOD_REMOVED):
            event.update({
                "card_fingerprint": card.fingerprint, "card_bin": card.bin, "card_last4": card.last4,
                "card_funding": card.funding, "card_country": card.country, "cardholder_name": card.holder,
                "billing_address": card.address, "ip": record.billing_ip,
            })
        else:
            event.update({
                "amount_cents": amount, "currency": record.currency, "card_fingerprint": card.fingerprint,
                "card_bin": card.bin, "card_last4": card.last4, "card_funding": card.funding,
                "card_country": card.country,
            })
            if kind == CHARGE_FAILED:
                event["decline_code"] = DECLINE_CODES[decline]
        lines.append(orjson.dumps(event))
    return times, lines, signups


@dataclass
class Counts:
    """Events written so far, by type, and inference requests by population label."""

    signup: int = 0
    billing: int = 0
    inference: int = 0
    by_population: dict[str, int] = field(default_factory=dict)


def _slices(world: World, budgets: np.ndarray) -> list[tuple[int, int, list[int]]]:
    """(start_ms, end_ms, hours) of each slice: weekly slices of the registry backfill (no hours),
    then runs of whole hours holding at least BATCH_REQUESTS requests (one hour at large scale)."""
    timeline, schedule = world.timeline, world.schedule
    first = int(schedule.times[0]) if len(schedule.times) else timeline.start_ms
    slices: list[tuple[int, int, list[int]]] = []
    edge = timeline.start_ms
    while edge > first:
        slices.append((max(edge - BACKFILL_SLICE_MS, first), edge, []))
        edge -= BACKFILL_SLICE_MS
    slices.reverse()
    per_hour = budgets.sum(axis=0).tolist()
    hours: list[int] = []
    pending = 0
    for hour, requests in enumerate(per_hour):
        hours.append(hour)
        pending += requests
        if pending >= BATCH_REQUESTS or hour == timeline.hours - 1:
            slices.append((timeline.start_ms + hours[0] * HOUR_MS, timeline.start_ms + (hour + 1) * HOUR_MS, hours))
            hours, pending = [], 0
    return slices


def generate(world: World, seed: int, counts: Counts, budgets: np.ndarray) -> Iterator[Part]:
    """Yield the parts of the output in occurred_at order, slice by slice (`formatter.format_part`
    turns each into its chunk of JSON lines); `counts` is updated as parts are produced.

    A slice whose requests exceed MAX_PART_REQUESTS (a busy hour at large scale) is drawn whole
    (account and time per request: 16 bytes each) and described and rendered in minute-aligned
    parts, so memory stays bounded however the traffic peaks. `budgets` comes from `hourly_budgets`.
    """
    for index, (start_ms, end_ms, hours) in enumerate(_slices(world, budgets)):
        rng = _generator(seed, _SLICE, index)
        drawn: list[tuple[Population, np.ndarray, np.ndarray]] = []
        for p, population in enumerate(world.populations):
            pairs = [population.draw(hour, int(budgets[p, hour]), rng) for hour in hours if budgets[p, hour]]
            if pairs:
                drawn.append((population, np.concatenate([a for a, _ in pairs]), np.concatenate([t for _, t in pairs])))
        total = sum(len(ts) for _, _, ts in drawn)
        parts = -(-total // MAX_PART_REQUESTS) if total else 1
        minutes = (end_ms - start_ms) // MINUTE_MS
        edges = [start_ms + MINUTE_MS * (minutes * k // parts) for k in range(parts)] + [end_ms]
        for lo, hi in zip(edges, edges[1:]):
            part = _render_part(world, drawn, lo, hi, rng, counts)
            if part.lines:
                yield part


def _render_part(
    world: World,
    drawn: list[tuple[Population, np.ndarray, np.ndarray]],
    start_ms: int,
    end_ms: int,
    rng: np.random.Generator,
    counts: Counts,
) -> Part:
    """The part [start_ms, end_ms): signup and billing events plus the drawn requests in it."""
    times, lines, signups = _schedule_lines(world, world.schedule.between(start_ms, end_ms), rng)
    counts.signup += signups
    counts.billing += len(lines) - signups
    batches = []
    for population, local, ts in drawn:
        inside = (ts >= start_ms) & (ts < end_ms)
        if inside.any():
            batch = population.describe(local[inside], ts[inside], rng)
            batches.append(batch)
            counts.inference += len(batch.ts)
            counts.by_population[population.label] = counts.by_population.get(population.label, 0) + len(batch.ts)
    if not batches:
        return Part.without_requests(lines)
    requests = RequestBatch.in_time_order(batches)
    # Signup and billing lines go first on equal times.
    positions = np.searchsorted(requests.ts, times, side="left").tolist() if lines else []
    return finish_requests(requests, rng, lines, positions)


@dataclass(frozen=True)
class SimulationSummary:
    scenario: str
    seed: int
    accounts: int
    signup_events: int
    billing_events: int
    inference_events: int
    inference_by_label: dict[str, int]
    truncated: bool
    seconds: float
    planned_events: int
    setup_cpu_seconds: float  # building the world and the hourly budgets
    generator_cpu_seconds: float  # the generating thread, setup included (and formatting without a helper)
    formatter_cpu_seconds: float  # formatting JSON lines in the helper process (0 without one)
    compressor_cpu_seconds: float

    @property
    def events(self) -> int:
        return self.signup_events + self.billing_events + self.inference_events

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "seed": self.seed, "accounts": self.accounts, "events": self.events,
            "signup_events": self.signup_events, "billing_events": self.billing_events,
            "inference_events": self.inference_events, "inference_by_label": self.inference_by_label,
            "truncated": self.truncated, "planned_events": self.planned_events, "seconds": round(self.seconds, 2),
            "setup_cpu_seconds": round(self.setup_cpu_seconds, 2),
            "generator_cpu_seconds": round(self.generator_cpu_seconds, 2),
            "formatter_cpu_seconds": round(self.formatter_cpu_seconds, 2),
            "compressor_cpu_seconds": round(self.compressor_cpu_seconds, 2),
            "events_per_second": round(self.events / self.seconds) if self.seconds > 0 else None,
        }


def simulate(
    scenario: Scenario,
    seed: int,
    out_dir: Path,
    max_events: int | None = None,
    gzip_level: int = GZIP_LEVEL,
    progress: Callable[[int, int], None] | None = None,
    helper_process: bool | None = None,
) -> SimulationSummary:
    """Write out_dir/events.jsonl.gz, labels.json and scenario.json for `scenario`.

    With `max_events` the events file stops after that many lines (a time-ordered prefix, for
    benchmarks); labels.json still lists every account and the per-label request counts of the
    summary are left empty. `progress(lines, events_planned)` is called after each slice.
    `helper_process` formats and compresses in a second process (formatter.ProcessSink); by
    default it does so for scenarios of HELPER_PROCESS_MIN_REQUESTS requests or more on a machine
    with more than one core. The bytes written are the same either way.
    """
    started, started_cpu = time.perf_counter(), time.thread_time()
    out_dir.mkdir(parents=True, exist_ok=True)
    if helper_process is None:
        helper_process = scenario.requests >= HELPER_PROCESS_MIN_REQUESTS and (os.cpu_count() or 1) > 1
    # The helper starts first, so its interpreter starts while the world is built.
    sink: Sink = ProcessSink(out_dir / EVENTS_FILE, gzip_level) if helper_process else LocalSink(
        out_dir / EVENTS_FILE, gzip_level
    )
    try:
        world = build_world(scenario, seed)
        budgets = hourly_budgets(world, seed)
    except BaseException:
        sink.abort()
        raise
    setup_cpu = time.thread_time() - started_cpu
    counts = Counts()
    planned = scenario.requests + len(world.schedule.times)
    # The world's objects live for the whole run; keep the cyclic GC from re-scanning them while
    # generation allocates millions of short-lived ones.
    gc.freeze()
    try:
        truncated, stats = _write_events(
            generate(world, seed, counts, budgets), sink, counts, planned, max_events, progress
        )
    finally:
        gc.unfreeze()
    labels = world.labels()
    (out_dir / LABELS_FILE).write_bytes(orjson.dumps(labels, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    summary = SimulationSummary(
        scenario=scenario.name,
        seed=seed,
        accounts=len(labels),
        signup_events=counts.signup,
        billing_events=counts.billing,
        inference_events=counts.inference,
        inference_by_label=dict(sorted(counts.by_population.items())),
        truncated=truncated,
        seconds=time.perf_counter() - started,
        planned_events=planned,
        setup_cpu_seconds=setup_cpu,
        generator_cpu_seconds=time.thread_time() - started_cpu,
        formatter_cpu_seconds=stats.formatter_cpu_seconds,
        compressor_cpu_seconds=stats.compressor_cpu_seconds,
    )
    manifest = {
        "scenario": scenario.name,
        "seed": seed,
        "window": {"start": _stamp(world.timeline.start_ms), "end": _stamp(world.timeline.end_ms)},
        "models": [
            {"name": name, "released_at": _stamp(world.timeline.release_ms) if i == NEW_MODEL else None}
            for i, name in enumerate(MODELS)
        ],
        "accounts": summary.accounts,
        "events": {"signup": counts.signup, "billing": counts.billing, "inference": counts.inference},
        "truncated": truncated,
    }
    (out_dir / MANIFEST_FILE).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    return summary


def _write_events(
    parts: Iterator[Part],
    sink: Sink,
    counts: Counts,
    planned: int,
    max_events: int | None,
    progress: Callable[[int, int], None] | None,
) -> tuple[bool, SinkStats]:
    """Hand `parts` to `sink`: (whether `max_events` cut the file short, the sink's CPU times)."""
    written = 0
    truncated = False
    try:
        for part in parts:
            lines = part.lines
            if max_events is not None and written + lines >= max_events:
                keep = max_events - written
                sink.write(replace(part, keep=keep))
                # Count only what is written: signup or billing line j is line positions[j] + j of the part.
                dropped = [
                    line for j, (position, line) in enumerate(zip(part.positions, part.others)) if position + j >= keep
                ]
                signups = sum(line.startswith(b'{"type":"signup"') for line in dropped)
                counts.signup -= signups
                counts.billing -= len(dropped) - signups
                counts.inference -= lines - keep - len(dropped)
                counts.by_population.clear()
                truncated = written + keep < planned
                break
            sink.write(part)
            written += lines
            if progress is not None:
                progress(written, planned)
    except BaseException:
        sink.abort()
        raise
    return truncated, sink.close()


def _stamp(ms: int) -> str:
    return str(np.datetime_as_string(np.datetime64(ms, "ms"), unit="ms")) + "Z"
