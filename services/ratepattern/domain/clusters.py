"""Cluster membership as published on identity.clusters."""

from __future__ import annotations

from dataclasses import dataclass, field

from distillguard.v1 import identity_pb2


@dataclass
class Cluster:
    cluster_id: str
    version: int
    members: list[str]
    emitted_score: float = 0.0
    emitted_band: int = 0
    score: float = 0.0
    scored_ms: int = -1
    # Signup-context aggregates and the (version, context version) they were computed at.
    context_features: dict[str, float] = field(default_factory=dict)
    context_stamp: tuple[int, int] = (-1, -1)


class ClusterRegistry:
    """Latest membership per cluster and the cluster of each account.

    An update whose version is not newer than the one held is stale and ignored. A merge lists the
    absorbed clusters, which are dropped; an account belongs to the cluster that last listed it, and a
    cluster whose members all moved to others is dropped too.
    """

    def __init__(self) -> None:
        self.clusters: dict[str, Cluster] = {}
        self.cluster_of: dict[str, str] = {}
        self.version = 0  # bumped by every applied update

    def apply(self, update: identity_pb2.ClusterUpdate) -> Cluster | None:
        """Apply an update; returns the cluster it changed, or None when stale or empty."""
        cid = update.cluster_id
        if not cid:
            return None
        current = self.clusters.get(cid)
        if current is not None and update.version <= current.version:
            return None
        self.version += 1
        for absorbed in update.absorbed_cluster_ids:
            if absorbed != cid:
                gone = self.clusters.pop(absorbed, None)
                if gone is not None:
                    for account in gone.members:
                        if self.cluster_of.get(account) == absorbed:
                            del self.cluster_of[account]
        for account in update.removed_members:
            if self.cluster_of.get(account) == cid:
                del self.cluster_of[account]
        member_set = set(update.members)
        members = sorted(member_set)
        if current is not None:
            for account in current.members:
                if self.cluster_of.get(account) == cid and account not in member_set:
                    del self.cluster_of[account]
        for account in members:
            previous = self.cluster_of.get(account)
            if previous is not None and previous != cid:
                other = self.clusters.get(previous)
                if other is not None:
                    other.members = [a for a in other.members if a != account]
                    if not other.members:  # every member moved here: nothing is left to score
                        del self.clusters[previous]
            self.cluster_of[account] = cid
        if current is None:
            current = self.clusters[cid] = Cluster(cid, update.version, members)
        else:
            current.version = update.version
            current.members = members
            current.scored_ms = -1  # membership changed: re-score at once
        if not members:
            del self.clusters[cid]
            return None
        return current
