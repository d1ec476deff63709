"""Shared fixtures: isolated settings per test on the real broker and database.

Integration tests talk to what `make infra-up` starts (Kafka 4.x on 127.0.0.1:9092, PostgreSQL
on 127.0.0.1:5432) or to DISTILLGUARD_KAFKA_BOOTSTRAP / DISTILLGUARD_DATABASE_URL; each test
gets uuid-named topics, consumer groups and its own database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.engine import make_url

from distillguard.settings import Settings, load_settings


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@pytest.fixture
def kafka_settings(tmp_path: object) -> Settings:
    """Settings on the real broker with a unique topic prefix and consumer-group prefix."""
    return load_settings(topic_prefix=unique("t") + ".", app_id_prefix=unique("dg"), data_dir=tmp_path,
                         console_port=0)


@pytest.fixture
async def pg_database_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database on the configured server, dropped after the test."""
    import asyncpg

    base = make_url(load_settings().database_url)
    if base.get_backend_name() != "postgresql":
        pytest.fail("DISTILLGUARD_DATABASE_URL must point at PostgreSQL for integration tests")
    name = unique("dgtest_")
    dsn = base.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield base.set(database=name).render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/casestore.sqlite3"


@pytest.fixture(scope="session")
def embedded_broker() -> Iterator[Settings]:
    """One Tansu broker for the session on a free port (embedded-mode tests)."""
    import socket

    from distillguard.embedded import EmbeddedBroker, embedded_environment

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix="dg-embedded-"))
    environment = embedded_environment(folder, port)
    broker = EmbeddedBroker(environment)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(broker.start())
    try:
        yield load_settings(kafka_bootstrap=environment.bootstrap, database_url=environment.database_url,
                            data_dir=folder)
    finally:
        loop.run_until_complete(broker.stop())
        loop.close()
