"""The console's pages and actions over HTTP: queue, case detail, decisions, reversals, appeals, search,
policies, audit log and operators, on a case store seeded through the domain."""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from distillguard.casestore import AuditQuery
from distillguard.v1 import enforcement_pb2
from enforcement.console import ClusterGraph, ConsoleSettings, TemplateInfo, Timeline
from enforcement.console.testing import FARM_MEMBERS, FakeData, Seeded, csrf_of, hidden_value, outbox_rows, sign_in
from enforcement.domain import EnforcementDomain, OutboxRelay, Verdict
from enforcement.domain.policy import default_policy_text, load_default_policy
from enforcement.testing import Events, acknowledged

ClientFactory = Callable[..., httpx.AsyncClient]
AppFactory = Callable[..., Starlette]


def rows(page: str) -> list[str]:
    """Case ids of the queue rows on a page, in order."""
    return re.findall(r'class="case-row[^"]*" data-case-id="([^"]+)"', page)


def data_json(page: str, attribute: str) -> Any:
    match = re.search(rf"{attribute}='([^']*)'", page)
    assert match is not None, f"no {attribute} on the page"
    return json.loads(html.unescape(match.group(1)))


async def signed_in(make_client: ClientFactory, name: str, application: Starlette | None = None) -> httpx.AsyncClient:
    client = make_client() if application is None else make_client(application=application)
    assert (await sign_in(client, name)).status_code == 303
    return client


# ==================================================================================================== queue


async def test_the_queue_filters_sorts_and_reports_bad_input(make_client: ClientFactory, seeded: Seeded) -> None:
    client = await signed_in(make_client, "victor")

    async def ids(query: str) -> list[str]:
        response = await client.get(f"/cases?{query}")
        assert response.status_code == 200
        return rows(response.text)

    assert len(await ids("")) == 4
    assert set(await ids("status=needs_human")) == {seeded.farm, seeded.verified}
    assert set(await ids("status=enforced")) == {seeded.crew, seeded.solo}
    assert await ids("action=ban") == [seeded.farm]
    assert await ids("min_size=10") == [seeded.farm]
    assert set(await ids("max_size=4")) == {seeded.crew, seeded.solo, seeded.verified}
    assert set(await ids("min_score=0.9")) == {seeded.farm, seeded.verified}
    assert await ids("rule=account-distillation-throttle") == [seeded.solo]
    assert await ids("shadow=yes") == [] and len(await ids("shadow=no")) == 4
    assert (await ids("sort=score&order=desc"))[:2] == [seeded.farm, seeded.verified]
    assert (await ids("sort=cluster_size&order=asc"))[-1] == seeded.farm
    bad = await client.get("/cases?min_score=lots&status=bogus")
    assert bad.status_code == 200 and len(rows(bad.text)) == 4
    assert "min score must be a number from 0 to 1" in bad.text and "unknown status" in html.unescape(bad.text)


async def test_the_queue_pages(make_app: AppFactory, make_client: ClientFactory, settings: ConsoleSettings,
                               seeded: Seeded) -> None:
    client = await signed_in(make_client, "victor", make_app(settings=replace(settings, page_size=3)))
    first = await client.get("/cases?sort=score")
    next_link = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert next_link is not None and len(rows(first.text)) == 3 and 'rel="prev"' not in first.text
    second = await client.get(html.unescape(next_link.group(1)))
    assert len(rows(second.text)) == 1 and 'rel="prev"' in second.text and 'rel="next"' not in second.text
    assert set(rows(first.text) + rows(second.text)) == {seeded.farm, seeded.crew, seeded.solo, seeded.verified}
    broken = await client.get("/cases?page=not-a-token")
    assert broken.status_code == 200 and "invalid page token" in broken.text and len(rows(broken.text)) == 3


async def test_the_queue_fragment_polls_and_shows_new_cases(make_client: ClientFactory, seeded: Seeded,
                                                            domain: EnforcementDomain) -> None:
    client = await signed_in(make_client, "victor")
    page = await client.get("/cases?status=active")
    assert 'hx-get="/cases/rows?status=active' in page.text and 'hx-trigger="every 2s"' in page.text

    await domain.handle_signal(Events().account_signal("sig-late", "acct-late", 0.9))
    fragment = await client.get("/cases/rows?status=active", headers={"HX-Request": "true"})

    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert len(rows(fragment.text)) == 5 and "acct-late" in fragment.text
    assert 'id="queue-live"' in fragment.text, "the fragment replaces itself, so polling continues"


