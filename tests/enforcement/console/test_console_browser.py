"""The console in a real browser: Debian's Chromium driven by Playwright against the console served by uvicorn
(serve_console) on 127.0.0.1, over a SQLite case store seeded through the domain.

The server runs in its own thread and event loop; the tests reach the database through that loop. Screenshots
go to artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from distillguard import topics
from distillguard.casestore import AuditQuery, create_engine, session_factory, upgrade_database
from distillguard.v1 import enforcement_pb2
from enforcement.console import ConsoleSettings, create_console_app, serve_console
from enforcement.console.server import bind
from enforcement.domain import EnforcementDomain, OperatorStore, OutboxRelay, PolicyHolder, load_default_policy

from enforcement.console.testing import FARM_MEMBERS, PASSWORD, FakeData, Seeded, add_operators, fast_hasher, outbox_rows, seed
from enforcement.testing import acknowledged

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "artifacts" / "screenshots"
T = TypeVar("T")


@dataclass
class LiveConsole:
    """The console served on a free port of 127.0.0.1 by serve_console in a background thread's event loop."""

    url: str
    loop: asyncio.AbstractEventLoop
    stop: asyncio.Event
    domain: EnforcementDomain
    sessions: async_sessionmaker[AsyncSession]
    seeded: Seeded
    problems: list[str] = field(default_factory=list)

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop (the database engine belongs to it) and wait for its result."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=60)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveConsole]:
    ready = threading.Event()
    box: dict[str, LiveConsole] = {}
    failure: list[BaseException] = []

    async def serve() -> None:
        url = f"sqlite+aiosqlite:///{tmp_path}/casestore/case.db"
        await upgrade_database(url)
        engine = create_engine(url)
        try:
            sessions = session_factory(engine)
            domain = EnforcementDomain(sessions, PolicyHolder(load_default_policy()))
            await domain.start()
            seeded = await seed(domain)
            operators = OperatorStore(sessions, hasher=fast_hasher())
            await add_operators(operators)
            # Secure cookies stay on: Chromium accepts them from http://127.0.0.1, a secure context.
            settings = ConsoleSettings(secret_key="b" * 48, poll_interval_s=2)
            app = create_console_app(domain, operators, settings=settings, extra=FakeData(), sessions=sessions)
            sock = bind("127.0.0.1", 0)
            port = sock.getsockname()[1]
            stop = asyncio.Event()
            box["live"] = LiveConsole(f"http://127.0.0.1:{port}", asyncio.get_running_loop(), stop, domain, sessions,
                                      seeded)
            ready.set()
            await serve_console(app, "127.0.0.1", port, stop, sock=sock)
        finally:
            await engine.dispose()

    def main() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=main, name="console-server", daemon=True)
    thread.start()
    assert ready.wait(60), "console did not start"
    if failure:
        raise failure[0]
    live = box["live"]
    yield live
    live.loop.call_soon_threadsafe(live.stop.set)
    thread.join(30)
    assert not thread.is_alive(), "serve_console did not return after stop was set"
    assert not failure, failure


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, live: LiveConsole) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)

    def watch(message: ConsoleMessage) -> None:
        if message.type == "error":
            live.problems.append(message.text)

    page.on("console", watch)
    page.on("pageerror", lambda error: live.problems.append(str(error)))
    yield page
    context.close()


