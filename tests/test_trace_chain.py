"""One causal chain of spans from an attack account's inference events to its action and CheckAccount.

ratepattern and enforcement run in this process on the real Kafka and PostgreSQL, with one in-memory
span exporter. The inference events (a simulated farm over two days, from ratepattern.synthetic) are
published by an instrumented producer (a PRODUCER span each, its context in the record headers);
everything after that is the platform's own instrumentation. A test policy suspends on any account
signal, so the test depends on ratepattern flagging the farm, not on where the thresholds sit. The test
walks the chain hop by hop from the CheckAccount call and the action's publish span back to one farm
account's inference producer span, by parent/child edges and span links, and names the hop that breaks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_span_id

from distillguard import telemetry
from distillguard.casestore import upgrade_database
from distillguard.kafka import ensure_topics, make_consumer, make_producer
from distillguard.settings import Settings, load_settings
from distillguard.topics import INFERENCE
from distillguard.v1 import enforcement_pb2, enforcement_pb2_grpc
from ratepattern.synthetic import segment
from servicekit import mint, running, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHECK_ACCOUNT = "/distillguard.v1.EnforcementService/CheckAccount"
# Every account RiskSignal (ratepattern emits them from its watch band, score >= 0.5, up) suspends: the test
# is about the chain, not about where the thresholds sit.
POLICY = """
version: "trace-chain-test-1"
description: Suspend on any account signal.
mode: most_severe
rules:
  - name: suspend-on-any-signal
    when:
      subject: account
      min_score: 0.5
    action: suspend