# ==================================================================================================== case page


async def test_the_case_page_shows_graph_timeline_reasons_templates_and_blast_radius(
    make_client: ClientFactory, seeded: Seeded, fake_data: FakeData
) -> None:
    client = await signed_in(make_client, "victor")
    page = await client.get(f"/cases/{seeded.farm}")
    assert page.status_code == 200

    graph = data_json(page.text, "data-elements")
    assert len(graph["nodes"]) == len(FARM_MEMBERS) and len(graph["edges"]) == 2 * len(FARM_MEMBERS)
    node = next(n["data"] for n in graph["nodes"] if n["data"]["id"] == "farm-004")
    assert node["status"] == "enforced" and node["signup_path"] == "startup_program"
    assert node["action"] == "suspend applied; ban proposed"
    assert any(e["data"]["label"].startswith("card_fingerprint 0.9") for e in graph["edges"])
    timeline = data_json(page.text, "data-timeline")
    assert len(timeline["labels"]) == 24 and timeline["labels"][0] == "11-01 00:00"
    assert set(timeline["models"]) == {"frontier-large", "frontier-small"}
    assert "synchronized_timing" in page.text and "9.0×" in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert" not in page.text
    assert 'data-blast="paying">2<' in page.text and "$69.00" in page.text
    assert "cluster_ban_size" in page.text
    assert sorted(fake_data.calls) == ["graph:clu-farm", "templates:clu-farm", "timeline:clu-farm"]


async def test_without_the_other_services_the_graph_comes_from_the_case_store(
    make_app: AppFactory, make_client: ClientFactory, seeded: Seeded
) -> None:
    client = await signed_in(make_client, "victor", make_app(extra=None))
    page = await client.get(f"/cases/{seeded.farm}")
    graph = data_json(page.text, "data-elements")
    hub = [n for n in graph["nodes"] if n["data"].get("hub") == "yes"]
    assert len(hub) == 1 and hub[0]["data"]["label"] == "clu-farm"
    assert len(graph["nodes"]) == len(FARM_MEMBERS) + 1 and len(graph["edges"]) == len(FARM_MEMBERS)
    assert {e["data"]["kind"] for e in graph["edges"]} == {"ip_24"}
    assert "source: case store" in page.text
    assert "Traffic timeline not available" in page.text and "Templates not available" in page.text
    solo = await client.get(f"/cases/{seeded.solo}")
    assert "Cluster graph not available: this case has no cluster." in solo.text


class SlowData(FakeData):
    async def cluster_graph(self, cluster_id: str) -> ClusterGraph | None:
        await asyncio.sleep(30)
        return None

    async def cluster_timeline(self, cluster_id: str) -> Timeline | None:
        await asyncio.sleep(30)
        return None

    async def templates_for(self, cluster_id: str) -> list[TemplateInfo]:
        await asyncio.sleep(30)
        return []


async def test_failing_or_slow_services_only_blank_their_panels(
    make_app: AppFactory, make_client: ClientFactory, settings: ConsoleSettings, seeded: Seeded
) -> None:
    failing = await signed_in(make_client, "victor", make_app(extra=FakeData(fail=True)))
    page = await failing.get(f"/cases/{seeded.farm}")
    assert page.status_code == 200 and "source: case store" in page.text
    assert "Traffic timeline not available" in page.text

    slow = await signed_in(make_client, "victor", make_app(extra=SlowData(),
                                                          settings=replace(settings, extra_timeout_s=0.05)))
    page = await asyncio.wait_for(slow.get(f"/cases/{seeded.farm}"), 5)
    assert page.status_code == 200 and "Templates not available" in page.text


async def test_an_unknown_case_is_a_404(make_client: ClientFactory, seeded: Seeded) -> None:
    client = await signed_in(make_client, "victor")
    response = await client.get("/cases/no-such-case")
    assert response.status_code == 404 and "no case" in response.text


# ==================================================================================================== decisions