def sign_in(page: Page, live: LiveConsole, name: str) -> None:
    page.goto(f"{live.url}/cases")
    assert "/login" in page.url
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}/cases")


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_analyst_approves_a_farm_case_and_the_ban_is_published(page: Page, live: LiveConsole) -> None:
    sign_in(page, live, "alice")
    rows = page.locator("tr.case-row")
    assert rows.count() == 4
    shot(page, "01-queue")

    page.click(f"tr[data-case-id='{live.seeded.farm}'] a")
    page.wait_for_selector("#cluster-graph[data-rendered='yes']")
    assert page.get_attribute("#cluster-graph", "data-node-count") == str(len(FARM_MEMBERS))
    assert page.evaluate("window.distillguardGraph.nodes().length") == len(FARM_MEMBERS)
    assert page.evaluate("window.distillguardGraph.edges().length") == 2 * len(FARM_MEMBERS)
    page.wait_for_selector("#traffic[data-rendered='yes']")
    assert page.locator("#graph-legend li").all_inner_texts() == ["enforced"]
    page.select_option("#graph-colour", "signup_path")
    assert sorted(page.locator("#graph-legend li").all_inner_texts()) == ["self_serve", "startup_program"]
    page.select_option("#graph-colour", "status")
    shot(page, "02-case-farm")
    page.locator(".graph-panel").screenshot(path=str(SCREENSHOTS / "02b-farm-graph.png"))
    page.locator(".timeline-panel").screenshot(path=str(SCREENSHOTS / "02c-farm-timeline.png"))

    page.click("a.decide-approve")
    page.wait_for_selector("#preview")
    assert page.get_attribute("[data-would-apply]", "data-would-apply") == str(len(FARM_MEMBERS))
    assert page.inner_text("[data-blast='paying']") == "2"
    shot(page, "03-approve-preview")
    before = live.run(outbox_rows(live.sessions))
    page.fill("#reason", "card and device farm, 30 accounts distilling via one template")
    page.click("#confirm")
    page.wait_for_url(f"{live.url}/cases/{live.seeded.farm}")
    assert "Case approved: now enforced; 30 action(s) published." in page.inner_text(".flash")
    shot(page, "04-case-approved")

    assert live.run(outbox_rows(live.sessions)) == before + len(FARM_MEMBERS)
    (entry,) = live.run(live.domain.audit_log(AuditQuery(action="case.approve")))
    assert (entry.actor, entry.subject) == ("alice", f"case:{live.seeded.farm}")
    assert entry.reason == "card and device farm, 30 accounts distilling via one template"

    # What the outbox relay would put on enforcement.actions (the worker's relay does this with Kafka).
    sent: list[tuple[str, bytes, enforcement_pb2.EnforcementAction]] = []

    async def publish(topic: str, key: bytes, value: bytes) -> asyncio.Future[None]:
        sent.append((topic, key, enforcement_pb2.EnforcementAction.FromString(value)))
        return acknowledged()

    assert live.run(OutboxRelay(live.sessions).relay_once(publish)) == len(sent) > 0
    bans = {message.account_id for topic, _, message in sent
            if message.kind == enforcement_pb2.ACTION_KIND_BAN and topic == topics.ACTIONS.name}
    assert bans == set(FARM_MEMBERS)
    assert live.run(OutboxRelay(live.sessions).pending()) == 0
    assert not live.problems, live.problems


def test_a_case_without_identity_data_still_draws_its_cluster(page: Page, live: LiveConsole) -> None:
    sign_in(page, live, "alice")
    page.goto(f"{live.url}/cases/{live.seeded.crew}")
    page.wait_for_selector("#cluster-graph[data-rendered='yes']")
    # Fallback from the case store: the 4 members around a hub for the cluster.
    assert page.get_attribute("#cluster-graph", "data-account-count") == "4"
    assert page.evaluate("window.distillguardGraph.nodes().length") == 5
    assert "Traffic timeline not available" in page.inner_text(".timeline-panel")
    shot(page, "05-case-fallback-graph")
    assert not live.problems, live.problems


