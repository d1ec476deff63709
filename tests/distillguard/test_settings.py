from __future__ import annotations

import pytest

from distillguard.settings import ConfigurationError, load_settings


def test_defaults_point_at_make_infra_up(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISTILLGUARD_KAFKA_BOOTSTRAP", "DISTILLGUARD_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.database_url.startswith("postgresql+asyncpg://") and "127.0.0.1:5432" in settings.database_url


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DISTILLGUARD_KAFKA_BOOTSTRAP", "localhost"),
        ("DISTILLGUARD_DATABASE_URL", "postgresql://sync/driver"),
        ("DISTILLGUARD_TOPIC_PARTITIONS", "0"),
        ("DISTILLGUARD_ENFORCEMENT_GRPC_PORT", "seventy"),
    ],
)
def test_bad_values_fail_naming_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert variable in str(caught.value)


def test_unknown_prefixed_variables_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTILLGUARD_KAFKA_BOOTSTRAPS", "127.0.0.1:9092")
    with pytest.raises(ConfigurationError, match="DISTILLGUARD_KAFKA_BOOTSTRAPS"):
        load_settings()


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(Exception, match="frozen"):
        settings.kafka_bootstrap = "elsewhere:1"
