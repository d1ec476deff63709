"""The `distillguard` command: one entry point for every process type and tool."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import orjson

from distillguard.settings import ConfigurationError, Settings, get_settings, load_settings

SERVICES = ("identity", "ratepattern", "enforcement")


def _settings(embedded: bool = False) -> Settings:
    try:
        settings = get_settings()
        if embedded:
            from distillguard.embedded import embedded_settings

            settings = embedded_settings(settings)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """distillguard: find, link and stop model-distillation account farms."""


@main.command()
@click.argument("source")
@click.option("--rejects", "rejects_path", type=click.Path(path_type=Path), default=None,
              help="Where bad lines go (default: <data dir>/rejects/<file name>.rejects.jsonl)")
@click.option("--embedded", is_flag=True, help="Publish to the embedded broker started by `up --embedded`")
def publish(source: str, rejects_path: Path | None, embedded: bool) -> None:
    """Validate JSON Lines events from SOURCE (a .jsonl[.gz] file or -) and publish the good ones.

    Exit status: 0 when every line was published, 1 when some lines were rejected (each is in
    the rejects file with its line number and reason), 2 on a usage or broker error.
    """
    from distillguard.kafka import BrokerUnavailable
    from distillguard.publish import default_workers, publish_file

    settings = _settings(embedded)
    if source != "-" and not Path(source).is_file():
        raise click.BadParameter(f"no such file: {source}", param_hint="SOURCE")
    if rejects_path is None:
        stem = "stdin" if source == "-" else Path(source).name
        rejects_path = settings.data_dir / "rejects" / f"{stem}.rejects.jsonl"
    try:
        summary = asyncio.run(publish_file(settings, source, rejects_path, workers=default_workers()))
    except BrokerUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(orjson.dumps({**summary.as_dict(), "rejects_file": str(rejects_path) if summary.rejected else None}))
    if summary.rejected:
        click.echo(f"{summary.rejected} of {summary.lines} lines rejected; see {rejects_path}", err=True)
        sys.exit(1)


@main.command()
@click.argument("service", type=click.Choice(SERVICES))
def serve(service: str) -> None:
    """Run one service (a faust worker with its gRPC API) against the configured Kafka and database."""
    from distillguard.runtime import ServiceNotAvailable, run_service

    settings = _settings()
    try:
        run_service(settings, service)
    except ServiceNotAvailable as exc:
        raise click.ClickException(str(exc)) from None


def available_services() -> list[str]:
    from distillguard.runtime import ServiceNotAvailable, load_definition

    found = []
    for name in SERVICES:
        try:
            load_definition(name)
        except ServiceNotAvailable:
            continue
        found.append(name)
    return found


class Supervisor:
    """Runs `distillguard serve NAME` children; restarts a crashed child with backoff (bounded)."""

    MAX_RESTARTS = 5

    def __init__(self, names: Sequence[str], env: dict[str, str]) -> None:
        self.names = list(names)
        self.env = env
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: dict[str, int] = {name: 0 for name in names}
        self.stopping = False

    def start(self, name: str) -> None:
        self.children[name] = subprocess.Popen(
            [sys.executable, "-m", "distillguard.cli", "serve", name], env=self.env, stdin=subprocess.DEVNULL
        )

    def start_all(self) -> None:
        for name in self.names:
            self.start(name)

    def poll(self) -> None:
        for name, child in list(self.children.items()):
            code = child.poll()
            if code is None or self.stopping:
                continue
            self.restarts[name] += 1
            if self.restarts[name] > self.MAX_RESTARTS:
                raise click.ClickException(f"service {name} exited {self.MAX_RESTARTS + 1} times; giving up")
            click.echo(f"service {name} exited with {code}; restarting ({self.restarts[name]})", err=True)
            time.sleep(min(2 ** self.restarts[name], 30))
            self.start(name)

    def stop_all(self) -> None:
        self.stopping = True
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in self.children.values():
            try:
                child.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()


@main.command()
@click.option("--embedded", is_flag=True, help="Start the Tansu broker and a SQLite case store (no infrastructure)")
def up(embedded: bool) -> None:
    """Run every platform service, supervised (Ctrl-C stops them)."""
    from distillguard.casestore.engine import upgrade_database
    from distillguard.embedded import EmbeddedBroker, embedded_environment
    from distillguard.kafka import ensure_topics

    base = _settings()
    env = dict(os.environ)
    broker: EmbeddedBroker | None = None
    if embedded:
        environment = embedded_environment(base.data_dir)
        env.update(environment.env())
        broker = EmbeddedBroker(environment)
        asyncio.run(broker.start())
        click.echo(f"embedded broker on {environment.bootstrap}; case store {environment.database_url}")
    settings = load_settings(
        kafka_bootstrap=env.get("DISTILLGUARD_KAFKA_BOOTSTRAP", base.kafka_bootstrap),
        database_url=env.get("DISTILLGUARD_DATABASE_URL", base.database_url),
    )
    supervisor = Supervisor(available_services(), env)
    try:
        asyncio.run(upgrade_database(settings.database_url))
        asyncio.run(ensure_topics(settings))
        if not supervisor.names:
            click.echo("no services are part of this build yet; the broker and case store are ready", err=True)
        supervisor.start_all()
        click.echo(f"running: {', '.join(supervisor.names) or 'infrastructure only'} (Ctrl-C to stop)")
        while True:
            supervisor.poll()
            time.sleep(1)
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        supervisor.stop_all()
        if broker is not None:
            asyncio.run(broker.stop())


@main.command("wait-idle")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=300, show_default=True)
@click.option("--embedded", is_flag=True)
def wait_idle_command(timeout_s: float, embedded: bool) -> None:
    """Exit 0 once every consumer group has caught up and every pending action is published."""
    from distillguard.idle import wait_idle
    from distillguard.runtime import load_definition

    settings = _settings(embedded)
    groups = {name: load_definition(name).inputs for name in available_services()}
    pending = None
    if "enforcement" in groups:
        from enforcement.service import pending_actions_counter

        pending = pending_actions_counter(settings)
    ok, message = asyncio.run(wait_idle(settings, groups, timeout_s, pending))
    click.echo(message, err=not ok)
    if not ok:
        sys.exit(1)


@main.command()
@click.argument("source")
@click.option("--slice-hours", type=click.FloatRange(min=0.01), default=6.0, show_default=True,
              help="Event time published before waiting for the services to be idle")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=600, show_default=True,
              help="wait-idle limit per slice")
@click.option("--embedded", is_flag=True)
def replay(source: str, slice_hours: float, timeout_s: float, embedded: bool) -> None:
    """Publish a sorted event file in event-time slices, waiting for every service between slices."""
    from distillguard.publish import default_workers
    from distillguard.replay import replay_file
    from distillguard.runtime import load_definition

    settings = _settings(embedded)
    groups = {name: load_definition(name).inputs for name in available_services()}
    from enforcement.service import pending_actions_counter

    rejects = settings.data_dir / "rejects" / f"{Path(source).name}.rejects.jsonl"
    try:
        summary = asyncio.run(replay_file(settings, source, rejects, groups, slice_hours=slice_hours,
                                          timeout_s=timeout_s, pending_actions=pending_actions_counter(settings),
                                          workers=default_workers()))
    except TimeoutError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(orjson.dumps({"slices": summary.slices, **summary.published.as_dict()}))
    if summary.published.rejected:
        click.echo(f"{summary.published.rejected} lines rejected; see {rejects}", err=True)
        sys.exit(1)


@main.command()
@click.argument("what", type=click.Choice(["decisions", "clusters", "links"]))
@click.option("--min-score", type=click.FloatRange(0, 1), default=0.0, help="links only")
@click.option("--embedded", is_flag=True)
def export(what: str, min_score: float, embedded: bool) -> None:
    """Write decisions, clusters or links as JSON Lines to stdout."""
    from distillguard.exports import ExportUnavailable, export_lines

    settings = _settings(embedded)
    try:
        for line in export_lines(settings, what, min_score):
            sys.stdout.buffer.write(line + b"\n")
    except ExportUnavailable as exc:
        raise click.ClickException(str(exc)) from None


@main.group()
def db() -> None:
    """Case store administration."""


@db.command("upgrade")
@click.option("--embedded", is_flag=True)
def db_upgrade(embedded: bool) -> None:
    """Apply the Alembic migrations to DISTILLGUARD_DATABASE_URL."""
    from distillguard.casestore.engine import upgrade_database

    settings = _settings(embedded)
    asyncio.run(upgrade_database(settings.database_url))
    click.echo(f"case store at head: {settings.database_url.split('@')[-1]}")


@main.command("create-topics")
@click.option("--embedded", is_flag=True)
def create_topics(embedded: bool) -> None:
    """Create the platform's topics (partitions, retention and compaction from distillguard.topics)."""
    from distillguard.kafka import ensure_topics

    created = asyncio.run(ensure_topics(_settings(embedded)))
    click.echo(f"created {len(created)} topics" + (f": {', '.join(created)}" if created else ""))


@main.command()
@click.option("--port", type=int, required=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--service", default="", help="Service name to check ('' = the whole server)")
def healthcheck(port: int, host: str, service: str) -> None:
    """Exit 0 when the gRPC health service at HOST:PORT answers SERVING (for container healthchecks)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"{host}:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response: Any = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=3)
        except grpc.RpcError as exc:
            raise click.ClickException(f"health check failed: {exc.code().name}") from None
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    click.echo(status)
    if response.status != health_pb2.HealthCheckResponse.SERVING:
        sys.exit(1)


def _register_contributed() -> None:
    """Commands that live with the tool or service they drive."""
    from distillguard.demo import demo_command
    from distillguard.evaluation.cli import evaluate_command
    from distillguard.simulator.cli import simulate_command
    from enforcement.cli import clients_group, operators_group

    for command in (simulate_command, evaluate_command, demo_command, clients_group, operators_group):
        main.add_command(command)


_register_contributed()

if __name__ == "__main__":
    main()
