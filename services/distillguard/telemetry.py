"""The one telemetry bootstrap: traces, metrics and structured logs for a service process.

`configure(service_name, settings)` is called once per service process by the runtime; nothing else
installs a global SDK. It is driven by the standard OTEL_* variables and is OFF by default:

- Tracing is on only when OTEL_TRACES_EXPORTER names `otlp` and/or `console`, or, with that variable
  unset, when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; never when
  OTEL_SDK_DISABLED=true. (The specification's default exporter is `otlp`; here an unset variable means
  off, so a developer's `distillguard serve` costs nothing.) OTLP goes over gRPC (default) or
  http/protobuf per OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL; the exporters read their headers, timeout,
  compression and certificates from the OTEL_EXPORTER_OTLP_* variables themselves. The sampler is
  OTEL_TRACES_SAMPLER[_ARG], default `parentbased_always_on`. OTEL_SPAN_LINK_COUNT_LIMIT (default
  10,000 instead of the SDK's 128) bounds the links of one span: a batch span links its input messages.
- With tracing off no TracerProvider is installed and no library is instrumented: the hooks below are
  a flag test and a `nullcontext()`.
- Metrics (OpenTelemetry metrics, Prometheus exposition) are on when `settings.metrics_port` > 0,
  served on `settings.grpc_host:metrics_port`.
- Logs become one JSON object per line with trace_id and span_id when OTEL_PYTHON_LOG_CORRELATION=true
  (or `log_format="json"`); the default stays human-readable.

Kafka: the aiokafka instrumentation's producer side is the single injector of W3C trace context into
record headers (one PRODUCER span per `send`, child of the current span). Its consumer side is removed
again: it starts a span per consumed record, which at thousands of records per batch would cost more
than the processing; the batch pipeline instead starts one span per batch linked to every input
message that carries a sampled context (see `Telemetry.batch_span`). gRPC aio servers and clients are
instrumented (health and reflection excluded); SQLAlchemy per engine (`Telemetry.instrument_engine`).

Tests install an in-memory exporter with `configure(..., span_exporter=InMemorySpanExporter())`; a
process has one TracerProvider, so a second call with an exporter adds it to the installed provider.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

import grpc
import orjson
from opentelemetry import metrics, propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags

from distillguard.settings import ConfigurationError, Settings
from distillguard.topics import SIGNALS

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.structs import ConsumerRecord
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.sampling import Sampler
    from sqlalchemy.ext.asyncio import AsyncEngine

    from distillguard.pipeline import BatchResult

log = logging.getLogger(__name__)

SCOPE: Final = "distillguard"
DEFAULT_MAX_LINKS: Final = 10_000
SAMPLERS: Final = (
    "always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off",
    "parentbased_traceidratio",
)
TRACE_EXPORTERS: Final = ("otlp", "console", "none")
OTLP_PROTOCOLS: Final = ("grpc", "http/protobuf")
#: Bucket boundaries (seconds) for call and batch durations: 0.5 ms .. 30 s.
DURATION_BUCKETS_S: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_SIZE_BUCKETS: Final = (1, 10, 50, 100, 500, 1000, 2500, 5000, 10_000, 50_000, 100_000)
#: Header names of the default propagators (W3C trace context and baggage).
_W3C_FIELDS: Final = frozenset({"traceparent", "tracestate", "baggage"})
_TRACEPARENT: Final = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_TRUE: Final = ("true", "1", "yes", "on")
_SAMPLED: Final = TraceFlags(TraceFlags.SAMPLED)


# ============================================================================================ config


@dataclass(frozen=True)
class TracingConfig:
    """Tracing options resolved from OTEL_* variables (see the module docstring)."""

    exporters: tuple[str, ...] = ()
    protocol: str = "grpc"
    endpoint: str | None = None
    sampler: str = "parentbased_always_on"
    sampler_arg: float | None = None
    max_links: int = DEFAULT_MAX_LINKS

    @property
    def enabled(self) -> bool:
        return bool(self.exporters)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> TracingConfig:
        """Raise ConfigurationError naming the variable for a value that is not understood."""

        def get(name: str) -> str:
            return environ.get(name, "").strip()

        if get("OTEL_SDK_DISABLED").lower() in _TRUE:
            return cls()
        traces_endpoint = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        endpoint = get("OTEL_EXPORTER_OTLP_ENDPOINT")
        named = get("OTEL_TRACES_EXPORTER").lower()
        if named:
            exporters = tuple(dict.fromkeys(part.strip() for part in named.split(",") if part.strip()))
            unknown = [part for part in exporters if part not in TRACE_EXPORTERS]
            if unknown:
                raise ConfigurationError(
                    f"OTEL_TRACES_EXPORTER: unsupported exporter(s) {', '.join(unknown)}; "
                    f"expected a comma-separated list of {', '.join(TRACE_EXPORTERS)}"
                )
            exporters = tuple(part for part in exporters if part != "none")
        else:
            exporters = ("otlp",) if traces_endpoint or endpoint else ()
        protocol_variable = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" if get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") \
            else "OTEL_EXPORTER_OTLP_PROTOCOL"
        protocol = get(protocol_variable) or "grpc"
        if protocol not in OTLP_PROTOCOLS:
            raise ConfigurationError(f"{protocol_variable}: expected grpc or http/protobuf, got {protocol!r}")
        if traces_endpoint:
            resolved: str | None = traces_endpoint
        elif endpoint:
            # The base endpoint gets the signal path for HTTP (as the specification says); gRPC uses it as is.
            resolved = endpoint.rstrip("/") + "/v1/traces" if protocol == "http/protobuf" else endpoint
        else:
            resolved = None
        sampler = get("OTEL_TRACES_SAMPLER").lower() or "parentbased_always_on"
        if sampler not in SAMPLERS:
            raise ConfigurationError(f"OTEL_TRACES_SAMPLER: expected one of {', '.join(SAMPLERS)}, got {sampler!r}")
        sampler_arg: float | None = None
        if sampler.endswith("traceidratio"):
            raw = get("OTEL_TRACES_SAMPLER_ARG") or "1.0"
            try:
                sampler_arg = float(raw)
            except ValueError:
                sampler_arg = -1.0
            if not 0.0 <= sampler_arg <= 1.0:
                raise ConfigurationError(f"OTEL_TRACES_SAMPLER_ARG: expected a ratio within 0..1, got {raw!r}")
        raw_links = get("OTEL_SPAN_LINK_COUNT_LIMIT")
        if raw_links:
            if not raw_links.isdigit():
                raise ConfigurationError(f"OTEL_SPAN_LINK_COUNT_LIMIT: expected a non-negative integer, got {raw_links!r}")
            max_links = int(raw_links)
        else:
            max_links = DEFAULT_MAX_LINKS
        return cls(exporters, protocol, resolved, sampler, sampler_arg, max_links)

    def make_sampler(self) -> Sampler:
        from opentelemetry.sdk.trace import sampling

        ratio = 1.0 if self.sampler_arg is None else self.sampler_arg
        root: Sampler = {
            "always_on": sampling.ALWAYS_ON, "always_off": sampling.ALWAYS_OFF,
        }.get(self.sampler.removeprefix("parentbased_"), None) or sampling.TraceIdRatioBased(ratio)
        return sampling.ParentBased(root) if self.sampler.startswith("parentbased_") else root

    def make_exporters(self) -> list[SpanExporter]:
        exporters: list[SpanExporter] = []
        if "otlp" in self.exporters:
            if self.protocol == "grpc":
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

                exporters.append(GrpcExporter(endpoint=self.endpoint))
            else:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

                exporters.append(HttpExporter(endpoint=self.endpoint))
        if "console" in self.exporters:
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
        return exporters


def json_logs_requested(environ: Mapping[str, str]) -> bool:
    return environ.get("OTEL_PYTHON_LOG_CORRELATION", "").strip().lower() in _TRUE


# ============================================================================================ logs


_RECORD_FIELDS: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, service, trace_id and span_id (when a span
    is current where the record is formatted, i.e. for handlers that format in the logging call), any
    `extra=` fields, and the formatted exception."""

    def __init__(self, service_name: str | None = None) -> None:
        super().__init__()
        self.service_name = service_name

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.service_name:
            entry["service"] = self.service_name
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = trace.format_trace_id(span_context.trace_id)
            entry["span_id"] = trace.format_span_id(span_context.span_id)
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


