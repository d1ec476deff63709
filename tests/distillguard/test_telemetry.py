"""The telemetry bootstrap: OTEL_* switches, batch-span links, JSON logs, metrics, health and OTLP export.

A process has one global SDK, so what `configure` installs globally is checked in a fresh interpreter
(`run_python`); everything else is checked on a Telemetry built around a local provider.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import SpanLimits, TracerProvider, sampling
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_span_id, format_trace_id

from distillguard import pipeline, telemetry
from distillguard.pipeline import BatchResult, InputRecord, OutputRecord, Rejected
from distillguard.settings import ConfigurationError, Settings
from distillguard.telemetry import Instruments, JsonLogFormatter, Telemetry, TracingConfig, reason_class
from servicekit import wait_for

SERVICES = Path(__file__).resolve().parents[2] / "services"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def traceparent(span_id: str, flags: str = "01", trace_id: str = TRACE_ID) -> bytes:
    return f"00-{trace_id}-{span_id}-{flags}".encode()


def record(offset: int, headers: list[tuple[str, bytes]], topic: str = "t.events.inference") -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(topic, 0, offset, 0, 0, b"acct", b"value", None, 4, 5, tuple(headers))


def otel_free_environ(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env.update(extra)
    return env


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter with no OTEL_* variables but `env`."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=otel_free_environ(**env), capture_output=True,
        text=True, timeout=120, cwd=SERVICES.parent,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# ============================================================================================ configuration


def test_tracing_is_off_without_otel_variables() -> None:
    assert not TracingConfig.from_environ({}).enabled
    assert not TracingConfig.from_environ({"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"}).enabled
    assert not TracingConfig.from_environ({"OTEL_TRACES_EXPORTER": "none"}).enabled


@pytest.mark.parametrize(
    ("environ", "exporters", "protocol", "endpoint"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, ("otlp",), "grpc", "http://collector:4317"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
         ("otlp",), "http/protobuf", "http://collector:4318/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL":
          "http/protobuf", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, ("otlp",), "http/protobuf", "http://c:4318/custom"),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ("otlp",), "grpc", None),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, ("console", "otlp"), "grpc", None),
    ],
)
def test_exporter_switches(environ: dict[str, str], exporters: tuple[str, ...], protocol: str, endpoint: str | None) -> None:
    config = TracingConfig.from_environ(environ)
    assert (config.exporters, config.protocol, config.endpoint) == (exporters, protocol, endpoint)
    assert len(config.make_exporters()) == len(exporters)


def test_exporter_protocol_picks_the_exporter_class() -> None:
    grpc_exporter, = TracingConfig.from_environ({"OTEL_TRACES_EXPORTER": "otlp"}).make_exporters()
    http_exporter, = TracingConfig.from_environ(
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}).make_exporters()
    assert type(grpc_exporter).__module__.startswith("opentelemetry.exporter.otlp.proto.grpc")
    assert type(http_exporter).__module__.startswith("opentelemetry.exporter.otlp.proto.http")


def test_sdk_disabled_wins_over_exporters() -> None:
    config = TracingConfig.from_environ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console",
                                         "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"})
    assert not config.enabled


def test_sampler_defaults_to_parent_based_always_on() -> None:
    sampler = TracingConfig.from_environ({}).make_sampler()
    assert isinstance(sampler, sampling.ParentBased) and "AlwaysOnSampler" in sampler.get_description()  # type: ignore[no-untyped-call]
    ratio = TracingConfig.from_environ({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                                        "OTEL_TRACES_SAMPLER_ARG": "0.25"}).make_sampler()
    assert isinstance(ratio, sampling.ParentBased)
    assert "TraceIdRatioBased{0.25}" in ratio.get_description()  # type: ignore[no-untyped-call]
    off = TracingConfig.from_environ({"OTEL_TRACES_SAMPLER": "always_off"}).make_sampler()
    assert off is sampling.ALWAYS_OFF


def test_link_limit_defaults_high_and_is_configurable() -> None:
    assert TracingConfig.from_environ({}).max_links == telemetry.DEFAULT_MAX_LINKS == 10_000
    assert TracingConfig.from_environ({"OTEL_SPAN_LINK_COUNT_LIMIT": "64"}).max_links == 64


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
        ("OTEL_SPAN_LINK_COUNT_LIMIT", "many"),
    ],
)
def test_bad_values_fail_naming_the_variable(variable: str, value: str) -> None:
    environ = {variable: value, "OTEL_TRACES_EXPORTER": "otlp"} if variable != "OTEL_TRACES_EXPORTER" else {variable: value}
    if variable == "OTEL_TRACES_SAMPLER_ARG":
        environ["OTEL_TRACES_SAMPLER"] = "traceidratio"
    with pytest.raises(ConfigurationError, match=variable):
        TracingConfig.from_environ(environ)


def test_configure_installs_nothing_by_default() -> None:
    result = run_python("""
        import grpc, aiokafka
        from opentelemetry import metrics, trace
        from distillguard import telemetry
        from distillguard.settings import load_settings
        server_factory = grpc.aio.server
        t = telemetry.configure("ratepattern", load_settings())
        assert not t.tracing and not t.metrics and telemetry.current() is t
        assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider", trace.get_tracer_provider()
        assert type(metrics.get_meter_provider()).__name__ == "_ProxyMeterProvider", metrics.get_meter_provider()
        assert not hasattr(aiokafka.AIOKafkaProducer.send, "__wrapped__")
        assert grpc.aio.server is server_factory
        assert type(t.batch_span("s", "g", {})).__name__ == "nullcontext" and t.server_interceptors() == []
        print("ok")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_console_exporter_traces_and_instruments_the_producer_only() -> None:
    result = run_python("""
        import grpc, aiokafka
        from opentelemetry import trace
        from distillguard import telemetry
        from distillguard.settings import load_settings
        server_factory = grpc.aio.server
        t = telemetry.configure("ratepattern", load_settings())
        assert t.tracing and type(trace.get_tracer_provider()).__name__ == "TracerProvider"
        assert hasattr(aiokafka.AIOKafkaProducer.send, "__wrapped__")  # the single injector
        assert not hasattr(aiokafka.AIOKafkaConsumer.getmany, "__wrapped__")  # batches get one span instead
        assert not hasattr(aiokafka.AIOKafkaConsumer.getone, "__wrapped__")
        assert grpc.aio.server is not server_factory
        with t.span("hello from the test"):
            pass
    """, OTEL_TRACES_EXPORTER="console")
    assert result.returncode == 0, result.stderr
    exported = json.loads(result.stdout)
    assert exported["name"] == "hello from the test"
    assert exported["resource"]["attributes"]["service.name"] == "ratepattern"


