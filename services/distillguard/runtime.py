"""Run one platform service: a faust worker hosting the batch pipeline and a grpc.aio server.

The gRPC health service reports NOT_SERVING until the pipeline has recovered the service's
state, then SERVING; reflection lists every registered service. Each service module provides
a `definition()` returning a ServiceDefinition; this module owns everything else.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import faust
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from distillguard import telemetry
from distillguard.kafka import ensure_topics, make_producer, wait_for_broker
from distillguard.pipeline import BatchPipeline, BatchProcessor
from distillguard.settings import Settings
from distillguard.topics import TopicSpec

log = logging.getLogger(__name__)

#: service name -> module providing `definition() -> ServiceDefinition`.
SERVICE_MODULES: dict[str, str] = {
    "identity": "identity.service",
    "ratepattern": "ratepattern.service",
    "enforcement": "enforcement.service",
}


class ServiceNotAvailable(RuntimeError):
    pass


@dataclass
class ServiceParts:
    """What a service contributes, built once its settings are known."""

    processor: BatchProcessor
    # Adds servicers to the server; returns their full names (for health and reflection).
    register_grpc: Callable[[grpc.aio.Server], Sequence[str]]
    # Extra long-running coroutines (e.g. the outbox relay, the console), given the stop event.
    background: list[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = field(default_factory=list)
    close: Callable[[], Awaitable[None]] | None = None
    # Extra server interceptors (e.g. authentication), run after the not-ready gate.
    interceptors: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class ServiceDefinition:
    name: str
    inputs: tuple[TopicSpec, ...]
    dead_letter: TopicSpec
    state: TopicSpec
    grpc_port: Callable[[Settings], int]
    build: Callable[[Settings, Any], Awaitable[ServiceParts]]  # (settings, producer) -> parts


def load_definition(name: str) -> ServiceDefinition:
    module_name = SERVICE_MODULES.get(name)
    if module_name is None:
        raise ServiceNotAvailable(f"unknown service {name!r}; expected one of {', '.join(SERVICE_MODULES)}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ServiceNotAvailable(f"service {name!r} is not part of this build yet ({module_name} missing)") from None
        raise
    definition: ServiceDefinition = module.definition()
    return definition


class NotReadyInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Answers UNAVAILABLE for the service's own methods until its state is recovered.

    Health and reflection stay reachable, so probes see NOT_SERVING rather than a refused call.
    """

    ALWAYS_OPEN = ("/grpc.health.v1.Health/", "/grpc.reflection.")

    def __init__(self, ready: asyncio.Event) -> None:
        self._ready = ready

        async def unavailable(request: object, context: grpc.aio.ServicerContext[Any, Any]) -> None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "recovering state; retry shortly")

        self._refusal = grpc.unary_unary_rpc_method_handler(unavailable)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        method: str = handler_call_details.method
        if self._ready.is_set() or method.startswith(self.ALWAYS_OPEN):
            return await continuation(handler_call_details)
        return self._refusal


def build_grpc_server(parts: ServiceParts, tel: telemetry.Telemetry, ready: asyncio.Event,
                      health_servicer: Any) -> tuple[grpc.aio.Server, list[str]]:
    """A service's gRPC server: telemetry interceptors, the not-ready gate on `ready`, the service's own
    interceptors, its servicers, health (`health_servicer`) and reflection. Returns the server (not yet
    bound or started) and the names of the services it registered."""
    server = grpc.aio.server(
        interceptors=[
            *tel.server_interceptors(),  # telemetry hook: call latency (tracing is instrumented)
            NotReadyInterceptor(ready), *parts.interceptors,
        ]
    )
    names = list(parts.register_grpc(server))
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    return server, names


# Collect the youngest generation every 10,000 net container allocations (CPython's default: 700), the
# middle one every 50 of those and the oldest every 100 of those (and, as always, only once the objects
# that survived into it grew by a quarter).
GC_THRESHOLDS: Final = (10_000, 50, 100)


