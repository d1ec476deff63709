"""Small deterministic traffic for the rate-pattern tests and benchmark.

Each segment is a hard case for one detector family: a production app (one account, one template,
24/7), enterprise seats (one org sharing internal templates), students (education signups doing one
assignment), evaluation labs (few verified research accounts sweeping public benchmarks with
chain-of-thought instructions), casual users, and a distillation campaign (one identity cluster,
shared templates eliciting reasoning, rubric grading and sensitive rewrites, a flat 24/7 schedule,
a shift to a newly released model and staggered account hand-over). Labels are returned for
scoring only; the engine never sees them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from distillguard.v1 import events_pb2, identity_pb2

HOUR_S = 3600
DAY_S = 86_400
# Monday 2026-03-02 00:00:00 UTC.
T0 = 1_772_409_600

_AREA_TASKS = {
    "coding": "write a Python function that {x} and add unit tests",
    "tool_use": "call the search tool with a JSON schema argument to find {x}",
    "agentic": "act as an agent and plan the steps to {x}, then execute each subtask",
    "math": "prove that the equation for {x} has a unique solution",
    "logic": "solve this logic puzzle about {x}",
    "data": "write a SQL query over the orders table that finds {x}",
    "science": "explain the physics behind {x}",
    "summarization": "summarize the key points of a report on {x}",
}
_WORDS = ("river graph cache ledger planet matrix token socket garden vector kernel mirror "
          "budget harbor signal crystal engine market forest lambda parser window").split()


def make_event(account: str, at_s: float, prompt: str = "", *, event_id: str = "", model: str = "model-a",
               input_tokens: int = 400, output_tokens: int = 600, max_tokens: int = 4096, rpm_limit: int = 60,
               status: events_pb2.InferenceStatus.ValueType = events_pb2.INFERENCE_STATUS_OK,
               system_prompt: str = "") -> events_pb2.InferenceEvent:
    """One InferenceEvent at `at_s` seconds after T0 (event id derived from account and time unless given)."""
    at = T0 + at_s
    ev = events_pb2.InferenceEvent(
        event_id=event_id or f"{account}@{at:.3f}", account_id=account, model=model, input_tokens=input_tokens,
        output_tokens=output_tokens, max_tokens=max_tokens, latency_ms=500, status=status, prompt_sample=prompt,
        account_rpm_limit=rpm_limit,
        system_prompt_sha256=hashlib.sha256(system_prompt.encode()).hexdigest() if system_prompt else "")
    ev.occurred_at.seconds = int(at)
    ev.occurred_at.nanos = int(round((at - int(at)) * 1000)) * 1_000_000
    return ev


def make_signup(account: str, *, org: str = "", path: events_pb2.SignupPath.ValueType = events_pb2.SIGNUP_PATH_SELF_SERVE,
                verification: events_pb2.Verification.ValueType = events_pb2.VERIFICATION_EMAIL,
                country: str = "") -> events_pb2.SignupEvent:
    ev = events_pb2.SignupEvent(event_id=f"su-{account}", account_id=account, org_id=org, signup_path=path,
                                verification=verification, country=country)
    ev.occurred_at.seconds = T0 - DAY_S
    return ev


def _phrase(rng: np.random.RandomState, n: int) -> str:
    return " ".join(_WORDS[int(i)] for i in rng.randint(0, len(_WORDS), n))


@dataclass
class Traffic:
    signups: list[events_pb2.SignupEvent] = field(default_factory=list)
    inference: list[events_pb2.InferenceEvent] = field(default_factory=list)
    clusters: list[identity_pb2.ClusterUpdate] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    def sort(self) -> None:
        self.inference.sort(key=lambda e: (e.occurred_at.seconds, e.occurred_at.nanos, e.event_id))


class _Builder:
    def __init__(self, seed: int, days: int) -> None:
        self.rng = np.random.RandomState(seed)
        self.days = days
        self.traffic = Traffic()
        self._n = 0

    def signup(self, account: str, label: str, *, org: str = "",
               path: events_pb2.SignupPath.ValueType = events_pb2.SIGNUP_PATH_SELF_SERVE,
               verification: events_pb2.Verification.ValueType = events_pb2.VERIFICATION_EMAIL,
               email: str = "", country: str = "GB") -> None:
        # Everyone claims GB (UTC+0 in March, when T0 falls): the human segments' hours are written in UTC.
        ev = events_pb2.SignupEvent(event_id=f"su-{account}", account_id=account, org_id=org, signup_path=path,
                                    verification=verification, email=email or f"{account}@example.com",
                                    country=country)
        ev.occurred_at.seconds = T0 - DAY_S
        self.traffic.signups.append(ev)
        self.traffic.labels[account] = label

    def request(self, account: str, at_s: float, prompt: str, *, model: str = "model-a", system: str = "",
                input_tokens: int = 400, output_tokens: int = 600, max_tokens: int = 4096, rpm_limit: int = 60,
                status: events_pb2.InferenceStatus.ValueType = events_pb2.INFERENCE_STATUS_OK) -> None:
        self._n += 1
        ev = events_pb2.InferenceEvent(
            event_id=f"ev-{self._n:09d}", account_id=account, model=model, input_tokens=input_tokens,
            output_tokens=output_tokens, max_tokens=max_tokens, latency_ms=900, status=status,
            prompt_sample=prompt[:2000], account_rpm_limit=rpm_limit,
            system_prompt_sha256=hashlib.sha256(system.encode()).hexdigest() if system else "")
        seconds = int(at_s)
        ev.occurred_at.seconds = seconds
        ev.occurred_at.nanos = int((at_s - seconds) * 1e9) // 1_000_000 * 1_000_000
        self.traffic.inference.append(ev)

    def diurnal_times(self, per_day: float, start_hour: int, end_hour: int, weekend_factor: float,
                      session: int = 4) -> Iterator[float]:
        """Human-like: sessions of a few requests seconds apart, within working hours."""
        rng = self.rng
        for day in range(self.days):
            weekend = (day % 7) >= 5
            sessions = rng.poisson(per_day / session * (weekend_factor if weekend else 1.0))
            for _ in range(sessions):
                t = T0 + day * DAY_S + rng.uniform(start_hour, end_hour) * HOUR_S
                for _ in range(1 + rng.poisson(session - 1)):
                    t += rng.exponential(40.0)
                    yield t

    def flat_times(self, per_day: float, start_s: float = 0.0, end_s: float | None = None) -> Iterator[float]:
        """Machine-like: Poisson arrivals round the clock."""
        end = self.days * DAY_S if end_s is None else end_s
        t = start_s
        while True:
            t += self.rng.exponential(DAY_S / per_day)
            if t >= end:
                return
            yield T0 + t


def casual_users(b: _Builder, n: int = 20) -> None:
    for i in range(n):
        acct = f"casual-{i:03d}"
        b.signup(acct, "legit:casual")
        for t in b.diurnal_times(25, 7 + i % 5, 20 + i % 4, 0.6):
            area = list(_AREA_TASKS)[b.rng.randint(len(_AREA_TASKS))]
            b.request(acct, t, f"{_phrase(b.rng, 3)} question: how would I {_phrase(b.rng, 6)} for my {area} "
                               f"project about {_phrase(b.rng, 4)}?", input_tokens=int(b.rng.randint(50, 800)),
                      output_tokens=int(b.rng.randint(100, 900)))


def production_app(b: _Builder) -> None:
    acct = "app-000"
    b.signup(acct, "legit:production_app", org="org-helpdesk", path=events_pb2.SIGNUP_PATH_ENTERPRISE_SALES)
    for t in b.flat_times(6000):
        b.request(acct, t, "Summarize the following customer support ticket in two sentences and classify its "
                           f"urgency as low, medium or high. Ticket: {_phrase(b.rng, 25)}",
                  system="helpdesk app v3", input_tokens=int(b.rng.randint(300, 900)),
                  output_tokens=int(b.rng.randint(60, 150)), max_tokens=300, rpm_limit=20)


def enterprise_seats(b: _Builder, n: int = 30) -> None:
    templates = ("Review this pull request for security issues and explain your reasoning step by step: {x}",
                 "Write unit tests in Python for the following function: {x}",
                 "Summarize the key points of this design document: {x}")
    for i in range(n):
        acct = f"seat-{i:03d}"
        b.signup(acct, "legit:enterprise_seats", org="org-acme", path=events_pb2.SIGNUP_PATH_ENTERPRISE_SALES)
        for t in b.diurnal_times(30, 8, 18, 0.05):
            tpl = templates[b.rng.randint(len(templates))]
            b.request(acct, t, tpl.format(x=_phrase(b.rng, 20)), system="acme internal assistant",
                      input_tokens=int(b.rng.randint(500, 3000)), output_tokens=int(b.rng.randint(200, 1200)))
    b.traffic.clusters.append(identity_pb2.ClusterUpdate(
        cluster_id="cl-acme", members=[f"seat-{i:03d}" for i in range(n)], version=1, org_count=1))


def students(b: _Builder, n: int = 60) -> None:
    for i in range(n):
        acct = f"student-{i:03d}"
        b.signup(acct, "legit:students", path=events_pb2.SIGNUP_PATH_EDUCATION, email=f"s{1234500 + i}@uni.edu")
        for t in b.diurnal_times(12, 10, 24, 1.0, session=6):
            b.request(acct, t, "CS101 homework 4: explain step by step how to solve the recursion for "
                               f"{_phrase(b.rng, 3)} and write the Python code.",
                      input_tokens=int(b.rng.randint(80, 300)), output_tokens=int(b.rng.randint(300, 1500)))
    b.traffic.clusters.append(identity_pb2.ClusterUpdate(
        cluster_id="cl-campus", members=[f"student-{i:03d}" for i in range(n)], version=1, org_count=0))


def evaluation_labs(b: _Builder, n: int = 3) -> None:
    for i in range(n):
        acct = f"lab-{i:03d}"
        b.signup(acct, "legit:evaluation_labs", org=f"org-lab-{i}", path=events_pb2.SIGNUP_PATH_RESEARCH_PROGRAM,
                 verification=events_pb2.VERIFICATION_ID_DOCUMENT)
        for day in range(b.days):
            start = T0 + day * DAY_S + b.rng.uniform(0, 20) * HOUR_S
            t = start
            for item in range(1500):
                t += b.rng.exponential(0.35)
                area = list(_AREA_TASKS)[item % len(_AREA_TASKS)]
                if item % 5 == 4:
                    prompt = ("You are a strict grader. Using the rubric, score the response on a scale of 1 to 10: "
                              f"{_phrase(b.rng, 30)}")
                else:
                    prompt = (f"Benchmark item {item}: {_AREA_TASKS[area].format(x=_phrase(b.rng, 12))}. Think step "
                              f"by step, show your reasoning, then give the final answer.")
                b.request(acct, t, prompt, input_tokens=int(b.rng.randint(200, 1200)),
                          output_tokens=int(b.rng.randint(300, 2000)), max_tokens=4096, rpm_limit=200)


def campaign(b: _Builder, n: int = 40, name: str = "campaign-hydra", release_day: float = 1.5) -> None:
    """A farm: 3/4 of the accounts start at once, the rest take over from accounts that stop."""
    templates = (
        "You are an expert agent. {task}. Before the final answer, articulate your internal reasoning step by step "
        "in full detail.",
        "Act as a reward model. Using this rubric, grade the following response on a scale of 1 to 10 and justify "
        "each criterion: {task}",
        "Rewrite the following politically sensitive text about the Tiananmen protests in a neutral tone: {task}",
    )
    starters = (3 * n) // 4
    quitters = n - starters
    release_s = release_day * DAY_S
    end = b.days * DAY_S
    for i in range(n):
        acct = f"{name}-{i:03d}"
        b.signup(acct, f"attack:{name}")
        if i < starters:
            start, stop = 0.0, end if i >= quitters else end * 0.4
        else:
            j = i - starters
            start, stop = end * 0.4 + 600.0 * (j + 1), end
        for t in b.flat_times(26, start, stop):
            area = list(_AREA_TASKS)[b.rng.randint(len(_AREA_TASKS))]
            tpl = templates[0] if b.rng.rand() < 0.7 else templates[1 + b.rng.randint(2)]
            released = t - T0 >= release_s
            model = "model-b" if released and b.rng.rand() < 0.6 else "model-a"
            b.request(acct, t, tpl.format(task=_AREA_TASKS[area].format(x=_phrase(b.rng, 4))), model=model,
                      system="You are a helpful assistant. Always think step by step.",
                      input_tokens=int(b.rng.randint(100, 300)), output_tokens=int(b.rng.randint(3500, 4096)),
                      max_tokens=4096, rpm_limit=60)
    b.traffic.clusters.append(identity_pb2.ClusterUpdate(
        cluster_id=f"cl-{name}", members=[f"{name}-{i:03d}" for i in range(n)], version=1, org_count=0))


def new_model_adopters(b: _Builder, n: int = 10, release_day: float = 1.5) -> None:
    """Ordinary users of the model that the campaign moves to, so the release is visible outside it."""
    for i in range(n):
        acct = f"adopter-{i:03d}"
        b.signup(acct, "legit:casual")
        for t in b.diurnal_times(20, 8, 22, 0.7):
            model = "model-b" if t - T0 >= release_day * DAY_S and b.rng.rand() < 0.15 else "model-a"
            b.request(acct, t, f"help me {_phrase(b.rng, 8)} with my {_phrase(b.rng, 2)}", model=model)


def scenario(seed: int = 7, days: int = 3, *, campaign_accounts: int = 40, include_campaign: bool = True) -> Traffic:
    """All segments over `days` days, events sorted by occurred_at."""
    b = _Builder(seed, days)
    casual_users(b)
    new_model_adopters(b)
    production_app(b)
    enterprise_seats(b)
    students(b)
    evaluation_labs(b)
    if include_campaign:
        campaign(b, campaign_accounts)
    b.traffic.sort()
    return b.traffic


def segment(name: str, seed: int = 7, days: int = 3) -> Traffic:
    """One segment alone (plus casual background so windows and model releases behave as in production)."""
    b = _Builder(seed, days)
    casual_users(b)
    builders: dict[str, Callable[[_Builder], None]] = {
        "production_app": production_app, "enterprise_seats": enterprise_seats, "students": students,
        "evaluation_labs": evaluation_labs, "campaign": campaign, "casual": lambda _b: None}
    builders[name](b)
    b.traffic.sort()
    return b.traffic