def test_prometheus_endpoint_serves_the_platform_metrics() -> None:
    port = free_port()
    result = run_python(f"""
        import urllib.request
        from opentelemetry import trace
        from distillguard import telemetry
        from distillguard.settings import load_settings
        t = telemetry.configure("enforcement", load_settings(metrics_port={port}))
        assert t.metrics and not t.tracing
        assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
        t.count_action("ACTION_KIND_SUSPEND")
        print(urllib.request.urlopen("http://127.0.0.1:{port}/metrics", timeout=10).read().decode())
    """)
    assert result.returncode == 0, result.stderr
    assert 'distillguard_actions_published_total{distillguard_action_kind="ACTION_KIND_SUSPEND"' in result.stdout
    assert 'service_name="enforcement"' in result.stdout  # target_info


def test_json_logs_switch_and_default_stays_human_readable() -> None:
    code = """
        import logging
        from distillguard import telemetry
        from distillguard.settings import load_settings
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
        t = telemetry.configure("identity", load_settings())
        logging.getLogger("x").info("hello")
    """
    plain = run_python(code)
    assert plain.returncode == 0 and plain.stderr.strip() == "INFO hello", plain.stderr
    structured = run_python(code, OTEL_PYTHON_LOG_CORRELATION="true")
    assert structured.returncode == 0, structured.stderr
    entry = json.loads(structured.stderr.strip().splitlines()[-1])
    assert entry["message"] == "hello" and entry["service"] == "identity" and entry["level"] == "INFO"


# ============================================================================================ spans


