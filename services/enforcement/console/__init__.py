"""The operator console, served by the enforcement service process (issue 7).

`create_console_app` builds the Starlette application over the enforcement domain; `serve_console` runs it in
the caller's event loop until a stop event is set. `ConsoleData` is what the console needs from the identity
and rate-pattern services (cluster graph, traffic timeline, shared templates); pages work without it.
"""

from enforcement.console.app import create_console_app
from enforcement.console.data import (
    ClusterGraph,
    ConsoleData,
    EvidenceItem,
    GraphEdge,
    GraphNode,
    TemplateInfo,
    Timeline,
    TrafficBucket,
)
from enforcement.console.server import serve_console
from enforcement.console.settings import ConsoleSettings

__all__ = [
    "ClusterGraph", "ConsoleData", "ConsoleSettings", "EvidenceItem", "GraphEdge", "GraphNode", "TemplateInfo",
    "Timeline", "TrafficBucket", "create_console_app", "serve_console",
]
