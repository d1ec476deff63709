"""The case page's panels as plain data for the templates and the page scripts: the cluster graph (from the
identity service, or from the case's own evidence snapshots when that is not available), the traffic
timeline, the top reasons and each account's enforcement status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

from enforcement.console.data import ClusterGraph, EvidenceItem, GraphEdge, GraphNode, Timeline
from enforcement.domain.views import ActionView, CaseDetail

#: Status categories the graph colours by, strongest first.
STATUS_ORDER: Final = ("enforced", "review", "monitored", "shadow", "reversed", "rejected", "none")
HUB_PREFIX: Final = "cluster:"


def account_status(actions: Iterable[ActionView]) -> dict[str, tuple[str, str]]:
    """Per account: (status category of its most telling action in the case, a description of all of them such
    as "suspend applied; ban proposed"). Restores are skipped: the reversed action already says what happened."""
    best: dict[str, tuple[int, str]] = {}
    labels: dict[str, dict[str, tuple[int, int]]] = {}
    for action in actions:
        if action.kind.value == "restore":
            continue
        if action.shadow:
            category = "shadow" if action.status == "proposed" else "rejected"
        elif action.status == "applied":
            category = "enforced" if action.kind.enforces else "monitored"
        elif action.status == "proposed":
            category = "review"
        else:
            category = str(action.status)
        rank = STATUS_ORDER.index(category) if category in STATUS_ORDER else len(STATUS_ORDER)
        label = f"{action.kind.value}{f'({action.rpm_cap})' if action.rpm_cap else ''} {action.status}"
        if action.shadow:
            label += " (shadow)"
        labels.setdefault(action.account_id, {}).setdefault(label, (rank, -action.kind.severity))
        current = best.get(action.account_id)
        if current is None or rank < current[0]:
            best[action.account_id] = (rank, category)
    return {
        account: (category, "; ".join(sorted(labels[account], key=lambda label: labels[account][label])))
        for account, (_, category) in best.items()
    }


def _members_from_evidence(detail: CaseDetail) -> tuple[list[str], dict[str, int]]:
    """Accounts named by the case's evidence snapshots and actions, and the newest cluster evidence summary."""
    members: dict[str, None] = {}
    evidence: dict[str, int] = {}
    for snapshot in detail.evidence:
        payload = snapshot.payload
        for key in ("members", "newcomers"):
            value = payload.get(key)
            if isinstance(value, list):
                members.update((str(m), None) for m in value if m)
        account = payload.get("account_id")
        if isinstance(account, str) and account:
            members[account] = None
        cluster = payload.get("cluster")
        if isinstance(cluster, Mapping) and isinstance(cluster.get("evidence"), Mapping):
            evidence = {str(k): int(v) for k, v in cluster["evidence"].items() if isinstance(v, (int, float))}
        elif isinstance(payload.get("evidence"), Mapping):
            evidence = {str(k): int(v) for k, v in payload["evidence"].items() if isinstance(v, (int, float))}
    for action in detail.actions:
        members[action.account_id] = None
    return list(members), evidence


def fallback_graph(detail: CaseDetail) -> ClusterGraph | None:
    """A star graph from the case store: every account the case's evidence or actions name, linked to a hub
    for the cluster and labelled with the cluster's evidence summary. It has no pairwise links (only the
    identity service knows those), but it always renders for a case that has a cluster."""
    case = detail.case
    cluster_id = case.cluster_id or (case.subject_id if case.subject_kind == "cluster" else None)
    if not cluster_id:
        return None
    members, evidence = _members_from_evidence(detail)
    summary = ", ".join(f"{kind}×{count}" for kind, count in sorted(evidence.items(), key=lambda kv: -kv[1]) if count)
    hub = f"{HUB_PREFIX}{cluster_id}"
    items = tuple(EvidenceItem(kind=kind, detail=f"{count} link(s) in the cluster", weight=float(count))
                  for kind, count in evidence.items() if count)
    edges = tuple(
        GraphEdge(source=account, target=hub, score=case.score, evidence=items or (EvidenceItem("member", summary),))
        for account in members
    )
    return ClusterGraph(cluster_id=cluster_id, nodes=tuple(GraphNode(account) for account in members), edges=edges)


@dataclass(frozen=True)
class GraphPanel:
    elements: dict[str, Any]
    source: str
    total_accounts: int
    shown_accounts: int

    @property
    def truncated(self) -> bool:
        return self.shown_accounts < self.total_accounts