@pytest.fixture
def traced() -> Iterator[tuple[Telemetry, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=SpanLimits(max_links=100))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield Telemetry("test", provider, max_links=100), exporter
    provider.shutdown()


def test_batch_span_links_every_sampled_message(traced: tuple[Telemetry, InMemorySpanExporter]) -> None:
    tel, exporter = traced
    sampled = ["00f067aa0ba902b7", "00f067aa0ba902b8"]
    fetched = {
        TopicPartition("t.events.inference", 0): [
            record(0, [("traceparent", traceparent(sampled[0]))]),
            record(1, [("other", b"x"), ("traceparent", traceparent(sampled[1], "03"))]),
            record(2, [("traceparent", traceparent("00f067aa0ba902b9", "00"))]),  # not sampled: nothing to point at
            record(3, []),
            record(4, [("traceparent", b"garbage")]),
            record(5, [("traceparent", traceparent("0000000000000000"))]),  # invalid span id
        ]
    }
    with tel.batch_span("ratepattern", "group", fetched):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.name == "ratepattern process batch" and span.kind is SpanKind.CONSUMER
    assert [format_span_id(link.context.span_id) for link in span.links] == sampled
    assert all(format_trace_id(link.context.trace_id) == TRACE_ID and link.context.is_remote for link in span.links)
    attributes = span.attributes or {}
    assert attributes["messaging.batch.message_count"] == 6
    assert attributes["distillguard.batch.unlinked_messages"] == 4
    assert attributes["messaging.consumer.group.name"] == "group"


def test_batch_span_stops_linking_at_the_limit(traced: tuple[Telemetry, InMemorySpanExporter]) -> None:
    tel, exporter = traced
    tel.max_links = 3
    fetched = {TopicPartition("t", 0): [record(n, [("traceparent", traceparent(f"{n + 1:016x}"))]) for n in range(5)]}
    with tel.batch_span("identity", "g", fetched):
        pass
    (span,) = exporter.get_finished_spans()
    assert len(span.links) == 3 and (span.attributes or {})["distillguard.batch.unlinked_messages"] == 2


def test_outputs_sent_inside_the_batch_span_are_its_children(traced: tuple[Telemetry, InMemorySpanExporter]) -> None:
    tel, exporter = traced
    with tel.batch_span("ratepattern", "g", {TopicPartition("t", 0): [record(0, [])]}):
        with tel.messages_span("decide", [[("traceparent", traceparent("00f067aa0ba902b7"))], None]):
            pass
    decide, batch = exporter.get_finished_spans()
    assert decide.parent is not None and batch.context is not None
    assert decide.parent.span_id == batch.context.span_id
    assert [format_span_id(link.context.span_id) for link in decide.links] == ["00f067aa0ba902b7"]


def test_action_contexts_link_check_account_to_the_decision(traced: tuple[Telemetry, InMemorySpanExporter]) -> None:
    tel, exporter = traced
    contexts = telemetry.ActionContexts(limit=2)
    with tel.span("enforcement decide") as decided:
        contexts.remember(["a1", "a2"])
    contexts.remember(["a3"], decided.get_span_context())
    assert contexts.get("a1") is None  # bounded: the oldest is forgotten
    with tel.span("CheckAccount"):
        assert contexts.link_current_span("a2") and not contexts.link_current_span("unknown")
    decide, check = exporter.get_finished_spans()
    assert [link.context for link in check.links] == [decide.context]
    assert check.links[0].attributes == {"distillguard.action_id": "a2"}


def test_disabled_telemetry_hooks_do_nothing() -> None:
    tel = telemetry.DISABLED
    assert not tel.tracing and not tel.metrics
    with tel.batch_span("s", "g", {TopicPartition("t", 0): [record(0, [])]}) as span:
        assert span is None
    tel.record_batch("s", {}, None, BatchResult(), 0.1)
    tel.count_action("ACTION_KIND_BAN")


def test_input_records_carry_the_kafka_headers() -> None:
    assert InputRecord("events.inference", 0, 1, None, b"v").headers == ()
    assert pipeline.InputRecord("t", 0, 1, None, b"v", (("traceparent", b"x"),)).headers == (("traceparent", b"x"),)


# ============================================================================================ logs


def test_json_formatter_carries_trace_and_span_ids(traced: tuple[Telemetry, InMemorySpanExporter]) -> None:
    tel, _ = traced
    formatter = JsonLogFormatter("enforcement")
    logger = logging.getLogger("distillguard.test")
    with tel.span("decide") as span:
        inside = logger.makeRecord("distillguard.test", logging.INFO, __file__, 1, "action %s", ("a1",), None,
                                   extra={"action_id": "a1"})
        entry = json.loads(formatter.format(inside))
    context = span.get_span_context()
    assert entry["trace_id"] == format_trace_id(context.trace_id) and entry["span_id"] == format_span_id(context.span_id)
    assert entry["message"] == "action a1" and entry["action_id"] == "a1" and entry["service"] == "enforcement"
    assert entry["level"] == "INFO" and entry["logger"] == "distillguard.test" and entry["time"].endswith("+00:00")
    try:
        raise ValueError("boom")
    except ValueError:
        outside = logger.makeRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    entry = json.loads(formatter.format(outside))
    assert "trace_id" not in entry and "ValueError: boom" in entry["exception"]


# ============================================================================================ metrics


class FakeConsumer:
    def highwater(self, tp: TopicPartition) -> int:
        return 120


def points(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, Any], Any]]]:
    data = reader.get_metrics_data()
    found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    found.setdefault(metric.name, []).append((dict(point.attributes or {}), value if value is not None
                                                              else getattr(point, "count", None)))
    return found


