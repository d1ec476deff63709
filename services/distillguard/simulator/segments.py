"""Legitimate populations, each its own label segment ("legit:<kind>"), with the hard cases that
make naive detectors fail:

- casual: people in their own time zones and weekly rhythm, diverse prompts, home and mobile
  carrier IPs (carrier NAT addresses are shared by many unrelated people).
- developer: API users with SDK user agents, coding prompts (some asking for step-by-step
  explanations), popular generic system prompts shared with thousands of others, quick new-model
  adopters.
- production_app: 24/7 steady traffic from a few cloud IPs; one slot-filled template reused for
  every request of the account and its own system prompt — highly repetitive, yet one account.
- enterprise: dozens of seats per org behind the same corporate NAT IPs, one corporate card on
  every seat, shared org_id, a handful of standard-image device fingerprints, internal tool
  templates and their system prompt shared across seats; some orgs onboard all seats in one hour.
- student: campus NAT ranges, s1234567@uni patterned emails, lab-session signups (same hour, IP
  and lab machines), and class assignments that make a whole class send near-identical prompts
  in the same two days.
- eval_lab: a few unrelated, verified research accounts running benchmark sweeps — thousands of
  chain-of-thought requests in an hour or two across many capability areas, in the same PUBLIC
  benchmark formats and harness system prompt at every lab, including a sweep of the new model
  within a day or two of its release.
- family: 2-5 accounts on one card and one home IP, sometimes one shared computer.
- vpn: unrelated people whose traffic leaves through the same VPN exit nodes.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from distillguard.simulator import identity_data as data
from distillguard.simulator import prompt_data as prompts_data
from distillguard.simulator.grammar import json_string_body
from distillguard.simulator.population import (
    EVENING_DAY,
    FLAT_WEEK,
    HUMAN_DAY,
    NEW_MODEL,
    OFFICE_DAY,
    SERVICE_DAY,
    WORK_WEEK,
    AccountPlan,
    BuildContext,
    Category,
    Population,
    _profile,
    api_keys,
    fill_prompts,
    legit_adoption,
    legit_signup,
    mixture,
    schedule_payments,
    sha256_hex,
)
from distillguard.simulator.world import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    PAYMENT_METHOD_ADDED,
    AccountRecord,
    Card,
    ChoiceTable,
    Identities,
    ascii_slug,
)

NEVER_MS = 2**62  # an adoption time that never comes
SETTLED_CURRENCIES = frozenset({"USD", "EUR", "GBP", "CAD", "AUD"})
GENERIC_SYSTEM_HASHES = tuple(sha256_hex(text) for text in prompts_data.GENERIC_SYSTEM_PROMPTS)


def currency_of(country: data.Country) -> str:
    return country.currency if country.currency in SETTLED_CURRENCIES else "USD"


def old_model_mix(ids: Identities) -> tuple[float, float, float]:
    """A person's usual mix of the existing models (mini, 1, 1.5), favouring the newer ones."""
    return ids.uniform(0.0, 1.0), ids.uniform(0.0, 1.5), ids.uniform(0.0, 2.0)


def display_name(ctx: BuildContext, first: str, last: str) -> str:
    roll = ctx.ids.uniform()
    if roll < 0.7:
        return f"{first} {last}"
    if roll < 0.85:
        return first
    if roll < 0.93:
        return f"{first[0]}. {last}"
    return f"{ascii_slug(first)}{ascii_slug(last)[:3]}{ctx.ids.integer(1, 99)}"


def verification(ctx: BuildContext, email: float, phone: float, id_document: float = 0.0) -> str:
    roll = ctx.ids.uniform()
    if roll < email:
        return "email"
    if roll < email + phone:
        return "phone"
    if roll < email + phone + id_document:
        return "id_document"
    return "none"


def signup_fields(
    email: str,
    name: str,
    country: data.Country,
    ip: str,
    user_agent: str,
    device: str,
    path: str,
    verified: str,
    phone: str = "",
    org_id: str = "",
    org_name: str = "",
) -> dict[str, Any]:
    fields: dict[str, Any] = {"email": email, "display_name": name}
    if org_id:
        fields["org_id"], fields["org_name"] = org_id, org_name
    if phone:
        fields["phone"] = phone
    fields.update({
        "country": country.code, "ip": ip, "user_agent": user_agent, "device_fingerprint": device,
        "signup_path": path, "verification": verified,
    })
    return fields