async def test_approve_previews_then_applies_publishes_and_audits(
    make_client: ClientFactory, seeded: Seeded, domain: EnforcementDomain, sessions: async_sessionmaker[AsyncSession]
) -> None:
    client = await signed_in(make_client, "alice")
    preview = await client.get(f"/cases/{seeded.farm}/decide/approve")
    assert preview.status_code == 200 and 'data-would-apply="30"' in preview.text
    assert 'data-blast="accounts">30<' in preview.text and 'data-blast="revenue">$69.00<' in preview.text
    before = await outbox_rows(sessions)

    response = await client.post(f"/cases/{seeded.farm}/decide/approve", data={
        "csrf_token": csrf_of(preview.text), "expected": hidden_value(preview.text, "expected"),
        "reason": "card farm distilling through one template",
    })

    assert response.status_code == 303 and response.headers["location"] == f"/cases/{seeded.farm}"
    landing = await client.get(f"/cases/{seeded.farm}")
    assert "Case approved: now enforced; 30 action(s) published." in landing.text
    assert (await domain.get_case(seeded.farm)).case.status == "enforced"
    assert domain.check("farm-003").verdict is Verdict.DENY
    assert await outbox_rows(sessions) == before + len(FARM_MEMBERS)
    (decision,) = await domain.audit_log(AuditQuery(action="case.approve"))
    assert (decision.actor, decision.reason) == ("alice", "card farm distilling through one template")
    applied = await domain.audit_log(AuditQuery(action="action.apply", actor="alice"))
    assert len(applied) == len(FARM_MEMBERS)

    sent: list[enforcement_pb2.EnforcementAction] = []

    async def publish(topic: str, key: bytes, value: bytes) -> asyncio.Future[None]:
        sent.append(enforcement_pb2.EnforcementAction.FromString(value))
        return acknowledged()

    await OutboxRelay(sessions).relay_once(publish)
    bans = {m.account_id for m in sent if m.kind == enforcement_pb2.ACTION_KIND_BAN}
    assert bans == set(FARM_MEMBERS)


async def test_a_decision_needs_a_reason_and_a_current_preview(
    make_client: ClientFactory, seeded: Seeded, domain: EnforcementDomain
) -> None:
    client = await signed_in(make_client, "alice")
    preview = await client.get(f"/cases/{seeded.farm}/decide/approve")
    form = {"csrf_token": csrf_of(preview.text), "expected": hidden_value(preview.text, "expected")}

    no_reason = await client.post(f"/cases/{seeded.farm}/decide/approve", data={**form, "reason": "   "})
    assert no_reason.status_code == 400 and "a reason is required" in no_reason.text

    await domain.decide_case(seeded.farm, "escalate", reason="legal must look", actor="bob")
    stale = await client.post(f"/cases/{seeded.farm}/decide/approve", data={**form, "reason": "farm"})
    assert stale.status_code == 409 and "changed since the preview" in stale.text
    assert (await domain.get_case(seeded.farm)).case.status == "escalated"
    assert [e.actor for e in await domain.audit_log(AuditQuery(action="case.approve"))] == []


async def test_escalate_and_reject_land_in_the_audit_log(make_client: ClientFactory, seeded: Seeded,
                                                          domain: EnforcementDomain) -> None:
    client = await signed_in(make_client, "alice")
    for decision, status in (("escalate", "escalated"), ("reject", "rejected")):
        preview = await client.get(f"/cases/{seeded.verified}/decide/{decision}")
        response = await client.post(f"/cases/{seeded.verified}/decide/{decision}", data={
            "csrf_token": csrf_of(preview.text), "expected": hidden_value(preview.text, "expected"),
            "reason": f"{decision}: enterprise customer",
        })
        assert response.status_code == 303
        assert (await domain.get_case(seeded.verified)).case.status == status
        (entry,) = await domain.audit_log(AuditQuery(action=f"case.{decision}"))
        assert entry.actor == "alice" and entry.subject == f"case:{seeded.verified}"
    refused = await client.get(f"/cases/{seeded.verified}/decide/approve")
    assert 'data-refused="yes"' in refused.text and "is rejected" in refused.text


