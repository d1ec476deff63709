"""Score identity linking on simulator output: link the events, then read the labels to score.

    .venv/bin/python -m identity.scorecard --events DIR/events.jsonl.gz --labels DIR/labels.json [--json]

The graph sees only the events (validated by the codec, applied in the worker's slices, in file
order); labels.json is opened after linking is done and used for nothing but the score:
- purity: clusters that contain attack accounts must contain no legitimate account;
- coverage: per campaign, the share of its accounts inside a cluster holding at least
  `min_cluster` accounts of that campaign (target 95%);
- hard negatives: no cluster of legitimate accounts spans two organisations (two org_ids, or two
  segments), individuals (casual, developer, vpn) are never merged with anyone, and a family
  cluster is no bigger than a household.
"""

from __future__ import annotations

import argparse
import gzip
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from distillguard.codec import decode_line
from distillguard.v1 import events_pb2
from identity.domain import IdentityGraph
from identity.domain.graph import Event

INDIVIDUAL_SEGMENTS: Final = frozenset({"casual", "developer", "vpn"})
LARGEST_HOUSEHOLD: Final = 6


@dataclass
class Scorecard:
    events: int = 0
    accounts: int = 0
    seconds: float = 0.0
    clusters: int = 0
    attack_clusters: int = 0
    impure_attack_clusters: int = 0
    legit_accounts_in_attack_clusters: int = 0
    cross_campaign_clusters: int = 0
    coverage: dict[str, float] = field(default_factory=dict)
    campaign_accounts: dict[str, int] = field(default_factory=dict)
    largest_campaign_cluster: dict[str, int] = field(default_factory=dict)
    clustered_legit_by_segment: dict[str, int] = field(default_factory=dict)
    hard_negative_failures: list[str] = field(default_factory=list)
    impure_examples: list[str] = field(default_factory=list)

    @property
    def purity(self) -> float:
        if not self.attack_clusters:
            return 1.0
        return 1.0 - self.impure_attack_clusters / self.attack_clusters


def read_events(path: Path, unique_mailboxes: bool = False) -> Iterator[Event]:
    """Events of a JSON Lines file, validated by the codec.

    unique_mailboxes: give every account after the first that signs up with an address already taken
    its own address (a real signup form refuses a taken one; the simulator reuses some).
    """
    taken: set[str] = set()
    with gzip.open(path, "rb") as lines:
        for line in lines:
            if not line.strip():
                continue
            event = decode_line(line).message
            if unique_mailboxes and isinstance(event, events_pb2.SignupEvent) and event.email:
                address = event.email.lower()
                if address in taken:
                    local, _, domain = address.rpartition("@")
                    event.email = f"{local}.{event.account_id[-6:]}@{domain}"
                taken.add(address)
            yield event  # type: ignore[misc]


def link(path: Path, batch: int = 500, unique_mailboxes: bool = False) -> tuple[IdentityGraph, int, float]:
    """The graph after every event of the file, applied `batch` at a time; (graph, events, seconds)."""
    graph = IdentityGraph()
    pending: list[Event] = []
    count = 0
    started = time.perf_counter()
    for event in read_events(path, unique_mailboxes):
        pending.append(event)
        count += 1
        if len(pending) == batch:
            graph.apply_batch(pending)
            pending = []
    graph.apply_batch(pending)
    return graph, count, time.perf_counter() - started


def score(graph: IdentityGraph, labels: dict[str, str], min_cluster: int = 5) -> Scorecard:
    card = Scorecard(accounts=len(graph))
    campaign_size = Counter(label for label in labels.values() if label.startswith("attack:"))
    covered: Counter[str] = Counter()
    for cluster in graph.export_clusters():
        card.clusters += 1
        members: list[str] = cluster["members"]
        member_labels = [labels.get(m, "unlabelled:") for m in members]
        attack = Counter(label for label in member_labels if label.startswith("attack:"))
        legit = [(m, label) for m, label in zip(members, member_labels) if not label.startswith("attack:")]
        if attack:
            card.attack_clusters += 1
            card.cross_campaign_clusters += len(attack) > 1
            if legit:
                card.impure_attack_clusters += 1
                card.legit_accounts_in_attack_clusters += len(legit)
                why = explain(graph, [m for m, _ in legit])
                card.impure_examples.append(f"{cluster['cluster_id']}: {dict(attack)} with {legit[:3]}; {why}")
            for campaign, n in attack.items():
                key = campaign.removeprefix("attack:")
                card.largest_campaign_cluster[key] = max(card.largest_campaign_cluster.get(key, 0), n)
                if n >= min_cluster:
                    covered[campaign] += n
        else:
            _check_legit_cluster(graph, cluster["cluster_id"], legit, card)
    for campaign, size in sorted(campaign_size.items()):
        key = campaign.removeprefix("attack:")
        card.campaign_accounts[key] = size
        card.coverage[key] = covered[campaign] / size
    return card


