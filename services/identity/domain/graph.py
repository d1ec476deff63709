"""The identity graph: accounts, their attributes, scored links and clusters, updated in batches.

apply_batch runs in two phases. First every event is folded into its account (joins only, so a
redelivered event changes nothing) and each value an account gains, or regains after a gap longer
than its time window, is noted. Then each such value proposes candidates from its block, each pair
is scored once per batch, links at or above the candidate threshold are kept, and links at or above
the merge threshold merge clusters. Comparing after the whole batch is folded in lets events that
arrive out of event-time order across partitions still meet.

Clusters are a union by size over explicit member sets: merging relabels the smaller side, and the
merged cluster keeps the id of the older one (lower creation sequence). Accounts that no strong link
touches belong to no cluster. Clusters never split: removed_members stays empty.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

import orjson
from google.protobuf.timestamp_pb2 import Timestamp

from distillguard.codec import enum_words
from distillguard.v1 import events_pb2, identity_pb2
from identity.domain import config as kinds
from identity.domain.account import (
    FLAG_CHARGEBACK,
    FLAG_PAYING,
    FLAG_PREPAID,
    NON_BLOCKING_PREFIXES,
    PREFIX_KIND,
    TIMED_PREFIXES,
    Account,
    Cluster,
    EvidenceItem,
    Link,
    Signup,
    clamp_time,
    pack_times,
    unpack_times,
)
from identity.domain.config import LinkingConfig
from identity.domain.evidence import ORG_EXPLAINED_PREFIXES, PairScorer
from identity.domain.index import BlockIndex
from identity.domain.normalize import (
    Address,
    address_block_keys,
    email_local_for_shape,
    email_shape,
    ip_and_prefix,
    name_block_keys,
    normalize_address,
    normalize_email,
    normalize_name,
    normalize_phone,
)

Event = events_pb2.SignupEvent | events_pb2.BillingEvent | events_pb2.InferenceEvent

RECORD_VERSION: Final = 1
_ACCOUNT_NS: Final = "a/"
_CLUSTER_NS: Final = "c/"
META_KEY: Final = "g/meta"
_SIGNUP_PATHS: Final = {n: w for w, n in enum_words(events_pb2.SignupPath.DESCRIPTOR).items()}
_VERIFICATIONS: Final = {n: w for w, n in enum_words(events_pb2.Verification.DESCRIPTOR).items()}
# FindAccounts attribute kinds -> key prefix and how a query value is canonicalised.
_LOOKUP_KINDS: Final = ("card_fingerprint", "device_fingerprint", "phone", "email", "ip", "api_key", "system_prompt")


class UnknownAccount(KeyError):
    """The graph has seen no event of this account."""


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What enforcement needs to know about an account besides its cluster."""

    account_id: str
    cluster_id: str
    org_id: str
    org_name: str
    signup_path: str
    verification: str
    email_domain: str
    country: str
    signed_up_at: datetime | None
    paying: bool
    prepaid_card: bool
    chargeback: bool


@dataclass(slots=True)
class GraphStats:
    """Work counters since this graph object was created (not persisted)."""

    events: int = 0
    ignored_events: int = 0
    comparisons: int = 0
    merges: int = 0


class _Change:
    """A cluster's membership change within one batch."""

    __slots__ = ("added", "absorbed")

    def __init__(self) -> None:
        self.added: set[Account] = set()
        self.absorbed: list[str] = []


def cluster_label(founder_account_id: str) -> str:
    """A cluster's id, derived from the older account of the pair that founded it."""
    return "cl-" + hashlib.blake2b(founder_account_id.encode(), digest_size=8).hexdigest()


