"""The linking model's parameters: Fellegi–Sunter m/u per evidence kind, caps, windows and blocking bounds.

Every weight is in bits: agreement on a kind contributes log2(m/u), where m is the probability
that two accounts run by the same operator agree on it and u the probability that two unrelated
accounts do. docs/identity.md explains where each m and u comes from and how they were calibrated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

# Evidence kinds, as named in identity.proto's Evidence.kind.
CARD: Final = "card_fingerprint"
DEVICE: Final = "device_fingerprint"
PHONE: Final = "phone"
EMAIL: Final = "email_normalized"
API_KEY: Final = "api_key"
SYSTEM_PROMPT: Final = "system_prompt"
IP: Final = "ip"
IP_24: Final = "ip_24"
SIGNUP_BURST: Final = "signup_burst"
SHARED_INFRASTRUCTURE: Final = "shared_infrastructure"
NAME: Final = "name_fuzzy"
ADDRESS: Final = "address_fuzzy"
EMAIL_SHAPE: Final = "email_shape"
SAME_ORG: Final = "same_org"

EVIDENCE_KINDS: Final = (
    CARD, DEVICE, PHONE, EMAIL, API_KEY, SYSTEM_PROMPT, IP, IP_24, SIGNUP_BURST, SHARED_INFRASTRUCTURE, NAME, ADDRESS,
    EMAIL_SHAPE, SAME_ORG,
)
# What one operator's accounts share and unrelated people almost never do. A merge needs one of
# these (system_prompt and address_fuzzy only when rare enough to weigh at least anchor_min_bits):
# circumstance alone — a network, a name, a popular template — never merges, however it adds up.
ANCHOR_KINDS: Final = frozenset({CARD, DEVICE, PHONE, EMAIL, API_KEY, SHARED_INFRASTRUCTURE, SYSTEM_PROMPT, ADDRESS})
WEIGHED_ANCHOR_KINDS: Final = frozenset({SYSTEM_PROMPT, ADDRESS})
NETWORK_KINDS: Final = frozenset({IP, IP_24, SIGNUP_BURST})
# Evidence of being in the same place. Unrelated people who share a place (an office, a campus, a
# coworking building) agree on all of these at once, so they are far from independent given a
# non-match; they are capped together rather than added up.
LOCATION_KINDS: Final = NETWORK_KINDS | {ADDRESS}
# How an account presents itself: the name it gives and the way its mailbox is built from it.
PRESENTATION_KINDS: Final = frozenset({NAME, EMAIL_SHAPE})


@dataclass(frozen=True, slots=True)
class FamilyCap:
    """Kinds whose evidence is correlated among unrelated accounts, so their sum is bounded."""

    name: str
    kinds: frozenset[str]
    cap_bits: float


# Network, location and presentation each stay below the merge threshold (15.6 bits), and no two
# of network and presentation add up to it: a shared address plus a common name on it is a
# coincidence a VPN exit or carrier NAT produces daily. What merges is a personal identifier, or
# two independent strands: a name at a billing address, a rare system prompt from one network.
DEFAULT_FAMILY_CAPS: Final = (
    FamilyCap("network", NETWORK_KINDS, 7.0),
    FamilyCap("location", LOCATION_KINDS, 12.0),
    FamilyCap("presentation", PRESENTATION_KINDS, 8.5),
)


@dataclass(frozen=True, slots=True)
class KindModel:
    """Agreement weight of one evidence kind.

    `expected_sharers` turns on frequency-based u (Winkler): a value shared by n accounts has
    u_n = u * max(1, n / expected_sharers), so every doubling of the sharers beyond what one
    operator's accounts would explain removes one bit. None means sharing more widely is no
    more innocent (a prepaid card on 500 accounts is as damning as on 5). `cap_bits` bounds
    what the kind can contribute, so kinds that many unrelated people share never link alone.
    """

    m: float
    u: float
    expected_sharers: int | None = None
    cap_bits: float | None = None
    agreement_bits: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (0 < self.u < self.m <= 1):
            raise ValueError(f"need 0 < u < m <= 1, got m={self.m} u={self.u}")
        object.__setattr__(self, "agreement_bits", math.log2(self.m / self.u))

    def bits(self, sharers: int = 2) -> float:
        """Weight of agreeing on a value that `sharers` accounts hold, in [0, cap_bits]."""
        weight = self.agreement_bits
        if self.expected_sharers is not None and sharers > self.expected_sharers:
            weight -= math.log2(sharers / self.expected_sharers)
        if self.cap_bits is not None:
            weight = min(weight, self.cap_bits)
        return max(weight, 0.0)


@dataclass(frozen=True, slots=True)
class FuzzyLevel:
    """One agreement level of a fuzzy comparison: similarity (rapidfuzz, 0–100) at least `min_similarity`."""

    min_similarity: float
    model: KindModel


def _models(**models: KindModel) -> Mapping[str, KindModel]:
    return MappingProxyType(models)


DEFAULT_MODELS: Final = _models(
    card_fingerprint=KindModel(m=0.60, u=1e-6),
    device_fingerprint=KindModel(m=0.50, u=1e-6, expected_sharers=8),
    phone=KindModel(m=0.50, u=1e-7),
    email_normalized=KindModel(m=0.30, u=1e-8),
    api_key=KindModel(m=0.20, u=1e-9),
    system_prompt=KindModel(m=0.30, u=1e-4, expected_sharers=2, cap_bits=10.0),
    ip=KindModel(m=0.50, u=2e-3, expected_sharers=2),
    ip_24=KindModel(m=0.60, u=2e-2, expected_sharers=8),
    signup_burst=KindModel(m=0.30, u=1e-2, expected_sharers=3, cap_bits=5.0),
    email_shape=KindModel(m=0.30, u=1e-2, expected_sharers=20, cap_bits=2.5),
    shared_infrastructure=KindModel(m=0.40, u=1e-6),
)
DEFAULT_NAME_LEVELS: Final = (
    FuzzyLevel(95.0, KindModel(m=0.50, u=8e-4, expected_sharers=3)),
    FuzzyLevel(88.0, KindModel(m=0.25, u=2e-3, expected_sharers=3)),
)
DEFAULT_ADDRESS_LEVELS: Final = (
    FuzzyLevel(95.0, KindModel(m=0.50, u=1e-5, expected_sharers=4, cap_bits=13.0)),
    FuzzyLevel(90.0, KindModel(m=0.25, u=1e-4, expected_sharers=4, cap_bits=11.0)),
)
DEFAULT_VALUE_CAPS: Final = MappingProxyType(
    {CARD: 16, DEVICE: 16, PHONE: 4, EMAIL: 2, API_KEY: 16, SYSTEM_PROMPT: 16, IP: 64, IP_24: 32}
)


@dataclass(frozen=True, slots=True)
class LinkingConfig:
    """Everything that shapes linking; frozen, so one graph's behaviour is fixed for its lifetime."""

    models: Mapping[str, KindModel] = field(default_factory=lambda: DEFAULT_MODELS)
    name_levels: tuple[FuzzyLevel, ...] = DEFAULT_NAME_LEVELS
    address_levels: tuple[FuzzyLevel, ...] = DEFAULT_ADDRESS_LEVELS
    # Prior odds that a pair proposed by blocking is one operator's: about 1 in 1,000.
    prior_log2_odds: float = -10.0
    # Match probability at which a link merges clusters; below it, down to candidate_threshold,
    # the link is kept as a candidate and shown, never merged.
    merge_threshold: float = 0.98
    candidate_threshold: float = 0.5
    family_caps: tuple[FamilyCap, ...] = DEFAULT_FAMILY_CAPS
    anchor_min_bits: float = 8.0
    # Collective evidence: two clusters (each already tied together by personal identifiers) whose
    # members were seen on at least this many of the same addresses, making up at least this share
    # of the smaller cluster's addresses, run on one proxy or NAT pool.
    infrastructure_min_shared: int = 8
    infrastructure_min_share: float = 0.25
    ip_window_s: int = 24 * 3600
    ip24_window_s: int = 3600
    burst_bucket_s: int = 600
    burst_min_signups: int = 3
    # Network sightings move an account's first/last-seen only by at least this much, so a busy
    # account's steady inference traffic does not rewrite its state on every request.
    time_granularity_s: int = 600
    # Blocking: a value held by more accounts than block_max_size is too common to propose
    # candidates (it still down-weights evidence); from smaller blocks a new value is compared
    # with at most block_compare_cap accounts (newest first, at most per_cluster_candidates
    # from any one cluster), scanning at most block_scan_cap entries.
    block_max_size: int = 1000
    block_compare_cap: int = 8
    block_scan_cap: int = 32
    per_cluster_candidates: int = 2
    # Accounts listed per value (FindAccounts answers with at most this many; the count stays exact).
    posting_store_cap: int = 10_000
    value_caps: Mapping[str, int] = field(default_factory=lambda: DEFAULT_VALUE_CAPS)
    names_per_account: int = 4
    addresses_per_account: int = 4
    links_per_account: int = 32

    def __post_init__(self) -> None:
        if not 0 < self.candidate_threshold <= self.merge_threshold < 1:
            raise ValueError("need 0 < candidate_threshold <= merge_threshold < 1")
        if self.posting_store_cap < self.block_max_size:
            raise ValueError("posting_store_cap must be at least block_max_size")
        missing = {
            CARD, DEVICE, PHONE, EMAIL, API_KEY, SYSTEM_PROMPT, IP, IP_24, SIGNUP_BURST, EMAIL_SHAPE, SHARED_INFRASTRUCTURE,
        }
        missing -= set(self.models)
        if missing:
            raise ValueError(f"models lack {sorted(missing)}")

    def probability(self, bits: float) -> float:
        """Match probability of a pair whose evidence adds up to `bits`."""
        return 1.0 / (1.0 + math.pow(2.0, -(bits + self.prior_log2_odds)))

    def bits_for(self, probability: float) -> float:
        """Evidence needed to reach `probability` (inverse of `probability`)."""
        return math.log2(probability / (1.0 - probability)) - self.prior_log2_odds