def install_json_logs(service_name: str, logger: logging.Logger | None = None) -> None:
    """Give every handler of `logger` (default: root) the JSON formatter; add a stderr handler if none."""
    target = logger or logging.getLogger()
    if not target.handlers:
        target.addHandler(logging.StreamHandler(sys.stderr))
    for handler in target.handlers:
        handler.setFormatter(JsonLogFormatter(service_name))


# ============================================================================================ metrics


class Instruments:
    """Every platform metric, created once per process from the installed MeterProvider."""

    def __init__(self, meter: metrics.Meter) -> None:
        self.events_consumed = meter.create_counter(
            "distillguard.events.consumed", unit="{event}", description="Records consumed by a service, per topic")
        self.consumer_lag = meter.create_gauge(
            "distillguard.consumer.lag", unit="{message}",
            description="Records behind the partition's high watermark after the last batch")
        self.batch_size = meter.create_histogram(
            "distillguard.batch.size", unit="{message}", description="Records per processed batch",
            explicit_bucket_boundaries_advisory=list(BATCH_SIZE_BUCKETS))
        self.batch_duration = meter.create_histogram(
            "distillguard.batch.duration", unit="s",
            description="Time to process a batch: domain, produce, acknowledgements and commit",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS_S))
        self.records_produced = meter.create_counter(
            "distillguard.records.produced", unit="{message}", description="Output records produced, per topic")
        self.signals_emitted = meter.create_counter(
            "distillguard.signals.emitted", unit="{signal}", description="RiskSignals published on risk.signals")
        self.dead_letters = meter.create_counter(
            "distillguard.dead_letters", unit="{event}", description="Records dead-lettered, by reason class")
        self.actions = meter.create_counter(
            "distillguard.actions.published", unit="{action}",
            description="Enforcement actions published on enforcement.actions, by kind")
        self.rpc_duration = meter.create_histogram(
            "rpc.server.call.duration", unit="s",
            description="gRPC server call latency (CheckAccount: rpc.method=CheckAccount)",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS_S))