class IdentityGraph:
    """Links accounts that one operator runs, from signup, billing and inference events.

    Not thread-safe: one owner applies batches and answers queries between them.
    """

    def __init__(self, config: LinkingConfig = LinkingConfig()) -> None:
        self._config = config
        self._accounts: dict[str, Account] = {}
        self._by_idx: list[Account] = []
        self._index = BlockIndex(config.posting_store_cap)
        # Per IP address ("ip:" key): how many of the accounts seen on it belong to a cluster. Derived
        # (rebuilt on restore); tells a proxy pool run by linked accounts from a VPN exit or carrier
        # NAT that unrelated individuals share.
        self._clustered_holders: dict[str, int] = {}
        self._scorer = PairScorer(config, self._index, self._clustered_holders)
        self._clusters: dict[str, Cluster] = {}
        self._next_cluster_seq = 0
        self._dirty_accounts: set[Account] = set()
        self._dirty_clusters: set[str] = set()
        self._meta_dirty = False
        self._value_caps = {p: config.value_caps[k] for p, k in PREFIX_KIND.items() if k in config.value_caps}
        self.stats = GraphStats()

    @property
    def config(self) -> LinkingConfig:
        return self._config

    def __len__(self) -> int:
        """Accounts known."""
        return len(self._by_idx)

    # ---------------------------------------------------------------- ingest

    def apply_batch(self, events: Sequence[Event]) -> list[identity_pb2.ClusterUpdate]:
        """Fold a batch of events in and link what it reveals.

        Events need not be in event-time order; ones already applied (same event, redelivered)
        change nothing; events without an account_id are ignored. Returns one ClusterUpdate per
        cluster whose membership changed, sorted by cluster id: `members` lists every member after
        the batch, `absorbed_cluster_ids` the previously published clusters merged into it,
        `version` counts the cluster's updates, `occurred_at` is the batch's latest event time.
        """
        fresh: dict[Account, list[str]] = {}
        latest = 0
        for event in events:
            if not event.account_id:
                self.stats.ignored_events += 1
                continue
            self.stats.events += 1
            account = self._account(event.account_id)
            at = clamp_time(event.occurred_at.seconds)
            latest = max(latest, at)
            gained: list[str] = []
            if isinstance(event, events_pb2.InferenceEvent):
                self._apply_inference(account, event, at, gained)
            elif isinstance(event, events_pb2.BillingEvent):
                self._apply_billing(account, event, at, gained)
            else:
                self._apply_signup(account, event, at, gained)
            if gained:
                fresh.setdefault(account, []).extend(gained)
        changes: dict[str, _Change] = {}
        # Pairs scored in this batch, with the clusters they were in: a pair is scored again only
        # if a merge since then gave it cluster-level evidence to look at.
        compared: dict[tuple[int, int], tuple[Cluster | None, Cluster | None]] = {}
        for account, keys in fresh.items():
            self._link(account, keys, compared, changes)
        return self._publish(changes, latest)

    def _account(self, account_id: str) -> Account:
        account = self._accounts.get(account_id)
        if account is None:
            account = Account(len(self._by_idx), account_id)
            self._accounts[account_id] = account
            self._by_idx.append(account)
            self._dirty_accounts.add(account)
        return account

    def _apply_signup(self, account: Account, event: events_pb2.SignupEvent, at: int, gained: list[str]) -> None:
        email = normalize_email(event.email) if event.email else None
        current = account.signup
        if current is None or (at, event.event_id) < (current.occurred_at, current.event_id):
            account.signup = Signup(
                occurred_at=at,
                event_id=event.event_id,
                org_id=event.org_id,
                org_name=event.org_name,
                signup_path=event.signup_path,
                verification=event.verification,
                country=event.country.upper(),
                email_domain=email.domain if email else "",
            )
            self._dirty_accounts.add(account)
        if email is not None:
            self._observe(account, "email:" + email.address, at, gained)
            shape = email_shape(email_local_for_shape(event.email), event.display_name)
            if shape is not None:
                self._observe(account, f"shape:{shape}@{email.domain}", at, gained)
        if event.display_name:
            self._add_name(account, event.display_name, at, gained)
        if event.phone:
            phone = normalize_phone(event.phone)
            if phone is not None:
                self._observe(account, "tel:" + phone, at, gained)
        if event.device_fingerprint:
            self._observe(account, "dev:" + event.device_fingerprint, at, gained)
        if event.ip:
            self._observe_ip(account, event.ip, at, gained, signup=True)

    def _apply_billing(self, account: Account, event: events_pb2.BillingEvent, at: int, gained: list[str]) -> None:
        flags = account.flags
        if event.kind == events_pb2.BILLING_KIND_CHARGE_SUCCEEDED:
            flags |= FLAG_PAYING
        elif event.kind == events_pb2.BILLING_KIND_CHARGEBACK:
            flags |= FLAG_CHARGEBACK
        if event.card_funding == events_pb2.CARD_FUNDING_PREPAID:
            flags |= FLAG_PREPAID
        if flags != account.flags:
            account.flags = flags
            self._dirty_accounts.add(account)
        if event.card_fingerprint:
            self._observe(account, "card:" + event.card_fingerprint, at, gained)
        if event.cardholder_name:
            self._add_name(account, event.cardholder_name, at, gained)
        if event.HasField("billing_address"):
            address = normalize_address(event.billing_address)
            if address is not None:
                self._add_address(account, address, at, gained)
        if event.ip:
            self._observe_ip(account, event.ip, at, gained, signup=False)

    def _apply_inference(self, account: Account, event: events_pb2.InferenceEvent, at: int, gained: list[str]) -> None:
        if event.api_key_id:
            self._observe(account, "key:" + event.api_key_id, at, gained)
        if event.ip:
            self._observe_ip(account, event.ip, at, gained, signup=False)
        if event.system_prompt_sha256:
            self._observe(account, "sp:" + event.system_prompt_sha256.lower(), at, gained)

    def _observe_ip(self, account: Account, raw: str, at: int, gained: list[str], *, signup: bool) -> None:
        parsed = ip_and_prefix(raw)
        if parsed is None:
            return
        ip, network = parsed
        self._observe(account, "ip:" + ip, at, gained)
        self._observe(account, "net:" + network, at, gained)
        if signup:
            self._observe(account, f"burst:{network}@{at // self._config.burst_bucket_s}", at, gained)

    def _add_name(self, account: Account, raw: str, at: int, gained: list[str]) -> None:
        name = normalize_name(raw)
        if not name or name in account.names or len(account.names) >= self._config.names_per_account:
            return
        account.names = (*account.names, name)
        self._dirty_accounts.add(account)
        for key in name_block_keys(name):
            self._observe(account, key, at, gained)

    def _add_address(self, account: Account, address: Address, at: int, gained: list[str]) -> None:
        if address in account.addresses or len(account.addresses) >= self._config.addresses_per_account:
            return
        account.addresses = (*account.addresses, address)
        self._dirty_accounts.add(account)
        for key in address_block_keys(address):
            self._observe(account, key, at, gained)

    def _observe(self, account: Account, key: str, at: int, gained: list[str]) -> None:
        """Record that the account holds `key` at time `at`; note it in `gained` when worth comparing."""
        attrs = account.attrs
        packed = attrs.get(key)
        prefix = key[: key.index(":")]
        timed = prefix in TIMED_PREFIXES
        if packed is None:
            cap = self._value_caps.get(prefix)
            if cap is not None and len(attrs) >= cap:
                head = prefix + ":"
                if sum(1 for k in attrs if k.startswith(head)) >= cap:
                    return
            attrs[key] = pack_times(at, at) if timed else 0
            self._index.add(key, account.idx)
            if prefix == "ip" and account.cluster is not None:
                addresses = account.cluster.addresses
                addresses[key] = addresses.get(key, 0) + 1
                self._clustered_holders[key] = self._clustered_holders.get(key, 0) + 1
            self._dirty_accounts.add(account)
            gained.append(key)
            return
        if not timed:
            return
        first, last = unpack_times(packed)
        granularity = self._config.time_granularity_s
        new_first = at if at <= first - granularity else first
        new_last = at if at >= last + granularity else last
        if new_first == first and new_last == last:
            return
        attrs[key] = pack_times(new_first, new_last)
        self._dirty_accounts.add(account)
        window = self._config.ip_window_s if prefix == "ip" else self._config.ip24_window_s
        if at - last > window or first - at > window:
            # Back on this network after longer than the window: other accounts seen there since may now overlap.
            gained.append(key)

    # ---------------------------------------------------------------- linking

    def _link(
        self,
        account: Account,
        keys: list[str],
        compared: dict[tuple[int, int], tuple[Cluster | None, Cluster | None]],
        changes: dict[str, _Change],
    ) -> None:
        config = self._config
        # Candidates from every block the account newly joined: per block the newest holders, at
        # most block_compare_cap of them (ones already proposed by another block count too), and
        # from any one cluster at most per_cluster_candidates overall, since one strong link is
        # enough to join it.
        candidates: dict[Account, None] = {}
        per_cluster: dict[Cluster, int] = {}
        org = account.signup.org_id if account.signup is not None else ""
        for key in keys:
            prefix = key[: key.index(":")]
            if prefix in NON_BLOCKING_PREFIXES:
                continue
            count = self._index.count(key)
            if count < 2 or count > config.block_max_size:
                continue
            members = self._index.members(key)
            # Colleagues sharing what their org explains (its card, office network, managed devices)
            # score only what it does not (a mailbox, an API key), and those have blocks of their own.
            colleagues_explained = bool(org) and prefix in ORG_EXPLAINED_PREFIXES
            taken = 0
            stop = max(-1, len(members) - 1 - config.block_scan_cap)
            for position in range(len(members) - 1, stop, -1):
                other = self._by_idx[members[position]]
                if other is account:
                    continue
                if colleagues_explained and self._colleague(account, other, org):
                    continue
                if other not in candidates:
                    cluster = other.cluster
                    if cluster is not None:
                        if cluster is account.cluster:
                            continue
                        seen = per_cluster.get(cluster, 0)
                        if seen >= config.per_cluster_candidates:
                            continue
                        per_cluster[cluster] = seen + 1
                    candidates[other] = None
                taken += 1
                if taken >= config.block_compare_cap:
                    break
        for other in candidates:
            if account.cluster is not None and other.cluster is account.cluster:
                continue
            first, second = (account, other) if account.idx < other.idx else (other, account)
            pair, clusters = (first.idx, second.idx), (first.cluster, second.cluster)
            if compared.get(pair) == clusters:
                continue
            compared[pair] = clusters
            self._compare(account, other, changes)

    @staticmethod
    def _colleague(account: Account, other: Account, org: str) -> bool:
        """`other` is a seat of `account`'s org with nothing a comparison here could add: no link between
        them yet (to update or drop) and not both clustered (clusters bring evidence no org explains)."""
        signup = other.signup
        if signup is None or signup.org_id != org:
            return False
        if account.cluster is not None and other.cluster is not None:
            return False
        return account.links is None or other not in account.links

    def _compare(self, a: Account, b: Account, changes: dict[str, _Change]) -> None:
        self.stats.comparisons += 1
        result = self._scorer.score(a, b)
        score = self._config.probability(result.bits)
        link = a.links.get(b) if a.links is not None else None
        if score < self._config.candidate_threshold:
            if link is not None:
                if link.merged:
                    self._update_link(link, result.bits, score, result.evidence())
                else:
                    self._detach(link)
            return
        strong = score >= self._config.merge_threshold and result.anchored
        evidence = result.evidence()
        if link is None:
            self._attach(Link(a, b, result.bits, score, strong, evidence))
        else:
            self._update_link(link, result.bits, score, evidence)
            link.merged = link.merged or strong
        if strong and (a.cluster is None or a.cluster is not b.cluster):
            self.stats.merges += 1
            self._merge(a, b, result.kinds(), changes)

    def _update_link(self, link: Link, bits: float, score: float, evidence: tuple[EvidenceItem, ...]) -> None:
        link.bits, link.score, link.evidence = bits, score, evidence
        self._dirty_accounts.add(link.a)
        self._dirty_accounts.add(link.b)

    def _attach(self, link: Link) -> None:
        """Store a new link on both endpoints, evicting an endpoint's lowest-ranked link when it is full."""
        victims: list[Link] = []
        rank = link.rank()
        for end in (link.a, link.b):
            if end.links is not None and len(end.links) >= self._config.links_per_account:
                weakest = min(end.links.values(), key=Link.rank)
                if weakest.rank() >= rank:
                    return
                victims.append(weakest)
        for victim in victims:
            if victim.b in (victim.a.links or {}):
                self._detach(victim)
        for end in (link.a, link.b):
            if end.links is None:
                end.links = {}
            end.links[link.other(end)] = link
            self._dirty_accounts.add(end)

    def _detach(self, link: Link) -> None:
        for end in (link.a, link.b):
            links = end.links
            assert links is not None
            del links[link.other(end)]
            if not links:
                end.links = None
            self._dirty_accounts.add(end)

    def _merge(self, a: Account, b: Account, evidence_kinds: list[str], changes: dict[str, _Change]) -> None:
        first, second = a.cluster, b.cluster
        if first is None and second is None:
            founder = a if a.idx < b.idx else b
            cluster = Cluster(cluster_label(founder.account_id), self._next_cluster_seq, 0, {})
            self._next_cluster_seq += 1
            self._meta_dirty = True
            self._clusters[cluster.label] = cluster
            joined: Iterable[Account] = (a, b)
            absorbed: list[str] = []
            self._enter_cluster(a, cluster)
            self._enter_cluster(b, cluster)
        elif first is None or second is None:
            cluster = first or second  # type: ignore[assignment]
            joined = (a,) if first is None else (b,)
            absorbed = []
            self._enter_cluster(a if first is None else b, cluster)
        else:
            older, younger = (first, second) if first.seq < second.seq else (second, first)
            big, small = (first, second) if len(first.members) >= len(second.members) else (second, first)
            joined = list(younger.members)
            younger_change = changes.pop(younger.label, None)
            absorbed = [younger.label] if younger.version > 0 else []
            if younger_change is not None:
                absorbed += younger_change.absorbed
            del self._clusters[younger.label]
            self._dirty_clusters.add(younger.label)
            for account in small.members:
                account.cluster = big
            big.members |= small.members
            for kind, count in small.evidence.items():
                big.evidence[kind] = big.evidence.get(kind, 0) + count
            for key, count in small.addresses.items():
                big.addresses[key] = big.addresses.get(key, 0) + count
            big.label, big.seq, big.version = older.label, older.seq, older.version
            self._clusters[big.label] = big
            cluster = big
        # Their records name the cluster they belong to.
        self._dirty_accounts.update(joined)
        for kind in evidence_kinds:
            cluster.evidence[kind] = cluster.evidence.get(kind, 0) + 1
        self._dirty_clusters.add(cluster.label)
        change = changes.get(cluster.label)
        if change is None:
            change = changes[cluster.label] = _Change()
        change.added.update(joined)
        change.absorbed += absorbed

    def _enter_cluster(self, account: Account, cluster: Cluster) -> None:
        """Count a formerly unclustered account's addresses for its cluster and as clustered holders."""
        account.cluster = cluster
        cluster.members.add(account)
        holders = self._clustered_holders
        addresses = cluster.addresses
        for key in account.attrs:
            if key.startswith("ip:"):
                addresses[key] = addresses.get(key, 0) + 1
                holders[key] = holders.get(key, 0) + 1

    def _publish(self, changes: dict[str, _Change], latest: int) -> list[identity_pb2.ClusterUpdate]:
        updates = []
        for label in sorted(changes):
            change = changes[label]
            cluster = self._clusters[label]
            cluster.version += 1
            self._dirty_clusters.add(label)
            orgs = {m.signup.org_id for m in cluster.members if m.signup is not None and m.signup.org_id}
            updates.append(
                identity_pb2.ClusterUpdate(
                    cluster_id=label,
                    added_members=sorted(m.account_id for m in change.added),
                    members=sorted(m.account_id for m in cluster.members),
                    absorbed_cluster_ids=sorted(change.absorbed),
                    evidence_summary=self._evidence_counts(cluster),
                    occurred_at=Timestamp(seconds=latest),
                    version=cluster.version,
                    org_count=len(orgs),
                )
            )
        return updates

    @staticmethod
    def _evidence_counts(cluster: Cluster) -> list[identity_pb2.EvidenceCount]:
        return [
            identity_pb2.EvidenceCount(kind=kind, count=cluster.evidence[kind])
            for kind in kinds.EVIDENCE_KINDS
            if cluster.evidence.get(kind)
        ]

    # ---------------------------------------------------------------- queries

    def _require(self, account_id: str) -> Account:
        account = self._accounts.get(account_id)
        if account is None:
            raise UnknownAccount(account_id)
        return account

    def get_cluster(self, account_id: str) -> identity_pb2.GetClusterResponse:
        """The account's cluster with the merged links inside it; an unclustered account answers
        with an empty cluster_id and itself as the only member. Raises UnknownAccount."""
        account = self._require(account_id)
        cluster = account.cluster
        if cluster is None:
            return identity_pb2.GetClusterResponse(cluster_id="", members=[account_id])
        links = [
            link
            for member in cluster.members
            if member.links is not None
            for link in member.links.values()
            if link.merged and link.a is member
        ]
        links.sort(key=lambda link: (link.a.account_id, link.b.account_id))
        return identity_pb2.GetClusterResponse(
            cluster_id=cluster.label,
            members=sorted(m.account_id for m in cluster.members),
            links=[_link_message(link) for link in links],
        )

    def get_links(self, account_id: str, min_score: float = 0.0) -> list[identity_pb2.Link]:
        """The account's stored links (merged or candidate) scoring at least min_score, strongest first.
        Raises UnknownAccount."""
        account = self._require(account_id)
        links = [link for link in (account.links or {}).values() if link.score >= min_score]
        links.sort(key=lambda link: (-link.score, link.other(account).account_id))
        return [_link_message(link) for link in links]

    def find_accounts(self, kind: str, value: str) -> list[str]:
        """Accounts holding an attribute value, oldest first (at most config.posting_store_cap).

        kind is one of card_fingerprint, device_fingerprint, phone, email, ip, api_key,
        system_prompt; the value is normalised the way events are (a Gmail address finds its
        dotted and +tagged spellings too). Raises ValueError for another kind.
        """
        key = _lookup_key(kind, value)
        if key is None:
            return []
        return [self._by_idx[idx].account_id for idx in self._index.members(key)]

    def account_facts(self, account_id: str) -> AccountFacts:
        """Raises UnknownAccount."""
        account = self._require(account_id)
        signup = account.signup
        return AccountFacts(
            account_id=account_id,
            cluster_id=account.cluster.label if account.cluster is not None else "",
            org_id=signup.org_id if signup else "",
            org_name=signup.org_name if signup else "",
            signup_path=_SIGNUP_PATHS.get(signup.signup_path, "") if signup else "",
            verification=_VERIFICATIONS.get(signup.verification, "") if signup else "",
            email_domain=signup.email_domain if signup else "",
            country=signup.country if signup else "",
            signed_up_at=datetime.fromtimestamp(signup.occurred_at, timezone.utc) if signup else None,
            paying=bool(account.flags & FLAG_PAYING),
            prepaid_card=bool(account.flags & FLAG_PREPAID),
            chargeback=bool(account.flags & FLAG_CHARGEBACK),
        )

    def export_clusters(self) -> Iterator[dict[str, Any]]:
        """One object per cluster, by cluster id: {"cluster_id", "members", "evidence": {kind: count}}."""
        for label in sorted(self._clusters):
            cluster = self._clusters[label]
            yield {
                "cluster_id": label,
                "members": sorted(m.account_id for m in cluster.members),
                "evidence": {e.kind: e.count for e in self._evidence_counts(cluster)},
            }

    def export_links(self, min_score: float = 0.0) -> Iterator[dict[str, Any]]:
        """One object per stored link scoring at least min_score, by (a, b):
        {"a", "b", "score", "merged", "evidence": [{"kind", "detail"}]}."""
        for account_id in sorted(self._accounts):
            account = self._accounts[account_id]
            if account.links is None:
                continue
            own = sorted((l for l in account.links.values() if l.a is account and l.score >= min_score), key=_by_b)
            for link in own:
                yield {
                    "a": link.a.account_id,
                    "b": link.b.account_id,
                    "score": round(link.score, 6),
                    "merged": link.merged,
                    "evidence": [{"kind": kind, "detail": detail} for kind, detail, _ in link.evidence],
                }

    def cluster_ids(self) -> list[str]:
        return sorted(self._clusters)

    # ---------------------------------------------------------------- state

    def drain_changes(self) -> dict[str, bytes | None]:
        """State records changed since the last drain: "a/<account_id>" per account, "c/<cluster_id>"
        per cluster (None: the cluster was absorbed), "g/meta". Writing them to a compacted changelog
        and passing its contents to restore() rebuilds this graph exactly."""
        out: dict[str, bytes | None] = {}
        for account in sorted(self._dirty_accounts, key=lambda acc: acc.idx):
            out[_ACCOUNT_NS + account.account_id] = _dump_account(account)
        for label in sorted(self._dirty_clusters):
            cluster = self._clusters.get(label)
            out[_CLUSTER_NS + label] = None if cluster is None else _dump_cluster(cluster)
        if self._meta_dirty:
            out[META_KEY] = orjson.dumps({"v": RECORD_VERSION, "next_cluster_seq": self._next_cluster_seq})
        self._dirty_accounts.clear()
        self._dirty_clusters.clear()
        self._meta_dirty = False
        return out

    def restore(self, records: Iterable[tuple[str, bytes]]) -> None:
        """Rebuild from the latest record per key (as drain_changes wrote them, deletions dropped).

        Only into a graph that has seen nothing. Raises ValueError on records this version cannot read.
        """
        if self._by_idx:
            raise RuntimeError("restore() needs an empty graph")
        account_records: list[dict[str, Any]] = []
        cluster_records: dict[str, dict[str, Any]] = {}
        meta: dict[str, Any] = {"next_cluster_seq": 0}
        for key, value in records:
            data = orjson.loads(value)
            if data.get("v") != RECORD_VERSION:
                raise ValueError(f"state record {key!r} has version {data.get('v')!r}, expected {RECORD_VERSION}")
            if key.startswith(_ACCOUNT_NS):
                account_records.append(data)
            elif key.startswith(_CLUSTER_NS):
                cluster_records[key[len(_CLUSTER_NS) :]] = data
            elif key == META_KEY:
                meta = data
            else:
                raise ValueError(f"unknown state record {key!r}")
        account_records.sort(key=lambda r: int(r["idx"]))
        for position, record in enumerate(account_records):
            if record["idx"] != position:
                raise ValueError(f"account records are not contiguous: idx {record['idx']} at {position}")
            self._restore_account(record)
        clusters = {
            label: Cluster(label, int(r["seq"]), int(r["version"]), {str(k): int(n) for k, n in r["evidence"].items()})
            for label, r in cluster_records.items()
        }
        for record in account_records:
            account = self._accounts[record["id"]]
            if record["cluster"] is not None:
                cluster = clusters[record["cluster"]]
                self._enter_cluster(account, cluster)
            for other_id, bits, score, merged, evidence in record["links"]:
                if account.account_id < other_id:
                    other = self._accounts[other_id]
                    items = tuple((str(k), str(d), float(w)) for k, d, w in evidence)
                    link = Link(account, other, float(bits), float(score), bool(merged), items)
                    for end in (account, other):
                        if end.links is None:
                            end.links = {}
                        end.links[link.other(end)] = link
        self._clusters = {label: c for label, c in clusters.items() if c.members}
        self._next_cluster_seq = int(meta["next_cluster_seq"])

    def _restore_account(self, record: dict[str, Any]) -> None:
        account = self._account(str(record["id"]))
        self._dirty_accounts.discard(account)
        for key, packed in record["attrs"].items():
            account.attrs[key] = int(packed)
            self._index.add(key, account.idx)
        account.names = tuple(record["names"])
        account.addresses = tuple(Address(t, tuple(n), p, c) for t, n, p, c in record["addresses"])
        signup = record["signup"]
        account.signup = None if signup is None else Signup(*signup)
        account.flags = int(record["flags"])


