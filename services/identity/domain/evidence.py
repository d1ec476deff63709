"""Pairwise comparison: the evidence that two accounts share an operator, and its weight.

Fellegi–Sunter: each kind of agreement adds log2(m/u) bits (see config.py and docs/identity.md),
the sum plus the prior log-odds gives the match probability. Adjustments that make it fit farms
and keep real people apart:
- frequency: a value many accounts share (a NAT address, a public prompt template) is weaker
  evidence than a rare one, via value-specific u;
- family caps: kinds that unrelated people agree on together (network and address; name and
  mailbox shape) are capped as a family instead of added up;
- anchors: a merge needs a personal identifier or something as rare (PairScore.anchored);
- explanation: colleagues share an employer's card, office network and tools, and students a
  campus network, so `same_org` takes back the weight of what the shared organisation explains;
- collective evidence: clusters seen on the same proxy pool are linked (shared_infrastructure).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, partial
from typing import Final

from rapidfuzz import fuzz

from distillguard.v1 import events_pb2
from identity.domain import config as kinds
from identity.domain.account import PREFIX_KIND, Account, Cluster, EvidenceItem, Signup, unpack_times
from identity.domain.config import FuzzyLevel, LinkingConfig
from identity.domain.index import BlockIndex
from identity.domain.normalize import FREEMAIL_DOMAINS, Address

# What a shared org_id explains: employers hand seats the same card, billing address, phone,
# network, managed devices and internal tools. Not a shared mailbox or API key: those are one person's.
ORG_EXPLAINS: Final = frozenset(
    {
        kinds.CARD, kinds.DEVICE, kinds.PHONE, kinds.SYSTEM_PROMPT, kinds.IP, kinds.IP_24, kinds.SIGNUP_BURST,
        kinds.NAME, kinds.ADDRESS, kinds.EMAIL_SHAPE,
    }
)
# Blocking prefixes whose shared values ORG_EXPLAINS: from these blocks a seat's colleagues are no candidates.
ORG_EXPLAINED_PREFIXES: Final = frozenset(prefix for prefix, kind in PREFIX_KIND.items() if kind in ORG_EXPLAINS)
# What a shared verified school or company mail domain explains: its network, its enrolment
# waves, its templates and its mailbox naming scheme. Not payment or devices: anyone can own a domain.
DOMAIN_EXPLAINS: Final = frozenset({kinds.IP, kinds.IP_24, kinds.SIGNUP_BURST, kinds.SYSTEM_PROMPT, kinds.EMAIL_SHAPE})
_KIND_ORDER: Final = {kind: i for i, kind in enumerate(kinds.EVIDENCE_KINDS)}
_EXACT_DETAIL: Final[dict[str, str]] = {
    "card": "same card {short}; {n} accounts pay with it",
    "dev": "same device fingerprint {short}; {n} accounts seen on it",
    "tel": "same phone ending {last4}; {n} accounts list it",
    "email": "same mailbox {value} once dots and +tags are normalised",
    "key": "same API key {short}; {n} accounts used it",
    "sp": "same system prompt sha256 {short}; {n} accounts send it",
    "shape": "mailboxes built alike ({value}); {n} accounts share the shape",
}
_ANCHOR_KINDS: Final = kinds.ANCHOR_KINDS
_WEIGHED_ANCHOR_KINDS: Final = kinds.WEIGHED_ANCHOR_KINDS
_BITS_CACHED: Final = 4096
_Pending = tuple[str, float, Callable[[], str]]
"""Evidence before its detail is rendered: (kind, weight, detail)."""


class PairScore:
    """A pair's total weight and its evidence; details are rendered only when asked for,
    because most compared pairs are dropped."""

    __slots__ = ("bits", "anchored", "_pending")

    def __init__(self, bits: float, anchored: bool, pending: list[_Pending]) -> None:
        self.bits = bits
        self.anchored = anchored
        self._pending = pending

    def kinds(self) -> list[str]:
        """Kinds that added weight."""
        return [kind for kind, weight, _ in self._pending if weight > 0]

    def evidence(self) -> tuple[EvidenceItem, ...]:
        return tuple((kind, detail(), weight) for kind, weight, detail in self._pending)


def _verified_domain(signup: Signup | None) -> str:
    """The signup's mail domain when it is verified and institutional, else ""."""
    if signup is None or signup.verification < events_pb2.VERIFICATION_EMAIL:
        return ""
    domain = signup.email_domain
    return "" if not domain or domain in FREEMAIL_DOMAINS else domain