def _check_legit_cluster(graph: IdentityGraph, cluster_id: str, members: list[tuple[str, str]], card: Scorecard) -> None:
    segments = Counter(label.removeprefix("legit:") for _, label in members)
    for segment, n in segments.items():
        card.clustered_legit_by_segment[segment] = card.clustered_legit_by_segment.get(segment, 0) + n
    orgs = {graph.account_facts(m).org_id for m, _ in members} - {""}
    problem = ""
    if len(segments) > 1:
        problem = f"mixes segments {dict(segments)}"
    elif len(orgs) > 1:
        problem = f"spans {len(orgs)} organisations"
    elif segments.keys() & INDIVIDUAL_SEGMENTS:
        problem = f"merges {len(members)} unrelated individuals"
    elif "family" in segments and len(members) > LARGEST_HOUSEHOLD:
        problem = f"merges households ({len(members)} family accounts)"
    if problem:
        why = explain(graph, [m for m, _ in members])
        card.hard_negative_failures.append(f"{cluster_id} {problem}: {[m for m, _ in members[:4]]}; {why}")


def explain(graph: IdentityGraph, accounts: list[str]) -> str:
    """Why these accounts are where they are: the evidence on the merged links that touch them."""
    kinds: Counter[str] = Counter()
    example = ""
    for account in accounts:
        for link in graph.get_links(account, 0.0):
            if link.merged:
                kinds.update(e.kind for e in link.evidence if e.weight > 0)
                example = example or "; ".join(e.detail for e in link.evidence if e.weight > 0)
    return f"merged on {dict(kinds)}, e.g. {example}"


def render(card: Scorecard) -> str:
    lines = [
        f"{card.events:,} events, {card.accounts:,} accounts linked in {card.seconds:.1f} s; {card.clusters:,} clusters",
        f"purity: {card.purity:.1%} of {card.attack_clusters} attack clusters hold no legitimate account "
        f"({card.legit_accounts_in_attack_clusters} legitimate accounts inside attack clusters; "
        f"{card.cross_campaign_clusters} clusters mix campaigns)",
    ]
    for campaign, share in card.coverage.items():
        lines.append(
            f"coverage {campaign}: {share:.1%} of {card.campaign_accounts[campaign]:,} accounts in clusters of >= 5 "
            f"(largest cluster {card.largest_campaign_cluster.get(campaign, 0):,})"
        )
    clustered = ", ".join(f"{s} {n}" for s, n in sorted(card.clustered_legit_by_segment.items())) or "none"
    lines.append(f"legitimate accounts in clusters: {clustered}")
    lines.append(f"hard-negative failures: {len(card.hard_negative_failures)}")
    lines += [f"  {failure}" for failure in card.hard_negative_failures[:20]]
    lines += [f"  impure: {example}" for example in card.impure_examples[:20]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m identity.scorecard", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=Path, required=True, help="events.jsonl.gz from distillguard simulate")
    parser.add_argument("--labels", type=Path, required=True, help="labels.json from distillguard simulate")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--json", action="store_true", help="print the scorecard as JSON")
    parser.add_argument(
        "--unique-mailboxes", action="store_true",
        help="counterfactual: an address already taken by another account becomes unique to the newcomer",
    )
    args = parser.parse_args(argv)
    graph, events, seconds = link(args.events, args.batch, args.unique_mailboxes)
    labels: dict[str, Any] = orjson.loads(args.labels.read_bytes())  # read only now, to score
    card = score(graph, {str(k): str(v) for k, v in labels.items()})
    card.events, card.seconds = events, seconds
    print(orjson.dumps({**asdict(card), "purity": card.purity}).decode() if args.json else render(card))


if __name__ == "__main__":
    main()
