"""A population: a set of accounts that behave alike, and the vectorised machinery that turns its
hourly request budget into inference events.

Each subclass builds its accounts (identity, payment instrument, networks, behaviour) and decides
what its prompts look like; the base class owns the arithmetic every population shares:

- intensity(hour): one non-negative weight per account for that hour (activity window x local
  time-of-day profile x day-of-week profile x a per-account per-day factor x the subclass's extra),
  plus the sub-interval of the hour in which the account is active;
- draw(hour, n): n requests drawn across accounts in proportion to their weights, times uniform
  in each account's active sub-interval;
- describe(accounts, times): model, prompt and network per request; requests past an account's
  requests-per-minute limit come back `rate_limited`. `finish_requests` adds tokens, latency
  and status; formatter.py formats the JSON lines.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, ClassVar, Final

import numpy as np

from distillguard.simulator.formatter import Part, event_ids, join_column
from distillguard.simulator.grammar import Grammar, PromptStream
from distillguard.simulator.world import (
    ERROR,
    OK,
    RATE_LIMITED,
    REFUSED,
    CHARGE_FAILED,
    CHARGE_SUCCEEDED,
    CHARGEBACK,
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    PAYMENT_METHOD_ADDED,
    REFUND,
    SIGNUP,
    AccountRecord,
    ChoiceTable,
    Identities,
    Schedule,
)

if TYPE_CHECKING:
    from distillguard.simulator.scenario import PopulationSpec

NEW_MODEL: Final = 3  # the index in MODELS of the model released during the window
_MS_PER_TOKEN: Final = np.array([7.0, 18.0, 22.0, 27.0])
MAX_PROMPT_CHARS: Final = 2000
PROMPT_SUFFIX_ROOM: Final = 200  # what a population may append to a grammar's prompt


class Category(IntEnum):
    """What a request asks for; drives output length, context length and refusals."""

    CASUAL = 0
    DEV = 1
    APP = 2
    TOOL = 3
    ASSIGNMENT = 4
    BENCHMARK = 5
    DISTILL = 6
    RUBRIC = 7
    SENSITIVE = 8


#                          casual  dev   app   tool assign bench distil rubric sensit
_OUT_MEDIAN: Final = np.array([300, 550, 120, 260, 600, 380, 1600, 90, 520], dtype=np.float64)
_OUT_SIGMA: Final = np.array([0.7, 0.6, 0.4, 0.6, 0.5, 0.8, 0.45, 0.35, 0.5])
_CONTEXT_MEDIAN: Final = np.array([220, 900, 40, 400, 300, 0, 150, 0, 60], dtype=np.float64)
_CONTEXT_P: Final = np.array([0.45, 0.6, 0.1, 0.5, 0.4, 0.0, 0.2, 0.0, 0.1])
_REFUSAL_P: Final = np.array([0.003, 0.001, 0.001, 0.001, 0.002, 0.002, 0.004, 0.001, 0.3])
_ERROR_P: Final = 0.003


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Timeline:
    """The scenario window: hourly slices from start_ms, a new model released at release_ms."""

    start_ms: int
    hours: int
    release_ms: int

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.hours * HOUR_MS

    @property
    def days(self) -> int:
        return -(-self.hours // 24)


@dataclass
class BuildContext:
    """What populations build their accounts into; `pools` holds networks shared across populations
    (mobile carrier NAT, VPN exits), keyed by name."""

    ids: Identities
    schedule: Schedule
    registry: list[AccountRecord]
    timeline: Timeline
    pools: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def rng(self) -> np.random.Generator:
        return self.ids.rng

    def stream(self, grammar: Grammar) -> PromptStream:
        """A stream of JSON-escaped prompts from `grammar`, with its own Generator so prompts do not
        depend on how hours are sliced. Grammars are bounded well under the 2,000-character limit
        (checked here), so prompts never need truncating."""
        if grammar.max_length > MAX_PROMPT_CHARS - PROMPT_SUFFIX_ROOM:
            raise ValueError(f"a grammar can produce {grammar.max_length} characters, over the prompt limit")
        return PromptStream(grammar, self.rng.spawn(1)[0])


@dataclass(slots=True)
class AccountPlan:
    """Everything about one account that the hourly generator needs."""

    record: AccountRecord
    signup_ms: int
    active_from_ms: int
    active_until_ms: int
    utc_offset: float
    rate: float
    rpm_limit: int
    max_tokens: int
    stream_p: float
    adopt_ms: int
    new_share: float
    old_models: tuple[float, float, float]
    api_keys: tuple[str, ...]
    user_agents: tuple[str, ...]
    ips: tuple[str, ...]
    system_prompts: tuple[str, ...] = ("",)
    day_active_p: float = 0.7
    day_sigma: float = 0.6


def _profile(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    normalised: np.ndarray = array / array.mean()
    return normalised


# Relative hourly activity by local hour (0-23) and by local weekday (Monday first).
HUMAN_DAY: Final = _profile([2, 1.2, .7, .5, .4, .5, 1, 2, 3.5, 4.5, 5, 5, 4.6, 4.8, 5, 5, 4.8, 4.6, 4.8, 5.2, 5.4, 5,
                             4.2, 3])
EVENING_DAY: Final = _profile([3, 2, 1, .5, .3, .3, .5, 1, 2, 3, 3.5, 4, 4, 4, 4, 4, 4.2, 4.5, 5, 5.5, 6, 6, 5.5, 4.5])
OFFICE_DAY: Final = _profile([.1, .1, .1, .1, .1, .2, .4, 1.5, 4, 6, 6.5, 6, 4.5, 5.5, 6.5, 6.5, 6, 4.5, 2.5, 1.2,
                              .8, .5, .3, .2])
FLAT_DAY: Final = _profile([1.0] * 24)
SERVICE_DAY: Final = _profile([.75, .7, .65, .62, .62, .66, .75, .88, 1, 1.1, 1.18, 1.22, 1.25, 1.25, 1.22, 1.2,
                               1.18, 1.15, 1.12, 1.08, 1.02, .95, .88, .8])
HUMAN_WEEK: Final = _profile([1, 1, 1, 1, .95, .85, .85])
WORK_WEEK: Final = _profile([1, 1.05, 1.05, 1, .9, .12, .08])
FLAT_WEEK: Final = _profile([1.0] * 7)


class Population:
    """Base class; see the module docstring. Subclasses set `kind`, `attack`, the profiles and
    implement `build` and `prompts`."""

    kind: ClassVar[str]
    attack: ClassVar[bool] = False
    day_profile: ClassVar[np.ndarray] = HUMAN_DAY
    week_profile: ClassVar[np.ndarray] = HUMAN_WEEK

    def __init__(self, spec: PopulationSpec, ctx: BuildContext) -> None:
        self.spec = spec
        self.timeline = ctx.timeline
        self.offset = len(ctx.registry)
        plans = self.build(ctx)
        if not plans:
            raise ValueError(f"population {self.label} built no accounts")
        for index, plan in enumerate(plans, start=self.offset):
            ctx.registry.append(plan.record)
            ctx.schedule.add(plan.signup_ms, index, SIGNUP)
        n = self.size = len(plans)
        # Everything that goes into inference lines is kept as UTF-8 bytes, ready for rendering.
        self.account_ids = np.array([p.record.account_id.encode() for p in plans], dtype=object)
        self.signup_ms = np.array([p.signup_ms for p in plans], dtype=np.int64)
        self.active_from = np.array([p.active_from_ms for p in plans], dtype=np.int64)
        self.active_until = np.array([p.active_until_ms for p in plans], dtype=np.int64)
        if (self.active_from <= self.signup_ms).any():
            raise AssertionError(f"{self.label}: an account is active before it signs up")
        self.utc_offset = np.array([p.utc_offset for p in plans], dtype=np.float64)
        self.rate = np.array([p.rate for p in plans], dtype=np.float64)
        self.rpm_limit = np.array([p.rpm_limit for p in plans], dtype=np.int64)
        self.max_tokens = np.array([p.max_tokens for p in plans], dtype=np.int64)
        self.stream_p = np.array([p.stream_p for p in plans], dtype=np.float64)
        self.adopt_ms = np.maximum(np.array([p.adopt_ms for p in plans], dtype=np.int64), self.timeline.release_ms)
        self.new_share = np.array([p.new_share for p in plans], dtype=np.float64)
        old = np.array([p.old_models for p in plans], dtype=np.float64)
        self.old_models_cum = np.cumsum(old / old.sum(axis=1, keepdims=True), axis=1)
        self.api_keys = ChoiceTable.of_text([p.api_keys for p in plans])
        self.user_agents = ChoiceTable.of_text([p.user_agents for p in plans])
        self.ips = ChoiceTable.of_text([p.ips for p in plans])
        self.system_prompts = ChoiceTable.of_text([p.system_prompts for p in plans])
        for table in (self.api_keys, self.user_agents, self.ips, self.system_prompts):
            if not json_safe(table.values.tolist()):
                raise AssertionError(f"{self.label}: a key, user agent, IP or hash needs JSON escaping")
        rng = ctx.rng
        days = self.timeline.days + 2
        active = rng.random((n, days)) < np.array([p.day_active_p for p in plans])[:, None]
        sigma = np.array([p.day_sigma for p in plans])[:, None]
        # Row-major (account, local day) factors, read with flat indexes in `intensity`.
        factor = active * np.exp(sigma * rng.standard_normal((n, days)) - sigma**2 / 2)
        self.day_factor = factor.astype(np.float32).ravel()
        self._day_base = np.arange(n, dtype=np.int64) * days
        self.whole_hours_offset = np.floor(self.utc_offset).astype(np.int64)
        # Relative activity by local hour of the week (Monday 00:00 first).
        self.hour_profile = (self.week_profile[:, None] * self.day_profile[None, :]).ravel()

    @property
    def label(self) -> str:
        return ("attack:" if self.attack else "legit:") + self.spec.kind

    # -- hooks --------------------------------------------------------------------------------
    def build(self, ctx: BuildContext) -> list[AccountPlan]:
        raise NotImplementedError

    def prompts(
        self, local: np.ndarray, ts: np.ndarray, rng: np.random.Generator
    ) -> tuple[list[bytes], np.ndarray, np.ndarray]:
        """Prompt (JSON-escaped UTF-8), Category code and system-prompt hash (bytes) of each request."""
        raise NotImplementedError

    def extra(self, hour: int) -> np.ndarray | float:
        """A further multiplier on this hour's weights (bursts, assignment deadlines, campaign batches)."""
        return 1.0

    def choose_ips(self, local: np.ndarray, ts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.ips.choose(local, rng)

    def choose_models(
        self, local: np.ndarray, ts: np.ndarray, category: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Model index per request: after its adoption time an account sends `new_share` of its
        traffic to the new model, the rest to its usual mix of existing models."""
        adopted = ts >= self.adopt_ms[local]
        new = adopted & (rng.random(len(local)) < self.new_share[local])
        old = (rng.random(len(local))[:, None] > self.old_models_cum[local]).sum(axis=1)
        return np.where(new, NEW_MODEL, np.minimum(old, NEW_MODEL - 1))

    # -- shared arithmetic --------------------------------------------------------------------
    def intensity(self, hour: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(weight, active_from, active_until) per account for one hour of the scenario."""
        t0 = self.timeline.start_ms + hour * HOUR_MS
        lo = np.maximum(self.active_from, t0)
        hi = np.minimum(self.active_until, t0 + HOUR_MS)
        span = np.maximum(hi - lo, 0)
        local_time = hour + self.whole_hours_offset  # floor(hour + offset) for a whole hour
        day_weight = self.day_factor.take(self._day_base + local_time // 24 + 1)
        weight = self.rate * (span / HOUR_MS) * day_weight * self.hour_profile[local_time % 168]
        weight *= self.extra(hour)
        return weight, lo, lo + span

    def draw(self, hour: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Who sends this hour's n requests and when: (account index, occurred_at in ms), each
        account chosen in proportion to its weight, each time uniform in its active part of the hour."""
        weight, lo, hi = self.intensity(hour)
        cumulative = np.cumsum(weight)
        if n <= 0 or cumulative[-1] <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        last = int(np.flatnonzero(weight > 0)[-1])
        local = np.minimum(np.searchsorted(cumulative, rng.random(n) * cumulative[-1], side="right"), last)
        return local, lo[local] + (rng.random(n) * (hi[local] - lo[local])).astype(np.int64)

    def describe(self, local: np.ndarray, ts: np.ndarray, rng: np.random.Generator) -> RequestBatch:
        """Everything the population decides about drawn requests (model, prompt, network, rate
        limit); `finish_requests` does the rest. The requests must include every request of each
        account in each minute they cover, so the per-minute limit is applied correctly."""
        order = np.lexsort((ts, local))
        local, ts = local[order], ts[order]
        n = len(local)

        # Requests beyond the account's per-minute limit are refused with rate_limited.
        minute = ts // MINUTE_MS
        new_group = np.ones(n, dtype=bool)
        new_group[1:] = (local[1:] != local[:-1]) | (minute[1:] != minute[:-1])
        group_start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))

        prompts, category, system_prompt = self.prompts(local, ts, rng)
        return RequestBatch(
            ts=ts,
            account_id=self.account_ids[local],
            api_key=self.api_keys.choose(local, rng),
            model=self.choose_models(local, ts, category, rng),
            ip=self.choose_ips(local, ts, rng),
            user_agent=self.user_agents.choose(local, rng),
            prompt=prompts,
            category=np.asarray(category, dtype=np.int64),
            system_prompt=system_prompt,
            max_tokens=self.max_tokens[local],
            rpm_limit=self.rpm_limit[local],
            rate_limited=(np.arange(n) - group_start) >= self.rpm_limit[local],
            stream_p=self.stream_p[local],
        )


@dataclass(frozen=True)
class RequestBatch:
    """Column-wise requests; every array has one entry per request (object arrays hold strings)."""

    ts: np.ndarray
    account_id: np.ndarray
    api_key: np.ndarray
    model: np.ndarray
    ip: np.ndarray
    user_agent: np.ndarray
    prompt: list[bytes]  # JSON-escaped UTF-8
    category: np.ndarray
    system_prompt: np.ndarray
    max_tokens: np.ndarray
    rpm_limit: np.ndarray
    rate_limited: np.ndarray
    stream_p: np.ndarray

    @staticmethod
    def in_time_order(batches: Sequence[RequestBatch]) -> RequestBatch:
        """All requests of `batches`, sorted by time (stable)."""
        order = np.argsort(np.concatenate([b.ts for b in batches]), kind="stable")
        prompts = [p for b in batches for p in b.prompt]

        def join(name: str) -> np.ndarray:
            joined: np.ndarray = np.concatenate([getattr(b, name) for b in batches])[order]
            return joined

        return RequestBatch(
            ts=join("ts"), account_id=join("account_id"), api_key=join("api_key"), model=join("model"),
            ip=join("ip"), user_agent=join("user_agent"), prompt=[prompts[i] for i in order.tolist()],
            category=join("category"), system_prompt=join("system_prompt"), max_tokens=join("max_tokens"),
            rpm_limit=join("rpm_limit"), rate_limited=join("rate_limited"), stream_p=join("stream_p"),
        )


def finish_requests(
    batch: RequestBatch, rng: np.random.Generator, others: list[bytes], positions: list[int]
) -> Part:
    """Draw what the API decided for the batch's requests (status: rate limit, refusals, errors;
    token counts, latency, streaming, event ids) and pack everything as a `Part` for
    `formatter.format_part`, with `others` (signup and billing lines) going before requests
    `positions`.

    Lines are formatted directly: prompts arrive JSON-escaped (`BuildContext.stream`) and every
    other field is an identifier, a number or a pool value checked to need no escaping
    (`json_safe`)."""
    n = len(batch.ts)
    category, model, max_tokens, prompts = batch.category, batch.model, batch.max_tokens, batch.prompt
    status = np.full(n, OK, dtype=np.int64)
    status[rng.random(n) < _REFUSAL_P[category]] = REFUSED
    status[rng.random(n) < _ERROR_P] = ERROR
    status[batch.rate_limited] = RATE_LIMITED

    chars = np.fromiter(map(len, prompts), dtype=np.int64, count=n)
    system_prompts = batch.system_prompt.tolist()
    has_system = np.fromiter(map(bool, system_prompts), dtype=bool, count=n)
    context = np.where(
        rng.random(n) < _CONTEXT_P[category], _CONTEXT_MEDIAN[category] * np.exp(0.8 * rng.standard_normal(n)), 0.0
    )
    input_tokens = chars // 4 + 1 + context.astype(np.int64) + has_system * rng.integers(20, 400, n)
    wanted = _OUT_MEDIAN[category] * np.exp(_OUT_SIGMA[category] * rng.standard_normal(n))
    output_tokens = np.clip(wanted.astype(np.int64), 1, max_tokens)
    output_tokens = np.where(status == REFUSED, rng.integers(15, 60, n), output_tokens)
    output_tokens[(status == RATE_LIMITED) | (status == ERROR)] = 0
    first_token = 250 + 400 * np.exp(0.5 * rng.standard_normal(n)) + input_tokens * 0.05
    latency = first_token + output_tokens * _MS_PER_TOKEN[model] * np.exp(0.2 * rng.standard_normal(n))
    latency = np.where(status == RATE_LIMITED, rng.integers(4, 40, n), latency)
    latency = np.where(status == ERROR, rng.integers(50, 30_000, n), latency)
    stream = rng.random(n) < batch.stream_p
    return Part(
        ts=batch.ts,
        event_bytes=rng.bytes(10 * n),
        account_id=join_column(batch.account_id.tolist()),
        api_key=join_column(batch.api_key.tolist()),
        model=model,
        ip=join_column(batch.ip.tolist()),
        user_agent=join_column(batch.user_agent.tolist()),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        max_tokens=max_tokens,
        latency_ms=latency.astype(np.int64),
        status=status,
        stream=stream,
        prompt=join_column(prompts),
        system_prompt=join_column(system_prompts),
        rpm_limit=batch.rpm_limit,
        others=others,
        positions=positions,
    )


_NEEDS_ESCAPE: Final = re.compile(rb'["\\\x00-\x1f]')


def json_safe(values: Sequence[bytes]) -> bool:
    """True when every value can be placed between JSON quotes as is (no quote, backslash or
    control character)."""
    return _NEEDS_ESCAPE.search(b"".join(values)) is None


def _event_ids(rng: np.random.Generator, n: int) -> list[bytes]:
    """n random 80-bit ids as 20 hex digits (the "evt_" prefix is added by the caller)."""
    return event_ids(rng.bytes(10 * n))


# -- building blocks shared by the population modules ------------------------------------------

def mixture(
    rng: np.random.Generator, n: int, shares: Sequence[float]
) -> np.ndarray:
    """One component index per request, drawn with the given shares."""
    cumulative = np.cumsum(np.asarray(shares, dtype=np.float64) / sum(shares))
    return np.minimum(np.searchsorted(cumulative, rng.random(n), side="right"), len(shares) - 1)


def fill_prompts(texts: list[bytes], mask: np.ndarray, stream: PromptStream) -> None:
    """Write prompts from `stream` into the positions of `texts` where `mask` is true."""
    where = np.flatnonzero(mask).tolist()
    for position, text in zip(where, stream.take(len(where))[0]):
        texts[position] = text


def legit_signup(ctx: BuildContext, newcomer_share: float) -> tuple[int, int]:
    """(signup_ms, active_from_ms) of a legitimate account: most existed before the window (up to
    two years), the rest sign up during it and start within minutes to a day."""
    tl, ids = ctx.timeline, ctx.ids
    if ids.uniform() >= newcomer_share:
        days_ago = float(np.exp(ids.uniform(0.0, np.log(720.0))))
        signup = tl.start_ms - int(days_ago * DAY_MS)
        return signup, tl.start_ms + ids.integer(0, HOUR_MS)
    signup = ids.integer(tl.start_ms, tl.end_ms - 12 * HOUR_MS)
    delay = int(min(2 * DAY_MS, MINUTE_MS * (2 + 20 * np.exp(1.5 * ids.normal()))))
    return signup, signup + max(delay, 2 * MINUTE_MS)


def legit_adoption(ctx: BuildContext, mean_days: float, share: tuple[float, float]) -> tuple[int, float]:
    """When a legitimate account starts using the new model and how much of its traffic moves."""
    ids = ctx.ids
    delay = -mean_days * np.log(1.0 - ids.uniform()) * DAY_MS
    return ctx.timeline.release_ms + int(delay), ids.uniform(*share)


def schedule_payments(
    ctx: BuildContext,
    account: int,
    signup_ms: int,
    first_charge_cents: int,
    monthly_cents: int,
    fail_p: float = 0.02,
    refund_p: float = 0.01,
    chargeback_p: float = 0.002,
    topup_days: float = 0.0,
) -> None:
    """Card added minutes after signup, a first charge, monthly charges (or top-ups every
    `topup_days`) inside the window, and the occasional failure, refund or chargeback."""
    ids, tl, schedule = ctx.ids, ctx.timeline, ctx.schedule
    added = signup_ms + ids.integer(MINUTE_MS, 40 * MINUTE_MS)
    schedule.add(added, account, PAYMENT_METHOD_ADDED)
    first = added + ids.integer(MINUTE_MS, 6 * MINUTE_MS)
    schedule.add(first, account, CHARGE_SUCCEEDED, first_charge_cents)
    period = (topup_days if topup_days > 0 else 30.0) * DAY_MS
    # Charges before the window are not part of the registry backfill; only those inside it are.
    k = max(1, int(np.ceil((tl.start_ms - first) / period)))
    charges = []
    while (moment := first + int(k * period)) < tl.end_ms:
        if topup_days > 0:
            moment += int(ids.uniform(-0.3, 0.3) * period)
        if tl.start_ms <= moment < tl.end_ms:
            charges.append(moment)
        k += 1
    for moment in charges:
        amount = int(monthly_cents * np.exp(0.4 * ids.normal()))
        if ids.uniform() < fail_p:
            schedule.add(moment, account, CHARGE_FAILED, amount)
            moment += ids.integer(HOUR_MS, 2 * DAY_MS)
            if moment >= tl.end_ms:
                continue
        schedule.add(moment, account, CHARGE_SUCCEEDED, amount)
        later = moment + ids.integer(DAY_MS, 20 * DAY_MS)
        if later < tl.end_ms:
            if ids.uniform() < chargeback_p:
                schedule.add(later, account, CHARGEBACK, amount)
            elif ids.uniform() < refund_p:
                schedule.add(later, account, REFUND, min(amount, ids.integer(100, 2000)))


def api_keys(ctx: BuildContext, most: int) -> tuple[str, ...]:
    return tuple(ctx.ids.unique_id("key_") for _ in range(ctx.ids.integer(1, most + 1)))