async def test_reverse_shows_the_verdict_change_then_publishes_a_restore(
    make_client: ClientFactory, seeded: Seeded, domain: EnforcementDomain, sessions: async_sessionmaker[AsyncSession]
) -> None:
    client = await signed_in(make_client, "alice")
    (throttle,) = [a for a in await domain.actions_for_account("acct-solo") if a.status == "applied"
                   and a.kind.value == "throttle"]
    preview = await client.get(f"/actions/{throttle.action_id}/reverse")
    assert "data-verdict-before>throttle(20)<" in preview.text and "data-verdict-after>allow<" in preview.text
    before = await outbox_rows(sessions)
    form = {"csrf_token": csrf_of(preview.text), "expected": "applied", "reason": "student project, confirmed"}

    response = await client.post(f"/actions/{throttle.action_id}/reverse", data=form)

    assert response.status_code == 303 and response.headers["location"] == f"/cases/{seeded.solo}"
    assert domain.check("acct-solo").verdict is Verdict.ALLOW
    assert await outbox_rows(sessions) == before + 1
    (entry,) = await domain.audit_log(AuditQuery(action="action.reverse"))
    assert (entry.actor, entry.reason) == ("alice", "student project, confirmed")
    again = await client.post(f"/actions/{throttle.action_id}/reverse", data=form)
    assert again.status_code == 409


async def test_an_appeal_is_filed_then_upheld_or_denied(make_client: ClientFactory, seeded: Seeded,
                                                         domain: EnforcementDomain) -> None:
    client = await signed_in(make_client, "alice")
    throttles = {a.account_id: a for a in (await domain.get_case(seeded.crew)).actions
                 if a.status == "applied" and a.kind.value == "throttle"}
    for account in ("crew-0", "crew-1"):
        form_page = await client.get(f"/actions/{throttles[account].action_id}/appeal")
        filed = await client.post(f"/actions/{throttles[account].action_id}/appeal", data={
            "csrf_token": csrf_of(form_page.text), "reason": f"ticket 42: {account} is a class account"})
        assert filed.status_code == 303
    appeals = {a.account_id: a for a in (await domain.get_case(seeded.crew)).appeals}
    assert {a.status for a in appeals.values()} == {"open"}
    case_page = await client.get(f"/cases/{seeded.crew}")
    assert "Uphold…" in case_page.text

    for account, outcome in (("crew-0", "uphold"), ("crew-1", "deny")):
        url = f"/cases/{seeded.crew}/appeals/{appeals[account].appeal_id}/{outcome}"
        preview = await client.get(url)
        assert preview.status_code == 200
        response = await client.post(url, data={"csrf_token": csrf_of(preview.text),
                                                 "reason": f"{outcome}: checked with the school"})
        assert response.status_code == 303

    resolved = {a.account_id: a.status for a in (await domain.get_case(seeded.crew)).appeals}
    assert resolved == {"crew-0": "upheld", "crew-1": "denied"}
    assert domain.check("crew-0").verdict is Verdict.ALLOW and domain.check("crew-1").verdict is Verdict.THROTTLE
    assert len(await domain.audit_log(AuditQuery(action="appeal.file", actor="alice"))) == 2
    assert len(await domain.audit_log(AuditQuery(action="appeal.uphold", actor="alice"))) == 1


# ==================================================================================================== search


async def test_search_by_each_kind_of_identifier(make_client: ClientFactory, seeded: Seeded) -> None:
    client = await signed_in(make_client, "victor")
    expectations = {
        ("account_id", "acct-solo"): ["acct-solo"],
        ("email", " FARM.3@mailinator.TEST "): ["farm-003"],
        ("ip", "203.0.113.4"): ["farm-004"],
        ("card_fingerprint", "card-farm-1"): ["farm-000", "farm-001"],
        ("device_fingerprint", "dev-farm-2"): [f"farm-{i:03d}" for i in range(2, 30, 3)],
        ("api_key_id", "key-solo-1"): ["acct-solo"],
    }
    for (kind, value), accounts in expectations.items():
        page = await client.get("/search", params={"kind": kind, "q": value})
        assert page.status_code == 200
        assert re.findall(r'<tr data-account-id="([^"]+)"', page.text) == accounts, kind
    card = await client.get("/search", params={"kind": "card_fingerprint", "q": "card-farm-1"})
    assert "CheckAccount for this card fingerprint" in card.text and "verdict-deny" in card.text
    nobody = await client.get("/search", params={"kind": "ip", "q": "192.0.2.99"})
    assert "No account carries this ip." in nobody.text
    unknown = await client.get("/search", params={"kind": "phone", "q": "1"})
    assert "unknown identifier kind" in html.unescape(unknown.text)


# ==================================================================================================== policies


