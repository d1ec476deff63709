"""The console's parts on their own: login throttle, revoked sessions, settings, panels and serve_console."""

from __future__ import annotations

import asyncio
import socket
from datetime import datetime, timezone

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from distillguard.settings import load_settings
from enforcement.console import (
    ClusterGraph,
    ConsoleSettings,
    GraphEdge,
    GraphNode,
    Timeline,
    TrafficBucket,
    create_console_app,
    serve_console,
)
from enforcement.console.panels import graph_panel, timeline_panel, top_reasons
from enforcement.console.security import CONTENT_SECURITY_POLICY, LoginThrottle, RevokedSessions
from enforcement.console.server import bind
from enforcement.console.testing import FARM, Seeded
from enforcement.domain import EnforcementDomain, OperatorStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_throttle_is_a_sliding_window_per_name_and_address() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(max_failures=3, window_s=60, max_keys=100, clock=clock)
    for second in (0, 10, 20):
        clock.now = 1000 + second
        assert throttle.retry_after("Alice", "10.0.0.1") == 0
        started = throttle.failed("Alice", "10.0.0.1")
    assert started, "the third failure starts throttling"
    assert throttle.retry_after("alice ", "10.0.0.1") == pytest.approx(40), "names compare case-insensitively"
    assert throttle.retry_after("alice", "10.0.0.2") == 0 and throttle.retry_after("bob", "10.0.0.1") == 0
    clock.now = 1061  # the first failure has left the window: one more attempt may proceed
    assert throttle.retry_after("alice", "10.0.0.1") == 0
    throttle.succeeded("alice", "10.0.0.1")
    assert len(throttle) == 0


def test_one_address_cannot_spray_many_names() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(max_failures=3, window_s=60, max_keys=100, clock=clock)
    for n in range(3 * LoginThrottle.ADDRESS_FACTOR):
        assert throttle.retry_after(f"user{n}", "10.0.0.9") == 0
        throttle.failed(f"user{n}", "10.0.0.9")
    assert throttle.retry_after("someone-new", "10.0.0.9") > 0
    assert throttle.retry_after("someone-new", "10.0.0.8") == 0


def test_the_throttle_remembers_a_bounded_number_of_pairs() -> None:
    throttle = LoginThrottle(max_failures=3, window_s=60, max_keys=50, clock=FakeClock())
    for n in range(500):
        throttle.failed(f"user{n}", f"10.0.{n // 250}.{n % 250}")
    assert len(throttle) == 50


def test_revoked_sessions_are_forgotten_once_they_would_have_expired() -> None:
    clock = FakeClock()
    revoked = RevokedSessions(lifetime_s=100, max_entries=3, clock=clock)
    revoked.revoke("a")
    assert "a" in revoked and "b" not in revoked
    clock.now += 101
    assert "a" not in revoked
    for name in "bcde":
        revoked.revoke(name)
    assert "b" not in revoked and all(name in revoked for name in "cde")


def test_settings_refuse_cookies_without_secure_off_loopback() -> None:
    assert ConsoleSettings(host="127.0.0.1", secure_cookies=False).cookie_name == "dg_console"
    assert ConsoleSettings(host="::1", secure_cookies=False).secure_cookies is False
    assert ConsoleSettings().cookie_name == "__Host-dg_console"
    with pytest.raises(ValueError, match="secure_cookies"):
        ConsoleSettings(host="0.0.0.0", secure_cookies=False)
    with pytest.raises(ValueError, match="secret_key"):
        ConsoleSettings(secret_key="short")
    with pytest.raises(ValueError, match="page_size"):
        ConsoleSettings(page_size=0)


def test_settings_take_host_port_and_policy_from_the_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTILLGUARD_CONSOLE_HOST", "127.0.0.2")
    monkeypatch.setenv("DISTILLGUARD_CONSOLE_PORT", "8099")
    settings = ConsoleSettings.from_platform(load_settings(), page_size=10)
    assert (settings.host, settings.port, settings.page_size) == ("127.0.0.2", 8099, 10)
    assert ConsoleSettings.from_platform(load_settings(console_host="127.0.0.1")).port == 8099


def test_the_timeline_keeps_the_busiest_models_and_sums_the_rest() -> None:
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    buckets = tuple(TrafficBucket(start.replace(hour=h), requests=10, tokens=100,
                                  models={"a": 5, "b": 3, "c": 1, "d": 1}) for h in (2, 0, 1))
    panel = timeline_panel(Timeline("c", buckets), max_models=2)
    assert panel is not None
    assert panel["labels"] == ["11-01 00:00", "11-01 01:00", "11-01 02:00"]
    assert panel["models"] == {"a": [5, 5, 5], "b": [3, 3, 3], "other": [2, 2, 2]}
    hour_of_day = timeline_panel(Timeline("c", (TrafficBucket(13, 7), TrafficBucket(9, 4))))
    assert hour_of_day is not None and hour_of_day["labels"] == ["09:00", "13:00"]
    assert timeline_panel(None) is None and timeline_panel(Timeline("c", ())) is None


def test_top_reasons_rank_by_contribution_and_skip_garbage() -> None:
    reasons = top_reasons([
        {"feature": "a", "value": 0.2, "baseline": 0.1, "contribution": 0.1},
        {"feature": "b", "value": 0.9, "baseline": 0.0, "contribution": 0.7},
        {"feature": "c", "value": "not a number"},
    ])
    assert [r.feature for r in reasons] == ["b", "a"]
    assert reasons[0].ratio is None and reasons[1].ratio == pytest.approx(2.0)


async def test_a_big_graph_is_cut_keeping_the_accounts_the_case_acts_on(
    domain: EnforcementDomain, seeded: Seeded
) -> None:
    detail = await domain.get_case(seeded.farm)
    acted_on = {a.account_id for a in detail.actions}
    strangers = tuple(GraphNode(f"zz-{n}") for n in range(100))
    nodes = strangers + tuple(GraphNode(a) for a in sorted(acted_on))
    edges = tuple(GraphEdge(s.account_id, "farm-000", 0.5) for s in strangers)
    panel = graph_panel(detail, ClusterGraph(FARM, nodes, edges), max_nodes=40)
    assert panel is not None and panel.truncated and (panel.shown_accounts, panel.total_accounts) == (40, 130)
    shown = {n["data"]["id"] for n in panel.elements["nodes"]}
    assert acted_on <= shown
    assert all(e["data"]["source"] in shown and e["data"]["target"] in shown for e in panel.elements["edges"])


async def test_serve_console_serves_until_stopped(
    domain: EnforcementDomain, operators: OperatorStore, sessions: async_sessionmaker[AsyncSession],
    settings: ConsoleSettings,
) -> None:
    app = create_console_app(domain, operators, settings=settings, extra=None, sessions=sessions)
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    stop = asyncio.Event()
    serving = asyncio.create_task(serve_console(app, "127.0.0.1", port, stop, sock=sock))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        response = await client.get("/login")
    assert response.status_code == 200 and response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "server" not in response.headers

    stop.set()
    await asyncio.wait_for(serving, 10)
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            await client.get("/login")


async def test_serve_console_raises_when_the_port_is_taken(
    domain: EnforcementDomain, operators: OperatorStore, sessions: async_sessionmaker[AsyncSession],
    settings: ConsoleSettings,
) -> None:
    app = create_console_app(domain, operators, settings=settings, extra=None, sessions=sessions)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            await serve_console(app, "127.0.0.1", port, asyncio.Event())
