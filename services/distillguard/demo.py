"""`distillguard demo`: the whole platform on the embedded default, replaying a simulated attack.

Starts `distillguard up --embedded` (Tansu + SQLite, all three services), simulates a scenario,
publishes it, waits until every service is idle, exports the decisions, scores them with
`distillguard evaluate`, and prints the scorecard and the operator console's address. Every
step is the same CLI command a user would run, so the demo doubles as a walkthrough.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from distillguard.embedded import embedded_environment
from distillguard.settings import get_settings

DEMO_OPERATOR = "demo-analyst"


def _cli(*args: str, env: dict[str, str], stdout: int | None = None, stdin: bytes | None = None) -> bytes:
    click.echo(f"$ distillguard {' '.join(args)}")
    completed = subprocess.run(
        [sys.executable, "-m", "distillguard.cli", *args], env=env, stdout=stdout, input=stdin, check=False
    )
    if completed.returncode != 0:
        raise click.ClickException(f"`distillguard {' '.join(args)}` exited with {completed.returncode}")
    return completed.stdout or b""


@click.command("demo")
@click.option("--scenario", default="smoke", show_default=True, help="Simulator preset to replay")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--timeout", "timeout_s", type=int, default=900, show_default=True, help="wait-idle limit")
@click.option("--keep-running/--exit", default=True, show_default=True,
              help="Keep the stack (and the console) running after the scorecard")
def demo_command(scenario: str, seed: int, timeout_s: int, keep_running: bool) -> None:
    """Replay a simulated distillation attack through the embedded platform and print the scorecard."""
    settings = get_settings()
    folder = (settings.data_dir / "demo").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    environment = embedded_environment(settings.data_dir)
    # Tansu keeps topics in memory, so a fresh demo starts from a fresh case store too.
    Path(environment.database_url.removeprefix("sqlite+aiosqlite:///")).unlink(missing_ok=True)
    env = {**os.environ, **environment.env()}
    _cli("simulate", "--scenario", scenario, "--seed", str(seed), "--out", str(folder), env=env)

    stack_log = open(folder / "stack.log", "wb")  # noqa: SIM115 - lives as long as the stack
    click.echo(f"$ distillguard up --embedded   (log: {folder / 'stack.log'})")
    stack = subprocess.Popen(
        [sys.executable, "-m", "distillguard.cli", "up", "--embedded"], env={**os.environ},
        stdout=stack_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        _wait_for_stack(stack, env, folder)
        password = _demo_operator(env)
        _cli("replay", str(folder / "events.jsonl.gz"), "--slice-hours", "12", "--timeout", str(timeout_s), env=env)
        decisions = _cli("export", "decisions", env=env, stdout=subprocess.PIPE)
        (folder / "decisions.jsonl").write_bytes(decisions)
        _cli("evaluate", "--labels", str(folder / "labels.json"), "--decisions", str(folder / "decisions.jsonl"),
             "--events", str(folder / "events.jsonl.gz"), "--out", str(folder / "report"), env=env)
        console = f"http://{settings.console_host}:{settings.console_port}/"
        click.echo(f"\nreport: {folder / 'report' / 'report.md'}")
        click.echo(f"operator console: {console}  (user {DEMO_OPERATOR}, password {password})")
        if keep_running:
            click.echo("the stack keeps running; Ctrl-C stops it")
            stack.wait()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGINT)
            try:
                stack.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(stack.pid, signal.SIGKILL)
        stack_log.close()


def _wait_for_stack(stack: subprocess.Popen[bytes], env: dict[str, str], folder: Path) -> None:
    """Until every service answers its gRPC health check (Tansu's first group join is slow)."""
    settings = get_settings()
    ports = [settings.identity_grpc_port, settings.ratepattern_grpc_port, settings.enforcement_grpc_port]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if stack.poll() is not None:
            raise click.ClickException(f"the stack exited with {stack.returncode}; see {folder / 'stack.log'}")
        healthy = [
            subprocess.run([sys.executable, "-m", "distillguard.cli", "healthcheck", "--port", str(port)],
                           env=env, capture_output=True, check=False).returncode == 0
            for port in ports
        ]
        if all(healthy):
            click.echo("all services SERVING")
            return
        time.sleep(2)
    raise click.ClickException(f"services not healthy within 240 s; see {folder / 'stack.log'}")


def _demo_operator(env: dict[str, str]) -> str:
    """An analyst for the console, with a fresh random password printed at the end."""
    import secrets

    password = secrets.token_urlsafe(12)
    _cli("operators", "add", DEMO_OPERATOR, "--role", "analyst", "--password-stdin",
         env=env, stdin=password.encode())
    return password
