"""The simulated world every population draws from: identities, networks, cards and the schedule
of signup and billing events.

Everything here is deterministic given the numpy Generator passed in. Identifiers (account, key,
org, card and device ids) are random hex from that Generator, so they carry no information about
the population that created them.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import numpy as np

from distillguard.simulator import identity_data as data

T = TypeVar("T")

MINUTE_MS: Final = 60_000
HOUR_MS: Final = 3_600_000
DAY_MS: Final = 86_400_000

# Billing kinds on the schedule (the JSON word is BILLING_WORDS[code]); SIGNUP is the signup event.
SIGNUP: Final = 0
PAYMENT_METHOD_ADDED: Final = 1
PAYMENT_METHOD_REMOVED: Final = 2
CHARGE_SUCCEEDED: Final = 3
CHARGE_FAILED: Final = 4
REFUND: Final = 5
CHARGEBACK: Final = 6
BILLING_WORDS: Final = (
    "", "payment_method_added", "payment_method_removed", "charge_succeeded", "charge_failed", "refund", "chargeback",
)

# The models of the window (the last is released during it) and the status codes of inference
# events (the JSON word is STATUS_WORDS[code]).
MODELS: Final = ("frontier-1-mini", "frontier-1", "frontier-1.5", "frontier-2")
OK, RATE_LIMITED, ERROR, REFUSED = 0, 1, 2, 3
STATUS_WORDS: Final = ("ok", "rate_limited", "error", "refused")
_TRANSLIT: Final = str.maketrans({"ß": "ss", "ı": "i", "ł": "l", "Ł": "L", "ø": "o", "æ": "ae", "đ": "d", "Đ": "D"})


def ascii_slug(text: str) -> str:
    """Lowercase ASCII letters and digits of a name, for building email local parts."""
    folded = unicodedata.normalize("NFKD", text.translate(_TRANSLIT)).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


@dataclass(frozen=True, slots=True)
class Card:
    """A payment instrument; the same object is shared by every account that pays with it."""

    fingerprint: str
    bin: str
    last4: str
    funding: str
    country: str
    holder: str
    address: dict[str, str]


@dataclass(slots=True)
class AccountRecord:
    """What the signup and billing events of one account are made from.

    `signup` is dropped once the signup event is written, so memory shrinks as the run advances.
    """

    account_id: str
    label: str
    signup: dict[str, Any] | None
    card: Card | None
    billing_ip: str
    currency: str


class Schedule:
    """Signup and billing events as compact parallel columns; `freeze` sorts them by time."""

    def __init__(self) -> None:
        self.times = array("q")
        self.accounts = array("q")
        self.kinds = array("b")
        self.amounts = array("q")

    def add(self, time_ms: int, account: int, kind: int, amount_cents: int = 0) -> None:
        self.times.append(time_ms)
        self.accounts.append(account)
        self.kinds.append(kind)
        self.amounts.append(amount_cents)

    def freeze(self) -> FrozenSchedule:
        times = np.frombuffer(self.times, dtype=np.int64) if self.times else np.zeros(0, np.int64)
        kinds = np.frombuffer(self.kinds, dtype=np.int8) if self.kinds else np.zeros(0, np.int8)
        # Signups sort before anything else at the same millisecond.
        order = np.lexsort((kinds, times))
        accounts = np.frombuffer(self.accounts, dtype=np.int64) if self.accounts else np.zeros(0, np.int64)
        amounts = np.frombuffer(self.amounts, dtype=np.int64) if self.amounts else np.zeros(0, np.int64)
        return FrozenSchedule(times[order], accounts[order], kinds[order], amounts[order])


@dataclass(frozen=True)
class FrozenSchedule:
    times: np.ndarray
    accounts: np.ndarray
    kinds: np.ndarray
    amounts: np.ndarray

    def between(self, start_ms: int, end_ms: int) -> slice:
        """The positions of events with start_ms <= time < end_ms."""
        lo, hi = np.searchsorted(self.times, [start_ms, end_ms], side="left").tolist()
        return slice(lo, hi)


class ChoiceTable:
    """Per-account lists of values (IPs, keys, user agents, tool ids) packed for vectorised choice.

    Entry k of account i is values[offsets[i] + k]; `choose` picks one entry per event uniformly
    (repeat an entry in the account's list to weight it).
    """

    @classmethod
    def of_text(cls, per_account: Sequence[Sequence[str]]) -> ChoiceTable:
        """A table of UTF-8 bytes, ready to go into JSON lines; equal strings share one bytes object."""
        encoded: dict[str, bytes] = {}
        return cls([[encoded.setdefault(v, v.encode()) for v in entries] for entries in per_account])

    def __init__(self, per_account: Sequence[Sequence[object]]) -> None:
        counts = np.array([len(entries) for entries in per_account], dtype=np.int64)
        if (counts == 0).any():
            raise ValueError("every account needs at least one entry")
        self.counts = counts
        self.offsets = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
        self.values = np.array([value for entries in per_account for value in entries], dtype=object)
        self._single = bool((counts == 1).all())

    def choose(self, local: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self._single:  # one entry per account: no draw needed
            only: np.ndarray = self.values[local]
            return only
        picks = (rng.random(len(local)) * self.counts[local]).astype(np.int64)
        chosen: np.ndarray = self.values[self.offsets[local] + picks]
        return chosen


class Identities:
    """Draws people, emails, phones, addresses, IPs, devices and cards from one Generator."""

    _BUFFER = 16_384

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        weights = np.array([c.weight for c in data.COUNTRIES])
        self._country_cum = np.cumsum(weights / weights.sum()).tolist()
        self._by_code = {c.code: c for c in data.COUNTRIES}
        self._issued: set[str] = set()
        self._mailboxes: set[tuple[str, str]] = set()
        # Scalar draws come from buffers: a numpy call per draw would dominate building 100k accounts.
        self._uniform: list[float] = []
        self._normal: list[float] = []
        self._bytes = b""
        self._byte_at = 0

    # -- primitives ---------------------------------------------------------------------------
    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        if not self._uniform:
            self._uniform = self.rng.random(self._BUFFER).tolist()
        return low + (high - low) * self._uniform.pop()

    def normal(self) -> float:
        if not self._normal:
            self._normal = self.rng.standard_normal(self._BUFFER).tolist()
        return self._normal.pop()

    def integer(self, low: int, high: int) -> int:
        """A uniform integer in [low, high)."""
        return low + int(self.uniform() * (high - low))

    def pick(self, values: Sequence[T]) -> T:
        return values[int(self.uniform() * len(values))]

    def chance(self, p: float) -> bool:
        return self.uniform() < p

    def hex(self, nbytes: int) -> str:
        if self._byte_at + nbytes > len(self._bytes):
            self._bytes, self._byte_at = self.rng.bytes(self._BUFFER), 0
        self._byte_at += nbytes
        return self._bytes[self._byte_at - nbytes:self._byte_at].hex()

    def unique_id(self, prefix: str, nbytes: int = 8) -> str:
        """prefix + random hex, never issued before in this world."""
        while True:
            candidate = prefix + self.hex(nbytes)
            if candidate not in self._issued:
                self._issued.add(candidate)
                return candidate

    def digits(self, n: int) -> str:
        return f"{self.integer(0, 10**n):0{n}d}"

    # -- places and people --------------------------------------------------------------------
    def country(self, code: str | None = None) -> data.Country:
        if code is not None:
            return self._by_code[code]
        return data.COUNTRIES[min(bisect_right(self._country_cum, self.uniform()), len(data.COUNTRIES) - 1)]

    def utc_offset(self, country: data.Country) -> float:
        return self.pick(country.utc_offsets)

    def person(self, country: data.Country) -> tuple[str, str]:
        return self.pick(data.FIRST_NAMES[country.names]), self.pick(data.LAST_NAMES[country.names])

    def email(self, first: str, last: str, domain: str | None = None) -> str:
        """A mailbox no other account has: providers refuse a taken address, and Gmail ignores dots
        and +tags, so uniqueness is checked on the normalised mailbox."""
        f, l_ = ascii_slug(first) or "user", ascii_slug(last) or "mail"
        for attempt in range(20):
            year = str(self.integer(1965, 2006))
            style = self.integer(0, 7)
            local = (
                f"{f}.{l_}", f"{f}{l_}{self.digits(2)}", f"{f[0]}{l_}", f"{l_}.{f}{year[2:]}",
                f"{f}_{l_}{self.digits(3)}", f"{f}{year}", f"{f}.{l_}{self.digits(1)}",
            )[style]
            if attempt >= 10:
                local += self.digits(4)
            host = domain or self.pick(data.FREE_EMAIL_DOMAINS)
            mailbox = local.split("+")[0].lower()
            if host in ("gmail.com", "googlemail.com"):
                mailbox, host = mailbox.replace(".", ""), "gmail.com"
            if (mailbox, host) not in self._mailboxes:
                self._mailboxes.add((mailbox, host))
                return f"{local}@{host}"
        raise RuntimeError(f"no free mailbox for {first} {last}")  # pragma: no cover - 20 draws collide

    def phone(self, country: data.Country) -> str:
        return country.phone_prefix + str(self.integer(2, 10)) + self.digits(country.phone_digits - 1)

    def address(self, country: data.Country) -> dict[str, str]:
        city = self.pick(country.cities)
        style = country.street_style if country.street_style in data.STREETS else "us"
        street = self.pick(data.STREETS[style])
        number = self.integer(1, 400)
        if style in ("de",):
            line1 = f"{street} {number}"
        elif style == "jp":
            line1 = f"{number % 9 + 1}-{self.integer(1, 30)}-{self.integer(1, 20)} {street}"
        elif style == "sg":
            line1 = f"Blk {number} {street} #{self.integer(2, 30):02d}-{self.integer(1, 400):03d}"
        else:
            line1 = f"{number} {street}"
        if style == "gb":
            postal = f"{city.postal_prefix}{self.integer(1, 20)} {self.digits(1)}{self.pick('ABDEFGHJLNPQRSTUWXYZ')}"
        else:
            postal = city.postal_prefix + self.digits(city.postal_digits)
        out = {"line1": line1, "city": city.name, "postal_code": postal, "country": country.code}
        if city.region:
            out["region"] = city.region
        if self.chance(0.2):
            out["line2"] = f"Apt {self.integer(1, 40)}{self.pick(('', 'A', 'B', 'C'))}"
        return out

    # -- networks and devices -----------------------------------------------------------------
    def ip_v4(self, first: int, second: int | None = None) -> str:
        b = self.integer(1, 255) if second is None else second
        return f"{first}.{b}.{self.integer(0, 256)}.{self.integer(1, 256)}"

    def residential_ip(self, country: data.Country) -> str:
        if self.chance(0.08):
            return "2a0" + self.hex(1)[0] + ":" + ":".join(self.hex(2) for _ in range(3)) + "::" + self.hex(2)
        return self.ip_v4(self.pick(country.residential_octets))

    def mobile_ip(self) -> str:
        return self.ip_v4(self.pick(data.MOBILE_CARRIER_OCTETS))

    def cloud_ip(self) -> str:
        return self.ip_v4(self.pick(data.CLOUD_OCTETS))

    def subnet_ips(self, first: int, count: int) -> list[str]:
        """`count` addresses in one /24 (corporate NAT, campus NAT, a gateway's egress block)."""
        b, c = self.integer(1, 255), self.integer(0, 256)
        hosts = self.sample(range(2, 254), count)
        return [f"{first}.{b}.{c}.{h}" for h in hosts]

    def sample(self, values: Sequence[T], count: int) -> list[T]:
        """`count` distinct entries of `values` (partial Fisher-Yates on a copy)."""
        pool = list(values)
        for i in range(count):
            j = self.integer(i, len(pool))
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:count]

    def device(self) -> str:
        return self.hex(16)

    def browser_ua(self) -> str:
        return self.pick(data.BROWSER_USER_AGENTS)

    def sdk_ua(self) -> str:
        return self.pick(data.SDK_USER_AGENTS)

    # -- payments -----------------------------------------------------------------------------
    def card(
        self,
        holder: str,
        country: data.Country,
        funding: str | None = None,
        bins: Sequence[str] | None = None,
        address: dict[str, str] | None = None,
    ) -> Card:
        if funding is None:
            roll = self.uniform()
            funding = "credit" if roll < 0.66 else "debit" if roll < 0.95 else "prepaid"
        if bins is None:
            bins = {"credit": data.CREDIT_BINS, "debit": data.DEBIT_BINS}.get(funding, data.PREPAID_BINS)
        return Card(
            fingerprint=self.unique_id("cfp_", 10),
            bin=self.pick(bins),
            last4=self.digits(4),
            funding=funding,
            country=country.code,
            holder=holder,
            address=address or self.address(country),
        )

    def company(self, country: data.Country) -> str:
        first, second = self.pick(data.COMPANY_FIRST), self.pick(data.COMPANY_SECOND)
        return f"{first} {second} {self.pick(data.LEGAL_FORMS[country.code])}"


def typo_variant(ids: Identities, text: str) -> str:
    """A human-looking misspelling: a dropped, doubled or swapped letter, or an abbreviation change."""
    swaps = (("Street", "St"), ("St", "Street"), ("Avenue", "Ave"), ("Ave", "Avenue"), ("Road", "Rd"),
             ("Apt", "#"), ("Drive", "Dr"), ("Dr", "Drive"), ("Lane", "Ln"))
    roll = ids.integer(0, 5)
    if roll == 0:
        for long, short in swaps:
            if long in text:
                return text.replace(long, short, 1)
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    if len(letters) < 3:
        return text + "."
    i = letters[ids.integer(1, len(letters) - 1)]
    if roll in (0, 1):
        return text[:i] + text[i + 1:]
    if roll == 2:
        return text[:i] + text[i] + text[i:]
    if roll == 3 and i + 1 < len(text):
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    return text.lower() if text != text.lower() else text.upper()
