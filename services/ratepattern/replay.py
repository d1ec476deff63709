"""Replay a simulator output through the rate-pattern domain and score it against the labels.

    python -m ratepattern.replay DIR [--no-identity] [--batch N]

DIR is what `distillguard simulate --out DIR` wrote. Events are decoded with the JSON Lines codec,
inference events re-serialized and fed through `InferenceBatch.from_protobuf_values` in batches, in
file (event-time) order. Cluster membership comes from the identity domain (`identity.domain.
IdentityGraph`) run over the same events, batch by batch, as identity.clusters would deliver it;
with --no-identity there are no clusters. labels.json is read only after the replay, to score.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from google.protobuf.message import Message

from distillguard.codec import decode_line
from distillguard.v1 import events_pb2, identity_pb2, ratepattern_pb2
from ratepattern.domain import InferenceBatch, RatePatternConfig, RatePatternEngine


class ClusterSource(Protocol):
    def apply_batch(self, events: Sequence[Any]) -> list[identity_pb2.ClusterUpdate]: ...


@dataclass
class ReplayResult:
    engine: RatePatternEngine
    signals: list[ratepattern_pb2.RiskSignal] = field(default_factory=list)
    events: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    cluster_updates: int = 0


def _batches(path: Path, size: int) -> Iterator[list[Message]]:
    batch: list[Message] = []
    with gzip.open(path, "rb") as fh:
        for line in fh:
            batch.append(decode_line(line).message)
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def replay(directory: Path, *, batch: int = 5000, identity: ClusterSource | None = None,
           config: RatePatternConfig = RatePatternConfig()) -> ReplayResult:
    """Feed every event of DIR/events.jsonl.gz to the engine (and to `identity`, if given)."""
    result = ReplayResult(RatePatternEngine(config))
    engine = result.engine
    for messages in _batches(directory / "events.jsonl.gz", batch):
        if identity is not None:
            for update in identity.apply_batch(messages):
                result.cluster_updates += 1
                result.signals += engine.apply_cluster_update(update)
        values = []
        for m in messages:
            if isinstance(m, events_pb2.SignupEvent):
                engine.apply_signup(m)
            elif isinstance(m, events_pb2.InferenceEvent):
                values.append(m.SerializeToString())
        start, cpu = time.perf_counter(), time.process_time()
        result.signals += engine.apply_inference(InferenceBatch.from_protobuf_values(values))
        result.seconds += time.perf_counter() - start
        result.cpu_seconds += time.process_time() - cpu
        result.events += len(values)
    return result


def scorecard(result: ReplayResult, labels: dict[str, str]) -> dict[str, Any]:
    """Per-label peak scores (the largest of every emitted signal and the final profile) and cluster scores."""
    engine = result.engine
    enforce = engine.config.enforce_threshold
    peak: dict[str, float] = defaultdict(float)
    for s in result.signals:
        if s.subject_kind == ratepattern_pb2.SUBJECT_KIND_ACCOUNT:
            peak[s.account_id] = max(peak[s.account_id], s.score)
    for account in labels:
        profile = engine.account_profile(account)
        if profile is not None:
            peak[account] = max(peak[account], profile.score)
    by_label: dict[str, list[float]] = defaultdict(list)
    for account, label in labels.items():
        by_label[label].append(peak.get(account, 0.0))
    accounts = {}
    for label, scores in sorted(by_label.items()):
        arr = np.array(scores)
        accounts[label] = {
            "accounts": int(arr.size), "max": round(float(arr.max()), 3),
            "p50": round(float(np.quantile(arr, 0.5)), 3), "p90": round(float(np.quantile(arr, 0.9)), 3),
            "share_enforce": round(float((arr >= enforce).mean()), 3),
            "share_watch": round(float((arr >= engine.config.watch_threshold).mean()), 3),
        }
    cluster_peak: dict[str, float] = defaultdict(float)
    for s in result.signals:
        if s.subject_kind == ratepattern_pb2.SUBJECT_KIND_CLUSTER:
            cluster_peak[s.cluster_id] = max(cluster_peak[s.cluster_id], s.score)
    clusters: list[dict[str, Any]] = []
    for cid, cluster in engine.clusters.clusters.items():
        cluster_profile = engine.cluster_profile(cid)
        final = cluster_profile.score if cluster_profile is not None else 0.0
        score = max(cluster_peak.get(cid, 0.0), final)
        mix: dict[str, int] = defaultdict(int)
        for m in cluster.members:
            mix[labels.get(m, "unknown")] += 1
        clusters.append({"cluster_id": cid, "members": len(cluster.members), "peak_score": round(score, 3),
                         "final_score": round(final, 3), "labels": dict(mix)})
    clusters.sort(key=lambda c: (-float(c["peak_score"]), str(c["cluster_id"])))
    return {"events": result.events, "domain_seconds": round(result.seconds, 2),
            "domain_cpu_seconds": round(result.cpu_seconds, 2),
            "analysed_share": round(engine.stats.sampled_prompts / max(engine.stats.accepted, 1), 4),
            "cluster_updates": result.cluster_updates, "signals": len(result.signals),
            "accounts": accounts, "clusters": clusters}


def render(card: dict[str, Any]) -> str:
    lines = ["| label | accounts | peak score max | p50 | p90 | share >= enforce | share >= watch |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for label, a in card["accounts"].items():
        lines.append(f"| {label} | {a['accounts']} | {a['max']} | {a['p50']} | {a['p90']} | {a['share_enforce']} | "
                     f"{a['share_watch']} |")
    lines += ["", "| cluster | members | peak score | final score | labels |", "| --- | --- | --- | --- | --- |"]
    for c in card["clusters"]:
        if c["members"] >= 2:
            lines.append(f"| {c['cluster_id']} | {c['members']} | {c['peak_score']} | {c['final_score']} | "
                         f"{', '.join(f'{k}: {v}' for k, v in sorted(c['labels'].items()))} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ratepattern.replay", description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--no-identity", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the scorecard as JSON here")
    args = parser.parse_args(argv)
    identity: ClusterSource | None = None
    if not args.no_identity:
        from identity.domain.graph import IdentityGraph
        identity = IdentityGraph()
    result = replay(args.directory, batch=args.batch, identity=identity)
    labels = json.loads((args.directory / "labels.json").read_text())
    card = scorecard(result, labels)
    scenario_file = args.directory / "scenario.json"
    if scenario_file.exists():
        card["scenario"] = json.loads(scenario_file.read_text()).get("scenario", "")
    print(f"{card['events']:,} inference events, {card['signals']} signals, {card['cluster_updates']} cluster "
          f"updates; domain (decode + apply_inference) {card['domain_cpu_seconds']} CPU s "
          f"({card['events'] / max(card['domain_cpu_seconds'], 1e-9):,.0f} events per CPU-second), "
          f"{card['domain_seconds']} wall s; {card['analysed_share']:.1%} of requests analysed")
    print(render(card))
    if args.json is not None:
        args.json.write_text(json.dumps(card, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
