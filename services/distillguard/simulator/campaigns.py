"""Distillation campaigns ("attack:<kind>"), modelled on the public reports, and the traces each
one leaves. No trace is unique to attackers: every one has a legitimate look-alike segment.

hydra — a proxy farm at scale (the reports' "hydra cluster").
  Thousands of self-serve accounts signed up in staggered waves (hundreds within 1-3 hours, most
  in the first third of the window, one wave right after the new model's release). Prepaid or
  virtual cards from four BINs; each card fingerprint is reused by ~5 accounts; cardholder names do
  not match the account names; ~15% of top-ups fail (velocity, insufficient funds) and ~5% of
  accounts see a chargeback. Every request leaves through a residential proxy pool of the claimed
  country, so each proxy IP serves many unrelated accounts (like carrier NAT and VPN exits do for
  legitimate users). Phone verification uses a few VoIP number blocks. Traffic is 24/7 whatever
  the claimed time zone, with a campaign-wide rhythm (3-hour batches, busier in the operators'
  UTC+8 daytime) that moves all accounts together. Each account stays modest (~26 requests a day,
  far under its limit). 85% of prompts come from a small scaffold set around a task bank: agentic
  plans, tool-use, coding, all with the same few chain-of-thought elicitation phrases; rubric
  grading ("Score the following response 1-10 against this rubric"); sensitive-topic rewrites;
  15% is ordinary cover traffic. Within 2-14 h of the release every account sends half its
  traffic to the new model. Large max_tokens; SDK user agents from a narrow set.

mimic — a human-mimicking farm with fewer, fuzzier traces.
  A few hundred aged accounts (signed up weeks to months before the window, dormant, then waking
  within three days) whose emails, display names and cardholder names are fuzzy variants of a few
  dozen base identities (nicknames, misspellings, reordered email patterns). Each account has its
  own card (no shared fingerprints), but billing addresses are typo variants of a handful of base
  addresses and signup device fingerprints come from a small pool of anti-detect browser profiles
  (~8 accounts per fingerprint). Each account keeps one or two sticky residential IPs, browser
  user agents, streaming — like a person. Activity follows a human day and week, but in the
  operators' UTC+8 while the accounts claim US/GB/CA/AU, so their day is the claimed country's
  night. Prompts draw on the same task bank through many paraphrased scaffolds and twelve phrasings
  of the reasoning request (near-duplicate detection sees content, not wording); 40% is cover
  traffic. Half of each account's traffic moves to the new model 3-18 h after the release.

reseller — an API reseller blending distillation into real customer traffic.
  A handful of high-volume accounts, each a different shell company (startup program, verified
  documents, own corporate card and address — nothing shared in identity or payment). The traces
  are operational: every request leaves the same cloud /24 (the gateway), most carry the same
  system prompt hash (the gateway's injected prompt) across all the reseller accounts, the user
  agent is identical, and ~45% of requests are terse CoT/rubric distillation prompts mixed into
  ordinary customer prompts; that distillation share moves entirely to the new model within
  1-8 h of the release while the customer share adopts it slowly.
"""

from __future__ import annotations

import numpy as np

from distillguard.simulator import identity_data as data
from distillguard.simulator import prompt_data as prompts_data
from distillguard.simulator.grammar import PromptStream
from distillguard.simulator.population import (
    FLAT_DAY,
    FLAT_WEEK,
    HUMAN_DAY,
    HUMAN_WEEK,
    NEW_MODEL,
    SERVICE_DAY,
    AccountPlan,
    BuildContext,
    Category,
    Population,
    _profile,
    api_keys,
    fill_prompts,
    schedule_payments,
    sha256_hex,
)
from distillguard.simulator.segments import GENERIC_SYSTEM_HASHES, currency_of, signup_fields
from distillguard.simulator.world import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    AccountRecord,
    Identities,
    ascii_slug,
    typo_variant,
)