def mobile_pool(ctx: BuildContext) -> tuple[str, ...]:
    """Carrier-grade NAT addresses: a small pool shared by every phone user."""
    if "mobile" not in ctx.pools:
        ctx.pools["mobile"] = tuple(ctx.ids.mobile_ip() for _ in range(256))
    return ctx.pools["mobile"]


class _PersonPopulation(Population):
    """Shared construction for individuals (casual, developer, family, vpn)."""

    newcomer_share: ClassVar[float] = 0.25
    card_p: ClassVar[float] = 0.35

    def person_plan(
        self,
        ctx: BuildContext,
        index: int,
        country: data.Country,
        name: tuple[str, str],
        home_ip: str,
        request_ips: tuple[str, ...],
        user_agents: tuple[str, ...],
        signup_ip: str | None = None,
        card: Card | None = None,
        pays: bool = True,
        device: str | None = None,
        adoption: tuple[float, tuple[float, float]] = (6.0, (0.2, 0.8)),
        rate_sigma: float = 1.0,
        email: str | None = None,
    ) -> AccountPlan:
        ids = ctx.ids
        first, last = name
        signup_ms, active_ms = legit_signup(ctx, self.newcomer_share)
        verified = verification(ctx, 0.7, 0.25)
        record = AccountRecord(
            account_id=ids.unique_id("acct_"),
            label=self.label,
            signup=signup_fields(
                email or ids.email(first, last), display_name(ctx, first, last), country, signup_ip or home_ip,
                ids.browser_ua(), device or ids.device(), "self_serve", verified,
                phone=ids.phone(country) if verified == "phone" or ids.chance(0.2) else "",
            ),
            card=card,
            billing_ip=home_ip,
            currency=currency_of(country),
        )
        if card is not None:
            if pays:
                schedule_payments(
                    ctx, index, signup_ms, ids.pick((500, 1000, 2000, 2500)), ids.integer(500, 4000)
                )
            else:
                ctx.schedule.add(signup_ms + ids.integer(MINUTE_MS, 30 * MINUTE_MS), index, PAYMENT_METHOD_ADDED)
        adopt_ms, share = legit_adoption(ctx, *adoption)
        return AccountPlan(
            record=record,
            signup_ms=signup_ms,
            active_from_ms=active_ms,
            active_until_ms=self.timeline.end_ms,
            utc_offset=ids.utc_offset(country),
            rate=float(np.exp(rate_sigma * ids.normal())),
            rpm_limit=50 if card is not None else 20,
            max_tokens=ids.pick((1024, 2048, 4096, 8192)),
            stream_p=0.9,
            adopt_ms=adopt_ms,
            new_share=share,
            old_models=old_model_mix(ids),
            api_keys=api_keys(ctx, 1),
            user_agents=user_agents,
            ips=request_ips,
            day_active_p=0.45,
            day_sigma=0.7,
        )


class Casual(_PersonPopulation):
    kind = "casual"

    def build(self, ctx: BuildContext) -> list[AccountPlan]:
        self.grammar = ctx.stream(prompts_data.casual_grammar())
        ids = ctx.ids
        plans: list[AccountPlan] = []
        for i in range(self.spec.accounts):
            country = ids.country()
            home = ids.residential_ip(country)
            browser = ids.browser_ua()
            phone_user = ids.chance(0.6)
            ips = (home,) * 3 + (ids.pick(mobile_pool(ctx)),) if phone_user else (home,)
            uas = (browser, ids.pick(data.BROWSER_USER_AGENTS[8:])) if phone_user else (browser,)
            name = ids.person(country)
            card = ids.card(" ".join(name), country) if ids.chance(self.card_p) else None
            plans.append(self.person_plan(ctx, self.offset + i, country, name, home, ips, uas, card=card))
        return plans

    def prompts(
        self, local: np.ndarray, ts: np.ndarray, rng: np.random.Generator
    ) -> tuple[list[bytes], np.ndarray, np.ndarray]:
        n = len(local)
        return self.grammar.take(n)[0], np.full(n, Category.CASUAL), self.system_prompts.choose(local, rng)