async def test_the_policies_page_shows_rule_hits_and_shadow_results(make_client: ClientFactory,
                                                                     seeded: Seeded) -> None:
    client = await signed_in(make_client, "victor")
    page = await client.get("/policies")
    assert page.status_code == 200 and load_default_policy().version in page.text

    def stat(rule: str, name: str) -> str:
        match = re.search(rf'data-rule="{re.escape(rule)}".*?data-stat="{name}">(\d+)<', page.text, re.S)
        assert match is not None, (rule, name)
        return match.group(1)

    assert stat("farm-cluster-suspend", "applied") == "30" and stat("farm-cluster-ban", "proposed") == "30"
    assert stat("trial-cluster-suspend-lower-threshold", "shadow") == "4"
    assert "would have applied" in page.text and "reload-policy" not in page.text


async def test_an_admin_reloads_the_policy_and_a_broken_file_is_refused(
    make_app: AppFactory, make_client: ClientFactory, settings: ConsoleSettings, seeded: Seeded,
    domain: EnforcementDomain, tmp_path: Path,
) -> None:
    policy_file = tmp_path / "policy.yaml"
    current = load_default_policy().version
    policy_file.write_text(default_policy_text().replace(f'version: "{current}"', 'version: "2026.12.01-1"'))
    client = await signed_in(make_client, "ada", make_app(settings=replace(settings, policy_file=policy_file)))
    page = await client.get("/policies")
    assert 'id="reload-policy"' in page.text

    loaded = await client.post("/policies/reload", data={"csrf_token": csrf_of(page.text)})
    assert loaded.status_code == 303 and domain.policy.version == "2026.12.01-1"
    assert f"Policy 2026.12.01-1 loaded (was {current})." in (await client.get("/policies")).text

    policy_file.write_text("version: broken\nrules: []\n")
    refused = await client.post("/policies/reload", data={"csrf_token": csrf_of(page.text)})
    assert refused.status_code == 303 and domain.policy.version == "2026.12.01-1"
    assert "Policy refused; version 2026.12.01-1 stays in force" in (await client.get("/policies")).text
    assert [e.actor for e in await domain.audit_log(AuditQuery(action="policy.refuse"))] == ["ada"]
    assert "ada" in [e.actor for e in await domain.audit_log(AuditQuery(action="policy.activate"))]


# ==================================================================================================== audit, operators


async def test_the_audit_log_filters(make_client: ClientFactory, seeded: Seeded) -> None:
    client = await signed_in(make_client, "victor")

    def actions(page: str) -> list[str]:
        return re.findall(r'data-audit-action="([^"]+)"', page)

    opened = await client.get("/audit", params={"actor": "policy", "action": "case.open"})
    assert actions(opened.text) == ["case.open"] * 4
    farm = await client.get("/audit", params={"subject": f"case:{seeded.farm}"})
    assert actions(farm.text) == ["case.open"]
    future = await client.get("/audit", params={"since": "2999-01-01T00:00"})
    assert actions(future.text) == [] and "No entries match." in future.text
    ids = [int(i) for i in re.findall(r'<td class="num">(\d+)</td>', (await client.get("/audit?before=10")).text)]
    assert ids == list(range(9, 0, -1))


async def test_an_admin_adds_and_disables_operators(make_client: ClientFactory, seeded: Seeded,
                                                    domain: EnforcementDomain) -> None:
    client = await signed_in(make_client, "ada")
    page = await client.get("/operators")
    token = csrf_of(page.text)

    short = await client.post("/operators", data={"csrf_token": token, "name": "olga", "role": "analyst",
                                                  "password": "short"})
    assert short.status_code == 400 and "password too short" in short.text
    added = await client.post("/operators", data={"csrf_token": token, "name": "olga", "role": "analyst",
                                                  "password": "olga's long passphrase"})
    assert added.status_code == 303
    assert (await sign_in(make_client(), "olga", "olga's long passphrase")).status_code == 303
    disabled = await client.post("/operators/olga/disable", data={"csrf_token": token})
    assert disabled.status_code == 303
    assert (await sign_in(make_client(), "olga", "olga's long passphrase")).status_code == 401
    myself = await client.post("/operators/ada/disable", data={"csrf_token": token})
    assert myself.status_code == 400 and "cannot disable yourself" in myself.text
    assert [e.actor for e in await domain.audit_log(AuditQuery(action="operator.add", subject="operator:olga"))] \
        == ["ada"]
    assert len(await domain.audit_log(AuditQuery(action="operator.disable"))) == 1