def reason_class(reason: str) -> str:
    """A low-cardinality label for a dead-letter reason: the text before the first ':', quoted values and
    numbers masked, at most 64 characters."""
    head = reason.split(":", 1)[0]
    head = re.sub(r"'[^']*'|\"[^\"]*\"", "…", head)
    head = re.sub(r"\d+", "N", head)
    return head.strip()[:64] or "unknown"


class RpcDurationInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Records `rpc.server.call.duration` for every unary call (health and reflection excluded)."""

    SKIP: Final = ("/grpc.health.v1.Health/", "/grpc.reflection.")

    def __init__(self, histogram: metrics.Histogram) -> None:
        self._histogram = histogram

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler: grpc.RpcMethodHandler[Any, Any] = await continuation(handler_call_details)
        method: str = handler_call_details.method
        inner = handler.unary_unary if handler is not None else None
        if inner is None or method.startswith(self.SKIP):
            return handler
        service, _, name = method.lstrip("/").rpartition("/")
        histogram = self._histogram

        async def timed(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                return await inner(request, context)  # type: ignore[arg-type]
            except Exception:
                code = _status_of(context) or grpc.StatusCode.UNKNOWN
                raise
            finally:
                if code is grpc.StatusCode.OK:
                    code = _status_of(context) or code
                histogram.record(time.perf_counter() - started, {
                    "rpc.system": "grpc", "rpc.service": service, "rpc.method": name,
                    "rpc.grpc.status_code": int(code.value[0]),
                })

        return grpc.unary_unary_rpc_method_handler(
            timed, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )


def _status_of(context: grpc.aio.ServicerContext[Any, Any]) -> grpc.StatusCode | None:
    try:
        code = context.code()
    except Exception:  # noqa: BLE001 - older servicer contexts have no code()
        return None
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):  # grpc.aio reports the cygrpc integer code
        return next((status for status in grpc.StatusCode if status.value[0] == code), None)
    return None


# ============================================================================================ tracing helpers


def _links_w3c(records: Iterable[ConsumerRecord[Any, Any]], limit: int) -> tuple[list[Link], int]:
    """Links to the sampled W3C contexts in the records' headers (fast path for the default propagators).

    Only sampled contexts are linked: an unsampled one points at a span that was never recorded. They are
    rejected by their last flag digit before any parsing, so unsampled traffic costs a header scan."""
    links: list[Link] = []
    unlinked = 0
    for record in records:
        value: bytes | None = None
        for key, header in record.headers or ():
            if key == "traceparent":
                value = header
                break
        # Version 00 is 55 bytes and its flags are the last two hex digits; bit 0 is "sampled".
        if not value or (len(value) == 55 and value[54] not in b"13579bdf") or len(links) >= limit:
            unlinked += 1
            continue
        match = _TRACEPARENT.fullmatch(value)
        if match is None or match[1] == b"ff" or (match[1] == b"00" and match[5]) or not int(match[4], 16) & 1:
            unlinked += 1
            continue
        flags = int(match[4], 16)
        context = SpanContext(int(match[2], 16), int(match[3], 16), True,
                              _SAMPLED if flags == 1 else TraceFlags(flags))
        if context.is_valid:
            links.append(Link(context))
        else:
            unlinked += 1
    return links, unlinked


class HeadersGetter(Getter[Sequence[tuple[str, bytes]]]):
    """Reads propagation fields from Kafka record headers (what the aiokafka instrumentation writes)."""

    def get(self, carrier: Sequence[tuple[str, bytes]], key: str) -> list[str] | None:
        values = [value.decode("latin-1") for name, value in carrier if name == key and value is not None]
        return values or None

    def keys(self, carrier: Sequence[tuple[str, bytes]]) -> list[str]:
        return [name for name, _ in carrier]


_HEADERS: Final = HeadersGetter()


def _links_generic(records: Iterable[ConsumerRecord[Any, Any]], limit: int) -> tuple[list[Link], int]:
    """Links through the configured propagators (any OTEL_PROPAGATORS)."""
    links: list[Link] = []
    unlinked = 0
    for record in records:
        context = trace.get_current_span(propagate.extract(record.headers or (), getter=_HEADERS)) \
            .get_span_context() if record.headers else None
        if context is None or not context.is_valid or not context.trace_flags.sampled or len(links) >= limit:
            unlinked += 1
        else:
            links.append(Link(context))
    return links, unlinked


def message_links(records: Iterable[ConsumerRecord[Any, Any]], limit: int) -> tuple[list[Link], int]:
    """(links to the sampled producer contexts carried by the records, records not linked)."""
    if propagate.get_global_textmap().fields <= _W3C_FIELDS:
        return _links_w3c(records, limit)
    return _links_generic(records, limit)


def context_of_headers(headers: Sequence[tuple[str, bytes]] | None) -> SpanContext | None:
    """The producer span context carried by one record's headers, if any."""
    if not headers:
        return None
    context = trace.get_current_span(propagate.extract(headers, getter=_HEADERS)).get_span_context()
    return context if context.is_valid else None


