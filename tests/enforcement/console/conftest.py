"""Fixtures for the console: a migrated SQLite case store per test, the enforcement domain on the bundled
default policy, seeded through the domain itself (enforcement.console.testing.seed), operators of every role,
and the console app on top, driven with httpx over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from enforcement.console import ConsoleData, ConsoleSettings, create_console_app
from enforcement.console.testing import FakeData, Seeded, add_operators, fast_hasher, seed
from enforcement.domain import EnforcementDomain, OperatorStore, PolicyHolder, load_default_policy

SECRET = "s" * 48


@pytest.fixture
async def domain(sessions: async_sessionmaker[AsyncSession]) -> EnforcementDomain:
    domain = EnforcementDomain(sessions, PolicyHolder(load_default_policy()))
    await domain.start()
    return domain


@pytest.fixture
async def seeded(domain: EnforcementDomain) -> Seeded:
    return await seed(domain)


@pytest.fixture
async def operators(sessions: async_sessionmaker[AsyncSession]) -> OperatorStore:
    store = OperatorStore(sessions, hasher=fast_hasher())
    await add_operators(store)
    return store


@pytest.fixture
def fake_data() -> FakeData:
    return FakeData()


@pytest.fixture
def settings() -> ConsoleSettings:
    return ConsoleSettings(secret_key=SECRET, poll_interval_s=2)


AppFactory = Callable[..., Starlette]


@pytest.fixture
def make_app(
    domain: EnforcementDomain, operators: OperatorStore, sessions: async_sessionmaker[AsyncSession],
    settings: ConsoleSettings, fake_data: FakeData,
) -> AppFactory:
    def make(extra: ConsoleData | None = fake_data, settings: ConsoleSettings = settings) -> Starlette:
        return create_console_app(domain, operators, settings=settings, extra=extra, sessions=sessions)

    return make


@pytest.fixture
def app(make_app: AppFactory) -> Starlette:
    return make_app()


ClientFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def make_client(app: Starlette) -> AsyncIterator[ClientFactory]:
    """httpx clients on the app over ASGI, as https://127.0.0.1 (the session cookie is Secure)."""
    clients: list[httpx.AsyncClient] = []

    def make(address: str = "127.0.0.1", application: Starlette = app) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=application, client=(address, 50000)),
                                   base_url="https://127.0.0.1", follow_redirects=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def client(make_client: ClientFactory) -> httpx.AsyncClient:
    return make_client()
