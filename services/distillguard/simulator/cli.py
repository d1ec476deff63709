"""`distillguard simulate`: write a scenario's events and ground-truth labels."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from distillguard.simulator.engine import EVENTS_FILE, LABELS_FILE, simulate
from distillguard.simulator.scenario import PRESETS


@click.command("simulate")
@click.option("--scenario", "scenario_name", type=click.Choice(sorted(PRESETS)), required=True,
              help="smoke (tests), standard (~1M events), alibaba-scale (25,000 attack accounts, 28.8M requests)")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Same seed, same bytes")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help=f"Directory for {EVENTS_FILE}, {LABELS_FILE} and scenario.json")
@click.option("--max-events", type=click.IntRange(min=1), default=None,
              help="Stop the events file after N lines (a time-ordered prefix, for benchmarks)")
def simulate_command(scenario_name: str, seed: int, out_dir: Path, max_events: int | None) -> None:
    """Simulate legitimate traffic and distillation campaigns.

    Writes OUT/events.jsonl.gz (JSON Lines event contract, sorted by occurred_at), OUT/labels.json
    (account_id -> legit:<segment> | attack:<campaign>, for `distillguard evaluate` only) and
    OUT/scenario.json (window, model release, counts). Prints a JSON summary.
    """
    show_progress = sys.stderr.isatty()
    last_shown = [-1]

    def progress(lines: int, planned: int) -> None:
        percent = 100 * lines // max(planned, 1)
        if percent != last_shown[0]:
            last_shown[0] = percent
            click.echo(f"\r{lines:,} of ~{planned:,} events ({percent}%)", err=True, nl=False)

    summary = simulate(
        PRESETS[scenario_name], seed, out_dir, max_events=max_events, progress=progress if show_progress else None
    )
    if show_progress:
        click.echo("", err=True)
    click.echo(orjson.dumps(summary.as_dict()))