def test_batch_metrics() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    tel = Telemetry("ratepattern", instruments=Instruments(provider.get_meter("test")))
    fetched = {TopicPartition("p.events.inference", 1): [record(n, []) for n in range(100)]}
    bad = InputRecord("events.inference", 1, 7, b"k", b"\xff")
    result = BatchResult(
        outputs=[OutputRecord("risk.signals", b"a", b"s"), OutputRecord("risk.signals", b"b", b"s")],
        rejected=[Rejected(bad, "undecodable InferenceEvent: Error parsing message with type 'x' at 17"),
                  Rejected(bad, "undecodable InferenceEvent: truncated")],
    )
    tel.record_batch("ratepattern", fetched, FakeConsumer(), result, 0.25, lambda name: "p." + name)
    tel.count_action("ACTION_KIND_SUSPEND")
    found = points(reader)
    service = {"distillguard.service": "ratepattern"}
    assert found["distillguard.events.consumed"] == [({**service, "messaging.destination.name": "p.events.inference"}, 100)]
    assert found["distillguard.consumer.lag"] == [({**service, "messaging.destination.name": "p.events.inference",
                                                    "messaging.destination.partition.id": "1"}, 20)]
    assert found["distillguard.batch.size"] == [(service, 1)] and found["distillguard.batch.duration"] == [(service, 1)]
    assert found["distillguard.signals.emitted"] == [(service, 2)]
    assert found["distillguard.dead_letters"] == [({**service, "messaging.destination.name": "p.events.inference",
                                                    "distillguard.reason": "undecodable InferenceEvent"}, 2)]
    assert found["distillguard.actions.published"] == [({"distillguard.action.kind": "ACTION_KIND_SUSPEND"}, 1)]
    provider.shutdown()


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("record has no value", "record has no value"),
        ("not a valid RiskSignal protobuf: Error parsing message", "not a valid RiskSignal protobuf"),
        ("field account_id is 300 characters, over the limit of 128", "field account_id is N characters, over the limit of N"),
        ("unknown type 'x'; expected signup | billing | inference", "unknown type …; expected signup | billing | inference"),
        ("", "unknown"),
    ],
)
def test_dead_letter_reasons_have_low_cardinality(reason: str, label: str) -> None:
    assert reason_class(reason) == label


async def test_rpc_duration_interceptor_records_check_account_latency() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    tel = Telemetry("enforcement", instruments=Instruments(provider.get_meter("test")))

    async def check(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        if request == b"deny":
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "no")
        return b"ok"

    server = grpc.aio.server(interceptors=tel.server_interceptors())
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "distillguard.v1.EnforcementService", {"CheckAccount": grpc.unary_unary_rpc_method_handler(check)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/distillguard.v1.EnforcementService/CheckAccount", None, None)
            assert await call(b"allow") == b"ok"
            with pytest.raises(grpc.aio.AioRpcError):
                await call(b"deny")
    finally:
        await server.stop(None)
    found = points(reader)["rpc.server.call.duration"]
    labels = {"rpc.system": "grpc", "rpc.service": "distillguard.v1.EnforcementService", "rpc.method": "CheckAccount"}
    assert sorted(found, key=lambda p: p[0]["rpc.grpc.status_code"]) == [
        ({**labels, "rpc.grpc.status_code": 0}, 1), ({**labels, "rpc.grpc.status_code": 7}, 1)]
    provider.shutdown()


# ============================================================================================ health


@pytest.mark.integration
async def test_health_is_not_serving_until_state_is_recovered(
    kafka_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = asyncio.Event()
    read_compacted = pipeline.read_compacted

    async def held(settings: Settings, topic: str) -> dict[bytes, bytes]:
        await gate.wait()
        return await read_compacted(settings, topic)

    monkeypatch.setattr(pipeline, "read_compacted", held)
    from distillguard.runtime import RunningService, load_definition

    service = RunningService(kafka_settings, load_definition("ratepattern"))
    await service.start(port=0)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            probe = health_pb2_grpc.HealthStub(channel)
            for name in ("", "distillguard.v1.RatePatternService"):
                reply = await probe.Check(health_pb2.HealthCheckRequest(service=name))
                assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
            profile = channel.unary_unary("/distillguard.v1.RatePatternService/GetAccountProfile", None, None)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await profile(b"")
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
            answers = [answer async for answer in reflection.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]))]
            listed = {service.name for service in answers[0].list_services_response.service}
            assert {"distillguard.v1.RatePatternService", "grpc.health.v1.Health"} <= listed

            gate.set()
            await service.ready()

            async def serving() -> bool:
                reply = await probe.Check(health_pb2.HealthCheckRequest(service="distillguard.v1.RatePatternService"))
                return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

            await wait_for(serving, timeout_s=30)
    finally:
        gate.set()
        await service.stop()


