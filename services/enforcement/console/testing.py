"""Seed data and a stand-in ConsoleData for the console's tests (and for trying the console by hand).

Nothing in the running service imports this. `seed` feeds the domain what the worker would (signups, billing,
cluster updates, risk signals) so the console shows real cases: a 30-account farm whose ban waits for review,
a small throttled crew with a shadow proposal, a throttled account and a verified account held for review.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from distillguard.casestore import OutboxMessage
from distillguard.v1 import events_pb2
from enforcement.console.data import (
    ClusterGraph,
    EvidenceItem,
    GraphEdge,
    GraphNode,
    TemplateInfo,
    Timeline,
    TrafficBucket,
)
from enforcement.domain import EnforcementDomain, OperatorStore
from enforcement.testing import T0, Events

if TYPE_CHECKING:
    import httpx

PASSWORD = "correct horse battery staple"
FARM = "clu-farm"
FARM_MEMBERS = tuple(f"farm-{i:03d}" for i in range(30))
CREW = "clu-crew"
CREW_MEMBERS = tuple(f"crew-{i}" for i in range(4))


@dataclass(frozen=True)
class Seeded:
    """Case ids by what they are."""

    farm: str  # cluster of 30: ban held for review (guard rail), suspend applied
    crew: str  # cluster of 4: throttled, plus a shadow suspend from the trial rule
    solo: str  # one account throttled
    verified: str  # an id-document verified account whose suspension waits for review


async def seed(domain: EnforcementDomain) -> Seeded:
    """Feed the domain what the worker would: signups, billing, a cluster update and risk signals."""
    ev = Events()
    signups = [
        ev.signup(account, email=f"Farm.{i}@Mailinator.test", ip=f"203.0.113.{i}", device=f"dev-farm-{i % 3}")
        for i, account in enumerate(FARM_MEMBERS)
    ]
    signups += [ev.signup(account, signup_path=events_pb2.SIGNUP_PATH_EDUCATION) for account in CREW_MEMBERS]
    signups += [ev.signup("acct-solo", email="solo@example.test", ip="198.51.100.7")]
    signups += [ev.signup("acct-verified", verification=events_pb2.VERIFICATION_ID_DOCUMENT,
                          signup_path=events_pb2.SIGNUP_PATH_ENTERPRISE_SALES, org_id="org-acme")]
    await domain.observe_signups(signups)
    await domain.handle_billing(ev.billing("pay-1", "farm-000", events_pb2.BILLING_KIND_CHARGE_SUCCEEDED, 4_900,
                                           card="card-farm-1"))
    await domain.handle_billing(ev.billing("pay-2", "farm-001", events_pb2.BILLING_KIND_CHARGE_SUCCEEDED, 2_000,
                                           card="card-farm-1"))
    await domain.handle_cluster_update(ev.cluster_update(
        FARM, FARM_MEMBERS, 1, evidence={"card_fingerprint": 12, "device_fingerprint": 27, "ip_24": 30}))
    await domain.handle_cluster_update(ev.cluster_update(CREW, CREW_MEMBERS, 1, evidence={"ip_24": 3}))
    await domain.handle_signal(ev.cluster_signal("sig-farm", FARM, FARM_MEMBERS, 0.97, at=T0))
    await domain.handle_signal(ev.cluster_signal("sig-crew", CREW, CREW_MEMBERS, 0.8, at=T0 + timedelta(minutes=1)))
    await domain.handle_signal(ev.account_signal("sig-solo", "acct-solo", 0.8, at=T0 + timedelta(minutes=2)))
    await domain.handle_signal(ev.account_signal("sig-verified", "acct-verified", 0.95,
                                                 at=T0 + timedelta(minutes=3)))
    await domain.record_identifiers("acct-solo", [("api_key_id", "key-solo-1")])
    cases = {(c.subject_kind, c.subject_id): c.case_id for c in (await domain.list_cases()).cases}
    return Seeded(farm=cases[("cluster", FARM)], crew=cases[("cluster", CREW)],
                  solo=cases[("account", "acct-solo")], verified=cases[("account", "acct-verified")])


@dataclass
class FakeData:
    """ConsoleData with a graph, a timeline and templates for the farm cluster only (others: unknown)."""

    fail: bool = False
    calls: list[str] = field(default_factory=list)

    async def cluster_graph(self, cluster_id: str) -> ClusterGraph | None:
        self.calls.append(f"graph:{cluster_id}")
        if self.fail:
            raise ConnectionError("identity service unavailable")
        if cluster_id != FARM:
            return None
        nodes = tuple(
            GraphNode(account, {"signup_path": "self_serve" if i % 4 else "startup_program",
                                "verification": "email" if i % 5 else "phone", "org_id": ""})
            for i, account in enumerate(FARM_MEMBERS)
        )
        edges = tuple(
            GraphEdge(FARM_MEMBERS[i], FARM_MEMBERS[(i + step) % len(FARM_MEMBERS)], 0.9 + 0.003 * (i % 10),
                      (EvidenceItem("device_fingerprint" if step == 1 else "card_fingerprint", f"dev-farm-{i % 3}",
                                    2.5 if step == 1 else 3.1),))
            for i in range(len(FARM_MEMBERS)) for step in (1, 7)
        )
        return ClusterGraph(FARM, nodes, edges)

    async def cluster_timeline(self, cluster_id: str) -> Timeline | None:
        self.calls.append(f"timeline:{cluster_id}")
        if self.fail:
            raise ConnectionError("rate-pattern service unavailable")
        if cluster_id != FARM:
            return None
        start = datetime(2026, 11, 1, 0, tzinfo=timezone.utc)
        buckets = tuple(
            TrafficBucket(start + timedelta(hours=h), requests=400 + 35 * h, tokens=(400 + 35 * h) * 900,
                          models={"frontier-large": 300 + 30 * h, "frontier-small": 100 + 5 * h})
            for h in range(24)
        )
        return Timeline(FARM, buckets)

    async def templates_for(self, cluster_id: str) -> list[TemplateInfo]:
        self.calls.append(f"templates:{cluster_id}")
        if self.fail:
            raise ConnectionError("rate-pattern service unavailable")
        if cluster_id != FARM:
            return []
        return [TemplateInfo("tpl-cot-7", accounts=30, clusters=1, orgs=0, requests=18_000,
                             example="Think step by step and show all reasoning. <script>alert(1)</script> Q: {q}")]


def fast_hasher() -> PasswordHasher:
    """argon2id with tiny costs: the tests exercise the flow, not the hash's strength."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


async def add_operators(operators: OperatorStore) -> None:
    for name, role in (("alice", "analyst"), ("victor", "viewer"), ("ada", "admin")):
        await operators.add(name, role, PASSWORD, actor="test")


async def outbox_rows(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


def hidden_value(html: str, name: str) -> str:
    """The value of the hidden form field `name` on a rendered page (AssertionError when absent)."""
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert match is not None, f"no field {name!r} on the page"
    return match.group(1)


def csrf_of(html: str) -> str:
    return hidden_value(html, "csrf_token")


async def sign_in(client: httpx.AsyncClient, name: str, password: str = PASSWORD,
                  next_path: str = "/cases") -> httpx.Response:
    """Sign in as a browser would: fetch the form (which starts a session with a CSRF token), then post it."""
    page = await client.get("/login")
    return await client.post("/login", data={"name": name, "password": password, "next": next_path,
                                             "csrf_token": csrf_of(page.text)})
