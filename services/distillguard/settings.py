"""Platform settings: one frozen object built once from DISTILLGUARD_* environment variables.

Defaults point at what `make infra-up` starts, so a developer needs no variables. A missing or
malformed value fails at start with the variable's name (see `load_settings`).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "DISTILLGUARD_"


class ConfigurationError(Exception):
    """Invalid configuration; the message names the offending environment variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port]")
    database_url: str = Field(
        "postgresql+asyncpg://distillguard:distillguard@127.0.0.1:5432/distillguard",
        description="SQLAlchemy async URL of the case store (postgresql+asyncpg:// or sqlite+aiosqlite://)",
    )
    data_dir: Path = Field(Path(".data"), description="Local state: faust tables, embedded SQLite, rejects")
    topic_partitions: int = Field(4, ge=1, le=256, description="Partitions for the platform's topics")
    topic_replication: int = Field(1, ge=1, le=5, description="Replication factor for the platform's topics")
    identity_grpc_port: int = Field(50051, ge=1, le=65535)
    ratepattern_grpc_port: int = Field(50052, ge=1, le=65535)
    enforcement_grpc_port: int = Field(50053, ge=1, le=65535)
    console_host: str = Field("127.0.0.1")
    console_port: int = Field(8080, ge=0, le=65535, description="Operator console port; 0 turns it off")
    metrics_port: int = Field(0, ge=0, le=65535, description="Prometheus metrics port; 0 disables")
    grpc_host: str = Field("127.0.0.1")
    identity_target: str = Field("127.0.0.1:50051", description="Where enforcement reaches the identity gRPC API")
    ratepattern_target: str = Field("127.0.0.1:50052", description="Where enforcement reaches the rate-pattern API")
    policy_file: Path | None = Field(None, description="Enforcement policy YAML; None = the bundled default")
    batch_max_records: int = Field(5000, ge=1, le=100_000)
    batch_timeout_s: float = Field(0.5, gt=0, le=30)
    app_id_prefix: str = Field("distillguard", description="Prefix of consumer group ids and faust app ids")
    topic_prefix: str = Field("", max_length=64, description="Prepended to every topic name (isolates test runs)")

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_hosts(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port], got {value!r}")
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("expected postgresql+asyncpg://... or sqlite+aiosqlite://...")
        return value

    def topic(self, base_name: str) -> str:
        """The broker-side name of a platform topic."""
        return f"{self.topic_prefix}{base_name}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


#: Variables with the prefix that belong to other tools (the local infrastructure scripts).
FOREIGN_PREFIXES = ("DISTILLGUARD_INFRA_",)


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment (overrides win); raise ConfigurationError naming the variable.

    A DISTILLGUARD_* variable that names no setting is an error too: a typo must not silently
    fall back to a default.
    """
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(
        name for name in os.environ
        if name.startswith(ENV_PREFIX) and name not in known and not name.startswith(FOREIGN_PREFIXES)
    )
    if unknown:
        raise ConfigurationError(f"unknown configuration variable(s): {', '.join(unknown)}")
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            problems.append(f"{ENV_PREFIX}{field.upper()}: {error['msg']} (got {error.get('input')!r})")
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