_HYDRA_CATEGORIES = np.array(
    [Category.DISTILL, Category.DISTILL, Category.DISTILL, Category.RUBRIC, Category.SENSITIVE, Category.SENSITIVE]
)
_MIMIC_CATEGORIES = np.array(
    [Category.DISTILL, Category.DISTILL, Category.DISTILL, Category.DISTILL, Category.RUBRIC, Category.SENSITIVE]
)
_RESELLER_CATEGORIES = np.array([Category.DISTILL, Category.DISTILL, Category.RUBRIC, Category.DISTILL])
_OPERATOR_UTC_OFFSET = 8
_VOIP_BLOCKS = ("+1470555", "+1631410", "+1726201", "+4474520")


class Hydra(Population):
    kind = "hydra"
    attack = True
    day_profile = FLAT_DAY
    week_profile = FLAT_WEEK
    countries = (("US", 0.4), ("GB", 0.1), ("SG", 0.1), ("CA", 0.08), ("DE", 0.08), ("JP", 0.08), ("KR", 0.08),
                 ("AU", 0.08))

    def build(self, ctx: BuildContext) -> list[AccountPlan]:
        ids, rng, tl = ctx.ids, ctx.rng, self.timeline
        plans: list[AccountPlan] = []
        n = self.spec.accounts
        self.grammar = ctx.stream(prompts_data.hydra_grammar())
        self.cover = ctx.stream(prompts_data.casual_grammar())
        codes = [code for code, _ in self.countries]
        shares = np.array([share for _, share in self.countries])
        country_of = rng.choice(len(codes), size=n, p=shares / shares.sum())
        # The residential proxy pool: ~2 exit IPs per account, per country.
        pool: list[str] = []
        self.pool_offset = np.zeros(len(codes), np.int64)
        self.pool_size = np.zeros(len(codes), np.int64)
        for c, code in enumerate(codes):
            country = ids.country(code)
            size = max(20, int(2 * (country_of == c).sum()))
            self.pool_offset[c], self.pool_size[c] = len(pool), size
            pool += [ids.ip_v4(int(ids.pick(country.residential_octets))) for _ in range(size)]
        self.pool = np.array([ip.encode() for ip in pool], dtype=object)
        self.country_of = country_of
        cards = []
        for _ in range(max(1, n // 5)):
            country = ids.country(ids.pick(("US", "US", "GB", "SG")))
            cards.append(ids.card(
                " ".join(ids.person(country)), country, "prepaid" if ids.chance(0.75) else "debit",
                bins=data.FARM_PREPAID_BINS,
            ))
        # Staggered signup waves, most in the first third of the window, one right after the release.
        waves = int(np.clip(n // 300, 3, 40))
        wave_start = np.sort(rng.uniform(tl.start_ms - 2 * DAY_MS, tl.start_ms + 0.3 * tl.hours * HOUR_MS, waves))
        wave_start[-1] = tl.release_ms + ids.uniform(2, 10) * HOUR_MS
        wave_of = rng.choice(waves, size=n, p=np.r_[np.full(waves - 1, 0.9 / (waves - 1)), 0.1])
        browsers = data.BROWSER_USER_AGENTS[:2]
        sdks = ("python-requests/2.32.3", "python-httpx/0.27.2", "ModelSDK-Python/1.40.2 (Linux; CPython 3.10.12)")
        for i in range(n):
            index = self.offset + i
            country = ids.country(codes[int(country_of[i])])
            first, last = ids.person(country)
            signup_ms = int(wave_start[wave_of[i]] + ids.uniform(0, ids.uniform(1, 3)) * HOUR_MS)
            active_ms = signup_ms + ids.integer(10 * MINUTE_MS, 60 * MINUTE_MS)
            voip = ids.chance(0.5)
            card = cards[ids.integer(0, len(cards))]
            record = AccountRecord(
                account_id=ids.unique_id("acct_"),
                label=self.label,
                signup=signup_fields(
                    ids.email(first, last), f"{first} {last}" if ids.chance(0.8) else first, country,
                    pool[self.pool_offset[country_of[i]] + ids.integer(0, int(self.pool_size[country_of[i]]))],
                    ids.pick(browsers), ids.device(), "self_serve", "phone" if voip else "email",
                    phone=ids.pick(_VOIP_BLOCKS) + ids.digits(4) if voip else "",
                ),
                card=card,
                billing_ip=pool[self.pool_offset[country_of[i]] + ids.integer(0, int(self.pool_size[country_of[i]]))],
                currency="USD",
            )
            schedule_payments(
                ctx, index, signup_ms, ids.pick((500, 1000, 2000)), ids.integer(1000, 5000),
                fail_p=0.15, refund_p=0.0, chargeback_p=0.05, topup_days=4,
            )
            retire = tl.end_ms
            if ids.chance(0.1):
                retire = min(tl.end_ms, active_ms + int(ids.uniform(3, 20) * DAY_MS))
            plans.append(AccountPlan(
                record=record,
                signup_ms=signup_ms,
                active_from_ms=active_ms,
                active_until_ms=max(retire, active_ms + HOUR_MS),
                utc_offset=0.0,
                rate=float(np.exp(0.3 * ids.normal())),
                rpm_limit=50,
                max_tokens=8192 if ids.chance(0.7) else 4096,
                stream_p=0.05,
                adopt_ms=tl.release_ms + int(ids.uniform(2, 14) * HOUR_MS),
                new_share=0.5,
                old_models=(0.05, 0.15, 0.8),
                api_keys=api_keys(ctx, 1),
                user_agents=(ids.pick(sdks),),
                ips=(record.billing_ip,),
                system_prompts=("", GENERIC_SYSTEM_HASHES[0]) if ids.chance(0.4) else ("",),
                day_active_p=0.95,
                day_sigma=0.25,
            ))
        # Campaign-wide rhythm: 3-hour batches, busier in the operators' daytime.
        blocks = np.exp(0.35 * rng.standard_normal(tl.hours // 3 + 1))
        operator_hour = (np.arange(tl.hours) + _OPERATOR_UTC_OFFSET) % 24
        self.rhythm = blocks[np.arange(tl.hours) // 3] * np.where((operator_hour >= 9) & (operator_hour < 22), 1.3, 0.65)
        return plans

    def extra(self, hour: int) -> np.ndarray | float:
        return float(self.rhythm[hour])

    def choose_ips(self, local: np.ndarray, ts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        country = self.country_of[local]
        picks = (rng.random(len(local)) * self.pool_size[country]).astype(np.int64)
        ips: np.ndarray = self.pool[self.pool_offset[country] + picks]
        return ips

    def prompts(
        self, local: np.ndarray, ts: np.ndarray, rng: np.random.Generator
    ) -> tuple[list[bytes], np.ndarray, np.ndarray]:
        n = len(local)
        cover = rng.random(n) < 0.15
        texts, category = farm_prompts(~cover, self.grammar, _HYDRA_CATEGORIES)
        fill_prompts(texts, cover, self.cover)
        return texts, category, self.system_prompts.choose(local, rng)


def farm_prompts(
    farm: np.ndarray, stream: PromptStream, categories: np.ndarray
) -> tuple[list[bytes], np.ndarray]:
    """Prompts from the campaign grammar where `farm` is true ("" elsewhere, for the caller's cover
    traffic) and the Category of each (CASUAL where not farm)."""
    texts = [b""] * len(farm)
    where = np.flatnonzero(farm)
    farm_texts, template = stream.take(len(where))
    for position, text in zip(where.tolist(), farm_texts):
        texts[position] = text
    category = np.full(len(farm), Category.CASUAL, dtype=np.int64)
    category[where] = categories[template]
    return texts, category


def _fuzzy_first(ids: Identities, first: str) -> str:
    variants = data.NICKNAMES.get(first, ())
    if variants and ids.uniform() < 0.6:
        return ids.pick(variants)
    return first if ids.uniform() < 0.6 else typo_variant(ids, first)


class Mimic(Population):
    kind = "mimic"
    attack = True
    day_profile = HUMAN_DAY
    week_profile = HUMAN_WEEK

    def build(self, ctx: BuildContext) -> list[AccountPlan]:
        ids, tl = ctx.ids, self.timeline
        plans: list[AccountPlan] = []
        n = self.spec.accounts
        self.grammar = ctx.stream(prompts_data.mimic_grammar())
        self.cover = ctx.stream(prompts_data.casual_grammar())
        claimed = ("US", "US", "US", "GB", "CA", "AU")
        bases = []
        for _ in range(max(3, n // 12)):
            country = ids.country(ids.pick(claimed))
            bases.append((country, ids.pick(tuple(data.NICKNAMES)), ids.pick(data.LAST_NAMES["en"])))
        addresses = [ids.address(ids.country(ids.pick(claimed))) for _ in range(max(2, n // 20))]
        profiles = [ids.device() for _ in range(max(2, n // 8))]
        for i in range(n):
            index = self.offset + i
            country, base_first, base_last = bases[ids.integer(0, len(bases))]
            first = _fuzzy_first(ids, base_first)
            last = base_last if ids.uniform() < 0.7 else typo_variant(ids, base_last)
            name = f"{first} {last}" if ids.uniform() < 0.8 else f"{first} {last[0]}."
            holder = f"{_fuzzy_first(ids, base_first)} {base_last}".upper()
            base_address = addresses[ids.integer(0, len(addresses))]
            address = dict(base_address)
            address["line1"] = typo_variant(ids, base_address["line1"])
            if ids.uniform() < 0.3:
                address["line2"] = typo_variant(ids, base_address.get("line2", "Apt 4B"))
            funding = ids.pick(("debit", "debit", "debit", "prepaid", "prepaid", "credit"))
            card = ids.card(
                holder, country, funding,
                bins=data.FARM_PREPAID_BINS if funding == "prepaid" else data.DEBIT_BINS[:3] + data.CREDIT_BINS[:2],
                address=address,
            )
            home = ids.residential_ip(country)
            signup_ms = tl.start_ms - int(ids.uniform(15, 120) * DAY_MS)
            record = AccountRecord(
                account_id=ids.unique_id("acct_"),
                label=self.label,
                signup=signup_fields(
                    ids.email(first, last), name, country, home, ids.browser_ua(), ids.pick(profiles), "self_serve",
                    ids.pick(("email", "email", "phone")), phone=ids.phone(country) if ids.chance(0.5) else "",
                ),
                card=card,
                billing_ip=home,
                currency=currency_of(country),
            )
            schedule_payments(ctx, index, signup_ms, 2000, 2000, fail_p=0.03, refund_p=0.0, chargeback_p=0.01)
            plans.append(AccountPlan(
                record=record,
                signup_ms=signup_ms,
                active_from_ms=tl.start_ms + int(ids.uniform(0, 3) * DAY_MS),
                active_until_ms=tl.end_ms,
                utc_offset=float(_OPERATOR_UTC_OFFSET),
                rate=float(np.exp(0.5 * ids.normal())),
                rpm_limit=50,
                max_tokens=4096,
                stream_p=0.9,
                adopt_ms=tl.release_ms + int(ids.uniform(3, 18) * HOUR_MS),
                new_share=0.5,
                old_models=(0.05, 0.2, 0.75),
                api_keys=api_keys(ctx, 1),
                user_agents=(ids.browser_ua(),),
                ips=(home, home, home, ids.residential_ip(country)) if ids.chance(0.4) else (home,),
                day_active_p=0.8,
                day_sigma=0.5,
            ))
        return plans

    def prompts(
        self, local: np.ndarray, ts: np.ndarray, rng: np.random.Generator
    ) -> tuple[list[bytes], np.ndarray, np.ndarray]:
        n = len(local)
        cover = rng.random(n) < 0.4
        texts, category = farm_prompts(~cover, self.grammar, _MIMIC_CATEGORIES)
        fill_prompts(texts, cover, self.cover)
        return texts, category, self.system_prompts.choose(local, rng)


class Reseller(Population):
    kind = "reseller"
    attack = True
    day_profile = SERVICE_DAY
    week_profile = _profile([1, 1, 1, 1, 1, 0.9, 0.9])

    def build(self, ctx: BuildContext) -> list[AccountPlan]:
        ids, tl = ctx.ids, self.timeline
        plans: list[AccountPlan] = []
        self.grammar = ctx.stream(prompts_data.reseller_grammar())
        self.casual = ctx.stream(prompts_data.casual_grammar())
        self.dev = ctx.stream(prompts_data.developer_grammar())
        gateway = tuple(ids.subnet_ips(int(ids.pick(data.CLOUD_OCTETS)), 8))
        injected = sha256_hex(prompts_data.RESELLER_SYSTEM_PROMPT)
        self.distill_adopt = np.zeros(self.spec.accounts, np.int64)
        for i in range(self.spec.accounts):
            index = self.offset + i
            country = ids.country(ids.pick(("US", "SG", "GB", "US", "NL")))
            company = ids.company(country)
            domain = ascii_slug(company.split()[0] + company.split()[1]) + ".ai"
            first, last = ids.person(country)
            signup_ms = tl.start_ms - int(ids.uniform(60, 400) * DAY_MS)
            record = AccountRecord(
                account_id=ids.unique_id("acct_"),
                label=self.label,
                signup=signup_fields(
                    f"{ids.pick(('ops', 'admin', 'billing', ascii_slug(first)))}@{domain}", f"{first} {last}", country,
                    ids.residential_ip(country), ids.browser_ua(), ids.device(), "startup_program", "id_document",
                    phone=ids.phone(country), org_id=ids.unique_id("org_", 6), org_name=company,
                ),
                card=ids.card(company, country, "credit"),
                billing_ip=ids.residential_ip(country),
                currency=currency_of(country),
            )
            schedule_payments(ctx, index, signup_ms, 50_000, int(ids.uniform(200_000, 3_000_000)), fail_p=0.02)
            self.distill_adopt[i] = tl.release_ms + int(ids.uniform(1, 8) * HOUR_MS)
            own = [ids.hex(32) for _ in range(20)]
            plans.append(AccountPlan(
                record=record,
                signup_ms=signup_ms,
                active_from_ms=tl.start_ms,
                active_until_ms=tl.end_ms,
                utc_offset=-5.0,
                rate=float(np.exp(0.5 * ids.normal())),
                rpm_limit=ids.pick((1000, 2000)),
                max_tokens=8192,
                stream_p=0.5,
                adopt_ms=tl.release_ms + int(ids.uniform(2, 6) * DAY_MS),
                new_share=0.2,
                old_models=(0.3, 0.3, 0.4),
                api_keys=api_keys(ctx, 3),
                user_agents=("python-httpx/0.27.2",),
                ips=tuple(ids.sample(gateway, ids.integer(3, 5))),
                system_prompts=(injected,) * 7 + tuple(own[:3]),
                day_active_p=1.0,
                day_sigma=0.15,
            ))
        return plans

    def choose_models(
        self, local: np.ndarray, ts: np.ndarray, category: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        customer = super().choose_models(local, ts, category, rng)
        distill = (category == Category.DISTILL) | (category == Category.RUBRIC)
        return np.where(distill, np.where(ts >= self.distill_adopt[local], NEW_MODEL, 2), customer)

    def prompts(
        self, local: np.ndarray, ts: np.ndarray, rng: np.random.Generator
    ) -> tuple[list[bytes], np.ndarray, np.ndarray]:
        n = len(local)
        kind = np.minimum(np.searchsorted(np.array([0.45, 0.8]), rng.random(n), side="right"), 2)
        texts, category = farm_prompts(kind == 0, self.grammar, _RESELLER_CATEGORIES)
        fill_prompts(texts, kind == 1, self.casual)
        fill_prompts(texts, kind == 2, self.dev)
        category[kind == 2] = Category.DEV
        return texts, category, self.system_prompts.choose(local, rng)