class Developer(_PersonPopulation):
    kind = "developer"
    week_profile = WORK_WEEK
    card_p = 0.7

    def build(self, ctx: BuildContext) -> list[AccountPlan]:
        self.dev_grammar = ctx.stream(prompts_data.developer_grammar())
        self.casual_grammar = ctx.stream(prompts_data.casual_grammar())
        ids = ctx.ids
        plans: list[AccountPlan] = []
        for i in range(self.spec.accounts):
            country = ids.country()
            home = ids.residential_ip(country)
            ips = (home, home, ids.cloud_ip()) if ids.chance(0.4) else (home,)
            uas = (ids.sdk_ua(), ids.sdk_ua(), ids.browser_ua())
            name = ids.person(country)
            card = ids.card(" ".join(name), country) if ids.chance(self.card_p) else None
            plan = self.person_plan(
                ctx, self.offset + i, country, name, home, ips, uas, card=card, adoption=(2.0, (0.3, 0.9))
            )
            roll = ids.uniform()
            if roll < 0.4:
                plan.system_prompts = (ids.pick(GENERIC_SYSTEM_HASHES), "")
            elif roll < 0.6:
                plan.system_prompts = (ids.hex(32),)
            plan.api_keys = api_keys(ctx, 3)
            plan.rpm_limit = ids.pick((50, 200, 500)) if card else 20
            plan.stream_p = 0.4
            plan.day_active_p = 0.6
            plans.append(plan)
        return plans

    def prompts(
        self, local: np.ndarray, ts: np.ndarray, rng: np.random.Generator
    ) -> tuple[list[bytes], np.ndarray, np.ndarray]:
        n = len(local)
        casual = rng.random(n) < 0.25
        texts = [b""] * n
        category = np.where(casual, Category.CASUAL, Category.DEV)
        fill_prompts(texts, casual, self.casual_grammar)
        fill_prompts(texts, ~casual, self.dev_grammar)
        return texts, category, self.system_prompts.choose(local, rng)


class ProductionApp(Population):
    kind = "production_app"
    day_profile = SERVICE_DAY
    week_profile = _profile([1, 1, 1, 1, 1, 0.88, 0.86])

    def build(self, ctx: BuildContext) -> list[AccountPlan]:
        ids = ctx.ids
        plans: list[AccountPlan] = []
        self.template_streams = [ctx.stream(grammar) for grammar in prompts_data.app_grammars()]
        template_of: list[int] = []
        suffixes: list[bytes] = []
        for i in range(self.spec.accounts):
            index = self.offset + i
            country = ids.country()
            company = ids.company(country)
            domain = ascii_slug(company.split()[0] + company.split()[1]) + ".io"
            first, last = ids.person(country)
            signup_ms, active_ms = legit_signup(ctx, 0.1)
            card = ids.card(company, country, "credit")
            record = AccountRecord(
                account_id=ids.unique_id("acct_"),
                label=self.label,
                signup=signup_fields(
                    f"{ascii_slug(first)}@{domain}", f"{first} {last}", country, ids.residential_ip(country),
                    ids.browser_ua(), ids.device(), "startup_program" if ids.chance(0.4) else "self_serve",
                    verification(ctx, 0.6, 0.3, 0.1), phone=ids.phone(country),
                    org_id=ids.unique_id("org_", 6), org_name=company,
                ),
                card=card,
                billing_ip=ids.residential_ip(country),
                currency=currency_of(country),
            )
            schedule_payments(ctx, index, signup_ms, 5000, int(np.exp(ids.uniform(np.log(30_000), np.log(2_000_000)))))
            pinned = ids.pick((0, 0, 0, 1, 1, 1, 1, 2, 2, 2))
            migrates = ids.chance(0.25)
            template_of.append(ids.integer(0, len(self.template_streams)))
            suffixes.append(json_string_body(" (" + ids.pick(prompts_data.APP_STYLE_RULES) + ")").encode())
            plans.append(AccountPlan(
                record=record,
                signup_ms=signup_ms,
                active_from_ms=active_ms,
                active_until_ms=self.timeline.end_ms,
                utc_offset=ids.utc_offset(country),
                rate=float(np.exp(1.2 * ids.normal())),
                rpm_limit=ids.pick((500, 1000, 2000, 4000)),
                max_tokens=ids.pick((256, 512, 1024)),
                stream_p=float(ids.chance(0.3)),
                adopt_ms=self.timeline.release_ms + int(ids.uniform(3, 20) * DAY_MS) if migrates else NEVER_MS,
                new_share=1.0,
                old_models=(float(pinned == 0), float(pinned == 1), float(pinned == 2)),
                api_keys=api_keys(ctx, 2),
                user_agents=(ids.sdk_ua(),),
                ips=tuple(ids.subnet_ips(int(ids.pick(data.CLOUD_OCTETS)), ids.integer(2, 5))),
                system_prompts=(ids.hex(32),),
                day_active_p=1.0,
                day_sigma=0.12,
            ))
        self.template_of = np.array(template_of)
        self.suffix = np.array(suffixes, dtype=object)
        return plans

    def prompts(
        self, local: np.ndarray, ts: np.ndarray, rng: np.random.Generator
    ) -> tuple[list[bytes], np.ndarray, np.ndarray]:
        n = len(local)
        texts = [b""] * n
        template = self.template_of[local]
        for index in np.unique(template).tolist():
            fill_prompts(texts, template == index, self.template_streams[index])
        # Each app appends its own fixed instruction to the shared task template.
        texts = [text + suffix for text, suffix in zip(texts, self.suffix[local].tolist())]
        return texts, np.full(n, Category.APP), self.system_prompts.choose(local, rng)


