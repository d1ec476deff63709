"""The enforcement service: wiring of the enforcement domain into the platform runtime.

Consumes risk.signals, identity.clusters, events.signup (account facts), events.billing
(revenue, chargebacks, failed charges) and events.inference (API keys, for CheckAccount by key).
Decisions are committed to the case store together with their outbox rows; the outbox relay
publishes them on enforcement.actions. Serves the gRPC EnforcementService (token + scope auth)
and the operator console.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, Final

import grpc
from aiokafka import AIOKafkaProducer
from opentelemetry.trace import Link
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from distillguard import telemetry
from distillguard.casestore import create_engine, session_factory, upgrade_database
from distillguard.codec import InvalidEvent, decode_wire
from distillguard.pipeline import BatchResult, InputRecord, Rejected
from distillguard.runtime import ServiceDefinition, ServiceParts
from distillguard.settings import Settings
from distillguard.topics import (
    BILLING,
    CLUSTERS,
    DLQ_ENFORCEMENT,
    ACTIONS,
    INFERENCE,
    SIGNALS,
    SIGNUP,
    STATE_ENFORCEMENT,
)
from distillguard.v1 import enforcement_pb2, enforcement_pb2_grpc, events_pb2, identity_pb2, ratepattern_pb2
from enforcement.auth import TokenAuthInterceptor
from enforcement.domain import (
    ClientRegistry,
    EnforcementDomain,
    InvalidSignal,
    OperatorStore,
    OutboxRelay,
    PolicyHolder,
    SignalContext,
)
from enforcement.console import create_console_app, serve_console
from enforcement.console.settings import ConsoleSettings
from enforcement.peers import PeerServices
from enforcement.servicer import EnforcementServicer

log = logging.getLogger(__name__)
RELAY_IDLE_S: Final = 0.2
RELAY_BACKOFF_MAX_S: Final = 10.0
# Bounded memory of (account, api key) pairs already recorded, so inference traffic rarely reaches the DB.
SEEN_KEYS_MAX: Final = 1_000_000
# A batch that finds the case store unreachable is retried with backoff for this long, then the error ends the
# worker (to be restarted). Well below the consumer's max.poll.interval (aiokafka: 300 s), past which the group
# would evict the worker and the offset commit after the retried batch would fail.
CASE_STORE_OUTAGE_MAX_S: Final = 120.0
CASE_STORE_BACKOFF_S: Final = (0.25, 5.0)  # first and longest wait between attempts
# SQLSTATEs of "the server cannot be reached now": class 08 (connection exception), 57P01 admin shutdown,
# 57P02 crash shutdown, 57P03 cannot connect now (starting up or shutting down).
_UNREACHABLE_SQLSTATES: Final = ("08", "57P01", "57P02", "57P03")


class EnforcementProcessor:
    """BatchProcessor: all durable state is in the case store, so restore() has nothing to read."""

    replay_lookback_ms: int | None = None

    def __init__(self, domain: EnforcementDomain, action_contexts: telemetry.ActionContexts | None = None) -> None:
        self.domain = domain
        self._seen_keys: dict[tuple[str, str], None] = {}
        self._action_contexts = telemetry.ActionContexts() if action_contexts is None else action_contexts

    def restore(self, records: Iterable[tuple[bytes, bytes]]) -> None:
        for _ in records:  # the state topic stays empty: the case store is the state
            pass

    async def process(self, batch: Sequence[InputRecord]) -> BatchResult:
        """Facts first (signups, billing, identifiers, clusters), then the batch's risk signals in one go.

        A batch that finds the case store unreachable (connection refused or lost, server restarting) is retried
        whole, with backoff, for up to CASE_STORE_OUTAGE_MAX_S; meanwhile the pipeline commits no offset. Retrying
        is safe because every write is idempotent (signal inbox, payment event ids, cluster versions, upserts):
        what an interrupted attempt did commit is skipped by the next, and the verdict index is then rebuilt
        from the case store so that it holds those commits too. Any other error fails the batch at once.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        backoff, longest = CASE_STORE_BACKOFF_S
        interrupted = False
        while True:
            try:
                result = await self._process_once(batch)
                if interrupted:
                    # A COMMIT reported lost may have succeeded: its effects are in the case store, and the
                    # retry skipped them as duplicates, so memory learns them from the store.
                    await self.domain.rebuild_verdicts()
                return result
            except Exception as exc:
                interrupted = True
                if not case_store_unreachable(exc) or loop.time() - started + backoff > CASE_STORE_OUTAGE_MAX_S:
                    raise
                log.warning("case store unavailable (%s: %s); retrying the batch of %d records in %.2fs",
                            type(exc).__name__, (str(exc).splitlines() or [""])[0][:200], len(batch), backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, longest)

    async def _process_once(self, batch: Sequence[InputRecord]) -> BatchResult:
        result = BatchResult()
        signups: list[events_pb2.SignupEvent] = []
        signals: list[tuple[InputRecord, ratepattern_pb2.RiskSignal]] = []
        for record in batch:
            try:
                if record.topic == SIGNALS.name:
                    signals.append((record, _parse(ratepattern_pb2.RiskSignal, record.value)))
                else:
                    await self._fact(record, signups)
            except (InvalidEvent, InvalidSignal) as exc:
                result.rejected.append(Rejected(record, str(exc)))
        if signups:
            await self.domain.observe_signups(signups)
        if signals:
            first = signals[0][0]
            context = SignalContext(source=f"{first.topic}[{first.partition}]@{first.offset}+{len(signals)}")
            # --- telemetry hook: the decisions get their own span (a child of the batch span, linked to each
            # signal's producer); the case-store writes are its children and the actions remember it.
            tel = telemetry.current()
            with tel.messages_span("enforcement decide", (record.headers for record, _ in signals),
                                   {"distillguard.signal_count": len(signals)}):
                outcome = await self.domain.handle_signals([signal for _, signal in signals], context)
                if tel.tracing:
                    self._action_contexts.remember(action.action_id for action in outcome.published)
                for action in outcome.published:
                    log.info("action %s (%s) for %s", action.action_id, _kind_name(action.kind),
                             action.account_id or action.cluster_id, extra={"action_id": action.action_id})
            # --- end telemetry hook
            result.rejected.extend(Rejected(signals[index][0], reason) for index, reason in outcome.rejected)
        return result

    async def _fact(self, record: InputRecord, signups: list[events_pb2.SignupEvent]) -> None:
        if record.topic == CLUSTERS.name:
            await self.domain.handle_cluster_update(_parse(identity_pb2.ClusterUpdate, record.value))
        elif record.topic == SIGNUP.name:
            signup = decode_wire("signup", record.value)
            assert isinstance(signup, events_pb2.SignupEvent)
            signups.append(signup)
        elif record.topic == BILLING.name:
            billing = decode_wire("billing", record.value)
            assert isinstance(billing, events_pb2.BillingEvent)
            await self.domain.handle_billing(billing)
        elif record.topic == INFERENCE.name:
            inference = decode_wire("inference", record.value)
            assert isinstance(inference, events_pb2.InferenceEvent)
            pair = (inference.account_id, inference.api_key_id)
            if inference.api_key_id and pair not in self._seen_keys:
                await self.domain.record_identifiers(inference.account_id, [("api_key_id", inference.api_key_id)])
                self._seen_keys[pair] = None
                if len(self._seen_keys) > SEEN_KEYS_MAX:
                    del self._seen_keys[next(iter(self._seen_keys))]