class PairScorer:
    """Scores a pair from both accounts' attributes and the index's value counts."""

    def __init__(self, config: LinkingConfig, index: BlockIndex, clustered_holders: dict[str, int]) -> None:
        self._config = config
        self._index = index
        self._clustered_holders = clustered_holders
        self._models = config.models
        # kind -> sharers -> bits: KindModel.bits is pure, and a handful of sharer counts recur.
        self._bits: dict[str, dict[int, float]] = {kind: {} for kind in config.models}

    def _weight(self, kind: str, sharers: int) -> float:
        """`config.models[kind].bits(sharers)`, memoised (bounded: at most _BITS_CACHED counts per kind)."""
        cached = self._bits[kind]
        weight = cached.get(sharers)
        if weight is None:
            weight = self._models[kind].bits(sharers)
            if len(cached) < _BITS_CACHED:
                cached[sharers] = weight
        return weight

    def score(self, a: Account, b: Account) -> PairScore:
        """Total weight in bits and the evidence behind it, ordered by kind (same_org last).

        Symmetric in a and b. Each kind contributes at most once: its strongest agreement.
        """
        best: dict[str, tuple[float, str, Callable[[], str]]] = {}
        name_sharers = address_sharers = 0
        shares_address = False
        attrs_a, attrs_b = a.attrs, b.attrs
        # The shared keys, found from the smaller side (which side only changes the order in which
        # they are visited, and nothing below depends on that order).
        small, large = (attrs_a, attrs_b) if len(attrs_a) <= len(attrs_b) else (attrs_b, attrs_a)
        count = self._index.count
        for key in small:
            if key not in large:
                continue
            prefix, _, value = key.partition(":")
            shares_address = shares_address or prefix == "ip"
            if prefix in ("nm", "nx"):
                name_sharers = max(name_sharers, count(key))
                continue
            if prefix in ("ad", "ax"):
                address_sharers = max(address_sharers, count(key))
                continue
            item = self._shared_value(prefix, value, count(key), attrs_a[key], attrs_b[key])
            if item is not None:
                kind, weight, detail = item
                previous = best.get(kind)
                if previous is None or (weight, key) > (previous[0], previous[1]):
                    best[kind] = (weight, key, detail)
        if kinds.IP in best:
            best.pop(kinds.IP_24, None)
        pending = [(kind, weight, detail) for kind, (weight, _, detail) in best.items() if weight > 0]
        if shares_address and a.cluster is not None and b.cluster is not None and a.cluster is not b.cluster:
            infrastructure = self._shared_infrastructure(a.cluster, b.cluster)
            if infrastructure is not None:
                pending.append(infrastructure)
        if a.names and b.names:
            name = self._names(a.names, b.names, name_sharers)
            if name is not None:
                pending.append(name)
        if a.addresses and b.addresses:
            address = self._addresses(a.addresses, b.addresses, address_sharers)
            if address is not None:
                pending.append(address)
        if len(pending) > 1:
            pending.sort(key=_kind_order)
        self._cap_families(pending)
        explanation = self._same_org(a.signup, b.signup, pending)
        if explanation is not None:
            pending.append(explanation)
        anchor_min = self._config.anchor_min_bits
        anchored = False
        total = 0.0
        for kind, weight, _ in pending:  # summed in this order, as before: float sums depend on it
            total += weight
            if not anchored and kind in _ANCHOR_KINDS:
                anchored = kind not in _WEIGHED_ANCHOR_KINDS or weight >= anchor_min
        return PairScore(total, anchored, pending)

    def _shared_infrastructure(self, x: Cluster, y: Cluster) -> _Pending | None:
        """Collective evidence: the two clusters' members were seen on largely the same addresses."""
        small, large = (x, y) if len(x.addresses) <= len(y.addresses) else (y, x)
        if len(small.addresses) < self._config.infrastructure_min_shared:
            return None
        large_addresses = large.addresses
        clustered, count = self._clustered_holders, self._index.count
        # Only addresses most of whose accounts are clustered count: a pool that linked accounts
        # run, not a VPN exit or carrier NAT where unrelated individuals meet.
        shared = sum(
            1 for key in small.addresses if key in large_addresses and 2 * clustered.get(key, 0) >= count(key)
        )
        if shared < self._config.infrastructure_min_shared:
            return None
        share = shared / len(small.addresses)
        if share < self._config.infrastructure_min_share:
            return None
        detail = partial(
            _infrastructure_detail, len(x.members), len(y.members), shared, len(small.addresses), share
        )
        return kinds.SHARED_INFRASTRUCTURE, self._models[kinds.SHARED_INFRASTRUCTURE].bits(), detail

    def _shared_value(
        self, prefix: str, value: str, sharers: int, packed_a: int, packed_b: int
    ) -> _Pending | None:
        if prefix == "ip" or prefix == "net":
            window = self._config.ip_window_s if prefix == "ip" else self._config.ip24_window_s
            first_a, last_a = unpack_times(packed_a)
            first_b, last_b = unpack_times(packed_b)
            gap = max(first_a, first_b) - min(last_a, last_b)
            if gap > window:
                return None
            kind = kinds.IP if prefix == "ip" else kinds.IP_24
            return kind, self._weight(kind, sharers), partial(_network_detail, value, gap, window, sharers)
        if prefix == "burst":
            if sharers < self._config.burst_min_signups:
                return None
            minutes = self._config.burst_bucket_s // 60
            weight = self._weight(kinds.SIGNUP_BURST, sharers)
            return kinds.SIGNUP_BURST, weight, partial(_burst_detail, value, minutes, sharers)
        template = _EXACT_DETAIL.get(prefix)
        if template is None:
            return None
        kind = PREFIX_KIND[prefix]
        return kind, self._weight(kind, sharers), partial(_exact_detail, template, value, sharers)

    def _names(self, names_a: tuple[str, ...], names_b: tuple[str, ...], sharers: int) -> _Pending | None:
        levels = self._config.name_levels
        cutoff = levels[-1].min_similarity
        best: tuple[float, str, str] | None = None
        for x in names_a:
            for y in names_b:
                # Equal names (a household's or a company's cardholder name) are 100% similar.
                similarity = 100.0 if x == y else fuzz.token_sort_ratio(x, y, score_cutoff=cutoff)
                if similarity < levels[0].min_similarity and x.count(" ") != y.count(" "):
                    # One has a middle name the other lacks: compare first and last names only.
                    similarity = max(similarity, fuzz.ratio(_outer(x), _outer(y), score_cutoff=cutoff))
                if similarity and (best is None or (similarity, x, y) > best):
                    best = (similarity, x, y)
        if best is None:
            return None
        return _fuzzy(kinds.NAME, levels, best[0], max(sharers, 2), "names", best[1], best[2])

    def _addresses(
        self, addrs_a: tuple[Address, ...], addrs_b: tuple[Address, ...], sharers: int
    ) -> _Pending | None:
        levels = self._config.address_levels
        best: tuple[float, str, str] | None = None
        for x in addrs_a:
            for y in addrs_b:
                if x.numbers != y.numbers or (x.country and y.country and x.country != y.country):
                    continue
                similarity = fuzz.token_sort_ratio(x.text, y.text, score_cutoff=levels[-1].min_similarity)
                if x.postal_code and y.postal_code and x.postal_code != y.postal_code:
                    # A different postal code with the same street and numbers is a typo at best.
                    similarity = min(similarity, levels[-1].min_similarity)
                if similarity and (best is None or (similarity, x.text, y.text) > best):
                    best = (similarity, x.text, y.text)
        if best is None:
            return None
        return _fuzzy(kinds.ADDRESS, levels, best[0], max(sharers, 2), "billing addresses", best[1], best[2])

    def _cap_families(self, pending: list[_Pending]) -> None:
        """Trim evidence, in kind order, so each family of correlated kinds stays within its cap."""
        if not pending:
            return
        for family in self._config.family_caps:
            members = family.kinds
            budget = family.cap_bits
            for i, (kind, weight, detail) in enumerate(pending):
                if kind in members:
                    if weight > budget:
                        pending[i] = (kind, budget, partial(_capped_detail, detail, family.name, family.cap_bits))
                        weight = budget
                    budget -= weight

    def _same_org(self, a: Signup | None, b: Signup | None, pending: list[_Pending]) -> _Pending | None:
        if a is None or b is None:
            return None
        same_org = bool(a.org_id) and a.org_id == b.org_id
        if same_org:
            explains = ORG_EXPLAINS
        else:
            domain = _verified_domain(a)
            if not domain or domain != _verified_domain(b):
                return None
            explains = DOMAIN_EXPLAINS
        explained = [(kind, weight) for kind, weight, _ in pending if kind in explains and weight > 0]
        if not explained:
            return None
        if same_org:
            reason = f"both seats of org {a.org_id}" + (f" ({a.org_name})" if a.org_name else "")
        else:
            reason = f"both verified at {domain}"
        detail = f"{reason}, which explains the shared {', '.join(kind for kind, _ in explained)}"
        return kinds.SAME_ORG, -sum(w for _, w in explained), partial(str, detail)


