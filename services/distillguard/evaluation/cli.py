"""`distillguard evaluate`: score a decisions export against the simulator's labels."""

from __future__ import annotations

from pathlib import Path

import click

from distillguard.evaluation.inputs import InputError, InputIssues, inference_requests, load_decisions, load_labels
from distillguard.evaluation.metrics import evaluate
from distillguard.evaluation.report import summary_lines, write_report

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("evaluate")
@click.option("--labels", "labels_path", type=_FILE, required=True, help="labels.json written by `simulate`")
@click.option("--decisions", "decisions_path", type=_FILE, required=True,
              help="JSON Lines from `distillguard export decisions`")
@click.option("--events", "events_path", type=_FILE, required=True,
              help="The events.jsonl[.gz] the platform was fed (streamed for leakage)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for report.md, report.json and the PNG plots")
def evaluate_command(labels_path: Path, decisions_path: Path, events_path: Path, out_dir: Path) -> None:
    """Score enforcement decisions against ground-truth labels.

    Labels are read only here, to score; nothing flows back to the platform. Exit status 2 when an
    input is malformed (the message names the file, line and reason).
    """
    issues = InputIssues()
    try:
        labels = load_labels(labels_path)
        decisions = load_decisions(decisions_path, labels, issues)
        evaluation = evaluate(labels, decisions, inference_requests(events_path, issues), issues)
    except InputError as exc:
        raise click.UsageError(str(exc)) from None
    paths = write_report(
        evaluation, out_dir,
        {"labels": str(labels_path), "decisions": str(decisions_path), "events": str(events_path)},
    )
    for line in summary_lines(evaluation):
        click.echo(line)
    click.echo("")
    click.echo("wrote " + ", ".join(str(p) for p in paths))