class ActionContexts:
    """Bounded memory of the span context that decided each action (action id -> context), so the outbox
    relay's publish span and CheckAccount can link back to the decision. In memory only: after a restart
    the relay publishes unlinked (persisting it needs a trace-context column on the outbox row)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._limit = limit
        self._contexts: OrderedDict[str, SpanContext] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, action_ids: Iterable[str], context: SpanContext | None = None) -> None:
        """Remember `context` (default: the current span's) for each action id."""
        context = context or trace.get_current_span().get_span_context()
        if not context.is_valid:
            return
        with self._lock:
            for action_id in action_ids:
                if action_id:
                    self._contexts[action_id] = context
                    self._contexts.move_to_end(action_id)
            while len(self._contexts) > self._limit:
                self._contexts.popitem(last=False)

    def get(self, action_id: str) -> SpanContext | None:
        with self._lock:
            return self._contexts.get(action_id)

    def link_current_span(self, action_id: str) -> bool:
        """Add a link from the current span to the action's decision; False when nothing is known."""
        context = self.get(action_id)
        span = trace.get_current_span()
        if context is None or not span.is_recording():
            return False
        span.add_link(context, {"distillguard.action_id": action_id})
        return True


# ============================================================================================ telemetry


class Telemetry:
    """What a service process uses: a tracer, the metric instruments and the pipeline hooks.

    Every hook is cheap when its signal is off (a flag test)."""

    def __init__(
        self,
        service_name: str,
        tracer_provider: TracerProvider | None = None,
        instruments: Instruments | None = None,
        max_links: int = DEFAULT_MAX_LINKS,
    ) -> None:
        self.service_name = service_name
        self.tracer_provider = tracer_provider
        self.instruments = instruments
        self.max_links = max_links
        self.tracer: trace.Tracer = (
            tracer_provider.get_tracer(SCOPE) if tracer_provider is not None else trace.NoOpTracer()
        )

    @property
    def tracing(self) -> bool:
        return self.tracer_provider is not None

    @property
    def metrics(self) -> bool:
        return self.instruments is not None

    # -- spans ------------------------------------------------------------------------------------

    def span(
        self,
        name: str,
        *,
        links: Sequence[Link] = (),
        attributes: Mapping[str, Any] | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> contextlib.AbstractContextManager[Any]:
        """A current span, or a no-op context when tracing is off."""
        if self.tracer_provider is None:
            return contextlib.nullcontext()
        return self.tracer.start_as_current_span(name, kind=kind, links=links, attributes=dict(attributes or {}))

    def batch_span(
        self, service: str, group_id: str, fetched: Mapping[TopicPartition, Sequence[ConsumerRecord[Any, Any]]]
    ) -> contextlib.AbstractContextManager[Any]:
        """"<service> process batch": a CONSUMER span linked to every input message carrying a sampled
        context (up to OTEL_SPAN_LINK_COUNT_LIMIT). Outputs produced inside it are its children, so the
        producer instrumentation injects this span's context into their headers."""
        if self.tracer_provider is None:
            return contextlib.nullcontext()
        records = [record for batch in fetched.values() for record in batch]
        links, unlinked = message_links(records, self.max_links)
        topics = sorted({tp.topic for tp in fetched})
        attributes: dict[str, Any] = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.consumer.group.name": group_id,
            "messaging.batch.message_count": len(records),
            "messaging.destination.name": topics[0] if len(topics) == 1 else ",".join(topics),
            "distillguard.service": service,
            "distillguard.batch.unlinked_messages": unlinked,
        }
        return self.tracer.start_as_current_span(
            f"{service} process batch", kind=SpanKind.CONSUMER, links=links, attributes=attributes
        )

    def messages_span(
        self,
        name: str,
        headers: Iterable[Sequence[tuple[str, bytes]] | None],
        attributes: Mapping[str, Any] | None = None,
    ) -> contextlib.AbstractContextManager[Any]:
        """A span for handling some messages of a batch: a child of the current span, linked to each
        message's producer context."""
        if self.tracer_provider is None:
            return contextlib.nullcontext()
        links = [Link(context) for context in map(context_of_headers, headers) if context is not None]
        return self.span(name, links=links[: self.max_links], attributes=attributes)

    # -- metrics ----------------------------------------------------------------------------------

    def record_batch(
        self,
        service: str,
        fetched: Mapping[TopicPartition, Sequence[ConsumerRecord[Any, Any]]],
        consumer: AIOKafkaConsumer | None,
        result: BatchResult,
        elapsed_s: float,
        topic_name: Callable[[str], str] = str,
    ) -> None:
        """Batch metrics: consumed per topic, lag per partition, size, duration, outputs, dead letters."""
        instruments = self.instruments
        if instruments is None:
            return
        size = 0
        for tp, records in fetched.items():
            size += len(records)
            instruments.events_consumed.add(len(records), {"distillguard.service": service, "messaging.destination.name": tp.topic})
            if consumer is not None and records:
                highwater = consumer.highwater(tp)
                if highwater is not None:
                    instruments.consumer_lag.set(max(highwater - records[-1].offset - 1, 0), {
                        "distillguard.service": service, "messaging.destination.name": tp.topic,
                        "messaging.destination.partition.id": str(tp.partition),
                    })
        base = {"distillguard.service": service}
        instruments.batch_size.record(size, base)
        instruments.batch_duration.record(elapsed_s, base)
        produced: dict[str, int] = {}
        for output in result.outputs:
            produced[output.topic] = produced.get(output.topic, 0) + 1
        for topic, count in produced.items():
            instruments.records_produced.add(count, {**base, "messaging.destination.name": topic_name(topic)})
            if topic == SIGNALS.name:
                instruments.signals_emitted.add(count, base)
        for rejected in result.rejected:
            instruments.dead_letters.add(1, {
                **base, "messaging.destination.name": topic_name(rejected.record.topic),
                "distillguard.reason": reason_class(rejected.reason),
            })

    def count_action(self, kind: str) -> None:
        if self.instruments is not None:
            self.instruments.actions.add(1, {"distillguard.action.kind": kind})

    def server_interceptors(self) -> list[Any]:
        """gRPC server interceptors to put first (the tracing one is added by the instrumentation)."""
        return [RpcDurationInterceptor(self.instruments.rpc_duration)] if self.instruments is not None else []

    # -- libraries ----------------------------------------------------------------------------------

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """SQLAlchemy spans (children of the current span) for one case-store engine; no-op when off."""
        if self.tracer_provider is None:
            return
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
        from opentelemetry.instrumentation.sqlalchemy.version import __version__

        tracer = trace.get_tracer("opentelemetry.instrumentation.sqlalchemy", __version__, self.tracer_provider)
        usage = metrics.get_meter("opentelemetry.instrumentation.sqlalchemy", __version__).create_up_down_counter(
            "db.client.connections.usage", unit="connections",
            description="The number of connections that are currently in state described by the state attribute.",
        )
        EngineTracer(tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]

    def flush(self, timeout_ms: int = 5000) -> None:
        if self.tracer_provider is not None:
            self.tracer_provider.force_flush(timeout_ms)


DISABLED: Final = Telemetry("distillguard")


@dataclass
class _Process:
    """What `configure` installed in this process (one SDK per process)."""

    tracer_provider: TracerProvider | None = None
    tracing: TracingConfig | None = None
    meter_provider: MeterProvider | None = None
    instruments: Instruments | None = None
    metrics_server: Any = None
    json_logs: bool = False


_process = _Process()
_current: Telemetry = DISABLED
_configure_lock = threading.Lock()


def current() -> Telemetry:
    """The telemetry `configure` set up in this process, or DISABLED."""
    return _current


def configure(
    service_name: str,
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    span_exporter: SpanExporter | None = None,
    metric_reader: MetricReader | None = None,
    log_format: str | None = None,
) -> Telemetry:
    """Set up telemetry for this service process from OTEL_* variables (`environ`, default os.environ).

    Installs the global TracerProvider (and instruments aiokafka, grpc.aio) only when tracing is on or a
    `span_exporter` is given; the global MeterProvider (and the Prometheus endpoint on
    `settings.metrics_port`) only when that port is > 0 or a `metric_reader` is given. A process has one
    of each: a later call reuses them (adding `span_exporter` to the installed provider) and returns a
    Telemetry for its own service name. Raises ConfigurationError naming a bad variable.
    """
    global _current
    env = os.environ if environ is None else environ
    config = TracingConfig.from_environ(env)
    with _configure_lock:
        if _process.tracer_provider is None and (config.enabled or span_exporter is not None):
            _install_tracing(service_name, config, span_exporter, env)
        elif _process.tracer_provider is not None and span_exporter is not None:
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor

            _process.tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        if _process.meter_provider is None and (settings.metrics_port > 0 or metric_reader is not None):
            _install_metrics(service_name, settings, metric_reader, env)
        if not _process.json_logs and (log_format == "json" or (log_format is None and json_logs_requested(env))):
            install_json_logs(env.get("OTEL_SERVICE_NAME") or service_name)
            _process.json_logs = True
        max_links = _process.tracing.max_links if _process.tracing is not None else config.max_links
        _current = Telemetry(service_name, _process.tracer_provider, _process.instruments, max_links)
        return _current


def _resource(service_name: str, environ: Mapping[str, str]) -> Any:
    from opentelemetry.sdk.resources import Resource

    # OTEL_SERVICE_NAME, when set, wins over the name the runtime passes (as the specification says).
    return Resource.create({
        "service.name": environ.get("OTEL_SERVICE_NAME") or service_name,
        "service.namespace": "distillguard",
    })


def _install_tracing(
    service_name: str, config: TracingConfig, span_exporter: SpanExporter | None, environ: Mapping[str, str]
) -> None:
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    from opentelemetry.instrumentation.grpc import (
        GrpcAioInstrumentorClient,
        GrpcAioInstrumentorServer,
        filters,
    )
    from opentelemetry.instrumentation.utils import unwrap
    from opentelemetry.sdk.trace import SpanLimits, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(
        resource=_resource(service_name, environ),
        sampler=config.make_sampler(),
        span_limits=SpanLimits(max_links=config.max_links),
    )
    for exporter in config.make_exporters():
        console = type(exporter).__name__ == "ConsoleSpanExporter"
        provider.add_span_processor(SimpleSpanProcessor(exporter) if console else BatchSpanProcessor(exporter))
    if span_exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    _process.tracer_provider = provider
    _process.tracing = config

    import aiokafka

    AIOKafkaInstrumentor().instrument(tracer_provider=provider)
    # Keep the producer side only (the single injector); see the module docstring for why.
    unwrap(aiokafka.AIOKafkaConsumer, "getone")
    unwrap(aiokafka.AIOKafkaConsumer, "getmany")
    probes = filters.negate(filters.any_of(filters.health_check(), filters.service_prefix("grpc.reflection")))
    GrpcAioInstrumentorServer(filter_=probes).instrument(  # type: ignore[no-untyped-call]
        tracer_provider=provider)
    GrpcAioInstrumentorClient(filter_=probes).instrument(  # type: ignore[no-untyped-call]
        tracer_provider=provider)
    log.info("tracing on for %s: exporters %s, sampler %s", service_name,
             ", ".join(config.exporters) or "in-memory", config.sampler)


def _install_metrics(
    service_name: str, settings: Settings, metric_reader: MetricReader | None, environ: Mapping[str, str]
) -> None:
    from opentelemetry.sdk.metrics import MeterProvider

    readers: list[MetricReader] = []
    if metric_reader is not None:
        readers.append(metric_reader)
    if settings.metrics_port > 0:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import CollectorRegistry, start_http_server

        registry = CollectorRegistry(auto_describe=True)
        readers.append(PrometheusMetricReader(registry=registry))
        try:
            _process.metrics_server = start_http_server(settings.metrics_port, settings.grpc_host, registry=registry)
        except OSError as exc:
            raise ConfigurationError(
                f"DISTILLGUARD_METRICS_PORT: cannot serve metrics on {settings.grpc_host}:{settings.metrics_port}: {exc}"
            ) from None
        log.info("%s: Prometheus metrics on http://%s:%d/metrics", service_name, settings.grpc_host,
                 settings.metrics_port)
    provider = MeterProvider(metric_readers=readers, resource=_resource(service_name, environ))
    metrics.set_meter_provider(provider)
    _process.meter_provider = provider
    _process.instruments = Instruments(provider.get_meter(SCOPE))
