"""docker-compose.yml agrees with the repository and with itself.

No Docker engine runs where the tests run, so the file is checked as data: what it builds and mounts exists,
its dependencies and healthchecks fit together, and no host port is published twice. Where the docker
client has the compose plugin, `docker compose config -q` checks it against the Compose specification too.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
PLATFORM_SERVICES = ("identity", "ratepattern", "enforcement")
# Long-running services that may lack a healthcheck, with the reason; nothing may depend on them being healthy.
NO_HEALTHCHECK_POSSIBLE = {
    "otel-collector": "the image is FROM scratch: no shell or HTTP client inside to probe with "
    "(open-telemetry/opentelemetry-collector-releases#866)",
}

Service = dict[str, Any]


@pytest.fixture(scope="module")
def services() -> dict[str, Service]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict), f"{COMPOSE_FILE.name} is not a mapping"
    found = document.get("services")
    assert isinstance(found, dict) and found, f"{COMPOSE_FILE.name} defines no services"
    return found


def dependencies(service: Service) -> dict[str, str]:
    """depends_on as {target: condition}; the list form means service_started."""
    depends_on = service.get("depends_on") or {}
    if isinstance(depends_on, list):
        return {name: "service_started" for name in depends_on}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in depends_on.items()}


def environment(service: Service) -> dict[str, str]:
    """environment as a mapping, whichever of the two Compose forms the file uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.partition("=")[::2] for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def one_shot_services(services: dict[str, Service]) -> set[str]:
    """Services that others wait on to finish (service_completed_successfully)."""
    return {
        target
        for service in services.values()
        for target, condition in dependencies(service).items()
        if condition == "service_completed_successfully"
    }


def dockerfile_copy_sources(dockerfile: Path) -> Iterator[str]:
    """Sources of COPY/ADD instructions that read from the build context (not --from another stage)."""
    for line in dockerfile.read_text().replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if not words or words[0].upper() not in {"COPY", "ADD"}:
            continue
        args = [word for word in words[1:] if not word.startswith("--")]
        if any(word.startswith("--from") for word in words[1:]) or len(args) < 2:
            continue
        yield from args[:-1]


def published_ports(service: Service) -> Iterator[tuple[int, str]]:
    """(host port, protocol) for each published port; ports without a host side are skipped."""
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            if entry.get("published") is None:
                continue
            published, protocol = str(entry["published"]), entry.get("protocol", "tcp")
        else:
            spec, _, protocol = str(entry).partition("/")
            parts = spec.rsplit(":", 2)  # [ip:]host:container, or a bare container port
            if len(parts) == 1:
                continue
            published = parts[-2]
        first, _, last = published.partition("-")
        for port in range(int(first), int(last or first) + 1):
            yield port, protocol or "tcp"


def test_every_service_has_an_image_or_a_build_whose_files_exist(services: dict[str, Service]) -> None:
    for name, service in services.items():
        build = service.get("build")
        if build is None:
            image = service.get("image")
            assert isinstance(image, str) and image, f"{name}: neither image nor build"
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), (
                f"{name}: pin the image to a version tag, got {image!r}"
            )
            continue
        spec = {"context": build} if isinstance(build, str) else build
        context = (REPO / spec.get("context", ".")).resolve()
        assert context.is_dir(), f"{name}: build context {context} is not a directory"
        dockerfile = context / spec.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: Dockerfile {dockerfile} does not exist"
        for source in dockerfile_copy_sources(dockerfile):
            assert list(context.glob(source)), f"{name}: {dockerfile.name} copies {source!r}, missing from {context}"


def test_depends_on_targets_exist_and_fit_their_condition(services: dict[str, Service]) -> None:
    for name, service in services.items():
        for target, condition in dependencies(service).items():
            assert target in services, f"{name} depends on {target!r}, which is not a service"
            assert condition in {"service_started", "service_healthy", "service_completed_successfully"}, (
                f"{name} -> {target}: unknown condition {condition!r}"
            )
            if condition == "service_healthy":
                healthcheck = services[target].get("healthcheck") or {}
                assert healthcheck.get("test") and not healthcheck.get("disable"), (
                    f"{name} waits for {target} to be healthy, but {target} has no healthcheck"
                )
            if condition == "service_completed_successfully":
                assert services[target].get("restart", "no") in {"no", "on-failure"}, (
                    f"{name} waits for {target} to finish, but {target} restarts forever"
                )


def test_long_running_services_have_healthchecks(services: dict[str, Service]) -> None:
    long_running = set(services) - one_shot_services(services)
    for name in sorted(long_running - set(NO_HEALTHCHECK_POSSIBLE)):
        test = (services[name].get("healthcheck") or {}).get("test")
        assert test, f"{name}: a long-running service needs a healthcheck"
    for name in NO_HEALTHCHECK_POSSIBLE:
        assert name in long_running, f"exemption for {name!r}, which is not a long-running service"
        assert "healthcheck" not in services[name], f"{name} has a healthcheck now: drop its exemption"


def test_files_mounted_from_the_repository_exist(services: dict[str, Service]) -> None:
    checked = []
    for name, service in services.items():
        for volume in service.get("volumes") or []:
            source = volume.get("source", "") if isinstance(volume, dict) else str(volume).split(":", 1)[0]
            if source.startswith(("./", "../")):
                assert (REPO / source).exists(), f"{name} mounts {source}, which does not exist"
                checked.append(source)
    assert checked, "no repository file is mounted (the collector's config should be)"


def test_no_two_services_publish_the_same_host_port(services: dict[str, Service]) -> None:
    owner: dict[tuple[int, str], str] = {}
    for name, service in services.items():
        for port, protocol in published_ports(service):
            assert (port, protocol) not in owner, (
                f"host port {port}/{protocol} is published by both {owner[port, protocol]} and {name}"
            )
            owner[port, protocol] = name
    assert owner, "no service publishes a port"


def test_platform_services_point_at_the_stacks_kafka_and_database(services: dict[str, Service]) -> None:
    for name in PLATFORM_SERVICES:
        assert name in services, f"platform service {name} is missing"
        env = environment(services[name])
        for variable in ("DISTILLGUARD_KAFKA_BOOTSTRAP", "DISTILLGUARD_DATABASE_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"):
            assert env.get(variable), f"{name}: {variable} is not set"
        for server in env["DISTILLGUARD_KAFKA_BOOTSTRAP"].split(","):
            broker = server.strip().rpartition(":")[0]
            assert broker in services, f"{name}: Kafka bootstrap host {broker!r} is not a service"
        for variable in ("DISTILLGUARD_DATABASE_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"):
            host = urlsplit(env[variable]).hostname
            assert host in services, f"{name}: {variable} names host {host!r}, which is not a service"
        assert env.get("OTEL_SERVICE_NAME"), f"{name}: OTEL_SERVICE_NAME is not set"


def test_docker_compose_config_accepts_the_file() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client on this machine")
    version = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=60)
    if version.returncode != 0:
        pytest.skip("the docker client has no compose plugin")
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, f"docker compose config rejected the file:\n{result.stderr}"