def case_store_unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the case store could not be reached (connection refused or lost, the server shutting
    down or starting up), as opposed to the work itself failing."""
    error: BaseException | None = exc
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:  # SQLAlchemy recognised a disconnect
            return True
        error = exc.orig
    if isinstance(error, OSError):  # connect() refused, reset or timed out: raised by the driver unwrapped
        return True
    sqlstate = getattr(error, "sqlstate", None)  # asyncpg's errors, wrapped or raised by connect() as they are
    return isinstance(sqlstate, str) and sqlstate.startswith(_UNREACHABLE_SQLSTATES)


def _parse(message_type: Any, value: bytes) -> Any:
    try:
        return message_type.FromString(value)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise InvalidEvent(f"not a valid {message_type.DESCRIPTOR.name} protobuf: {exc}") from None


def relay_loop(
    relay: OutboxRelay, producer: AIOKafkaProducer, settings: Settings,
    action_contexts: telemetry.ActionContexts | None = None,
) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]]:
    """Publish committed outbox rows until stopped; back off on broker errors (rows stay pending)."""
    contexts = telemetry.ActionContexts() if action_contexts is None else action_contexts

    async def publish(topic: str, key: bytes, value: bytes) -> Awaitable[object]:
        """Hand the message to the producer; the returned future resolves on the broker's acknowledgement."""
        # --- telemetry hook: an action's publish span links to the span that decided it (the producer
        # instrumentation then carries this span's context in the record's headers); actions by kind.
        tel = telemetry.current()
        if topic != ACTIONS.name or not (tel.tracing or tel.metrics):
            sent: asyncio.Future[Any] = await producer.send(settings.topic(topic), value, key=key)
            return sent
        action = enforcement_pb2.EnforcementAction.FromString(value)
        decided = contexts.get(action.action_id)
        kind = _kind_name(action.kind)
        with tel.span("enforcement publish action", links=[Link(decided)] if decided else (),
                      attributes={"distillguard.action_id": action.action_id, "distillguard.action.kind": kind}):
            acknowledged: asyncio.Future[Any] = await producer.send(settings.topic(topic), value, key=key)

        def count(done: asyncio.Future[Any]) -> None:
            if not done.cancelled() and done.exception() is None:
                tel.count_action(kind)

        acknowledged.add_done_callback(count)
        return acknowledged
        # --- end telemetry hook

    async def run(stop: asyncio.Event) -> None:
        backoff = RELAY_IDLE_S
        while not stop.is_set():
            try:
                published = await relay.relay_once(publish)
                backoff = RELAY_IDLE_S
            except Exception:
                log.exception("outbox relay failed; retrying in %.1fs", backoff)
                published = 0
                backoff = min(backoff * 2, RELAY_BACKOFF_MAX_S)
            if not published:
                try:
                    await asyncio.wait_for(stop.wait(), backoff)
                except asyncio.TimeoutError:
                    pass

    return run


