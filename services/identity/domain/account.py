"""What the graph knows about one account, and the links between accounts.

An account's attributes are keyed strings "<prefix>:<value>" (the same strings the block index
uses). Network sightings carry first/last-seen times; everything else only records presence.
Every update is a join — set union, earliest signup, min/max of times — so applying an event
twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from identity.domain import config as kinds
from identity.domain.normalize import Address

# Attribute key prefix -> evidence kind it supports.
PREFIX_KIND: Final = {
    "card": kinds.CARD,
    "dev": kinds.DEVICE,
    "tel": kinds.PHONE,
    "email": kinds.EMAIL,
    "key": kinds.API_KEY,
    "sp": kinds.SYSTEM_PROMPT,
    "ip": kinds.IP,
    "net": kinds.IP_24,
    "burst": kinds.SIGNUP_BURST,
    "shape": kinds.EMAIL_SHAPE,
    "nm": kinds.NAME,
    "nx": kinds.NAME,
    "ad": kinds.ADDRESS,
    "ax": kinds.ADDRESS,
}
# Prefixes whose attributes carry first/last-seen times.
TIMED_PREFIXES: Final = frozenset({"ip", "net"})
# Prefixes counted (they down-weight evidence) but never used to propose candidates. A mailbox
# shape is shared by far too many people to be a block. A name cannot merge or even make a candidate
# on its own (see the presentation cap), and whatever it could support — a billing address, a
# network, a prompt — has blocks of its own that propose the pair; name blocks would only add
# comparisons of namesakes.
NON_BLOCKING_PREFIXES: Final = frozenset({"shape", "nm", "nx"})

# 32 bits per time (up to 2106) keeps the packed pair within the 64-bit integers state records hold.
_TIME_BITS: Final = 32
_TIME_MASK: Final = (1 << _TIME_BITS) - 1

EvidenceItem = tuple[str, str, float]
"""(kind, detail, weight in bits)."""


def pack_times(first: int, last: int) -> int:
    return (first << _TIME_BITS) | last


def unpack_times(packed: int) -> tuple[int, int]:
    return packed >> _TIME_BITS, packed & _TIME_MASK


def clamp_time(seconds: int) -> int:
    """Event time in whole seconds, bounded to what the packed form holds (years 1970–2106)."""
    return min(max(seconds, 0), _TIME_MASK)


@dataclass(frozen=True, slots=True)
class Signup:
    """The facts of an account's earliest signup event (ties broken by event id)."""

    occurred_at: int
    event_id: str
    org_id: str
    org_name: str
    signup_path: int
    verification: int
    country: str
    email_domain: str


FLAG_PAYING: Final = 1
FLAG_PREPAID: Final = 2
FLAG_CHARGEBACK: Final = 4


class Account:
    __slots__ = ("idx", "account_id", "attrs", "names", "addresses", "signup", "flags", "links", "cluster")

    def __init__(self, idx: int, account_id: str) -> None:
        self.idx = idx
        self.account_id = account_id
        self.attrs: dict[str, int] = {}
        self.names: tuple[str, ...] = ()
        self.addresses: tuple[Address, ...] = ()
        self.signup: Signup | None = None
        self.flags = 0
        # Links keyed by the other account; None until the first link (most accounts have none).
        self.links: dict[Account, Link] | None = None
        self.cluster: Cluster | None = None

    def __repr__(self) -> str:
        return f"Account({self.account_id!r})"


class Link:
    """A scored pair; `a` sorts before `b` by account id. Stored on both endpoints."""

    __slots__ = ("a", "b", "bits", "score", "merged", "evidence")

    def __init__(
        self, a: Account, b: Account, bits: float, score: float, merged: bool, evidence: tuple[EvidenceItem, ...]
    ) -> None:
        self.a, self.b = (a, b) if a.account_id < b.account_id else (b, a)
        self.bits = bits
        self.score = score
        self.merged = merged
        self.evidence = evidence

    def other(self, account: Account) -> Account:
        return self.b if account is self.a else self.a

    def rank(self) -> tuple[bool, float, str, str]:
        """Which link to keep when an account has too many: merged first, then stronger, then by ids."""
        return (self.merged, self.score, self.b.account_id, self.a.account_id)


class Cluster:
    """Accounts merged by strong links. `label` and `seq` come from the oldest cluster merged into it."""

    __slots__ = ("label", "seq", "version", "members", "evidence", "addresses")

    def __init__(self, label: str, seq: int, version: int, evidence: dict[str, int]) -> None:
        self.label = label
        self.seq = seq
        self.version = version
        self.members: set[Account] = set()
        self.evidence = evidence
        # How many members were seen on each IP address ("ip:" keys); derived, never persisted.
        self.addresses: dict[str, int] = {}