"""


class Spans:
    """The finished spans, indexed for walking."""

    def __init__(self, spans: Sequence[ReadableSpan]) -> None:
        self.all = list(spans)
        self.by_id = {span.context.span_id: span for span in self.all if span.context is not None}

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.all if span.name == name]

    def parent(self, span: ReadableSpan, hop: str) -> ReadableSpan:
        assert span.parent is not None, f"chain broken at {hop}: {span.name!r} has no parent"
        found = self.by_id.get(span.parent.span_id)
        assert found is not None, f"chain broken at {hop}: parent of {span.name!r} was not recorded"
        return found

    def linked(self, span: ReadableSpan, hop: str, where: Callable[[ReadableSpan], bool]) -> ReadableSpan:
        targets = [self.by_id.get(link.context.span_id) for link in span.links]
        found = [target for target in targets if target is not None and where(target)]
        assert found, f"chain broken at {hop}: none of the {len(targets)} links of {span.name!r} fits"
        return found[0]

    def children(self, span: ReadableSpan) -> list[ReadableSpan]:
        assert span.context is not None
        return [s for s in self.all if s.parent is not None and s.parent.span_id == span.context.span_id]


def producer_span(topic: str, key: str) -> Callable[[ReadableSpan], bool]:
    def fits(span: ReadableSpan) -> bool:
        attributes = span.attributes or {}
        return (span.kind is SpanKind.PRODUCER and attributes.get("messaging.destination.name") == topic
                and attributes.get("messaging.kafka.message.key") == key)
    return fits


@pytest.fixture
def spans_exporter(kafka_settings: Settings) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    telemetry.configure("trace-chain-test", kafka_settings, span_exporter=exporter)
    yield exporter
    exporter.shutdown()  # later tests in this process keep the provider but stop filling this exporter


async def publish_inference(settings: Settings) -> None:
    """Two days of one farm (and casual background), each event sent by the instrumented producer."""
    traffic = segment("campaign", seed=7, days=2)
    await ensure_topics(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        topic = settings.topic(INFERENCE.name)
        waits = [await producer.send(topic, event.SerializeToString(), key=event.account_id.encode())
                 for event in traffic.inference]
        await asyncio.gather(*waits)
    finally:
        await producer.stop()


class ActionLog:
    """Records on enforcement.actions (read from the start), with their headers."""

    def __init__(self, settings: Settings) -> None:
        self._consumer = make_consumer(settings, settings.topic("enforcement.actions"), group_id=None)
        self.actions: dict[str, tuple[enforcement_pb2.EnforcementAction, dict[str, bytes]]] = {}

    async def __aenter__(self) -> ActionLog:
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def poll(self) -> None:
        for records in (await self._consumer.getmany(timeout_ms=200)).values():
            for record in records:
                action = enforcement_pb2.EnforcementAction.FromString(record.value or b"")
                self.actions[action.action_id] = (action, {key: value for key, value in record.headers})

    async def first_suspension(self) -> enforcement_pb2.EnforcementAction:
        async def found() -> bool:
            await self.poll()
            return any(a.kind == enforcement_pb2.ACTION_KIND_SUSPEND and a.account_id for a, _ in self.actions.values())

        await wait_for(found, timeout_s=120)
        return next(a for a, _ in self.actions.values() if a.kind == enforcement_pb2.ACTION_KIND_SUSPEND)


async def test_inference_to_action_and_check_account_is_one_chain(
    kafka_settings: Settings, pg_database_url: str, spans_exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    # One partition, so the event-time order (and so the farm's scores) is the same in every run.
    settings = load_settings(**{**kafka_settings.model_dump(), "database_url": pg_database_url, "topic_partitions": 1,
                                "policy_file": policy})
    await upgrade_database(pg_database_url)
    billing_token = await mint(pg_database_url, "billing", "check")
    await publish_inference(settings)

    async with running(settings, "ratepattern"), running(settings, "enforcement") as enforcement, \
            ActionLog(settings) as action_log:
        account = (await action_log.first_suspension()).account_id
        async with grpc.aio.insecure_channel(f"127.0.0.1:{enforcement.port}") as channel:
            stub = enforcement_pb2_grpc.EnforcementServiceStub(channel)

            reply = await stub.CheckAccount(enforcement_pb2.CheckAccountRequest(account_id=account),
                                            metadata=(("authorization", f"Bearer {billing_token}"),))
        assert reply.verdict == enforcement_pb2.VERDICT_DENY and reply.action_id
        await wait_for(lambda: action_log.poll() if reply.action_id not in action_log.actions else True)
        action, headers = action_log.actions[reply.action_id]
    spans = Spans(spans_exporter.get_finished_spans())

    # CheckAccount (server span, child of the client's span) links to the decision of the action it reported.
    checks = [span for span in spans.named(CHECK_ACCOUNT) if span.kind is SpanKind.SERVER]
    assert checks, "no CheckAccount server span"
    check = checks[-1]
    assert spans.parent(check, "CheckAccount server <- client").kind is SpanKind.CLIENT
    decide = spans.linked(check, "CheckAccount -> decision", lambda s: s.name == "enforcement decide")
    # The decision's case-store writes are its children (SQLAlchemy instrumentation).
    statements = [str((s.attributes or {}).get("db.statement", "")) for s in spans.children(decide)]
    assert any(sql.startswith("INSERT INTO") for sql in statements), f"no case-store write under the decision: {statements}"
    # The decision ran inside enforcement's batch span, which links the RiskSignal records it consumed...
    enforcement_batch = spans.parent(decide, "decision -> enforcement batch")
    assert enforcement_batch.name == "enforcement process batch"
    signals_topic = settings.topic("risk.signals")
    signal_send = spans.linked(decide, "decision -> RiskSignal producer", producer_span(signals_topic, account))
    spans.linked(enforcement_batch, "enforcement batch -> RiskSignal producer",
                 lambda s: s.context is not None and signal_send.context is not None
                 and s.context.span_id == signal_send.context.span_id)
    # ...produced inside ratepattern's batch span, which links the account's inference events.
    ratepattern_batch = spans.parent(signal_send, "RiskSignal producer -> ratepattern batch")
    assert ratepattern_batch.name == "ratepattern process batch"
    inference_topic = settings.topic(INFERENCE.name)
    spans.linked(ratepattern_batch, "ratepattern batch -> inference producer", producer_span(inference_topic, account))

    # The action's publish span links to the same decision, and the record on enforcement.actions carries the
    # context of the producer span under it (the aiokafka instrumentation injected it).
    publishes = [s for s in spans.named("enforcement publish action")
                 if (s.attributes or {}).get("distillguard.action_id") == action.action_id]
    assert publishes, "no publish span for the action"
    publish = publishes[0]
    assert decide is spans.linked(publish, "action publish -> decision", lambda s: s.name == "enforcement decide")
    (action_send,) = [s for s in spans.children(publish) if s.kind is SpanKind.PRODUCER]
    assert action_send.context is not None
    traceparent = headers.get("traceparent", b"").decode()
    assert traceparent.split("-")[2:3] == [format_span_id(action_send.context.span_id)], traceparent