def _by_b(link: Link) -> str:
    return link.b.account_id


def _link_message(link: Link) -> identity_pb2.Link:
    return identity_pb2.Link(
        account_a=link.a.account_id,
        account_b=link.b.account_id,
        score=link.score,
        merged=link.merged,
        evidence=[identity_pb2.Evidence(kind=k, detail=d, weight=w) for k, d, w in link.evidence],
    )


def _lookup_key(kind: str, value: str) -> str | None:
    if kind == "card_fingerprint":
        return "card:" + value
    if kind == "device_fingerprint":
        return "dev:" + value
    if kind == "api_key":
        return "key:" + value
    if kind == "system_prompt":
        return "sp:" + value.lower()
    if kind == "phone":
        phone = normalize_phone(value)
        return None if phone is None else "tel:" + phone
    if kind == "email":
        email = normalize_email(value)
        return None if email is None else "email:" + email.address
    if kind == "ip":
        parsed = ip_and_prefix(value)
        return None if parsed is None else "ip:" + parsed[0]
    raise ValueError(f"unknown attribute kind {kind!r}; expected one of {', '.join(_LOOKUP_KINDS)}")


def _dump_account(account: Account) -> bytes:
    signup = account.signup
    links = sorted((account.links or {}).items(), key=lambda item: item[0].account_id)
    return orjson.dumps(
        {
            "v": RECORD_VERSION,
            "idx": account.idx,
            "id": account.account_id,
            "attrs": account.attrs,
            "names": account.names,
            "addresses": [[a.text, a.numbers, a.postal_code, a.country] for a in account.addresses],
            "signup": None
            if signup is None
            else [
                signup.occurred_at, signup.event_id, signup.org_id, signup.org_name, signup.signup_path,
                signup.verification, signup.country, signup.email_domain,
            ],
            "flags": account.flags,
            "links": [[other.account_id, l.bits, l.score, l.merged, l.evidence] for other, l in links],
            "cluster": account.cluster.label if account.cluster is not None else None,
        }
    )


def _dump_cluster(cluster: Cluster) -> bytes:
    return orjson.dumps(
        {"v": RECORD_VERSION, "seq": cluster.seq, "version": cluster.version, "evidence": cluster.evidence}
    )