async def build(settings: Settings, producer: AIOKafkaProducer) -> ServiceParts:
    await upgrade_database(settings.database_url)
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    domain = EnforcementDomain(sessions, PolicyHolder.from_path(settings.policy_file))
    await domain.start()
    clients = ClientRegistry(sessions)
    action_contexts = telemetry.ActionContexts()  # telemetry hook: decision contexts, by action id
    telemetry.current().instrument_engine(engine)  # telemetry hook: SQLAlchemy spans (no-op when off)

    def register(server: grpc.aio.Server) -> list[str]:
        servicer = TracedEnforcementServicer(domain, action_contexts)  # telemetry hook (was EnforcementServicer)
        enforcement_pb2_grpc.add_EnforcementServiceServicer_to_server(servicer, server)
        return ["distillguard.v1.EnforcementService"]

    background = [relay_loop(OutboxRelay(sessions), producer, settings, action_contexts)]
    console = _console_task(settings, domain, sessions)
    if console is not None:
        background.append(console)
    return ServiceParts(
        processor=EnforcementProcessor(domain, action_contexts),
        register_grpc=register,
        interceptors=[TokenAuthInterceptor(clients)],
        background=background,
        close=engine.dispose,
    )


# --- telemetry hook ---------------------------------------------------------------------------------------------
def _kind_name(kind: int) -> str:
    """The action kind's enum name (its number for a kind this build does not know)."""
    try:
        return enforcement_pb2.ActionKind.Name(kind)  # type: ignore[arg-type]
    except ValueError:
        return str(kind)


class TracedEnforcementServicer(EnforcementServicer):
    """The servicer, with each answer's action tied to the span that decided it: CheckAccount's server span
    links to the decision of the action it reports; operator decisions remember their server span."""

    def __init__(self, domain: EnforcementDomain, action_contexts: telemetry.ActionContexts) -> None:
        super().__init__(domain)
        self._contexts = action_contexts

    async def CheckAccount(  # noqa: N802
        self, request: enforcement_pb2.CheckAccountRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> enforcement_pb2.CheckAccountResponse:
        reply = await super().CheckAccount(request, context)
        if reply.action_id:
            self._contexts.link_current_span(reply.action_id)
        return reply

    async def DecideCase(  # noqa: N802
        self, request: enforcement_pb2.DecideCaseRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> enforcement_pb2.DecideCaseResponse:
        reply = await super().DecideCase(request, context)
        self._contexts.remember(action.action_id for action in reply.actions)
        return reply

    async def ReverseAction(  # noqa: N802
        self, request: enforcement_pb2.ReverseActionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> enforcement_pb2.ReverseActionResponse:
        reply = await super().ReverseAction(request, context)
        self._contexts.remember([reply.restore.action_id])
        return reply
# --- end telemetry hook -------------------------------------------------------------------------------------------


def _console_task(
    settings: Settings, domain: EnforcementDomain, sessions: async_sessionmaker[AsyncSession]
) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]] | None:
    """The operator console on DISTILLGUARD_CONSOLE_HOST:PORT (port 0 turns it off)."""
    if settings.console_port == 0:
        return None
    console = ConsoleSettings.from_platform(settings)
    peers = PeerServices(settings)
    app = create_console_app(domain, OperatorStore(sessions), settings=console, extra=peers, sessions=sessions)

    async def run(stop: asyncio.Event) -> None:
        try:
            await serve_console(app, console.host, console.port, stop)
        finally:
            await peers.close()

    return run


def pending_actions_counter(settings: Settings) -> Callable[[], Awaitable[int]]:
    """For wait-idle: committed actions not yet published."""

    async def pending() -> int:
        engine = create_engine(settings.database_url)
        try:
            return await OutboxRelay(session_factory(engine)).pending()
        finally:
            await engine.dispose()

    return pending


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        name="enforcement",
        inputs=(SIGNALS, CLUSTERS, SIGNUP, BILLING, INFERENCE),
        dead_letter=DLQ_ENFORCEMENT,
        state=STATE_ENFORCEMENT,
        grpc_port=lambda settings: settings.enforcement_grpc_port,
        build=build,
    )
