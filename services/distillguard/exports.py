"""`distillguard export`: decisions from the case store, clusters and links from identity state.

Clusters and links are rebuilt from the identity service's compacted state topic, so an export
needs only the broker, not a running identity worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import orjson

from distillguard.settings import Settings


class ExportUnavailable(RuntimeError):
    pass


def export_lines(settings: Settings, what: str, min_score: float = 0.0) -> Iterator[bytes]:
    if what == "decisions":
        from enforcement.export import export_decisions

        rows = asyncio.run(export_decisions(settings))
    elif what in ("clusters", "links"):
        from identity.export import load_graph

        graph = asyncio.run(load_graph(settings))
        rows = list(graph.export_clusters() if what == "clusters" else graph.export_links(min_score))
    else:
        raise ExportUnavailable(f"unknown export {what!r}; expected decisions, clusters or links")
    for row in rows:
        yield orjson.dumps(row)
