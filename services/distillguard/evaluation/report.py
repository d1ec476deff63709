"""Rendering an Evaluation: report.json, report.md, PNG plots and the one-screen summary."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402
import orjson  # noqa: E402

from distillguard.evaluation.metrics import CLUSTER_GROUP_MIN, Evaluation, quantile  # noqa: E402

LEAKAGE_PLOT: Final = "leakage_over_time.png"
ENFORCED_PLOT: Final = "enforced_share.png"
DELAY_PLOT: Final = "time_to_enforcement.png"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def write_json(evaluation: Evaluation, path: Path) -> None:
    path.write_bytes(orjson.dumps(evaluation.as_dict(), option=orjson.OPT_INDENT_2) + b"\n")


def summary_lines(evaluation: Evaluation) -> list[str]:
    """The one-screen summary printed by `distillguard evaluate`."""
    scores = evaluation.account_scores
    out = [
        f"accounts: {evaluation.labelled_accounts:,} labelled; "
        f"enforced {scores.true_positives + scores.false_positives:,} "
        f"({scores.true_positives:,} attack, {scores.false_positives:,} legitimate)",
        f"precision {_num(scores.precision)}  recall {_num(scores.recall)}  F1 {_num(scores.f1)}  "
        f"leakage {_pct(evaluation.leakage)}  time to enforcement median "
        f"{_duration(quantile(evaluation.all_delays_s, 0.5))} p90 {_duration(quantile(evaluation.all_delays_s, 0.9))}",
        "",
        f"{'campaign':<14}{'accounts':>9}{'recall':>9}{'review':>8}{'leakage':>9}{'median':>10}{'p90':>10}"
        f"{'largest':>9}{f'in>={CLUSTER_GROUP_MIN}':>8}",
    ]
    for name, c in sorted(evaluation.campaigns.items()):
        out.append(
            f"{name:<14}{c.accounts:>9,}{_pct(c.recall):>9}{c.held_for_review:>8,}{_pct(c.leakage):>9}"
            f"{_duration(quantile(c.enforcement_delays_s, 0.5)):>10}"
            f"{_duration(quantile(c.enforcement_delays_s, 0.9)):>10}"
            f"{c.largest_cluster:>9,}{_pct(c.share_in_large_groups):>8}"
        )
    out += ["", f"{'segment':<16}{'accounts':>9}{'enforced':>9}{'FPR':>9}{'review':>8}"]
    for name, s in sorted(evaluation.segments.items()):
        out.append(f"{name:<16}{s.accounts:>9,}{s.enforced:>9,}{_pct(s.false_positive_rate):>9}{s.held_for_review:>8,}")
    clusters = evaluation.clusters
    out += [
        "",
        f"clusters with attack accounts: {clusters.clusters_with_attack:,}, pure {clusters.pure_attack_clusters:,} "
        f"(purity {_pct(clusters.purity)}); "
        f"legitimate accounts inside them: {clusters.legit_accounts_in_attack_clusters:,}",
    ]
    out += [f"warning: {line}" for line in evaluation.issues.lines()]
    return out


def write_markdown(evaluation: Evaluation, path: Path, inputs: dict[str, str]) -> None:
    scores = evaluation.account_scores
    clusters = evaluation.clusters
    lines = [
        "# Detection evaluation",
        "",
        "Inputs: " + ", ".join(f"{k} `{v}`" for k, v in inputs.items()) + ".",
        "",
        "Enforced = action throttle or stronger, `enforced` true, not `shadow`. Leakage = share of a campaign's "
        "inference requests made before its account's first enforcement (never-enforced accounts leak everything). "
        "Time to enforcement = first enforcement minus the account's first request (floored at 0); median and p90 "
        "interpolate linearly. Held for review = throttle or stronger proposed but waiting for a human (guard "
        "rails); not enforced.",
        "",
        "## Account level",
        "",
        "| precision | recall | F1 | true positives | false positives | false negatives | true negatives |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {_num(scores.precision)} | {_num(scores.recall)} | {_num(scores.f1)} | {scores.true_positives:,} | "
        f"{scores.false_positives:,} | {scores.false_negatives:,} | {scores.true_negatives:,} |",
        "",
        "## Campaigns",
        "",
        "| campaign | accounts | enforced | recall | held for review | requests | leaked | leakage | "
        "time to enforcement median | p90 | "
        f"enforced before first request | largest cluster | share in clusters of ≥{CLUSTER_GROUP_MIN} |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, c in sorted(evaluation.campaigns.items()):
        lines.append(
            f"| {name} | {c.accounts:,} | {c.enforced:,} | {_pct(c.recall)} | {c.held_for_review:,} | {c.requests:,} | "
            f"{c.leaked_requests:,} | "
            f"{_pct(c.leakage)} | {_duration(quantile(c.enforcement_delays_s, 0.5))} | "
            f"{_duration(quantile(c.enforcement_delays_s, 0.9))} | {c.enforced_before_first_request:,} | "
            f"{c.largest_cluster:,} | {_pct(c.share_in_large_groups)} |"
        )
    lines += [
        "",
        f"All campaigns: leakage {_pct(evaluation.leakage)}, time to enforcement median "
        f"{_duration(quantile(evaluation.all_delays_s, 0.5))}, p90 {_duration(quantile(evaluation.all_delays_s, 0.9))}.",
        "",
        "## Legitimate segments",
        "",
        "| segment | accounts | enforced | false-positive rate | held for review |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, s in sorted(evaluation.segments.items()):
        lines.append(f"| {name} | {s.accounts:,} | {s.enforced:,} | {_pct(s.false_positive_rate)} | "
                     f"{s.held_for_review:,} |")
    lines += [
        "",
        "## Clusters",
        "",
        f"- clusters in the decisions: {clusters.clusters:,}; holding attack accounts: {clusters.clusters_with_attack:,}",
        f"- pure (no legitimate account inside): {clusters.pure_attack_clusters:,} — purity {_pct(clusters.purity)}; "
        f"attack accounts in pure clusters: {clusters.attack_accounts_in_pure_clusters:,} of "
        f"{clusters.attack_accounts_clustered:,} clustered ({_pct(clusters.account_purity)})",
        f"- legitimate accounts inside attack clusters: {clusters.legit_accounts_in_attack_clusters:,}",
        "",
        "## Plots",
        "",
        f"![cumulative leakage]({LEAKAGE_PLOT})",
        "",
        f"![enforced share]({ENFORCED_PLOT})",
        "",
        f"![time to enforcement]({DELAY_PLOT})",
        "",
    ]
    issues = evaluation.issues.lines()
    if issues:
        lines += ["## Input issues", ""] + [f"- {line}" for line in issues] + [""]
    path.write_text("\n".join(lines))


def plot_leakage(evaluation: Evaluation, path: Path) -> None:
    """Cumulative leaked requests over time per campaign, as a share of the campaign's requests."""
    figure, axes = plt.subplots(figsize=(9, 4.5))
    for index, (name, rows) in enumerate(sorted(evaluation.leakage_timeline.items())):
        total = sum(requests for _, requests, _ in rows)
        if not total:
            continue
        colour = f"C{index}"
        hours = np.array([hour for hour, _, _ in rows], dtype="datetime64[ms]")
        axes.step(hours, np.cumsum([leaked for _, _, leaked in rows]) / total, where="post", color=colour,
                  label=f"{name}: leaked")
        axes.step(hours, np.cumsum([requests for _, requests, _ in rows]) / total, where="post", color=colour,
                  linestyle=":", alpha=0.7, label=f"{name}: all requests")
    axes.set_ylabel("share of the campaign's requests")
    axes.set_ylim(0, 1.02)
    axes.set_title("Cumulative leakage: requests made before enforcement")
    axes.legend(fontsize="small", ncols=2)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_enforced_share(evaluation: Evaluation, path: Path) -> None:
    """Enforced share per legitimate segment (false-positive rate) and per campaign (recall)."""
    names = [f"attack:{n}" for n in sorted(evaluation.campaigns)] + [f"legit:{n}" for n in sorted(evaluation.segments)]
    shares = [evaluation.campaigns[n].recall or 0.0 for n in sorted(evaluation.campaigns)]
    shares += [evaluation.segments[n].false_positive_rate or 0.0 for n in sorted(evaluation.segments)]
    colours = ["tab:red"] * len(evaluation.campaigns) + ["tab:blue"] * len(evaluation.segments)
    figure, axes = plt.subplots(figsize=(8, 0.35 * len(names) + 1.5))
    axes.barh(names, shares, color=colours)
    for y, share in enumerate(shares):
        axes.text(share + 0.01, y, f"{100 * share:.1f}%", va="center", fontsize="small")
    axes.set_xlim(0, 1.1)
    axes.invert_yaxis()
    axes.set_xlabel("share of accounts enforced (campaigns: recall; segments: false-positive rate)")
    axes.set_title("Enforced share per campaign and segment")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_delays(evaluation: Evaluation, path: Path) -> None:
    """Distribution (CDF) of time to enforcement per campaign, in hours."""
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for name, campaign in sorted(evaluation.campaigns.items()):
        delays = np.sort(np.asarray(campaign.enforcement_delays_s)) / 3600
        if len(delays):
            axes.step(delays, np.arange(1, len(delays) + 1) / campaign.accounts, where="post", label=name)
    axes.set_xlabel("hours from first request to enforcement")
    axes.set_ylabel("share of the campaign's accounts")
    axes.set_ylim(0, 1.02)
    axes.set_title("Time to enforcement (accounts never enforced stay below the line)")
    if evaluation.campaigns:
        axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(evaluation: Evaluation, out_dir: Path, inputs: dict[str, str]) -> list[Path]:
    """report.json, report.md and the plots in out_dir; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "report.json", out_dir / "report.md", out_dir / LEAKAGE_PLOT, out_dir / ENFORCED_PLOT,
             out_dir / DELAY_PLOT]
    write_json(evaluation, paths[0])
    write_markdown(evaluation, paths[1], inputs)
    plot_leakage(evaluation, paths[2])
    plot_enforced_share(evaluation, paths[3])
    plot_delays(evaluation, paths[4])
    return paths