def graph_panel(detail: CaseDetail, graph: ClusterGraph | None, max_nodes: int) -> GraphPanel | None:
    """Cytoscape elements for the case's cluster: the identity service's graph when given, else the fallback.
    Accounts the case acts on are kept first when the graph has to be cut to `max_nodes`."""
    source = "identity service"
    if graph is None or not graph.nodes:
        graph = fallback_graph(detail)
        source = "case store (cluster members; pairwise links need the identity service)"
    if graph is None:
        return None
    statuses = account_status(detail.actions)
    degree: dict[str, int] = {}
    for edge in graph.edges:
        degree[edge.source] = degree.get(edge.source, 0) + 1
        degree[edge.target] = degree.get(edge.target, 0) + 1
    nodes = sorted(graph.nodes, key=lambda n: (n.account_id not in statuses, -degree.get(n.account_id, 0),
                                               n.account_id))[:max_nodes]
    kept = {node.account_id for node in nodes}
    hub = f"{HUB_PREFIX}{graph.cluster_id}"
    elements_nodes: list[dict[str, Any]] = []
    if any(edge.target == hub or edge.source == hub for edge in graph.edges):
        elements_nodes.append({"data": {"id": hub, "label": graph.cluster_id, "hub": "yes", "status": "cluster",
                                        "colour": "#34495e", "title": f"cluster {graph.cluster_id}"}})
        kept.add(hub)
    for node in nodes:
        category, label = statuses.get(node.account_id, ("none", "no action in this case"))
        data: dict[str, Any] = {"id": node.account_id, "label": node.account_id, "status": category,
                                "action": label, "colour": "#95a5a6"}
        for key, value in node.facts.items():
            if key not in data:
                data[key] = str(value)
        data["title"] = "\n".join([node.account_id, label, *(f"{k}: {v}" for k, v in sorted(node.facts.items()))])
        elements_nodes.append({"data": data})
    elements_edges: list[dict[str, Any]] = []
    for index, edge in enumerate(graph.edges):
        if edge.source not in kept or edge.target not in kept:
            continue
        elements_edges.append({"data": {
            "id": f"e{index}", "source": edge.source, "target": edge.target, "score": round(edge.score, 3),
            "kind": edge.kind, "label": f"{edge.kind} {edge.score:.2f}", "detail": edge.detail[:500],
            "merged": "yes" if edge.merged else "no",
        }})
    return GraphPanel(
        elements={"nodes": elements_nodes, "edges": elements_edges},
        source=source,
        total_accounts=len(graph.nodes),
        shown_accounts=len(nodes),
    )


def _hour_label(hour: datetime | int) -> str:
    if isinstance(hour, datetime):
        return hour.astimezone(timezone.utc).strftime("%m-%d %H:00")
    return f"{hour:02d}:00"


def timeline_panel(timeline: Timeline | None, max_models: int = 6) -> dict[str, Any] | None:
    """Chart data: hour labels, requests and tokens per hour, and requests per model (the `max_models` busiest
    models, the rest summed as "other")."""
    if timeline is None or not timeline.buckets:
        return None
    buckets = sorted(timeline.buckets, key=lambda b: (isinstance(b.hour, int), b.hour if isinstance(b.hour, int)
                                                       else b.hour.timestamp()))
    totals: dict[str, int] = {}
    for bucket in buckets:
        for model, count in bucket.models.items():
            totals[model] = totals.get(model, 0) + int(count)
    top = [model for model, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:max_models]]
    models: dict[str, list[int]] = {model: [] for model in top}
    other: list[int] = []
    for bucket in buckets:
        for model in top:
            models[model].append(int(bucket.models.get(model, 0)))
        other.append(sum(int(c) for m, c in bucket.models.items() if m not in models))
    if any(other):
        models["other"] = other
    return {
        "labels": [_hour_label(b.hour) for b in buckets],
        "requests": [int(b.requests) for b in buckets],
        "tokens": [int(b.tokens) for b in buckets],
        "models": models,
    }


@dataclass(frozen=True)
class ReasonRow:
    feature: str
    value: float
    baseline: float
    contribution: float

    @property
    def ratio(self) -> float | None:
        """How many times the baseline the value is (None when the baseline is 0)."""
        return self.value / self.baseline if self.baseline else None


def top_reasons(reasons: Sequence[Mapping[str, Any]], limit: int = 10) -> list[ReasonRow]:
    rows = []
    for reason in reasons:
        try:
            rows.append(ReasonRow(str(reason.get("feature", "")), float(reason.get("value") or 0.0),
                                  float(reason.get("baseline") or 0.0), float(reason.get("contribution") or 0.0)))
        except (TypeError, ValueError):
            continue
    rows.sort(key=lambda r: -r.contribution)
    return rows[:limit]
