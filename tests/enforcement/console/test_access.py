"""Sign-in, sessions, CSRF, roles, throttling and security headers, over HTTP against the console app."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from distillguard.casestore import AuditQuery
from enforcement.console import app as console_app
from enforcement.console.security import CONTENT_SECURITY_POLICY
from enforcement.console.testing import PASSWORD, Seeded, csrf_of, hidden_value, sign_in
from enforcement.domain import EnforcementDomain, OperatorStore, OperatorView

ClientFactory = Callable[..., httpx.AsyncClient]
COOKIE = "__Host-dg_console"
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


async def test_every_kind_of_response_carries_the_security_headers(client: httpx.AsyncClient,
                                                                    seeded: Seeded) -> None:
    login = await client.get("/login")
    responses = {
        "login": login,
        "stylesheet": await client.get("/static/console.css"),
        "vendored script": await client.get("/static/vendor/htmx.min.js"),
        "redirect": await client.get("/cases"),
        "not found": await client.get("/no-such-page"),
        "csrf refusal": await client.post("/login", data={"name": "alice", "password": PASSWORD}),
    }
    assert [r.status_code for r in responses.values()] == [200, 200, 200, 303, 404, 403]
    for what, response in responses.items():
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (what, name)
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY and "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert login.headers["cache-control"] == "no-store"
    assert "no-store" not in responses["stylesheet"].headers.get("cache-control", "")
    # No inline script or style, and nothing from another origin, on the page itself.
    assert "<script>" not in login.text and " style=" not in login.text and "onclick" not in login.text
    assert re.findall(r'(?:src|href|action)="(?!/|data:)([^"]*)"', login.text) == []


async def test_pages_send_anonymous_visitors_to_sign_in(client: httpx.AsyncClient, seeded: Seeded) -> None:
    response = await client.get(f"/cases/{seeded.farm}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next=%2Fcases%2F{seeded.farm}"
    fragment = await client.get("/cases/rows", headers={"HX-Request": "true"})
    assert fragment.status_code == 401 and fragment.headers["hx-redirect"] == "/login"


async def test_sign_in_sets_a_strict_secure_http_only_cookie_and_is_audited(
    client: httpx.AsyncClient, seeded: Seeded, domain: EnforcementDomain
) -> None:
    response = await sign_in(client, "alice", next_path=f"/cases/{seeded.farm}")

    assert response.status_code == 303 and response.headers["location"] == f"/cases/{seeded.farm}"
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith(COOKIE.lower() + "=")
    for flag in ("httponly", "samesite=strict", "secure", "path=/"):
        assert flag in cookie
    page = await client.get("/cases")
    assert page.status_code == 200 and 'data-role="analyst">alice' in page.text
    (entry,) = await domain.audit_log(AuditQuery(action="console.login"))
    assert (entry.actor, entry.subject, entry.detail["address"]) == ("alice", "operator:alice", "127.0.0.1")


async def test_the_session_changes_at_sign_in(client: httpx.AsyncClient, seeded: Seeded) -> None:
    anonymous = csrf_of((await client.get("/login")).text)
    await sign_in(client, "alice")
    signed_in = csrf_of((await client.get("/cases")).text)
    assert signed_in != anonymous


async def test_sign_out_revokes_the_session_even_when_its_cookie_is_replayed(
    make_client: ClientFactory, seeded: Seeded, domain: EnforcementDomain
) -> None:
    client = make_client()
    await sign_in(client, "alice")
    stolen = client.cookies[COOKIE]
    token = csrf_of((await client.get("/cases")).text)

    response = await client.post("/logout", data={"csrf_token": token})

    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert (await client.get("/cases")).status_code == 303
    replay = make_client()
    replay.cookies.set(COOKIE, stolen, domain="127.0.0.1", path="/")
    assert (await replay.get("/cases")).status_code == 303
    assert [e.actor for e in await domain.audit_log(AuditQuery(action="console.logout"))] == ["alice"]


async def test_a_login_expires_after_its_absolute_lifetime(
    client: httpx.AsyncClient, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sign_in(client, "alice")
    assert (await client.get("/cases")).status_code == 200

    class Later:
        @staticmethod
        def time() -> float:
            import time

            return time.time() + 12 * 3600 + 1

    monkeypatch.setattr(console_app, "time", Later)
    assert (await client.get("/cases")).status_code == 303


async def test_wrong_passwords_are_audited_then_throttled_per_name_and_address(
    make_client: ClientFactory, seeded: Seeded, domain: EnforcementDomain, operators: OperatorStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked: list[str] = []
    real_verify = operators.verify

    async def counting_verify(name: str, password: str) -> OperatorView | None:
        checked.append(name)
        return await real_verify(name, password)

    monkeypatch.setattr(operators, "verify", counting_verify)
    attacker = make_client("192.0.2.10")
    for _ in range(5):
        response = await sign_in(attacker, "alice", "not the password")
        assert response.status_code == 401 and "Wrong name or password." in response.text

    throttled = await sign_in(attacker, "alice")  # even the right password waits

    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
    assert len(checked) == 5, "a throttled attempt must not cost a password hash"
    assert (await sign_in(make_client("192.0.2.11"), "alice")).status_code == 303, "other addresses unaffected"
    failed = await domain.audit_log(AuditQuery(action="console.login_failed"))
    assert len(failed) == 5 and {(e.subject, e.detail["address"]) for e in failed} == {("operator:alice",
                                                                                         "192.0.2.10")}
    assert len(await domain.audit_log(AuditQuery(action="console.login_throttled"))) == 1


async def test_an_unknown_name_fails_exactly_like_a_wrong_password(client: httpx.AsyncClient,
                                                                    seeded: Seeded) -> None:
    response = await sign_in(client, "mallory")
    assert response.status_code == 401 and "Wrong name or password." in response.text


@pytest.mark.parametrize("target", ["//evil.example/cases", "https://evil.example/", "/\\evil.example"])
async def test_sign_in_never_redirects_off_site(client: httpx.AsyncClient, seeded: Seeded, target: str) -> None:
    response = await sign_in(client, "alice", next_path=target)
    assert response.headers["location"] == "/cases"


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, seeded: Seeded, domain: EnforcementDomain
) -> None:
    refused_login = await client.post("/login", data={"name": "alice", "password": PASSWORD})
    assert refused_login.status_code == 403
    await sign_in(client, "alice")
    preview = await client.get(f"/cases/{seeded.farm}/decide/approve")
    expected = hidden_value(preview.text, "expected")
    form = {"reason": "farm", "expected": expected}

    missing = await client.post(f"/cases/{seeded.farm}/decide/approve", data=form)
    forged = await client.post(f"/cases/{seeded.farm}/decide/approve", data={**form, "csrf_token": "forged"})

    assert (missing.status_code, forged.status_code) == (403, 403)
    assert "CSRF" in missing.text
    assert (await domain.get_case(seeded.farm)).case.status == "review"
    assert await domain.audit_log(AuditQuery(action="case.approve")) == []
    # The htmx header is an accepted carrier of the same token.
    token = csrf_of(preview.text)
    accepted = await client.post(f"/cases/{seeded.farm}/decide/approve", data=form,
                                 headers={"X-CSRF-Token": token})
    assert accepted.status_code == 303


async def test_a_viewer_reads_everything_but_every_decision_is_refused_and_audited(
    client: httpx.AsyncClient, seeded: Seeded, domain: EnforcementDomain
) -> None:
    await sign_in(client, "victor")
    page = await client.get(f"/cases/{seeded.farm}")
    assert page.status_code == 200 and "decide-approve" not in page.text and "Reverse…" not in page.text
    token = csrf_of(page.text)
    applied = next(a for a in await domain.actions_for_account("acct-solo") if a.status == "applied")

    attempts = [
        await client.post(f"/cases/{seeded.farm}/decide/approve",
                          data={"csrf_token": token, "reason": "viewer tries", "expected": "x"}),
        await client.get(f"/cases/{seeded.farm}/decide/approve"),
        await client.post(f"/actions/{applied.action_id}/reverse", data={"csrf_token": token, "reason": "x"}),
        await client.post("/policies/reload", data={"csrf_token": token}),
    ]

    assert [r.status_code for r in attempts] == [403, 403, 403, 403]
    assert (await domain.get_case(seeded.farm)).case.status == "review"
    assert domain.check("acct-solo").verdict.name == "THROTTLE"
    denied = await domain.audit_log(AuditQuery(action="console.denied"))
    assert len(denied) == 4 and {e.actor for e in denied} == {"victor"}
    assert denied[-1].subject == f"route:POST /cases/{seeded.farm}/decide/approve"


async def test_only_admins_manage_operators(client: httpx.AsyncClient, seeded: Seeded) -> None:
    await sign_in(client, "alice")
    token = csrf_of((await client.get("/cases")).text)
    assert (await client.get("/operators")).status_code == 403
    add = await client.post("/operators", data={"csrf_token": token, "name": "eve", "role": "admin",
                                                "password": "x" * 20})
    assert add.status_code == 403
    assert (await client.post("/operators/victor/disable", data={"csrf_token": token})).status_code == 403


async def test_disabling_an_operator_ends_their_session_at_once(
    make_client: ClientFactory, seeded: Seeded, operators: OperatorStore
) -> None:
    victor = make_client()
    await sign_in(victor, "victor")
    assert (await victor.get("/cases")).status_code == 200
    await operators.set_disabled("victor", True, actor="ada")
    assert (await victor.get("/cases")).status_code == 303


def test_every_post_route_checks_the_csrf_token(app: Starlette) -> None:
    posts = [route for route in app.routes if isinstance(route, Route) and "POST" in (route.methods or ())]
    assert len(posts) >= 9
    unguarded = [route.path for route in posts if not getattr(route.endpoint, "csrf_protected", False)]
    assert unguarded == []


async def test_every_page_and_action_is_behind_sign_in(client: httpx.AsyncClient, seeded: Seeded,
                                                       app: Starlette) -> None:
    """Walk the routing table: anonymous GETs are redirected, anonymous POSTs (with a valid anonymous CSRF
    token) are refused; only the sign-in page and static files answer."""
    token = csrf_of((await client.get("/login")).text)
    params: dict[str, Any] = {"case_id": seeded.farm, "decision": "approve", "appeal_id": "a", "outcome": "deny",
                              "action_id": "x", "name": "victor", "change": "disable"}
    checked = 0
    for route in app.routes:
        if not isinstance(route, Route) or route.path in ("/login", "/logout"):
            continue
        path = route.path.format(**params)
        for method in sorted(route.methods or ()):
            if method == "GET":
                response = await client.get(path)
                assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
            elif method == "POST":
                response = await client.post(path, data={"csrf_token": token, "reason": "x"})
                assert response.status_code == 401, path
            checked += 1
    assert checked >= 20