# ============================================================================================ export


@pytest.fixture
def rotel_receiver(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    """The rotel agent (PyPI `rotel`) on loopback: OTLP gRPC and HTTP receivers, spans written to a log."""
    import rotel  # type: ignore[import-untyped]

    agent = Path(rotel.__file__).parent / "rotel-agent"
    grpc_port, http_port = free_port(), free_port()
    output = tmp_path / "rotel.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [str(agent), "start", "--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}", "--otlp-http-endpoint",
             f"127.0.0.1:{http_port}", "--debug-log", "traces", "--debug-log-verbosity", "detailed",
             "--exporter", "blackhole", "--pid-file", str(tmp_path / "rotel.pid"),
             "--log-file", str(tmp_path / "rotel.log")],
            stdout=sink, stderr=subprocess.STDOUT, env=otel_free_environ(),
        )
    try:
        deadline = time.monotonic() + 20
        while b"Starting Rotel" not in output.read_bytes():
            assert process.poll() is None and time.monotonic() < deadline, output.read_text()
            time.sleep(0.1)
        yield grpc_port, http_port, output
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def received(output: Path, *needles: str) -> bool:
    text = output.read_text(errors="replace")
    return all(needle in text for needle in needles)


def service_environ(settings: Settings, **extra: str) -> dict[str, str]:
    env = otel_free_environ(**extra)
    env = {key: value for key, value in env.items() if not key.startswith("DISTILLGUARD_")}
    env.update({
        "DISTILLGUARD_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "DISTILLGUARD_TOPIC_PREFIX": settings.topic_prefix,
        "DISTILLGUARD_APP_ID_PREFIX": settings.app_id_prefix, "DISTILLGUARD_DATA_DIR": str(settings.data_dir),
        "DISTILLGUARD_RATEPATTERN_GRPC_PORT": str(free_port()),
    })
    return env


@pytest.mark.integration
@pytest.mark.slow
async def test_a_running_service_exports_spans_over_otlp_grpc(
    kafka_settings: Settings, rotel_receiver: tuple[int, int, Path], tmp_path: Path
) -> None:
    grpc_port, _, output = rotel_receiver
    env = service_environ(kafka_settings, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{grpc_port}",
                          OTEL_BSP_SCHEDULE_DELAY="200")
    log_path = tmp_path / "ratepattern.log"
    with log_path.open("wb") as log_file:
        service = subprocess.Popen([sys.executable, "-m", "distillguard.cli", "serve", "ratepattern"], env=env,
                                   stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        # An inference event from a traced producer upstream (its context in the record's headers).
        upstream = uuid.uuid4().hex
        await publish_raw_with_headers(kafka_settings, "events.inference", b"acct_otlp", b"\xff not an event",
                                       [("traceparent", traceparent("00f067aa0ba902b7", trace_id=upstream))])
        await wait_for(lambda: received(output, "ratepattern process batch") or service.poll() is not None, timeout_s=120)
        assert service.poll() is None, log_path.read_text()[-4000:]
        assert received(output, "service.name: Str(ratepattern)", upstream)  # the batch span's link
    finally:
        service.send_signal(signal.SIGTERM)
        try:
            service.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            service.kill()
            service.communicate()


async def publish_raw_with_headers(settings: Settings, topic: str, key: bytes, value: bytes,
                                   headers: list[tuple[str, bytes]]) -> None:
    from distillguard.kafka import ensure_topics, make_producer

    await ensure_topics(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic(topic), value, key=key, headers=headers)
    finally:
        await producer.stop()


@pytest.mark.integration
def test_spans_export_over_otlp_http_protobuf(rotel_receiver: tuple[int, int, Path]) -> None:
    _, http_port, output = rotel_receiver
    result = run_python("""
        from distillguard import telemetry
        from distillguard.settings import load_settings
        t = telemetry.configure("identity", load_settings())
        with t.span("exported over http"):
            pass
        t.flush()
    """, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{http_port}", OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf")
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 20
    while not received(output, "exported over http", "service.name: Str(identity)"):
        assert time.monotonic() < deadline, output.read_text()
        time.sleep(0.2)
