"""Action delivery under failure, on the real Kafka and PostgreSQL, with the worker as a real process.

Issue #6: an action is committed to the case store and published on enforcement.actions exactly once in effect.
Killing the worker (SIGKILL) between the case-store commit and the Kafka publish, or restarting PostgreSQL while
signals flow, must lose no action; a duplicate on the topic is allowed only as a byte-identical copy with the same
action_id (consumers dedupe by action id).

The worker runs `distillguard.runtime.serve_forever` in a child process: the service exactly as `distillguard serve`
runs it (pipeline, outbox relay, gRPC) minus the faust host, whose consumer group takes ~40 s to re-form after a
SIGKILL and would make each restart cost that much.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import grpc
import pytest
from aiokafka import TopicPartition
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from distillguard.casestore import (
    Action, ActionStatus, AuditEntry, OutboxMessage, Signal, create_engine, upgrade_database,
)
from distillguard.kafka import ensure_topics, make_consumer, make_producer
from distillguard.settings import Settings, load_settings
from distillguard.v1 import enforcement_pb2, ratepattern_pb2
from enforcement.testing import Events

pytestmark = pytest.mark.integration

ACTION_VERBS = ("action.apply", "action.propose", "action.shadow")
# Runs the service in the child; logging to stderr, which the test keeps in a file.
SERVE = (
    "import asyncio, logging\n"
    "logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s %(message)s')\n"
    "from distillguard.runtime import serve_forever\n"
    "from distillguard.settings import get_settings\n"
    "asyncio.run(serve_forever(get_settings(), 'enforcement'))\n"
)


# ------------------------------------------------------------------------------------------------ the traffic

@dataclass(frozen=True)
class Wave:
    """Risk signals (topic key, payload) and the accounts each must end up suspended."""

    signals: list[tuple[bytes, bytes]]
    accounts: set[str]


def waves(count: int, *, accounts: int, clusters: int, members: int = 5) -> list[Wave]:
    """`count` waves; each has `accounts` account signals (score 0.95: account-distillation-suspend) and
    `clusters` cluster signals over `members` fresh accounts each (score 0.9: farm-cluster-suspend), so every
    account of a wave gets exactly one applied SUSPEND. Every tenth account signal is delivered twice."""
    ev = Events()
    out = []
    for w in range(count):
        signals: list[tuple[bytes, bytes]] = []
        suspended: set[str] = set()
        for i in range(accounts):
            account = f"acct-{w}-{i}"
            payload = ev.account_signal(f"sig-{account}", account, 0.95).SerializeToString()
            signals += [(account.encode(), payload)] * (2 if i % 10 == 0 else 1)
            suspended.add(account)
        for c in range(clusters):
            cluster = f"cl-{w}-{c}"
            farm = [f"farm-{w}-{c}-{m}" for m in range(members)]
            signals.append((cluster.encode(), ev.cluster_signal(f"sig-{cluster}", cluster, farm, 0.9)
                            .SerializeToString()))
            suspended.update(farm)
        out.append(Wave(signals, suspended))
    return out


async def publish(settings: Settings, signals: Sequence[tuple[bytes, bytes]]) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        topic = settings.topic("risk.signals")
        waits = [await producer.send(topic, value, key=key) for key, value in signals]
        await asyncio.gather(*waits)
    finally:
        await producer.stop()


def distinct_signal_ids(all_waves: Sequence[Wave]) -> int:
    return len({ratepattern_pb2.RiskSignal.FromString(v).signal_id for w in all_waves for _, v in w.signals})


# ------------------------------------------------------------------------------------------------ a database to restart

class PrivatePostgres:
    """A throwaway PostgreSQL server (Debian's initdb/pg_ctl) on a free loopback port. The shared server on :5432
    carries other tests' databases, so a test that stops and starts the server gets one of its own."""

    def __init__(self, root: Path) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
        if not found:
            pytest.fail("PostgreSQL server binaries not found under /usr/lib/postgresql (deploy/local/infra.sh up)")
        self.bin = found[-1].parent
        self.root = root
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        # PostgreSQL refuses to run as root: as root its commands run as the postgres OS user.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*prefix, str(self.bin / program), *args], cwd="/", capture_output=True, text=True,
                              timeout=90)
        if done.returncode != 0:
            log = self.root / "postgres.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{program} {' '.join(args)}: exit {done.returncode}: {done.stderr}{done.stdout}{tail}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.root / "data"), "-U", "postgres", "--auth=trust", "--no-sync",
                  "-E", "UTF8", "--locale=C")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        self._run("pg_ctl", "start", "-D", str(self.root / "data"), "-l", str(self.root / "postgres.log"),
                  "-w", "-t", "60", "-o", options)

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-D", str(self.root / "data"), "-m", mode, "-w", "-t", "60")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running PrivatePostgres, removed after the test."""
    root = Path(tempfile.mkdtemp(prefix="dg-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    server = PrivatePostgres(root)
    try:
        server.init()
        server.start()
        yield server
    finally:
        try:
            server.stop("immediate")
        except RuntimeError:
            pass  # already stopped, or never started
        shutil.rmtree(root, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ the worker

class Worker:
    """The enforcement service in a child process; its log accumulates in `log_path` across restarts."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DISTILLGUARD_") or k.startswith(
            "DISTILLGUARD_INFRA_")}
        s = self.settings
        env.update({
            "DISTILLGUARD_KAFKA_BOOTSTRAP": s.kafka_bootstrap, "DISTILLGUARD_DATABASE_URL": s.database_url,
            "DISTILLGUARD_TOPIC_PREFIX": s.topic_prefix, "DISTILLGUARD_APP_ID_PREFIX": s.app_id_prefix,
            "DISTILLGUARD_DATA_DIR": str(s.data_dir), "DISTILLGUARD_CONSOLE_PORT": "0",
            "DISTILLGUARD_ENFORCEMENT_GRPC_PORT": str(self.port),
            "DISTILLGUARD_BATCH_MAX_RECORDS": str(s.batch_max_records),
            "DISTILLGUARD_BATCH_TIMEOUT_S": str(s.batch_timeout_s),
        })
        return env

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        if self._log is None:
            self._log = self.log_path.open("ab")
        self._log.write(f"===== start {self.starts} =====\n".encode())
        self._log.flush()
        self.process = subprocess.Popen([sys.executable, "-c", SERVE], env=self.env(), stdin=subprocess.DEVNULL,
                                        stdout=self._log, stderr=subprocess.STDOUT)
        self.starts += 1

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or committed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> int:
        """SIGTERM (graceful stop); the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise

    async def serving(self, timeout_s: float = 60.0) -> None:
        """Until the gRPC health service answers SERVING (state recovered)."""
        deadline = time.monotonic() + timeout_s
        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                assert self.alive(), f"worker exited:\n{self.log_tail()}"
                try:
                    reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"worker not SERVING within {timeout_s}s:\n{self.log_tail()}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_text()[-chars:]

    def close(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.kill()
            self.process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None


# ------------------------------------------------------------------------------------------------ what is where

async def topic_actions(settings: Settings) -> list[tuple[str, bytes]]:
    """Every (action_id, payload) on enforcement.actions, from the beginning to the current end."""
    consumer = make_consumer(settings, group_id=None)
    await consumer.start()
    try:
        topic = settings.topic("enforcement.actions")
        await consumer._client.force_metadata_update()  # noqa: SLF001 - no public refresh (as in pipeline.py)
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        assert partitions, topic
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out: list[tuple[str, bytes]] = []
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in fetched.items():
                out += [(enforcement_pb2.EnforcementAction.FromString(r.value or b"").action_id, r.value or b"")
                        for r in records if r.offset < ends[tp]]
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return out
    finally:
        await consumer.stop()


@dataclass
class Store:
    actions: dict[str, tuple[str, str, str, bool]]  # action_id -> (account_id, kind, status, shadow)
    outbox: list[tuple[int, str, bytes, bool]]  # (id, action_id, payload, published)
    audit_action_ids: list[str]  # detail.action_id of every action.* audit row
    signals: int

    @property
    def pending(self) -> list[tuple[int, str, bytes, bool]]:
        return [row for row in self.outbox if not row[3]]


async def read_store(engine: AsyncEngine) -> Store:
    async with engine.connect() as conn:
        actions = {row.action_id: (row.account_id, row.kind, row.status, row.shadow) for row in await conn.execute(
            select(Action.action_id, Action.account_id, Action.kind, Action.status, Action.shadow))}
        outbox = [(row.id, enforcement_pb2.EnforcementAction.FromString(row.payload).action_id, row.payload,
                   row.published_at is not None)
                  for row in await conn.execute(select(OutboxMessage).order_by(OutboxMessage.id))]
        audit = [str(detail.get("action_id")) for (detail,) in await conn.execute(
            select(AuditEntry.detail).where(AuditEntry.action.in_(ACTION_VERBS)))]
        signals = int(await conn.scalar(select(func.count()).select_from(Signal)) or 0)
    return Store(actions, outbox, audit, signals)


async def eventually(engine: AsyncEngine, done: Callable[[Store], bool], worker: Worker, timeout_s: float) -> Store:
    """Poll the case store until `done`; fail (with the worker's log) on timeout or if the worker exits."""
    deadline = time.monotonic() + timeout_s
    while True:
        store = await read_store(engine)
        if done(store):
            return store
        assert worker.alive(), f"worker exited:\n{worker.log_tail()}"
        assert time.monotonic() < deadline, (
            f"not done within {timeout_s}s: {store.signals} signals, {len(store.pending)} pending\n"
            f"{worker.log_tail()}")
        await asyncio.sleep(0.25)


async def assert_delivered_exactly_once_in_effect(
    settings: Settings, engine: AsyncEngine, expected_accounts: set[str]
) -> tuple[Store, list[tuple[str, bytes]]]:
    """The invariants of issue #6, checked once the worker is idle and stopped."""
    store = await read_store(engine)
    on_topic = await topic_actions(settings)
    published = {aid for aid, (_, _, status, shadow) in store.actions.items()
                 if status == ActionStatus.APPLIED and not shadow}
    # The scenario's decisions: every account exactly one applied, live SUSPEND (nothing lost at the input side:
    # a decision killed before its commit was re-delivered and taken after the restart).
    assert sorted(account for account, *_ in store.actions.values()) == sorted(expected_accounts)
    assert {(kind, status, shadow) for _, kind, status, shadow in store.actions.values()} == {
        ("suspend", ActionStatus.APPLIED, False)}
    # Case store -> outbox: one message per published action, none pending.
    assert Counter(aid for _, aid, _, _ in store.outbox) == Counter(published)
    assert store.pending == []
    # Outbox -> topic: every action is there; every action_id there is one action of the store; copies of an
    # action (a crash between publish and mark) are byte-identical, so deduping by action_id is exact.
    assert {aid for aid, _ in on_topic} == published, "lost or foreign actions on enforcement.actions"
    stored = {aid: payload for _, aid, payload, _ in store.outbox}
    assert all(payload == stored[aid] for aid, payload in on_topic), "a duplicate differs from the stored action"
    # Audit: one action.* row per action.
    assert Counter(store.audit_action_ids) == Counter(list(store.actions))
    return store, on_topic


def worker_settings(kafka_settings: Settings, database_url: str, tmp_path: Path) -> Settings:
    # Small batches: a wave is decided in several transactions, so there are several commit->publish windows.
    return load_settings(**{**kafka_settings.model_dump(), "database_url": database_url, "data_dir": tmp_path,
                            "batch_max_records": 40, "batch_timeout_s": 0.2})


# ------------------------------------------------------------------------------------------------ the tests

@dataclass
class Kill:
    delay_s: float
    # Outbox rows committed by the killed incarnation whose action was not on the topic when it died: the kill
    # landed between their case-store commit and their Kafka publish.
    committed_unpublished: int = 0
    # Pending rows (any incarnation) already on the topic: their mark never committed, so they go out again.
    published_unmarked: int = 0
    actions: int = 0  # in the case store at the kill


async def test_sigkill_between_commit_and_publish_loses_and_duplicates_no_action(
    kafka_settings: Settings, pg_database_url: str, tmp_path: Path
) -> None:
    """Three SIGKILLs mid-stream, each as soon as the incarnation has committed actions the relay has not yet
    marked published (the first at once, the later ones a little later, into the relay's publishing), then a
    restart; afterwards the store, the topic and the audit log agree exactly (modulo identical duplicates)."""
    settings = worker_settings(kafka_settings, pg_database_url, tmp_path)
    await ensure_topics(settings)
    await upgrade_database(pg_database_url)
    traffic = waves(4, accounts=80, clusters=5)
    expected = set().union(*(w.accounts for w in traffic))
    engine = create_engine(pg_database_url)
    worker = Worker(settings, tmp_path / "worker.log")
    kills = [Kill(0.0), Kill(0.15), Kill(0.4)]
    try:
        for kill, wave in zip(kills, traffic):
            async with engine.connect() as conn:
                floor = int(await conn.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0))) or 0)
            worker.start()
            await publish(settings, wave.signals)
            # Wait for this incarnation's first committed, unpublished action; then SIGKILL after `delay_s`.
            deadline = time.monotonic() + 60
            async with engine.connect() as conn:
                while not await conn.scalar(select(func.count()).select_from(OutboxMessage).where(
                        OutboxMessage.published_at.is_(None), OutboxMessage.id > floor)):
                    assert worker.alive(), worker.log_tail()
                    assert time.monotonic() < deadline, f"no action committed within 60s\n{worker.log_tail()}"
                    await conn.rollback()  # a fresh snapshot per poll
                    await asyncio.sleep(0.005)
            if kill.delay_s:
                await asyncio.sleep(kill.delay_s)
            worker.kill()
            await asyncio.sleep(0.5)  # requests already on the wire land (or never will) before we look
            at_kill, seen = await read_store(engine), {aid for aid, _ in await topic_actions(settings)}
            # Only this incarnation's rows prove the window: rows an earlier kill left pending wait here too.
            kill.committed_unpublished = sum(1 for row_id, aid, _, _ in at_kill.pending
                                             if row_id > floor and aid not in seen)
            kill.published_unmarked = sum(1 for _, aid, _, _ in at_kill.pending if aid in seen)
            kill.actions = len(at_kill.actions)

        worker.start()
        await publish(settings, traffic[-1].signals)
        total = distinct_signal_ids(traffic)
        await eventually(engine, lambda s: s.signals == total and not s.pending and len(s.actions) == len(expected),
                         worker, timeout_s=60)
        assert worker.terminate() == 0, worker.log_tail()
        store, on_topic = await assert_delivered_exactly_once_in_effect(settings, engine, expected)
    finally:
        worker.close()
        await engine.dispose()

    report = "; ".join(f"kill {k.delay_s}s after the first commit: {k.actions} actions in the store, "
                       f"{k.committed_unpublished} committed+unpublished, {k.published_unmarked} published+unmarked"
                       for k in kills)
    print(f"\n{len(store.actions)} actions, {len(on_topic)} messages on the topic; {report}")
    # The point of the test: at least one kill landed after a commit and before the publish of its actions
    # (the delay-0 kill practically always does: the relay polls every 0.2s and publishes one row at a time).
    assert any(k.committed_unpublished for k in kills), report


async def test_postgres_restart_mid_stream_the_worker_retries_and_loses_nothing(
    kafka_settings: Settings, private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """PostgreSQL (a throwaway server of the test's own) is stopped for a few seconds and started again while
    signals keep arriving. The worker process must survive (the batch in flight is retried, its offsets not
    committed) and, once the database is back, decide and publish everything exactly once in effect."""
    settings = worker_settings(kafka_settings, private_postgres.url, tmp_path)
    await ensure_topics(settings)
    await upgrade_database(private_postgres.url)
    traffic = waves(20, accounts=18, clusters=1)  # 20 waves x (18 + 5) accounts = 460 actions
    expected = set().union(*(w.accounts for w in traffic))
    engine = create_engine(private_postgres.url)
    worker = Worker(settings, tmp_path / "worker.log")
    try:
        worker.start()
        await worker.serving()
        pid = worker.process.pid if worker.process else None

        async def stream() -> None:
            for wave in traffic:
                await publish(settings, wave.signals)
                await asyncio.sleep(0.4)

        streaming = asyncio.create_task(stream())
        await eventually(engine, lambda s: len(s.actions) >= 60, worker, timeout_s=60)
        await asyncio.to_thread(private_postgres.stop, "fast")  # terminates every session, mid-transaction too
        outage = time.monotonic()
        await asyncio.sleep(4)  # signals keep arriving; batches fail against the database
        assert worker.alive(), f"the worker died with the database:\n{worker.log_tail()}"
        await asyncio.to_thread(private_postgres.start)
        outage_s = time.monotonic() - outage
        await streaming

        total = distinct_signal_ids(traffic)
        await eventually(engine, lambda s: s.signals == total and not s.pending and len(s.actions) == len(expected),
                         worker, timeout_s=60)
        assert worker.alive() and worker.process is not None and worker.process.pid == pid, "the worker restarted"
        assert worker.terminate() == 0, worker.log_tail()
        store, on_topic = await assert_delivered_exactly_once_in_effect(settings, engine, expected)
        log = worker.log_text()
    finally:
        worker.close()
        await engine.dispose()
    # The outage was felt by both halves: a batch was retried and the relay backed off.
    assert "case store unavailable" in log, log[-4000:]
    assert "outbox relay failed" in log, log[-4000:]
    print(f"\n{len(store.actions)} actions, {len(on_topic)} messages on the topic; database down {outage_s:.1f}s")