def configure_gc() -> None:
    """Garbage-collector settings for a worker whose domain state is a large, long-lived heap.

    With CPython's defaults a worker spends seconds per million events in collections, and a full
    collection of a rate-pattern worker holding 10,000 templates pauses it for ~0.1-0.3 s (every call
    waiting on the API with it). Objects made while starting (modules, classes, the service's parts)
    are collected once and then frozen: they live as long as the process and leave every later scan.
    Idempotent; process-wide.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class RunningService:
    """The parts of a started service, for tests and the supervisor."""

    def __init__(self, settings: Settings, definition: ServiceDefinition) -> None:
        self.settings = settings
        self.definition = definition
        self.stop_event = asyncio.Event()
        self.health = health.aio.HealthServicer()  # type: ignore[attr-defined]
        self.server: grpc.aio.Server | None = None
        self.pipeline: BatchPipeline | None = None
        self.port: int | None = None
        self._tasks: list[asyncio.Task[None]] = []  # long-running: their end is the service's end
        self._health_task: asyncio.Task[None] | None = None
        self._parts: ServiceParts | None = None
        self._producer: Any = None
        self.telemetry: telemetry.Telemetry = telemetry.DISABLED

    @property
    def parts(self) -> ServiceParts:
        """The started service's parts (its processor, gRPC registration, close hook)."""
        if self._parts is None:
            raise RuntimeError("the service is not started")
        return self._parts

    async def start(self, port: int | None = None) -> None:
        settings = self.settings
        self.telemetry = telemetry.configure(self.definition.name, settings)  # telemetry hook: once per process
        await wait_for_broker(settings)
        await ensure_topics(settings)
        self._producer = make_producer(settings)
        await self._producer.start()
        parts = self._parts = await self.definition.build(settings, self._producer)
        self.pipeline = BatchPipeline(
            settings, self.definition.name, self.definition.inputs, self.definition.dead_letter,
            self.definition.state, parts.processor, self._producer,
        )
        server, names = build_grpc_server(parts, self.telemetry, self.pipeline.recovered, self.health)
        self.server = server
        for name in ["", *names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        wanted = self.definition.grpc_port(settings) if port is None else port
        self.port = server.add_insecure_port(f"{settings.grpc_host}:{wanted}")
        if self.port == 0:
            raise RuntimeError(f"could not bind gRPC port {settings.grpc_host}:{wanted}")
        await server.start()
        configure_gc()
        self._tasks.append(asyncio.create_task(self.pipeline.run(self.stop_event), name="pipeline"))
        self._health_task = asyncio.create_task(self._serve_when_recovered(names), name="health")
        for background in parts.background:
            self._tasks.append(asyncio.create_task(background(self.stop_event)))
        log.info("%s: gRPC on %s:%d", self.definition.name, settings.grpc_host, self.port)

    async def ready(self, timeout_s: float = 120.0) -> None:
        """Until the state is recovered and the service answers."""
        assert self.pipeline is not None
        await asyncio.wait_for(self.pipeline.recovered.wait(), timeout_s)

    async def _serve_when_recovered(self, names: Sequence[str]) -> None:
        assert self.pipeline is not None
        await self.pipeline.recovered.wait()
        for name in ["", *names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def wait(self) -> None:
        """Until stop() is called; raises when a long-running task fails or ends on its own."""
        stopper = asyncio.create_task(self.stop_event.wait())
        done, _ = await asyncio.wait([stopper, *self._tasks], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        for task in done:
            if task is stopper:
                continue
            error = task.exception()
            if error is not None:
                raise error
            if not self.stop_event.is_set():
                raise RuntimeError(f"{self.definition.name}: task {task.get_name()} ended unexpectedly")

    async def stop(self) -> None:
        self.stop_event.set()
        if self._health_task is not None:
            self._health_task.cancel()
        await self.health.enter_graceful_shutdown()
        for task in self._tasks:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=10)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                task.cancel()
            except Exception:  # already reported by wait()
                log.exception("task %s failed", task.get_name())
        if self.server is not None:
            await self.server.stop(grace=2)
        if self._parts is not None and self._parts.close is not None:
            await self._parts.close()
        if self._producer is not None:
            await self._producer.stop()
        await asyncio.to_thread(self.telemetry.flush)  # telemetry hook: export the spans still queued


def faust_app(settings: Settings, definition: ServiceDefinition) -> faust.App:
    """The faust worker that hosts the service: lifecycle, signals, logging, supervision."""
    app = faust.App(
        f"{settings.app_id_prefix}-{settings.topic_prefix}{definition.name}-host",
        broker=f"kafka://{settings.kafka_bootstrap.split(',')[0]}",
        store="memory://",
        web_enabled=False,
        producer_acks=-1,
        topic_replication_factor=settings.topic_replication,
        topic_partitions=settings.topic_partitions,
        consumer_auto_offset_reset="earliest",
    )
    running = RunningService(settings, definition)

    @app.task  # type: ignore[misc]
    async def serve() -> None:
        try:
            await running.start()
            await running.wait()
        except Exception as exc:
            log.exception("%s failed; stopping the worker", definition.name)
            app._crash(exc)  # noqa: SLF001 - faust's way to make the worker exit non-zero
        finally:
            await running.stop()

    return app


async def serve_forever(settings: Settings, name: str) -> None:
    """Run one service in this process without a faust host (used by `serve --no-faust` and tests)."""
    running = RunningService(settings, load_definition(name))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, running.stop_event.set)
    await running.start()
    try:
        await running.wait()
    finally:
        await running.stop()


def run_service(settings: Settings, name: str) -> None:
    """`distillguard serve NAME`: start the faust worker hosting the service."""
    definition = load_definition(name)
    app = faust_app(settings, definition)
    worker = faust.Worker(app, loglevel="info", quiet=True)
    worker.execute_from_commandline()
