"""Serving the console inside the enforcement worker's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger(__name__)
GRACEFUL_SHUTDOWN_S = 5


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the host process owns SIGINT/SIGTERM and says stop via an Event."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket; OSError (e.g. address in use) is raised here, to the caller, instead of
    uvicorn's sys.exit during startup, which would take the whole worker down."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def serve_console(
    app: ASGIApp, host: str, port: int, stop: asyncio.Event, *, sock: socket.socket | None = None
) -> None:
    """Serve `app` on host:port in the running event loop until `stop` is set, then finish open requests
    (at most GRACEFUL_SHUTDOWN_S seconds) and return. Raises OSError when the address cannot be bound.
    `sock`: an already bound and listening socket to serve instead (tests pass one bound to port 0)."""
    listening = sock if sock is not None else bind(host, port)
    config = uvicorn.Config(
        app, lifespan="off", log_level="warning", access_log=False, server_header=False, proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    server = _EmbeddedServer(config)
    bound_host, bound_port = listening.getsockname()[:2]
    log.info("operator console on http://%s:%d/", bound_host, bound_port)
    serving = asyncio.create_task(server.serve(sockets=[listening]), name="console-server")
    stopping = asyncio.create_task(stop.wait(), name="console-stop")
    try:
        done, _ = await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if serving not in done:
            server.should_exit = True
        await serving
    finally:
        stopping.cancel()
        if not serving.done():  # cancelled from outside: stop the server before the socket closes
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serving
        listening.close()