def _kind_order(item: _Pending) -> int:
    return _KIND_ORDER[item[0]]


def _network_detail(value: str, gap: int, window: int, sharers: int) -> str:
    when = "overlapping" if gap <= 0 else f"{gap // 60} min apart"
    return f"both on {value} ({when}, within {window // 3600} h); {sharers} accounts seen on it"


def _infrastructure_detail(size_x: int, size_y: int, shared: int, smaller: int, share: float) -> str:
    return (
        f"their clusters ({size_x} and {size_y} accounts) were seen on {shared} of the same addresses, "
        f"{share:.0%} of the {smaller} the smaller one used: one proxy or NAT pool"
    )


def _burst_detail(value: str, minutes: int, sharers: int) -> str:
    network = value.rpartition("@")[0]
    return f"signed up from {network} in one {minutes}-minute wave of {sharers} signups"


def _exact_detail(template: str, value: str, sharers: int) -> str:
    return template.format(short=value[:12], last4=value[-4:], value=value, n=sharers)


def _capped_detail(detail: Callable[[], str], family: str, cap: float) -> str:
    return f"{detail()}; {family} evidence capped at {cap:g} bits"


@lru_cache(maxsize=1 << 16)
def _outer(name: str) -> str:
    """First and last token, sorted: compares "John A. Smith" with "Smith John" on what they share."""
    tokens = name.split()
    return " ".join(sorted((tokens[0], tokens[-1]))) if tokens else ""


def _fuzzy(
    kind: str, levels: tuple[FuzzyLevel, ...], similarity: float, sharers: int, what: str, x: str, y: str
) -> _Pending | None:
    for level in levels:
        if similarity >= level.min_similarity:
            return kind, level.model.bits(sharers), partial(_fuzzy_detail, what, x, y, similarity, sharers)
    return None


def _fuzzy_detail(what: str, x: str, y: str, similarity: float, sharers: int) -> str:
    detail = f"{what} {x!r} and {y!r} are {similarity:.0f}% similar"
    if sharers > 2:
        detail += f"; {sharers} accounts in the block"
    return detail