class Enterprise(Population):
    kind = "enterprise"
    day_profile = OFFICE_DAY
    week_profile = WORK_WEEK

    def build(self, ctx: BuildContext) -> list[AccountPlan]:
        ids, tl = ctx.ids, self.timeline
        plans: list[AccountPlan] = []
        self.dev_grammar = ctx.stream(prompts_data.developer_grammar())
        self.casual_grammar = ctx.stream(prompts_data.casual_grammar())
        self.tool_streams = [ctx.stream(grammar) for grammar in prompts_data.enterprise_tool_grammars()]
        org_tools: list[list[int]] = []
        org_hashes: list[str] = []
        org_of: list[int] = []
        remaining = self.spec.accounts
        while remaining > 0:
            org = len(org_tools)
            seats = min(remaining, ids.integer(12, 61))
            if 0 < remaining - seats < 12:
                seats = remaining
            remaining -= seats
            country = ids.country(ids.pick(("US", "US", "GB", "DE", "FR", "JP", "IN", "CA", "NL", "BR")))
            company = ids.company(country)
            domain = ascii_slug(company.split()[0] + company.split()[1]) + ".com"
            org_id = ids.unique_id("org_", 6)
            tz = ids.utc_offset(country)
            nat = tuple(ids.subnet_ips(int(ids.pick(data.CORPORATE_OCTETS)), ids.integer(2, 5)))
            card = ids.card(company, country, "credit", address=ids.address(country))
            images = [ids.device() for _ in range(max(2, seats // 6))]
            browser = ids.browser_ua()
            id_checked = ids.chance(0.4)
            onboards_in_window = ids.chance(0.25)
            onboarding = ids.integer(tl.start_ms + DAY_MS // 2, tl.end_ms - DAY_MS) if onboards_in_window else 0
            org_tools.append(ids.sample(range(len(self.tool_streams)), ids.integer(2, 5)))
            org_hashes.append(ids.hex(32))
            adopt = tl.release_ms + int(ids.uniform(5, 15) * DAY_MS)
            for seat in range(seats):
                index = self.offset + len(plans)
                first, last = ids.person(country)
                if onboards_in_window:
                    signup_ms = onboarding + ids.integer(0, 90 * MINUTE_MS)
                    active_ms = signup_ms + ids.integer(5 * MINUTE_MS, 3 * HOUR_MS)
                else:
                    signup_ms, active_ms = legit_signup(ctx, 0.05)
                record = AccountRecord(
                    account_id=ids.unique_id("acct_"),
                    label=self.label,
                    signup=signup_fields(
                        f"{ascii_slug(first)}.{ascii_slug(last)}@{domain}", f"{first} {last}", country,
                        ids.pick(nat), browser, ids.pick(images), "enterprise_sales",
                        "id_document" if id_checked else "email", org_id=org_id, org_name=company,
                    ),
                    card=card,
                    billing_ip=nat[0],
                    currency=currency_of(country),
                )
                if seat == 0:
                    schedule_payments(ctx, index, signup_ms, 10_000, 150_000 * seats // 10, fail_p=0.0)
                else:
                    ctx.schedule.add(signup_ms + ids.integer(MINUTE_MS, 20 * MINUTE_MS), index, PAYMENT_METHOD_ADDED)
                org_of.append(org)
                plans.append(AccountPlan(
                    record=record,
                    signup_ms=signup_ms,
                    active_from_ms=active_ms,
                    active_until_ms=tl.end_ms,
                    utc_offset=tz,
                    rate=float(np.exp(0.8 * ids.normal())),
                    rpm_limit=200,
                    max_tokens=4096,
                    stream_p=0.7,
                    adopt_ms=adopt,
                    new_share=0.5,
                    old_models=old_model_mix(ids),
                    api_keys=api_keys(ctx, 1),
                    user_agents=(browser, browser, ids.sdk_ua()),
                    ips=nat,
                    day_active_p=0.85,
                    day_sigma=0.5,
                ))
        self.org_of = np.array(org_of)
        self.org_tools = ChoiceTable(org_tools)
        self.org_hashes = np.array([h.encode() for h in org_hashes], dtype=object)
        return plans

    def prompts(
        self, local: np.ndarray, ts: np.ndarray, rng: np.random.Generator
    ) -> tuple[list[bytes], np.ndarray, np.ndarray]:
        n = len(local)
        kind = mixture(rng, n, (0.55, 0.2, 0.25))
        texts = [b""] * n
        category = np.choose(kind, [Category.TOOL, Category.DEV, Category.CASUAL])
        org = self.org_of[local]
        tool = kind == 0
        # Each seat uses one of its org's internal tools; the tools' templates are shared by seats.
        which = self.org_tools.choose(org, rng).astype(np.int64)
        for index in np.unique(which[tool]).tolist():
            fill_prompts(texts, tool & (which == index), self.tool_streams[index])
        fill_prompts(texts, kind == 1, self.dev_grammar)
        fill_prompts(texts, kind == 2, self.casual_grammar)
        system = np.where(tool, self.org_hashes[org], b"").astype(object)
        return texts, category, system


class Student(Population):
    kind = "student"
    day_profile = EVENING_DAY
    week_profile = _profile([1, 1, 1, 0.95, 0.8, 0.7, 0.9])
    window_hours = 48

    def build(self, ctx: BuildContext) -> list[AccountPlan]:
        ids, tl = ctx.ids, self.timeline
        plans: list[AccountPlan] = []
        self.casual_grammar = ctx.stream(prompts_data.casual_grammar())
        self.dev_grammar = ctx.stream(prompts_data.developer_grammar())
        self.assignment_streams = [ctx.stream(g) for g in map(prompts_data.assignment_grammar, prompts_data.ASSIGNMENTS)]
        universities = max(1, self.spec.groups)
        course_first_deadline: list[int] = []
        course_period: list[int] = []
        course_topic: list[int] = []
        course_of: list[int] = []
        campus_tables: list[tuple[str, ...]] = []
        per_uni = np.full(universities, self.spec.accounts // universities)
        per_uni[: self.spec.accounts % universities] += 1
        for uni in range(universities):
            name, domain, code = data.UNIVERSITIES[uni % len(data.UNIVERSITIES)]
            if uni >= len(data.UNIVERSITIES):
                domain = f"campus{uni}.{domain}"
            country = ids.country(code)
            tz = ids.utc_offset(country)
            nat = tuple(ids.subnet_ips(int(ids.pick(data.CAMPUS_OCTETS)), ids.integer(6, 13)))
            org_id = ids.unique_id("org_", 6)
            lab_devices = [ids.device() for _ in range(10)]
            first_course = len(course_period)
            for _ in range(ids.integer(2, 7)):
                period = ids.integer(4, 9)
                course_period.append(period * DAY_MS)
                # Deadlines at 23:59 local time.
                course_first_deadline.append(
                    tl.start_ms + ids.integer(0, period) * DAY_MS + int((24 - tz) * HOUR_MS) - MINUTE_MS
                )
                course_topic.append(ids.integer(0, len(prompts_data.ASSIGNMENTS)))
            courses = list(range(first_course, len(course_period)))
            lab_course = ids.pick(courses)
            lab_session = ids.integer(tl.start_ms + 9 * HOUR_MS, tl.end_ms - DAY_MS)
            for _ in range(int(per_uni[uni])):
                index = self.offset + len(plans)
                course = ids.pick(courses)
                first, last = ids.person(country)
                home = ids.residential_ip(country)
                in_lab = course == lab_course and ids.chance(0.5)
                if in_lab:
                    signup_ms = lab_session + ids.integer(0, 50 * MINUTE_MS)
                    active_ms = signup_ms + ids.integer(3 * MINUTE_MS, 40 * MINUTE_MS)
                    signup_ip, device = nat[0], ids.pick(lab_devices)
                else:
                    signup_ms, active_ms = legit_signup(ctx, 0.15)
                    signup_ip, device = ids.pick((home, ids.pick(nat))), ids.device()
                card = ids.card(f"{first} {last}", country, "debit") if ids.chance(0.15) else None
                record = AccountRecord(
                    account_id=ids.unique_id("acct_"),
                    label=self.label,
                    signup=signup_fields(
                        f"s{ids.digits(7)}@{domain}", display_name(ctx, first, last), country, signup_ip,
                        ids.browser_ua(), device, "education", "email", org_id=org_id, org_name=name,
                    ),
                    card=card,
                    billing_ip=home,
                    currency=currency_of(country),
                )
                if card is not None:
                    schedule_payments(ctx, index, signup_ms, 500, 500, topup_days=10)
                adopt_ms, share = legit_adoption(ctx, 4.0, (0.2, 0.7))
                course_of.append(course)
                campus_tables.append(nat)
                plans.append(AccountPlan(
                    record=record,
                    signup_ms=signup_ms,
                    active_from_ms=active_ms,
                    active_until_ms=tl.end_ms,
                    utc_offset=tz,
                    rate=float(np.exp(0.8 * ids.normal())),
                    rpm_limit=20,
                    max_tokens=2048,
                    stream_p=0.95,
                    adopt_ms=adopt_ms,
                    new_share=share,
                    old_models=old_model_mix(ids),
                    api_keys=api_keys(ctx, 1),
                    user_agents=(ids.browser_ua(),),
                    ips=(home,),
                    day_active_p=0.55,
                    day_sigma=0.6,
                ))
        self.course_of = np.array(course_of)
        self.course_first_deadline = np.array(course_first_deadline, dtype=np.int64)
        self.course_period = np.array(course_period, dtype=np.int64)
        self.course_topic = np.array(course_topic)
        self.campus = ChoiceTable.of_text(campus_tables)
        return plans

    def _assignment(self, at_ms: np.ndarray, courses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(inside a deadline window?, assignment number) for each (time, course) pair."""
        first = self.course_first_deadline[courses]
        period = self.course_period[courses]
        number = np.maximum(np.ceil((at_ms - first) / period), 0).astype(np.int64)
        deadline = first + number * period
        return (deadline - at_ms) <= self.window_hours * HOUR_MS, number

    def extra(self, hour: int) -> np.ndarray | float:
        at = np.full(len(self.course_of), self.timeline.start_ms + hour * HOUR_MS + HOUR_MS // 2)
        inside, _ = self._assignment(at, self.course_of)
        return 1.0 + 3.0 * inside

    def choose_ips(self, local: np.ndarray, ts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        local_time = (ts - self.timeline.start_ms) / HOUR_MS + self.utc_offset[local]
        hour = np.floor(local_time) % 24
        weekday = np.floor_divide(local_time, 24) % 7
        on_campus = (weekday < 5) & (hour >= 8) & (hour < 18) & (rng.random(len(local)) < 0.85)
        return np.where(on_campus, self.campus.choose(local, rng), self.ips.choose(local, rng))

    def prompts(
        self, local: np.ndarray, ts: np.ndarray, rng: np.random.Generator
    ) -> tuple[list[bytes], np.ndarray, np.ndarray]:
        n = len(local)
        course = self.course_of[local]
        inside, number = self._assignment(ts, course)
        statement = (self.course_topic[course] + number) % len(prompts_data.ASSIGNMENTS)
        homework = inside & (rng.random(n) < 0.6)
        dev = ~homework & (rng.random(n) < 0.3)
        texts = [b""] * n
        for topic in np.unique(statement[homework]).tolist():
            fill_prompts(texts, homework & (statement == topic), self.assignment_streams[topic])
        fill_prompts(texts, dev, self.dev_grammar)
        fill_prompts(texts, ~homework & ~dev, self.casual_grammar)
        category = np.where(homework, Category.ASSIGNMENT, np.where(dev, Category.DEV, Category.CASUAL))
        return texts, category, np.full(n, b"", dtype=object)


class EvalLab(Population):
    """Benchmark sweeps: every request of an account falls inside one of its sweeps."""

    kind = "eval_lab"
    day_profile = HUMAN_DAY
    week_profile = FLAT_WEEK

    def build(self, ctx: BuildContext) -> list[AccountPlan]:
        ids, rng, tl = ctx.ids, ctx.rng, self.timeline
        plans: list[AccountPlan] = []
        self.grammar = ctx.stream(prompts_data.benchmark_grammar())
        harness = sha256_hex(prompts_data.EVAL_HARNESS_SYSTEM_PROMPT)
        labs = max(1, min(self.spec.groups or self.spec.accounts, self.spec.accounts))
        lab_of = np.concatenate([np.arange(labs), rng.integers(0, labs, self.spec.accounts - labs)])
        lab_info = []
        for lab in range(labs):
            country = ids.country(ids.pick(("US", "US", "GB", "DE", "FR", "CA", "JP", "KR", "SG", "NL")))
            name = ids.pick(data.LAB_NAMES) + (f" ({country.code})" if lab >= len(data.LAB_NAMES) else "")
            lab_info.append((
                country, name, ascii_slug(name)[:14] + ".org", ids.unique_id("org_", 6),
                tuple(ids.subnet_ips(int(ids.pick(data.CLOUD_OCTETS)), ids.integer(2, 5))),
                harness if ids.chance(0.7) else ids.hex(32), ids.card(name, country, "credit"),
                ids.pick(("python-httpx/0.27.2", "aiohttp/3.10.10", "python-requests/2.32.3")),
            ))
        release_day = (tl.release_ms - tl.start_ms) // DAY_MS
        free_days = [d for d in range(tl.days) if not release_day - 1 <= d <= release_day + 1]
        starts: list[list[int]] = []
        sizes: list[np.ndarray] = []
        models: list[list[int]] = []
        paces = rng.uniform(40, 120, self.spec.accounts)  # requests per minute while sweeping
        for i in range(self.spec.accounts):
            index = self.offset + i
            country, name, domain, org_id, cluster, system, card, ua = lab_info[int(lab_of[i])]
            first, last = ids.person(country)
            signup_ms = tl.start_ms - ids.integer(30, 400) * DAY_MS
            record = AccountRecord(
                account_id=ids.unique_id("acct_"),
                label=self.label,
                signup=signup_fields(
                    f"{ascii_slug(first)}.{ascii_slug(last)}@{domain}", f"{first} {last}", country,
                    ids.residential_ip(country), ids.browser_ua(), ids.device(), "research_program", "id_document",
                    phone=ids.phone(country), org_id=org_id, org_name=name,
                ),
                card=card,
                billing_ip=cluster[0],
                currency=currency_of(country),
            )
            schedule_payments(ctx, index, signup_ms, 20_000, 300_000, fail_p=0.0, refund_p=0.0, chargeback_p=0.0)
            # One sweep of the new model 4-30 h after its release, plus 1-3 sweeps on other days.
            days = ids.sample(free_days, min(len(free_days), ids.integer(1, 4)))
            starts.append(
                [tl.release_ms + int(ids.uniform(4, 30) * HOUR_MS)]
                + [tl.start_ms + d * DAY_MS + int(ids.uniform(1, 19) * HOUR_MS) for d in days]
            )
            size = rng.uniform(0.5, 1.5, len(starts[-1]))
            size[0] *= 1.5
            sizes.append(size)
            models.append([NEW_MODEL] + [ids.integer(0, 3) for _ in days])
            plans.append(AccountPlan(
                record=record,
                signup_ms=signup_ms,
                active_from_ms=tl.start_ms,
                active_until_ms=tl.end_ms,
                utc_offset=0.0,
                rate=1.0,
                rpm_limit=int(paces[i] * ids.uniform(0.6, 1.1)),
                max_tokens=4096,
                stream_p=0.0,
                adopt_ms=NEVER_MS,
                new_share=0.0,
                old_models=(1.0, 1.0, 1.0),
                api_keys=api_keys(ctx, 2),
                user_agents=(ua,),
                ips=cluster,
                system_prompts=(system,),
            ))
        # A sweep's duration follows from its share of the population's request budget and the pace.
        requests_per_size = self.spec.requests / float(sum(size.sum() for size in sizes))
        width = max(len(row) for row in starts)
        self.sweep_start = np.zeros((self.spec.accounts, width), np.int64)
        self.sweep_end = np.zeros((self.spec.accounts, width), np.int64)
        self.sweep_rate = np.zeros((self.spec.accounts, width))
        self.sweep_model = np.zeros((self.spec.accounts, width), np.int64)
        for i, (row, size, model) in enumerate(zip(starts, sizes, models)):
            duration = np.clip(size * requests_per_size / paces[i] * MINUTE_MS, 10 * MINUTE_MS, 20 * HOUR_MS)
            k = len(row)
            self.sweep_start[i, :k] = row
            self.sweep_end[i, :k] = np.array(row) + duration.astype(np.int64)
            self.sweep_rate[i, :k] = size / duration
            self.sweep_model[i, :k] = model
        return plans

    def intensity(self, hour: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t0 = self.timeline.start_ms + hour * HOUR_MS
        lo = np.maximum(self.sweep_start, t0)
        hi = np.minimum(self.sweep_end, t0 + HOUR_MS)
        overlap = np.maximum(hi - lo, 0)
        weight = (overlap * self.sweep_rate).sum(axis=1)
        # Sweeps of one account are days apart, so at most one overlaps an hour.
        pick = overlap.argmax(axis=1)
        rows = np.arange(len(pick))
        return weight, lo[rows, pick], lo[rows, pick] + overlap[rows, pick]

    def choose_models(
        self, local: np.ndarray, ts: np.ndarray, category: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        inside = (ts[:, None] >= self.sweep_start[local]) & (ts[:, None] < self.sweep_end[local])
        models: np.ndarray = self.sweep_model[local, inside.argmax(axis=1)]
        return models

    def prompts(
        self, local: np.ndarray, ts: np.ndarray, rng: np.random.Generator
    ) -> tuple[list[bytes], np.ndarray, np.ndarray]:
        n = len(local)
        return self.grammar.take(n)[0], np.full(n, Category.BENCHMARK), self.system_prompts.choose(local, rng)


class Family(_PersonPopulation):
    kind = "family"
    day_profile = EVENING_DAY
    newcomer_share = 0.3

    def build(self, ctx: BuildContext) -> list[AccountPlan]:
        self.grammar = ctx.stream(prompts_data.casual_grammar())
        ids = ctx.ids
        plans: list[AccountPlan] = []
        remaining = self.spec.accounts
        while remaining > 0:
            members = min(remaining, ids.integer(2, 6))
            if remaining - members == 1:
                members += 1
            remaining -= members
            country = ids.country()
            parent_first, surname = ids.person(country)
            home = ids.residential_ip(country)
            card = ids.card(f"{parent_first} {surname}", country)
            shared_computer = ids.device() if ids.chance(0.3) else None
            domain = ids.pick(data.FREE_EMAIL_DOMAINS)
            tz = ids.utc_offset(country)
            for member in range(members):
                first = parent_first if member == 0 else ids.person(country)[0]
                plan = self.person_plan(
                    ctx, self.offset + len(plans), country, (first, surname), home,
                    (home, home, home, ids.pick(mobile_pool(ctx))), (ids.browser_ua(),), card=card, pays=member == 0,
                    device=shared_computer if member < 2 else None,
                    email=ids.email(first, surname, domain),
                )
                plan.utc_offset = tz
                plans.append(plan)
        return plans

    def prompts(
        self, local: np.ndarray, ts: np.ndarray, rng: np.random.Generator
    ) -> tuple[list[bytes], np.ndarray, np.ndarray]:
        n = len(local)
        return self.grammar.take(n)[0], np.full(n, Category.CASUAL), self.system_prompts.choose(local, rng)


class Vpn(_PersonPopulation):
    kind = "vpn"

    def build(self, ctx: BuildContext) -> list[AccountPlan]:
        self.casual_grammar = ctx.stream(prompts_data.casual_grammar())
        self.dev_grammar = ctx.stream(prompts_data.developer_grammar())
        ids = ctx.ids
        plans: list[AccountPlan] = []
        if "vpn" not in ctx.pools:
            exits: list[str] = []
            for first, second in data.VPN_PROVIDER_OCTETS:
                exits += [ids.ip_v4(first, second) for _ in range(40)]
            ctx.pools["vpn"] = tuple(exits)
        exits_all = ctx.pools["vpn"]
        providers = len(data.VPN_PROVIDER_OCTETS)
        self.dev_user = np.zeros(self.spec.accounts, dtype=bool)
        for i in range(self.spec.accounts):
            country = ids.country()
            provider = ids.integer(0, providers)
            provider_exits = exits_all[provider * 40:(provider + 1) * 40]
            home = ids.residential_ip(country)
            name = ids.person(country)
            roll = ids.uniform()
            card = None
            if roll < 0.45:
                card = ids.card(" ".join(name), country, "prepaid" if ids.chance(0.3) else None)
            self.dev_user[i] = ids.chance(0.3)
            uas = (ids.sdk_ua(),) if self.dev_user[i] else (ids.browser_ua(),)
            plans.append(self.person_plan(
                ctx, self.offset + i, country, name, home, provider_exits + (home,) * 4, uas,
                signup_ip=ids.pick(provider_exits),
                card=card,
            ))
        return plans

    def prompts(
        self, local: np.ndarray, ts: np.ndarray, rng: np.random.Generator
    ) -> tuple[list[bytes], np.ndarray, np.ndarray]:
        n = len(local)
        dev = self.dev_user[local] & (rng.random(n) < 0.7)
        texts = [b""] * n
        fill_prompts(texts, dev, self.dev_grammar)
        fill_prompts(texts, ~dev, self.casual_grammar)
        return texts, np.where(dev, Category.DEV, Category.CASUAL), self.system_prompts.choose(local, rng)
