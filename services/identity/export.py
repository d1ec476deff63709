"""Offline view of the identity graph for `distillguard export clusters|links`."""

from __future__ import annotations

from distillguard.pipeline import read_compacted
from distillguard.settings import Settings
from distillguard.topics import STATE_IDENTITY
from identity.domain import IdentityGraph


async def load_graph(settings: Settings) -> IdentityGraph:
    """Rebuild the graph from the identity service's state topic (no running worker needed)."""
    records = await read_compacted(settings, settings.topic(STATE_IDENTITY.name))
    graph = IdentityGraph()
    graph.restore((key.decode(), value) for key, value in records.items())
    return graph