def test_a_viewer_reads_but_is_refused_an_analyst_action(page: Page, live: LiveConsole) -> None:
    sign_in(page, live, "victor")
    page.goto(f"{live.url}/cases/{live.seeded.farm}")
    assert page.locator("a.decide-approve").count() == 0
    page.wait_for_selector("#cluster-graph[data-rendered='yes']")
    # Forge the confirm POST the analyst's form would send, with the viewer's own valid CSRF token.
    status = page.evaluate(
        """async (caseId) => {
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const body = new URLSearchParams({csrf_token: token, reason: "viewer tries", expected: "x"});
            const response = await fetch(`/cases/${caseId}/decide/approve`, {method: "POST", body});
            return response.status;
        }""",
        live.seeded.farm,
    )
    assert status == 403
    page.goto(f"{live.url}/cases/{live.seeded.farm}/decide/approve")
    assert page.get_attribute("[data-status]", "data-status") == "403"
    shot(page, "06-viewer-denied")
    detail = live.run(live.domain.get_case(live.seeded.farm))
    assert detail.case.status == "review"
    denied = live.run(live.domain.audit_log(AuditQuery(action="console.denied")))
    assert {entry.actor for entry in denied} == {"victor"} and len(denied) == 2


def test_a_post_without_the_csrf_token_is_refused(page: Page, live: LiveConsole) -> None:
    sign_in(page, live, "alice")
    page.goto(f"{live.url}/cases/{live.seeded.farm}/decide/approve")
    expected = page.get_attribute("input[name=expected]", "value")
    status = page.evaluate(
        """async ([caseId, expected]) => {
            const body = new URLSearchParams({reason: "no token", expected});
            const response = await fetch(`/cases/${caseId}/decide/approve`, {method: "POST", body});
            return response.status;
        }""",
        [live.seeded.farm, expected],
    )
    assert status == 403
    assert live.run(live.domain.get_case(live.seeded.farm)).case.status == "review"
    assert live.run(live.domain.audit_log(AuditQuery(action="case.approve"))) == []


def test_search_policies_and_audit_pages(page: Page, live: LiveConsole) -> None:
    sign_in(page, live, "ada")
    page.goto(f"{live.url}/search?kind=device_fingerprint&q=dev-farm-1")
    assert page.get_attribute("#search-count", "data-count") == "10"
    shot(page, "07-search")
    page.goto(f"{live.url}/policies")
    assert page.inner_text("tr[data-rule='farm-cluster-suspend'] [data-stat='applied']") == "30"
    assert page.inner_text("tr[data-rule='trial-cluster-suspend-lower-threshold'] [data-stat='shadow']") == "4"
    shot(page, "08-policies")
    page.goto(f"{live.url}/audit?actor=ada")
    assert page.locator("tr[data-audit-action='console.login']").count() == 1
    page.goto(f"{live.url}/audit")
    shot(page, "09-audit")
    page.goto(f"{live.url}/operators")
    shot(page, "10-operators")
    assert not live.problems, live.problems


def test_the_queue_shows_new_cases_without_a_reload(page: Page, live: LiveConsole) -> None:
    from enforcement.testing import Events

    sign_in(page, live, "alice")
    assert page.locator("tr.case-row").count() == 4
    live.run(live.domain.handle_signal(Events().account_signal("sig-late", "acct-late", 0.9)))
    page.wait_for_selector("tr.case-row >> text=acct-late", timeout=10_000)
    assert page.locator("tr.case-row").count() == 5
    assert not live.problems, live.problems


def test_an_analyst_reverses_an_action_after_seeing_the_verdict_change(page: Page, live: LiveConsole) -> None:
    sign_in(page, live, "alice")
    page.goto(f"{live.url}/cases/{live.seeded.solo}")
    page.click("a:text('Reverse…')")
    page.wait_for_selector("#preview")
    assert page.inner_text("[data-verdict-before]") == "throttle(20)"
    assert page.inner_text("[data-verdict-after]") == "allow"
    page.fill("#reason", "student project, confirmed with the university")
    shot(page, "11-reverse-preview")
    page.click("#confirm")
    page.wait_for_url(f"{live.url}/cases/{live.seeded.solo}")
    assert "reversed; restore" in page.inner_text(".flash")
    assert live.run(live.domain.get_case(live.seeded.solo)).case.status == "reversed"
    (entry,) = live.run(live.domain.audit_log(AuditQuery(action="action.reverse")))
    assert (entry.actor, entry.reason) == ("alice", "student project, confirmed with the university")
    assert not live.problems, live.problems
