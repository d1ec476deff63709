"""`distillguard clients …` and `distillguard operators …`: credentials for the API and the console."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from distillguard.casestore import create_engine, session_factory
from distillguard.settings import ConfigurationError, get_settings
from enforcement.domain.clients import ClientError, ClientRegistry
from enforcement.domain.operators import OperatorError, OperatorStore

T = TypeVar("T")
ACTOR = f"cli:{getpass.getuser()}"


def _with_sessions(work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    try:
        url = get_settings().database_url
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None

    async def run() -> T:
        engine = create_engine(url)
        try:
            return await work(session_factory(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except (ClientError, OperatorError) as exc:
        raise click.ClickException(str(exc)) from None


@click.group("clients")
def clients_group() -> None:
    """API clients (billing, auth) and their scoped tokens."""


@clients_group.command("add")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(["check", "report", "operator"]),
              help="Repeat for several scopes")
def clients_add(name: str, scopes: tuple[str, ...]) -> None:
    """Mint a client token; it is printed once and stored only as a hash."""
    client, token = _with_sessions(lambda sessions: ClientRegistry(sessions).mint(name, scopes, actor=ACTOR))
    click.echo(f"client {client.name} scopes {','.join(sorted(str(s) for s in client.scopes))}", err=True)
    click.echo(token)


@clients_group.command("revoke")
@click.argument("name")
@click.option("--reason", required=True)
def clients_revoke(name: str, reason: str) -> None:
    _with_sessions(lambda sessions: ClientRegistry(sessions).revoke(name, actor=ACTOR, reason=reason))
    click.echo(f"revoked {name}")


@clients_group.command("list")
def clients_list() -> None:
    for client in _with_sessions(lambda sessions: ClientRegistry(sessions).list()):
        click.echo(f"{client.name}\t{','.join(sorted(str(s) for s in client.scopes))}")


@click.group("operators")
def operators_group() -> None:
    """Console operators (argon2 password hashes in the case store)."""


@operators_group.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["viewer", "analyst", "admin"]))
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input")
def operators_add(name: str, role: str, password_stdin: bool) -> None:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    view = _with_sessions(lambda sessions: OperatorStore(sessions).add(name, role, password, actor=ACTOR))
    click.echo(f"operator {view.name} ({view.role.value}) added")


@operators_group.command("disable")
@click.argument("name")
@click.option("--reason", required=True)
def operators_disable(name: str, reason: str) -> None:
    _with_sessions(lambda sessions: OperatorStore(sessions).set_disabled(name, True, actor=ACTOR, reason=reason))
    click.echo(f"disabled {name}")


@operators_group.command("list")
def operators_list() -> None:
    for view in _with_sessions(lambda sessions: OperatorStore(sessions).list()):
        click.echo(f"{view.name}\t{view.role.value}\t{'disabled' if view.disabled else 'active'}")
