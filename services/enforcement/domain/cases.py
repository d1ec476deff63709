"""The enforcement domain: signals in, cases and actions out, everything recorded in the case store.

`EnforcementDomain` knows nothing about Kafka or gRPC: the worker decodes messages and calls `handle_*`, the
servicer calls the case methods, and the outbox relay publishes what the domain committed.

Contracts every mutating method keeps:

- one database transaction per call: the state change, its audit rows and the outbox rows of the actions it
  publishes commit together or not at all (transactional outbox, see `enforcement.domain.outbox`);
- idempotent input: a risk or external signal is recorded by id in the same transaction as its effects, so a
  re-delivered signal changes nothing; billing events are deduplicated by event_id and cluster updates by
  version; action ids derive from idempotency keys, so they are stable;
- the in-memory verdict index changes only after the commit succeeded;
- calls are serialised inside one process (an asyncio lock), because decisions read the account's history
  and then write; across processes Kafka's per-key partitioning keeps one account's signals on one worker.

What happens to a signal, for each account it covers (the cluster's members for a cluster signal):
the policy is evaluated on the account's facts; the first live rule is the decision, unless the account already
has an applied action at least as strong (nothing to do) or one awaiting review. A guard rail may hold the
decision for review (`enforcement.domain.guardrails`); then the strongest weaker rule that is not held is
applied meanwhile, so e.g. a farm cluster is suspended at once while its ban waits for a human. The first
matching shadow rule is recorded (never applied, never published) next to it.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final, Literal

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from distillguard import topics
from distillguard.casestore.audit import AuditLog, AuditQuery
from distillguard.casestore.models import (
    Account,
    AccountIdentifier,
    Action,
    ActionKind,
    ActionStatus,
    Appeal,
    AppealStatus,
    Case,
    CaseStatus,
    Cluster,
    Decision,
    EvidenceSnapshot,
    Payment,
    PolicyVersion,
    Reversal,
    Signal,
    SubjectKind,
)
from distillguard.casestore.types import utcnow
from distillguard.codec import enum_words
from distillguard.v1 import enforcement_pb2, events_pb2, identity_pb2, ratepattern_pb2
from enforcement.domain import guardrails
from enforcement.domain.outbox import enqueue, outbox_values
from enforcement.domain.scope import DecisionScope, History, Known, Strength, chunks, stronger
from enforcement.domain.policy import (
    EXTERNAL_SIGNAL_KINDS,
    Evaluation,
    Facts,
    Policy,
    PolicyError,
    PolicyHolder,
    Rule,
    action_strength,
    load_policy,
)
from enforcement.domain.verdicts import IDENTIFIER_KINDS, ActiveAction, VerdictAnswer, VerdictIndex, normalize_identifier
from enforcement.domain.views import (
    ActionView,
    AppealView,
    AuditEntryView,
    CaseDetail,
    CaseFilter,
    CasePage,
    CaseView,
    DecisionPreview,
    DecisionResult,
    DecisionView,
    EvidenceView,
    PageRequest,
    ReversalPreview,
    ReversalView,
    action_proto,
    page_token,
    rfc3339,
)

#: Namespace of action ids: uuid5(ACTION_NAMESPACE, idempotency_key).
ACTION_NAMESPACE: Final = uuid.UUID("5b0f2f0e-4a55-4bd6-9b59-6a0cf0d7e1a2")
TERMINAL_CASE_STATUSES: Final = (CaseStatus.REJECTED, CaseStatus.REVERSED, CaseStatus.CLOSED)
POLICY_ACTOR: Final = "policy"
_MAX_REASON_CODES: Final = 5
_BILLING_WORDS: Final = {number: word for word, number in enum_words(events_pb2.BillingKind.DESCRIPTOR).items()}
_SIGNUP_PATH_WORDS: Final = {number: word for word, number in enum_words(events_pb2.SignupPath.DESCRIPTOR).items()}
_VERIFICATION_WORDS: Final = {
    number: word for word, number in enum_words(events_pb2.Verification.DESCRIPTOR).items()
}
#: Billing kinds that are also external signals, and the signal kind they become.
_BILLING_SIGNALS: Final = {"chargeback": "chargeback", "charge_failed": "failed_charge"}

Decided = Literal["approve", "reject", "escalate"]


class DomainError(Exception):
    """Base of the errors the domain raises on purpose; str() is meant for the caller."""


class NotFound(DomainError):
    pass


class InvalidRequest(DomainError):
    pass


class InvalidSignal(InvalidRequest):
    """A malformed signal or event (the worker sends it to the dead-letter topic with this reason)."""


class InvalidTransition(DomainError):
    """The case or action is not in a state that allows the requested change."""


@dataclass(frozen=True)
class SignalContext:
    """Where a signal came from, recorded with the evidence and audit rows."""

    #: e.g. "risk.signals" or "risk.signals[3]@1234" (topic, partition, offset).
    source: str = "risk.signals"
    actor: str = POLICY_ACTOR


@dataclass(frozen=True)
class _Trigger:
    """One reason to evaluate the policy: a risk signal, an external signal or a grown cluster."""

    signal_id: str
    source: str
    subject: Literal["account", "cluster"]
    account_id: str | None
    cluster_id: str | None
    score: float
    reasons: tuple[dict[str, Any], ...]
    members: tuple[str, ...]
    occurred_at: datetime
    evidence_kind: str
    payload: dict[str, Any]
    actor: str = POLICY_ACTOR
    #: Restrict to these accounts (cluster growth) ...
    targets: tuple[str, ...] | None = None
    #: ... and record in this case.
    case_id: str | None = None


@dataclass(frozen=True)
class _Plan:
    account_id: str
    rule: Rule
    shadow: bool
    status: ActionStatus
    review_reasons: tuple[str, ...]
    facts: Facts
    cluster_wide: bool


@dataclass(frozen=True)
class SignalBatch:
    """What handle_signals did with a batch."""

    #: Actions published (written to the outbox), in order.
    published: tuple[enforcement_pb2.EnforcementAction, ...]
    #: (index in the batch, reason) of malformed signals, for the dead-letter topic.
    rejected: tuple[tuple[int, str], ...]
    #: Signals skipped because their signal_id was handled before.
    duplicates: int


@dataclass
class _Effects:
    """What a transaction did that the process must learn once it has committed."""

    published: list[enforcement_pb2.EnforcementAction] = field(default_factory=list)
    applied: list[ActiveAction] = field(default_factory=list)
    revoked: list[tuple[str, str]] = field(default_factory=list)
    identifiers: list[tuple[str, str, str]] = field(default_factory=list)
    policy: Policy | None = None


def _when(stamp: Timestamp, what: str) -> datetime:
    if stamp.seconds == 0 and stamp.nanos == 0:
        raise InvalidSignal(f"{what} is missing occurred_at")
    return stamp.ToDatetime(tzinfo=timezone.utc)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for item in items if item))


def _reason_dicts(reasons: Iterable[ratepattern_pb2.Reason]) -> tuple[dict[str, Any], ...]:
    return tuple(
        {"feature": r.feature, "value": r.value, "baseline": r.baseline, "contribution": r.contribution}
        for r in reasons
        if r.feature
    )


def _reason_codes(rule: Rule, facts: Facts, reasons: Sequence[dict[str, Any]]) -> list[str]:
    ranked = sorted(reasons, key=lambda r: -float(r.get("contribution") or 0.0))
    codes = [str(r["feature"]) for r in ranked[:_MAX_REASON_CODES]]
    codes += sorted(set(rule.when.external_signals_any) & facts.external_signals)
    return codes or [rule.name]


def _action_id(idempotency_key: str) -> str:
    return str(uuid.uuid5(ACTION_NAMESPACE, idempotency_key))


def _insert_for(session: AsyncSession) -> Any:
    """The dialect's INSERT construct (both offer ON CONFLICT DO NOTHING / DO UPDATE)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _describe_verdict(answer: VerdictAnswer) -> str:
    name = answer.verdict.name.lower()
    return f"{name}({answer.rpm_cap})" if name == "throttle" else name


@dataclass(frozen=True)
class _State:
    """The part of an action a case's status depends on."""

    kind: str
    status: str
    shadow: bool


def _states(actions: Iterable[Action]) -> list[_State]:
    return [_State(a.kind, a.status, a.shadow) for a in actions]


def _derive_status(before: str, actions: Sequence[_State], *, human: bool) -> CaseStatus:
    """A case's status from its actions. Automation never moves a case out of "escalated"."""
    if before == CaseStatus.ESCALATED and not human:
        return CaseStatus.ESCALATED
    live = [a for a in actions if not a.shadow and a.kind != ActionKind.RESTORE]
    if any(a.status == ActionStatus.PROPOSED for a in live):
        return CaseStatus.REVIEW
    if any(a.status == ActionStatus.APPLIED and ActionKind(a.kind).enforces for a in live):
        return CaseStatus.ENFORCED
    if any(a.status == ActionStatus.APPLIED for a in live):
        return CaseStatus.APPROVED if before == CaseStatus.APPROVED else CaseStatus.OPEN
    if any(a.status == ActionStatus.REVERSED for a in live):
        return CaseStatus.REVERSED
    if any(a.status == ActionStatus.REJECTED for a in live):
        return CaseStatus.REJECTED
    if any(a.shadow and a.status == ActionStatus.PROPOSED for a in actions):
        return CaseStatus.PROPOSED
    if any(a.shadow and a.status == ActionStatus.REJECTED for a in actions):
        return CaseStatus.REJECTED
    return CaseStatus(before)


def _strongest(candidates: Iterable[Action]) -> Action | None:
    """The most restrictive action (the first one among equals), or None."""
    best: Action | None = None
    for action in candidates:
        if best is None or action_strength(ActionKind(action.kind), action.rpm_cap) > action_strength(
            ActionKind(best.kind), best.rpm_cap
        ):
            best = action
    return best


def _headline(actions: Sequence[Action]) -> Action | None:
    """The action a case is summarised by: strongest applied-or-proposed live one, else strongest shadow."""
    strongest = _strongest
    pending_or_applied = (ActionStatus.APPLIED, ActionStatus.PROPOSED)
    live = [a for a in actions if not a.shadow and a.kind != ActionKind.RESTORE]
    return (
        strongest([a for a in live if a.status in pending_or_applied])
        or strongest([a for a in actions if a.shadow and a.status == ActionStatus.PROPOSED])
        or strongest(live)
        or strongest([a for a in actions if a.kind != ActionKind.RESTORE])
    )


class EnforcementDomain:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policy: PolicyHolder,
        verdicts: VerdictIndex | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        revenue_window: timedelta = timedelta(days=30),
        actions_topic: str = topics.ACTIONS.name,
    ) -> None:
        self._sessions = sessions
        self._policy = policy
        self._verdicts = verdicts if verdicts is not None else VerdictIndex()
        self._clock = clock
        self._revenue_window = revenue_window
        self._actions_topic = actions_topic
        self._lock = asyncio.Lock()

    # ======================================================================================== lifecycle

    @property
    def policy(self) -> Policy:
        return self._policy.current

    @property
    def verdicts(self) -> VerdictIndex:
        return self._verdicts

    async def start(self, *, actor: str = "system") -> None:
        """Record the running policy version (PolicyError if its version is known with other content) and
        rebuild the verdict index from the case store."""
        policy = self.policy

        async def work(session: AsyncSession, effects: _Effects) -> None:
            await self._record_policy(session, policy, actor=actor, action="policy.activate")

        await self._run(work)
        await self.rebuild_verdicts()

    async def reload_policy(self, path: str | Path, *, actor: str) -> PolicyError | None:
        """Validate, record and activate the policy at `path`. On any problem return the error (and audit the
        refusal); the running policy stays in force."""
        try:
            policy = load_policy(path)
        except PolicyError as exc:
            await self._audit_refusal(str(path), exc, actor)
            return exc

        async def work(session: AsyncSession, effects: _Effects) -> None:
            await self._record_policy(session, policy, actor=actor, action="policy.activate")
            effects.policy = policy

        try:
            await self._run(work)
        except PolicyError as exc:
            await self._audit_refusal(str(path), exc, actor)
            return exc
        return None

    async def rebuild_verdicts(self) -> int:
        """Reload the verdict index from the case store; return the number of active actions loaded.

        The new index is built aside and swapped in whole, under the lock that every committing call holds
        while it updates memory: CheckAccount answers from the old index until the swap, and no commit made
        meanwhile can be missed by the new one."""
        async with self._lock:
            index = self._verdicts.empty_like()
            loaded = await self._load_verdicts(index)
            self._verdicts = index
        return loaded

    async def _load_verdicts(self, index: VerdictIndex) -> int:
        loaded = 0
        async with self._sessions() as session:
            identifiers = await session.stream(
                select(AccountIdentifier.account_id, AccountIdentifier.kind, AccountIdentifier.value)
            )
            async for account_id, kind, value in identifiers:
                if kind in IDENTIFIER_KINDS:
                    index.observe_identifiers(account_id, kind, value)
            emails = await session.stream(select(Account.account_id, Account.email).where(Account.email.is_not(None)))
            async for account_id, email in emails:
                index.observe_identifiers(account_id, "email", email or "")
            actions = await session.stream(
                select(Action).where(
                    Action.status == ActionStatus.APPLIED,
                    Action.shadow.is_(False),
                    Action.kind.in_([k.value for k in ActionKind if k.enforces]),
                )
            )
            async for (row,) in actions:
                index.apply(self._active(row))
                loaded += 1
        return loaded

    # ======================================================================================== facts in

    async def observe_signups(self, events: Sequence[events_pb2.SignupEvent]) -> int:
        """Store signup facts (signup_path, verification, org_id, email) and identifiers; idempotent."""
        by_account: dict[str, dict[str, Any]] = {}  # one row per account (the last event wins)
        for event in events:
            if not event.account_id:
                raise InvalidSignal("signup event without account_id")
            by_account[event.account_id] = (
                {
                    "account_id": event.account_id,
                    "signup_path": _SIGNUP_PATH_WORDS.get(event.signup_path),
                    "verification": _VERIFICATION_WORDS.get(event.verification),
                    "org_id": event.org_id or None,
                    "email": normalize_identifier("email", event.email) or None,
                    "signed_up_at": _when(event.occurred_at, f"signup {event.event_id}"),
                }
            )
        rows = list(by_account.values())
        if not rows:
            return 0

        async def work(session: AsyncSession, effects: _Effects) -> None:
            insert = _insert_for(session)
            now = self._clock()
            for chunk in chunks(rows):
                stmt = insert(Account).values([{**row, "last_reasons": [], "updated_at": now} for row in chunk])
                stmt = stmt.on_conflict_do_update(
                    index_elements=[Account.account_id],
                    set_={
                        name: getattr(stmt.excluded, name)
                        for name in ("signup_path", "verification", "org_id", "email", "signed_up_at", "updated_at")
                    },
                )
                await session.execute(stmt)
            pairs = []
            for event in events:
                for kind, value in (("email", event.email), ("ip", event.ip),
                                    ("device_fingerprint", event.device_fingerprint)):
                    if value:
                        pairs.append((event.account_id, kind, normalize_identifier(kind, value)))
            await self._store_identifiers(session, pairs, effects)

        await self._run(work)
        return len(rows)

    async def record_identifiers(self, account_id: str, pairs: Iterable[tuple[str, str]]) -> int:
        """Persist identifiers (kind, value) of an account that the verdict index has not seen; return how
        many were new. Cheap to call per inference event: known pairs never reach the database."""
        fresh = []
        for kind, value in pairs:
            if kind not in IDENTIFIER_KINDS:
                raise InvalidSignal(f"unknown identifier kind {kind!r}")
            value = normalize_identifier(kind, value)
            if value and value not in self._verdicts.identifiers_of(account_id).get(kind, ()):
                fresh.append((account_id, kind, value))
        fresh = list(dict.fromkeys(fresh))
        if not fresh:
            return 0

        async def work(session: AsyncSession, effects: _Effects) -> None:
            await self._store_identifiers(session, fresh, effects)

        await self._run(work)
        return len(fresh)

    async def handle_signal(
        self, signal: ratepattern_pb2.RiskSignal, context: SignalContext | None = None
    ) -> list[enforcement_pb2.EnforcementAction]:
        """Act on one risk signal; return the actions published. A re-delivered signal_id changes nothing
        and returns []. Raises InvalidSignal for a malformed signal (nothing is written)."""
        batch = await self.handle_signals([signal], context)
        if batch.rejected:
            raise InvalidSignal(batch.rejected[0][1])
        return list(batch.published)

    async def handle_signals(
        self, signals: Sequence[ratepattern_pb2.RiskSignal], context: SignalContext | None = None
    ) -> SignalBatch:
        """Act on a batch of risk signals, in order, in one transaction (facts and history are loaded once for
        the batch). Malformed signals are skipped and reported in `rejected` (index, reason) for the
        dead-letter topic; re-delivered signal_ids are skipped and counted in `duplicates`."""
        context = context or SignalContext()
        triggers: list[_Trigger] = []
        rejected: list[tuple[int, str]] = []
        for index, signal in enumerate(signals):
            try:
                triggers.append(self._risk_trigger(signal, context))
            except InvalidSignal as exc:
                rejected.append((index, str(exc)))
        if not triggers:
            return SignalBatch((), tuple(rejected), 0)
        handled: list[int] = []

        async def work(session: AsyncSession, effects: _Effects) -> None:
            handled.append(await self._handle_risk(session, triggers, effects))

        try:
            published = await self._run(work, signal_id=triggers[0].signal_id if len(triggers) == 1 else None)
        except IntegrityError:
            # Another process recorded some of these signals meanwhile: redo them one by one; the ones it
            # recorded are duplicates.
            published, handled = [], []
            for trigger in triggers:
                async def single(session: AsyncSession, effects: _Effects, trigger: _Trigger = trigger) -> None:
                    handled.append(await self._handle_risk(session, [trigger], effects))

                published += await self._run(single, signal_id=trigger.signal_id)
        return SignalBatch(tuple(published), tuple(rejected), len(triggers) - sum(handled))

    async def _handle_risk(self, session: AsyncSession, triggers: list[_Trigger], effects: _Effects) -> int:
        """Record and act on the signals not seen before; return how many that was."""
        ids = [t.signal_id for t in triggers]
        seen: set[str] = set()
        for chunk in chunks(ids):
            seen.update(await session.scalars(select(Signal.signal_id).where(Signal.signal_id.in_(chunk))))
        fresh: list[_Trigger] = []
        for trigger in triggers:
            if trigger.signal_id not in seen:
                seen.add(trigger.signal_id)
                fresh.append(trigger)
        if not fresh:
            return 0
        now = self._clock()
        session.add_all(
            Signal(signal_id=t.signal_id, source="risk", kind=t.subject, account_id=t.account_id,
                   cluster_id=t.cluster_id, score=t.score, occurred_at=t.occurred_at, received_at=now,
                   detail={"reasons": list(t.reasons), "members": len(t.members),
                           "window_requests": t.payload.get("window_requests", 0), "source": t.payload["source"]})
            for t in fresh
        )
        await session.flush()  # a concurrent duplicate fails here, before any decision
        scope = DecisionScope(session, self._revenue_window)
        await scope.load(t.account_id for t in fresh if t.account_id)
        for trigger in fresh:
            if trigger.subject == "account" and trigger.account_id:
                self._note_account_score(scope, trigger)
            await self._act_on(scope, trigger, effects)
        await self._finish(scope)
        return len(fresh)

    async def handle_cluster_update(
        self, update: identity_pb2.ClusterUpdate
    ) -> list[enforcement_pb2.EnforcementAction]:
        """Store the cluster's membership (stale versions are dropped). When a cluster with an enforcing case
        gains members, the policy is evaluated for the newcomers with the case's score and reasons, and what
        it decides is recorded in that case (guard rails apply as for a signal)."""
        if not update.cluster_id:
            raise InvalidSignal("cluster update without cluster_id")
        occurred = (
            update.occurred_at.ToDatetime(tzinfo=timezone.utc)
            if update.occurred_at.seconds or update.occurred_at.nanos
            else self._clock()
        )
        members = _unique(update.members)

        async def work(session: AsyncSession, effects: _Effects) -> None:
            row = await session.get(Cluster, update.cluster_id)
            if row is not None and update.version <= row.version:
                return
            evidence = {e.kind: int(e.count) for e in update.evidence_summary if e.kind}
            if row is None:
                row = Cluster(cluster_id=update.cluster_id)
                session.add(row)
            row.version = update.version
            row.members = list(members)
            row.size = len(members)
            row.org_count = int(update.org_count)
            row.evidence = evidence
            row.absorbed_into = None
            row.occurred_at = occurred
            row.updated_at = self._clock()
            absorbed = [cid for cid in _unique(update.absorbed_cluster_ids) if cid != update.cluster_id]
            for cluster_id in absorbed:
                old = await session.get(Cluster, cluster_id)
                if old is None:
                    old = Cluster(cluster_id=cluster_id, version=0, members=[], size=0, org_count=0, evidence={})
                    session.add(old)
                old.absorbed_into = update.cluster_id
                old.updated_at = self._clock()
            await self._set_membership(session, update.cluster_id, members, _unique(update.removed_members))
            scope = DecisionScope(session, self._revenue_window)
            await self._grow_cluster_cases(scope, update, members, [update.cluster_id, *absorbed], occurred,
                                           effects)
            await self._finish(scope)

        return await self._run(work)

    async def handle_billing(self, event: events_pb2.BillingEvent) -> list[enforcement_pb2.EnforcementAction]:
        """Record a billing event (revenue for blast radius and "paying"; card and IP identifiers); a
        chargeback or failed charge is also an external signal on the account. Deduplicated by event_id."""
        if not event.event_id or not event.account_id:
            raise InvalidSignal("billing event without event_id or account_id")
        kind = _BILLING_WORDS.get(event.kind)
        if kind is None:
            raise InvalidSignal(f"billing event {event.event_id} has no kind")
        occurred = _when(event.occurred_at, f"billing event {event.event_id}")

        async def work(session: AsyncSession, effects: _Effects) -> None:
            if await session.get(Payment, event.event_id) is not None:
                return
            session.add(
                Payment(
                    event_id=event.event_id, account_id=event.account_id, kind=kind,
                    amount_cents=int(event.amount_cents), currency=event.currency,
                    card_fingerprint=event.card_fingerprint or None, occurred_at=occurred,
                )
            )
            pairs = [(event.account_id, k, v) for k, v in (("card_fingerprint", event.card_fingerprint),
                                                            ("ip", event.ip)) if v]
            await self._store_identifiers(session, pairs, effects)
            signal_kind = _BILLING_SIGNALS.get(kind)
            if signal_kind is not None:
                scope = DecisionScope(session, self._revenue_window)
                await self._external(
                    scope, effects, signal_id=f"billing:{event.event_id}", source="billing",
                    account_id=event.account_id, kind=signal_kind, occurred_at=occurred,
                    detail=event.decline_code, actor=POLICY_ACTOR,
                )
                await self._finish(scope)

        return await self._run(work)

    async def report_external_signal(
        self,
        account_id: str,
        kind: str,
        *,
        signal_id: str,
        occurred_at: datetime | None = None,
        detail: str = "",
        actor: str,
    ) -> list[enforcement_pb2.EnforcementAction]:
        """Record an external signal (failed_verification, chargeback, payment_fraud, abuse_report) from an
        API client and act on it. Idempotent by signal_id (the caller's key, scoped to the caller)."""
        if not account_id:
            raise InvalidSignal("external signal without account_id")
        if kind not in EXTERNAL_SIGNAL_KINDS:
            raise InvalidSignal(f"unknown external signal kind {kind!r}; expected one of "
                                f"{', '.join(EXTERNAL_SIGNAL_KINDS)}")
        if not signal_id or len(signal_id) > 150:
            raise InvalidSignal("external signal needs a signal_id (idempotency key) of at most 150 characters")
        if len(detail) > 2000:
            raise InvalidSignal("external signal detail longer than 2000 characters")
        occurred = occurred_at or self._clock()
        if occurred.tzinfo is None:
            raise InvalidSignal("occurred_at must be timezone-aware")
        key = f"external:{actor}:{signal_id}"

        async def work(session: AsyncSession, effects: _Effects) -> None:
            scope = DecisionScope(session, self._revenue_window)
            await self._external(
                scope, effects, signal_id=key, source="external", account_id=account_id, kind=kind,
                occurred_at=occurred, detail=detail, actor=actor,
            )
            await self._finish(scope)

        return await self._run(work, signal_id=key)

    # ======================================================================================== verdicts

    def check(
        self,
        account_id: str = "",
        *,
        api_key_id: str = "",
        card_fingerprint: str = "",
        device_fingerprint: str = "",
        email: str = "",
        ip: str = "",
    ) -> VerdictAnswer:
        """CheckAccount, from memory (see VerdictIndex)."""
        return self._verdicts.check(
            account_id, api_key_id=api_key_id, card_fingerprint=card_fingerprint,
            device_fingerprint=device_fingerprint, email=email, ip=ip,
        )

    # ======================================================================================== cases

    async def list_cases(self, filters: CaseFilter | None = None, page: PageRequest | None = None) -> CasePage:
        filters = filters or CaseFilter()
        page = page or PageRequest()
        try:
            offset = page.offset()
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        size = page.bounded_size()
        conditions = self._case_conditions(filters)
        column = {
            "updated": Case.updated_at, "opened": Case.opened_at, "score": Case.score,
            "cluster_size": Case.cluster_size,
        }[page.sort]
        order = (column.desc(), Case.case_id.desc()) if page.descending else (column.asc(), Case.case_id.asc())
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(Case).where(*conditions))
            rows = list(
                await session.scalars(select(Case).where(*conditions).order_by(*order).offset(offset).limit(size))
            )
        total = int(total or 0)
        following = offset + len(rows)
        return CasePage(
            cases=tuple(CaseView.of(row) for row in rows),
            next_page_token=page_token(following) if following < total else "",
            total=total,
        )

    async def get_case(self, case_id: str) -> CaseDetail:
        async with self._sessions() as session:
            row = await session.get(Case, case_id)
            if row is None:
                raise NotFound(f"no case {case_id!r}")
            actions = await session.scalars(
                select(Action).where(Action.case_id == case_id).order_by(Action.created_at, Action.action_id)
            )
            decisions = await session.scalars(
                select(Decision).where(Decision.case_id == case_id).order_by(Decision.id)
            )
            evidence = await session.scalars(
                select(EvidenceSnapshot).where(EvidenceSnapshot.case_id == case_id).order_by(EvidenceSnapshot.id)
            )
            action_ids = select(Action.action_id).where(Action.case_id == case_id)
            appeals = await session.scalars(
                select(Appeal).where(Appeal.action_id.in_(action_ids)).order_by(Appeal.filed_at)
            )
            reversals = await session.scalars(
                select(Reversal).where(Reversal.action_id.in_(action_ids)).order_by(Reversal.id)
            )
            return CaseDetail(
                case=CaseView.of(row),
                actions=tuple(ActionView.of(a) for a in actions),
                decisions=tuple(DecisionView.of(d) for d in decisions),
                evidence=tuple(EvidenceView.of(e) for e in evidence),
                appeals=tuple(AppealView.of(a) for a in appeals),
                reversals=tuple(ReversalView.of(r) for r in reversals),
            )

    async def get_action(self, action_id: str) -> ActionView:
        async with self._sessions() as session:
            row = await session.get(Action, action_id)
            if row is None:
                raise NotFound(f"no action {action_id!r}")
            return ActionView.of(row)

    async def actions_for_account(self, account_id: str) -> list[ActionView]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Action).where(Action.account_id == account_id).order_by(Action.created_at)
            )
            return [ActionView.of(row) for row in rows]

    async def find_accounts(self, kind: str, value: str, *, limit: int = 100) -> list[str]:
        """Accounts seen with an identifier (account_id, api_key_id, card_fingerprint, device_fingerprint,
        email, ip), for the console's search."""
        value = normalize_identifier(kind, value)
        if not value:
            return []
        async with self._sessions() as session:
            if kind == "account_id":
                found = await session.scalar(select(Account.account_id).where(Account.account_id == value))
                known = await session.scalar(select(Action.account_id).where(Action.account_id == value).limit(1))
                return [value] if found or known else []
            if kind not in IDENTIFIER_KINDS:
                raise InvalidRequest(f"unknown identifier kind {kind!r}")
            found_ids = set(
                await session.scalars(
                    select(AccountIdentifier.account_id)
                    .where(AccountIdentifier.kind == kind, AccountIdentifier.value == value)
                    .limit(limit)
                )
            )
            if kind == "email":
                found_ids.update(await session.scalars(select(Account.account_id).where(Account.email == value)
                                                       .limit(limit)))
            return sorted(found_ids)[:limit]

    async def preview_decision(self, case_id: str, decision: Decided) -> DecisionPreview:
        """What decide_case(case_id, decision) would do, without doing it."""
        async with self._sessions() as session:
            case_row = await session.get(Case, case_id)
            if case_row is None:
                raise NotFound(f"no case {case_id!r}")
            actions = list(await session.scalars(select(Action).where(Action.case_id == case_id)))
            view = CaseView.of(case_row)
            try:
                apply, reject, status_after = self._decision_plan(case_row, actions, decision)
            except InvalidTransition as exc:
                return DecisionPreview(view, decision, case_row.status, refused=str(exc))
            accounts = sorted({a.account_id for a in apply})
            as_of = max((a.signal_occurred_at or a.created_at for a in apply), default=self._clock())
            radius = await self._blast_radius(session, accounts, as_of) if accounts else {}
            return DecisionPreview(
                view, decision, status_after,
                would_apply=tuple(ActionView.of(a) for a in apply),
                would_reject=tuple(ActionView.of(a) for a in reject),
                blast_radius=radius,
            )

    async def decide_case(self, case_id: str, decision: Decided, *, reason: str, actor: str) -> DecisionResult:
        """approve: apply the case's proposed actions (a shadow-only case's shadow proposals become live);
        reject: reject its proposed actions (applied ones must be reversed instead); escalate: mark it for a
        senior decision. Needs a reason; recorded as a decision and in the audit log."""
        if decision not in ("approve", "reject", "escalate"):
            raise InvalidRequest(f"unknown decision {decision!r}; expected approve, reject or escalate")
        self._require(reason=reason, actor=actor)
        result: list[CaseView] = []

        async def work(session: AsyncSession, effects: _Effects) -> None:
            case_row = await session.get(Case, case_id)
            if case_row is None:
                raise NotFound(f"no case {case_id!r}")
            actions = list(await session.scalars(select(Action).where(Action.case_id == case_id)))
            apply, reject, status_after = self._decision_plan(case_row, actions, decision)
            now = self._clock()
            policy = self.policy
            for action in apply:
                action.status = ActionStatus.APPLIED
                action.shadow = False
                action.applied_at = now
                action.applied_by = actor
                self._publish(session, action, effects)
                AuditLog.append(session, actor=actor, action="action.apply", subject=f"account:{action.account_id}",
                                reason=reason, policy_version=action.policy_version,
                                detail=self._action_detail(action))
            for action in reject:
                action.status = ActionStatus.REJECTED
                AuditLog.append(session, actor=actor, action="action.reject", subject=f"account:{action.account_id}",
                                reason=reason, policy_version=action.policy_version,
                                detail=self._action_detail(action))
            before = case_row.status
            case_row.status = status_after
            case_row.updated_at = now
            if status_after in TERMINAL_CASE_STATUSES:
                case_row.closed_at = now
            self._summarize(case_row, actions)
            session.add(Decision(case_id=case_id, decision=decision, actor=actor, reason=reason,
                                 policy_version=policy.version, decided_at=now,
                                 detail={"applied": [a.action_id for a in apply],
                                         "rejected": [a.action_id for a in reject],
                                         "status_before": before, "status_after": status_after}))
            AuditLog.append(session, actor=actor, action=f"case.{decision}", subject=f"case:{case_id}", reason=reason,
                            policy_version=policy.version,
                            detail={"status_before": before, "status_after": status_after,
                                    "applied": len(apply), "rejected": len(reject)})
            await session.flush()
            result.append(CaseView.of(case_row))

        published = await self._run(work)
        return DecisionResult(case=result[0], actions=tuple(published))

    async def preview_reversal(self, action_id: str) -> ReversalPreview:
        async with self._sessions() as session:
            row = await session.get(Action, action_id)
            if row is None:
                raise NotFound(f"no action {action_id!r}")
            view = ActionView.of(row)
            others = await session.scalars(
                select(Action).where(
                    Action.account_id == row.account_id, Action.status == ActionStatus.APPLIED,
                    Action.shadow.is_(False), Action.action_id != action_id,
                )
            )
            after = VerdictIndex(max_accounts=1)
            for other in others:
                after.apply(self._active(other))
        refused = self._reversal_refusal(row)
        return ReversalPreview(
            action=view,
            verdict_before=_describe_verdict(self._verdicts.account_verdict(row.account_id)),
            verdict_after=_describe_verdict(after.account_verdict(row.account_id)),
            refused=refused,
        )

    async def reverse_action(
        self, action_id: str, *, reason: str, actor: str, appeal_id: str | None = None
    ) -> enforcement_pb2.EnforcementAction:
        """Undo an applied action: mark it reversed, record the reversal, and publish a RESTORE action that
        names it. The account's verdict falls back to its strongest remaining action, i.e. the state before
        this action was applied."""
        self._require(reason=reason, actor=actor)

        async def work(session: AsyncSession, effects: _Effects) -> None:
            action = await session.get(Action, action_id)
            if action is None:
                raise NotFound(f"no action {action_id!r}")
            await self._reverse(session, action, reason=reason, actor=actor, appeal_id=appeal_id, effects=effects)

        published = await self._run(work)
        return published[0]

    async def file_appeal(self, action_id: str, *, reason: str, filed_by: str) -> AppealView:
        self._require(reason=reason, actor=filed_by)
        views: list[AppealView] = []

        async def work(session: AsyncSession, effects: _Effects) -> None:
            action = await session.get(Action, action_id)
            if action is None:
                raise NotFound(f"no action {action_id!r}")
            if action.status != ActionStatus.APPLIED or action.kind == ActionKind.RESTORE:
                raise InvalidTransition(f"action {action_id} is {action.status}; only applied actions can be appealed")
            appeal = Appeal(appeal_id=str(uuid.uuid4()), action_id=action_id, account_id=action.account_id,
                            status=AppealStatus.OPEN, filed_by=filed_by, reason=reason, filed_at=self._clock())
            session.add(appeal)
            AuditLog.append(session, actor=filed_by, action="appeal.file", subject=f"account:{action.account_id}",
                            reason=reason, detail={"appeal_id": appeal.appeal_id, "action_id": action_id})
            await session.flush()
            views.append(AppealView.of(appeal))

        await self._run(work)
        return views[0]

    async def resolve_appeal(self, appeal_id: str, *, uphold: bool, reason: str, actor: str) -> AppealView:
        """Uphold (reverse the action, publishing RESTORE) or deny an open appeal."""
        self._require(reason=reason, actor=actor)
        views: list[AppealView] = []

        async def work(session: AsyncSession, effects: _Effects) -> None:
            appeal = await session.get(Appeal, appeal_id)
            if appeal is None:
                raise NotFound(f"no appeal {appeal_id!r}")
            if appeal.status != AppealStatus.OPEN:
                raise InvalidTransition(f"appeal {appeal_id} is already {appeal.status}")
            appeal.status = AppealStatus.UPHELD if uphold else AppealStatus.DENIED
            appeal.decided_by = actor
            appeal.decision_reason = reason
            appeal.decided_at = self._clock()
            if uphold:
                action = await session.get(Action, appeal.action_id)
                if action is None:  # pragma: no cover - foreign key
                    raise NotFound(f"no action {appeal.action_id!r}")
                await self._reverse(session, action, reason=reason, actor=actor, appeal_id=appeal_id,
                                    effects=effects)
            AuditLog.append(session, actor=actor, action="appeal.uphold" if uphold else "appeal.deny",
                            subject=f"account:{appeal.account_id}", reason=reason,
                            detail={"appeal_id": appeal_id, "action_id": appeal.action_id})
            await session.flush()
            views.append(AppealView.of(appeal))

        await self._run(work)
        return views[0]

    async def audit_log(self, query: AuditQuery | None = None) -> list[AuditEntryView]:
        async with self._sessions() as session:
            return [AuditEntryView.of(row) for row in await AuditLog.entries(session, query or AuditQuery())]

    async def rule_stats(self) -> dict[str, dict[str, int]]:
        """Per policy rule: how many actions are applied, proposed (review), reversed, rejected, and shadow."""
        stats: dict[str, dict[str, int]] = {}
        async with self._sessions() as session:
            rows = await session.execute(
                select(Action.policy_rule, Action.status, Action.shadow, func.count())
                .where(Action.kind != ActionKind.RESTORE)
                .group_by(Action.policy_rule, Action.status, Action.shadow)
            )
            for rule, status, shadow, count in rows:
                bucket = stats.setdefault(rule, {"applied": 0, "proposed": 0, "reversed": 0, "rejected": 0,
                                                 "shadow": 0})
                bucket["shadow" if shadow else status] += int(count)
        return stats

    # ======================================================================================== export

    async def export_decisions(self) -> AsyncIterator[dict[str, Any]]:
        """One record per account with any action, ordered by account_id:

        {"account_id", "action", "enforced", "first_enforced_at", "cluster_id", "score", "reasons",
        "policy_rule", "shadow"}. The reported action is, in this order of preference: the strongest enforcing
        (throttle or stronger) action in force; the strongest one awaiting review; an applied monitor; the
        strongest shadow proposal; else "monitor" (everything was rejected or reversed). enforced: a
        throttle-or-stronger action is applied, not shadow, not reversed; first_enforced_at: the earliest event
        time of the signals behind such actions (null when not enforced).
        """
        async with self._sessions() as session:
            clusters = dict(
                (await session.execute(select(Account.account_id, Account.cluster_id)
                                       .where(Account.cluster_id.is_not(None)))).tuples().all()
            )
            stream = await session.stream_scalars(
                select(Action).where(Action.kind != ActionKind.RESTORE).order_by(Action.account_id, Action.created_at)
            )
            current: list[Action] = []
            async for action in stream:
                if current and current[0].account_id != action.account_id:
                    yield self._export_record(current, clusters)
                    current = []
                current.append(action)
            if current:
                yield self._export_record(current, clusters)

    @staticmethod
    def _export_record(actions: list[Action], clusters: dict[str, str | None]) -> dict[str, Any]:
        strongest = _strongest
        live = [a for a in actions if not a.shadow]
        applied = [a for a in live if a.status == ActionStatus.APPLIED]
        enforcing = [a for a in applied if ActionKind(a.kind).enforces]
        chosen = (
            strongest(enforcing)
            or strongest([a for a in live if a.status == ActionStatus.PROPOSED])
            or strongest(applied)
            or strongest([a for a in actions if a.shadow and a.status == ActionStatus.PROPOSED])
        )
        account_id = actions[0].account_id
        first = min((a.signal_occurred_at or a.applied_at or a.created_at for a in enforcing), default=None)
        basis = chosen or actions[-1]
        return {
            "account_id": account_id,
            "action": basis.kind if chosen is not None else ActionKind.MONITOR.value,
            "enforced": bool(enforcing),
            "first_enforced_at": rfc3339(first),
            "cluster_id": basis.cluster_id or clusters.get(account_id),
            "score": basis.score,
            "reasons": list(basis.reason_codes),
            "policy_rule": basis.policy_rule,
            "shadow": bool(chosen is not None and chosen.shadow),
        }

    # ======================================================================================== internals: runs

    async def _run(
        self,
        work: Callable[[AsyncSession, _Effects], Awaitable[None]],
        *,
        signal_id: str | None = None,
    ) -> list[enforcement_pb2.EnforcementAction]:
        """Run `work` in one transaction under the process lock; on commit, update memory; return published."""
        effects = _Effects()
        async with self._lock:
            try:
                async with self._sessions.begin() as session:
                    await work(session, effects)
            except IntegrityError:
                # A concurrent delivery of the same signal (another process) won the insert: a duplicate.
                if signal_id is not None and await self._signal_known(signal_id):
                    return []
                raise
            for account_id, kind, value in effects.identifiers:
                self._verdicts.observe_identifiers(account_id, kind, value)
            for active in effects.applied:
                self._verdicts.apply(active)
            for account_id, action_id in effects.revoked:
                self._verdicts.revoke(account_id, action_id)
            if effects.policy is not None:
                self._policy.replace(effects.policy)
        return effects.published

    async def _signal_known(self, signal_id: str) -> bool:
        async with self._sessions() as session:
            return await session.get(Signal, signal_id) is not None

    async def _record_signal(self, session: AsyncSession, signal: Signal) -> bool:
        """Insert into the signal inbox; False if this signal_id was already handled."""
        if await session.get(Signal, signal.signal_id) is not None:
            return False
        session.add(signal)
        await session.flush()
        return True

    @staticmethod
    def _require(*, reason: str, actor: str) -> None:
        if not actor.strip():
            raise InvalidRequest("an actor is required")
        if not reason.strip():
            raise InvalidRequest("a reason is required")
        if len(reason) > 4000:
            raise InvalidRequest("reason longer than 4000 characters")

    async def _record_policy(self, session: AsyncSession, policy: Policy, *, actor: str, action: str) -> None:
        known = await session.scalar(select(PolicyVersion).where(PolicyVersion.version == policy.version))
        if known is not None and known.sha256 != policy.sha256:
            raise PolicyError(
                policy.source,
                [f"field 'version': {policy.version!r} was loaded before with different content "
                 f"(sha256 {known.sha256[:12]}, now {policy.sha256[:12]}); give the changed policy a new version"],
            )
        if known is None:
            session.add(PolicyVersion(version=policy.version, sha256=policy.sha256, yaml_text=policy.yaml_text,
                                      source=policy.source[:1024], loaded_by=actor, loaded_at=self._clock()))
        AuditLog.append(session, actor=actor, action=action, subject=f"policy:{policy.version}",
                        policy_version=policy.version,
                        detail={"sha256": policy.sha256, "source": policy.source, "rules": len(policy.document.rules),
                                "mode": policy.document.mode, "new": known is None})

    async def _audit_refusal(self, source: str, error: PolicyError, actor: str) -> None:
        async with self._sessions.begin() as session:
            AuditLog.append(session, actor=actor, action="policy.refuse", subject=f"policy-file:{source}"[:200],
                            reason=str(error)[:4000], policy_version=self.policy.version,
                            detail={"problems": list(error.problems)})

    async def _store_identifiers(
        self, session: AsyncSession, pairs: Sequence[tuple[str, str, str]], effects: _Effects
    ) -> None:
        unique = [(account_id, kind, value[:320]) for account_id, kind, value in dict.fromkeys(pairs) if value]
        if not unique:
            return
        now = self._clock()
        insert = _insert_for(session)
        for chunk in chunks(unique):
            rows = [{"account_id": a, "kind": k, "value": v, "first_seen_at": now} for a, k, v in chunk]
            await session.execute(insert(AccountIdentifier).values(rows).on_conflict_do_nothing())
        effects.identifiers.extend(unique)

    # ======================================================================================== internals: triggers

    def _risk_trigger(self, signal: ratepattern_pb2.RiskSignal, context: SignalContext) -> _Trigger:
        if not signal.signal_id or len(signal.signal_id) > 200:
            raise InvalidSignal("risk signal needs a signal_id of at most 200 characters")
        if not math.isfinite(signal.score) or not 0.0 <= signal.score <= 1.0:
            raise InvalidSignal(f"risk signal {signal.signal_id}: score {signal.score} is not in [0, 1]")
        occurred = _when(signal.occurred_at, f"risk signal {signal.signal_id}")
        reasons = _reason_dicts(signal.reasons)
        if signal.subject_kind == ratepattern_pb2.SUBJECT_KIND_ACCOUNT:
            if not signal.account_id:
                raise InvalidSignal(f"account risk signal {signal.signal_id} without account_id")
            subject: Literal["account", "cluster"] = "account"
        elif signal.subject_kind == ratepattern_pb2.SUBJECT_KIND_CLUSTER:
            if not signal.cluster_id:
                raise InvalidSignal(f"cluster risk signal {signal.signal_id} without cluster_id")
            subject = "cluster"
        else:
            raise InvalidSignal(f"risk signal {signal.signal_id} has no subject_kind")
        members = _unique(signal.members)
        return _Trigger(
            signal_id=signal.signal_id, source="risk", subject=subject, account_id=signal.account_id or None,
            cluster_id=signal.cluster_id or None, score=float(signal.score), reasons=reasons, members=members,
            occurred_at=occurred, evidence_kind="risk_signal", actor=context.actor,
            payload={
                "signal_id": signal.signal_id, "source": context.source, "subject": subject,
                "account_id": signal.account_id, "cluster_id": signal.cluster_id, "score": signal.score,
                "reasons": list(reasons), "members": list(members[:200]), "member_count": len(members),
                "window_requests": signal.window_requests, "occurred_at": rfc3339(occurred),
            },
        )

    def _note_account_score(self, scope: DecisionScope, trigger: _Trigger) -> None:
        assert trigger.account_id is not None
        account = scope.account(trigger.account_id, self._clock())
        if account.last_signal_at is None or trigger.occurred_at >= account.last_signal_at:
            account.last_score = trigger.score
            account.last_reasons = list(trigger.reasons)
            account.last_signal_at = trigger.occurred_at
            if trigger.cluster_id and not account.cluster_id:
                account.cluster_id = trigger.cluster_id
            account.updated_at = self._clock()

    async def _external(
        self,
        scope: DecisionScope,
        effects: _Effects,
        *,
        signal_id: str,
        source: str,
        account_id: str,
        kind: str,
        occurred_at: datetime,
        detail: str,
        actor: str,
    ) -> None:
        session = scope.session
        if not await self._record_signal(
            session,
            Signal(signal_id=signal_id, source=source, kind=kind, account_id=account_id, occurred_at=occurred_at,
                   received_at=self._clock(), detail={"detail": detail}),
        ):
            return
        if source == "external":
            AuditLog.append(session, actor=actor, action="signal.external", subject=f"account:{account_id}",
                            reason=detail, policy_version=self.policy.version,
                            detail={"signal_id": signal_id, "kind": kind, "occurred_at": rfc3339(occurred_at)})
        await scope.load([account_id])
        scope.note_external(account_id, kind)
        account = scope.stored_account(account_id)
        trigger = _Trigger(
            signal_id=signal_id, source=source, subject="account", account_id=account_id,
            cluster_id=account.cluster_id if account else None,
            score=float(account.last_score or 0.0) if account else 0.0,
            reasons=tuple(account.last_reasons) if account else (), members=(), occurred_at=occurred_at,
            evidence_kind="external_signal", actor=POLICY_ACTOR,
            payload={"signal_id": signal_id, "source": source, "kind": kind, "detail": detail,
                     "account_id": account_id, "reported_by": actor, "occurred_at": rfc3339(occurred_at)},
        )
        await self._act_on(scope, trigger, effects)

    async def _grow_cluster_cases(
        self,
        scope: DecisionScope,
        update: identity_pb2.ClusterUpdate,
        members: tuple[str, ...],
        cluster_ids: list[str],
        occurred: datetime,
        effects: _Effects,
    ) -> None:
        cases = list(
            await scope.session.scalars(
                select(Case).where(
                    Case.subject_kind == SubjectKind.CLUSTER,
                    Case.subject_id.in_(cluster_ids),
                    Case.status.in_([CaseStatus.REVIEW, CaseStatus.ESCALATED, CaseStatus.ENFORCED,
                                     CaseStatus.APPROVED]),
                ).order_by(Case.opened_at)
            )
        )
        for case_row in cases:
            covered = {a.account_id for a in await scope.case_actions(case_row.case_id)}
            newcomers = tuple(m for m in members if m not in covered)
            if not newcomers:
                continue
            signal_id = f"cluster:{update.cluster_id}:v{update.version}:{case_row.case_id}"
            trigger = _Trigger(
                signal_id=signal_id, source="cluster", subject="cluster", account_id=None,
                cluster_id=update.cluster_id, score=case_row.score, reasons=tuple(case_row.reasons), members=members,
                occurred_at=occurred, evidence_kind="cluster_update", actor=POLICY_ACTOR, targets=newcomers,
                case_id=case_row.case_id,
                payload={"cluster_id": update.cluster_id, "version": update.version,
                         "added_members": list(update.added_members)[:200], "newcomers": list(newcomers[:200]),
                         "member_count": len(members), "absorbed_cluster_ids": list(update.absorbed_cluster_ids),
                         "evidence": {e.kind: int(e.count) for e in update.evidence_summary},
                         "occurred_at": rfc3339(occurred)},
            )
            await self._act_on(scope, trigger, effects)

    async def _set_membership(
        self, session: AsyncSession, cluster_id: str, members: tuple[str, ...], removed: tuple[str, ...]
    ) -> None:
        now = self._clock()
        insert = _insert_for(session)
        for chunk in chunks(members):
            already = set(
                await session.scalars(
                    select(Account.account_id).where(Account.account_id.in_(chunk), Account.cluster_id == cluster_id)
                )
            )
            rows = [{"account_id": m, "cluster_id": cluster_id, "last_reasons": [], "updated_at": now}
                    for m in chunk if m not in already]
            if rows:
                stmt = insert(Account).values(rows)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[Account.account_id],
                    set_={"cluster_id": stmt.excluded.cluster_id, "updated_at": stmt.excluded.updated_at},
                )
                await session.execute(stmt)
        for chunk in chunks([r for r in removed if r not in set(members)]):
            accounts = await session.scalars(
                select(Account).where(Account.account_id.in_(chunk), Account.cluster_id == cluster_id)
            )
            for account in accounts:
                account.cluster_id = None
                account.updated_at = now

    # ======================================================================================== internals: deciding

    @staticmethod
    def _facts(trigger: _Trigger, known: Known, cluster_size: int, evidence: frozenset[str]) -> Facts:
        return Facts(
            subject=trigger.subject,
            score=trigger.score,
            reasons={str(r["feature"]): float(r.get("value") or 0.0) for r in trigger.reasons},
            cluster_size=cluster_size,
            evidence_kinds=evidence,
            signup_path=known.signup_path,
            verification=known.verification,
            org_id=known.org_id,
            paying=known.revenue_cents > 0,
            external_signals=known.external,
        )

    def _plan(
        self,
        policy: Policy,
        account_id: str,
        evaluation: Evaluation,
        facts: Facts,
        history: History,
        *,
        cluster_wide: Callable[[Rule], bool],
    ) -> list[_Plan]:
        """Decide what to record for one account: the decision (applied, or proposed if held), a weaker unheld
        fallback when it is held, and the shadow decision."""
        plans: list[_Plan] = []
        account_reasons = guardrails.account_holds(policy.guard_rails, facts)
        ceiling: Strength | None = None
        for rule in evaluation.live:
            strength = rule.strength
            if ceiling is not None and strength >= ceiling:
                continue  # only a weaker rule can stand in for a held one
            if history.active is not None and strength <= history.active:
                break  # already enforced at least this strongly; weaker rules are moot
            if rule.kind.enforces and history.suppressed is not None and strength <= history.suppressed:
                break  # a human undid this (or stronger) on this account: never re-apply it automatically
            reasons = list(account_reasons) if rule.kind.enforces else []
            if rule.kind.enforces and history.suppressed is not None:
                reasons.append(guardrails.PRIOR_HUMAN_DECISION)
            holds = guardrails.holds_for(
                policy.guard_rails, rule.kind, account_reasons=reasons, cluster_wide=cluster_wide(rule),
                cluster_size=facts.cluster_size,
            )
            if holds:
                # Only the decision itself is proposed; weaker held rules are not stacked up for review.
                if ceiling is None and (history.pending is None or strength > history.pending):
                    plans.append(_Plan(account_id, rule, False, ActionStatus.PROPOSED, tuple(holds), facts,
                                       cluster_wide(rule)))
                ceiling = strength if ceiling is None else min(ceiling, strength)
                continue
            plans.append(_Plan(account_id, rule, False, ActionStatus.APPLIED, (), facts, cluster_wide(rule)))
            break
        shadow_rule = evaluation.shadow_decision
        if shadow_rule is not None:
            recorded = history.shadow.get(shadow_rule.name)
            live_strength = history.active
            for plan in plans:
                live_strength = stronger(live_strength, plan.rule.strength)
            # Recorded only where the shadow rule would do more than the live policy does (or did).
            if (
                (recorded is None or shadow_rule.strength > recorded)
                and (live_strength is None or shadow_rule.strength > live_strength)
                and (history.suppressed is None or shadow_rule.strength > history.suppressed)
            ):
                would_hold = guardrails.holds_for(
                    policy.guard_rails, shadow_rule.kind, account_reasons=account_reasons,
                    cluster_wide=cluster_wide(shadow_rule), cluster_size=facts.cluster_size,
                )
                plans.append(_Plan(account_id, shadow_rule, True, ActionStatus.PROPOSED, tuple(would_hold), facts,
                                   cluster_wide(shadow_rule)))
        return plans

    async def _act_on(self, scope: DecisionScope, trigger: _Trigger, effects: _Effects) -> None:
        policy = self.policy
        as_of = trigger.occurred_at
        if trigger.subject == "cluster":
            cluster = await scope.cluster(trigger.cluster_id)
            members = trigger.members or (tuple(cluster.members) if cluster else ())
            cluster_size = len(members) if trigger.members else (cluster.size if cluster else 0)
            cluster_id = trigger.cluster_id
            targets = trigger.targets if trigger.targets is not None else members
        else:
            assert trigger.account_id is not None
            await scope.load([trigger.account_id])
            own = scope.known(trigger.account_id, as_of)
            cluster = await scope.cluster(trigger.cluster_id or own.cluster_id)
            members = tuple(cluster.members) if cluster else ()
            cluster_size = max(cluster.size, 1) if cluster else 1
            cluster_id = cluster.cluster_id if cluster else trigger.cluster_id
            targets = (trigger.account_id,)
        if not targets:
            return
        evidence = frozenset(k for k, count in (cluster.evidence if cluster else {}).items() if count > 0)
        await scope.load(targets)
        is_cluster_signal = trigger.subject == "cluster"

        def wide(rule: Rule) -> bool:
            return is_cluster_signal or (rule.scope == "cluster" and len(members) > 1)

        plans: list[_Plan] = []
        for account_id in targets:
            facts = self._facts(trigger, scope.known(account_id, as_of), cluster_size, evidence)
            plans += self._plan(policy, account_id, policy.evaluate(facts), facts, scope.history(account_id),
                                cluster_wide=wide)
        if not is_cluster_signal and trigger.account_id is not None and len(members) > 1:
            # scope: cluster rules that matched the account act on its cluster's other members too.
            own_facts = self._facts(trigger, scope.known(trigger.account_id, as_of), cluster_size, evidence)
            evaluation = policy.evaluate(own_facts)
            scoped_live = [r for r in evaluation.live if r.scope == "cluster"]
            scoped_shadow = [r for r in evaluation.shadow if r.scope == "cluster"]
            others = [m for m in members if m != trigger.account_id]
            if (scoped_live or scoped_shadow) and others:
                await scope.load(others)
                for account_id in others:
                    facts = self._facts(trigger, scope.known(account_id, as_of), cluster_size, evidence)
                    member_evaluation = Evaluation(
                        live=tuple(r for r in scoped_live if r.matches(facts)),
                        shadow=tuple(r for r in scoped_shadow if r.matches(facts)),
                    )
                    plans += self._plan(policy, account_id, member_evaluation, facts, scope.history(account_id),
                                        cluster_wide=lambda rule: True)
        if not plans:
            return
        groups: dict[tuple[str, str], list[_Plan]] = {}
        for plan in plans:
            if guardrails.ACCOUNT_HOLDS.intersection(plan.review_reasons) and not plan.shadow:
                key = (SubjectKind.ACCOUNT.value, plan.account_id)
            elif trigger.case_id is not None:
                key = ("case", trigger.case_id)
            elif plan.cluster_wide and cluster_id:
                key = (SubjectKind.CLUSTER.value, cluster_id)
            else:
                key = (SubjectKind.ACCOUNT.value, plan.account_id)
            groups.setdefault(key, []).append(plan)
        for key, group in groups.items():
            await self._record_plans(scope, policy, trigger, key, group, cluster_id, cluster_size, cluster, effects)

    async def _case_for(
        self, scope: DecisionScope, key: tuple[str, str], trigger: _Trigger, cluster_id: str | None
    ) -> tuple[Case, bool]:
        kind, subject_id = key
        if kind == "case":
            return await scope.case_row(subject_id), False
        row = await scope.active_case(kind, subject_id)
        if row is not None:
            return row, False
        now = self._clock()
        row = Case(
            case_id=str(uuid.uuid4()), status=CaseStatus.OPEN, subject_kind=kind, subject_id=subject_id,
            cluster_id=cluster_id, score=trigger.score, proposed_action=ActionKind.MONITOR, policy_rule="",
            policy_version=self.policy.version, shadow=False, cluster_size=0, reasons=list(trigger.reasons),
            blast_radius={}, review_reasons=[], opened_at=now, updated_at=now,
        )
        await scope.new_case(row)
        return row, True

    async def _record_plans(
        self,
        scope: DecisionScope,
        policy: Policy,
        trigger: _Trigger,
        key: tuple[str, str],
        plans: list[_Plan],
        cluster_id: str | None,
        cluster_size: int,
        cluster: Cluster | None,
        effects: _Effects,
    ) -> None:
        case_row, is_new = await self._case_for(scope, key, trigger, cluster_id)
        now = self._clock()
        for plan in plans:
            known = scope.known(plan.account_id, trigger.occurred_at)
            idempotency_key = (
                f"{trigger.source}:{trigger.signal_id}:{plan.account_id}:{plan.rule.name}"
                f"{':shadow' if plan.shadow else ''}"
            )
            action = Action(
                action_id=_action_id(idempotency_key), idempotency_key=idempotency_key, case_id=case_row.case_id,
                account_id=plan.account_id, cluster_id=cluster_id or known.cluster_id, kind=plan.rule.action,
                rpm_cap=plan.rule.rpm_cap, shadow=plan.shadow, status=plan.status, score=trigger.score,
                signal_id=trigger.signal_id, signal_occurred_at=trigger.occurred_at, policy_version=policy.version,
                policy_rule=plan.rule.name, reason_codes=_reason_codes(plan.rule, plan.facts, trigger.reasons),
                blast_radius={"accounts": 1, "paying_accounts": int(known.revenue_cents > 0),
                              "revenue_cents": known.revenue_cents},
                review_reasons=list(plan.review_reasons), created_at=now,
                applied_at=now if plan.status == ActionStatus.APPLIED else None,
                applied_by=trigger.actor if plan.status == ActionStatus.APPLIED else None,
            )
            await scope.add_action(action)
            verb = "action.shadow" if plan.shadow else (
                "action.apply" if plan.status == ActionStatus.APPLIED else "action.propose"
            )
            scope.audit_rows.append(AuditLog.values(
                actor=trigger.actor, action=verb, subject=f"account:{plan.account_id}",
                reason=plan.rule.description or f"rule {plan.rule.name} matched", policy_version=policy.version,
                detail=self._action_detail(action), at=now,
            ))
            if plan.status == ActionStatus.APPLIED:
                message = self._message(action, effects)
                scope.outbox_rows.append(outbox_values(self._actions_topic, action.account_id, message))
        case_row.score = trigger.score
        case_row.reasons = list(trigger.reasons)
        case_row.cluster_size = max(cluster_size, 1)  # the cluster the decision saw (1: no cluster)
        case_row.cluster_id = case_row.cluster_id or cluster_id
        case_row.updated_at = now
        scope.evidence_rows.append({
            "case_id": case_row.case_id, "kind": trigger.evidence_kind, "source_id": trigger.signal_id,
            "captured_at": now, "payload": {**trigger.payload, "cluster": self._cluster_snapshot(cluster)},
        })
        live = [p for p in plans if not p.shadow]
        if any(p.status == ActionStatus.PROPOSED for p in live):
            decision = "auto_review"
        elif any(p.rule.kind.enforces for p in live):
            decision = "auto_enforce"
        elif live:
            decision = "auto_monitor"
        else:
            decision = "auto_shadow"
        counts: dict[str, int] = {}
        for plan in plans:
            label = f"{plan.rule.name}{' (shadow)' if plan.shadow else ''}"
            counts[label] = counts.get(label, 0) + 1
        summary = ", ".join(f"{label}: {count} account(s)" for label, count in counts.items())
        scope.decision_rows.append({
            "case_id": case_row.case_id, "decision": decision, "actor": trigger.actor,
            "reason": f"{summary} (score {trigger.score:.3f}, cluster size {cluster_size})",
            "policy_version": policy.version, "decided_at": now,
            "detail": {"signal_id": trigger.signal_id, "rules": counts,
                       "review_reasons": sorted({r for p in live for r in p.review_reasons})},
        })
        scope.touch(case_row, is_new=is_new, as_of=trigger.occurred_at, signal_id=trigger.signal_id,
                    actor=trigger.actor, summary=summary, policy_version=policy.version)

    async def _finish(self, scope: DecisionScope) -> None:
        """Summarise every case the transaction touched (status, headline action, blast radius, audit), then
        write the buffered rows."""
        touched = [(await scope.case_row(case_id), await scope.case_actions(case_id), touch)
                   for case_id, touch in scope.touched.items()]
        for case_row, actions, touch in touched:
            case_row.status = _derive_status(touch.before, _states(actions), human=False)
            self._summarize(case_row, actions)
        radius = {case_row.case_id: _radius_accounts(case_row, actions) for case_row, actions, _ in touched}
        await scope.load(account for accounts in radius.values() for account in accounts)
        for case_row, _, touch in touched:
            case_row.blast_radius = self._radius_of(scope, radius[case_row.case_id], touch.as_of)
            detail = {"signal_id": touch.signal_id, "status_before": touch.before, "status_after": case_row.status}
            if touch.is_new:
                scope.audit_rows.append(AuditLog.values(
                    actor=touch.actor, action="case.open", subject=f"case:{case_row.case_id}", reason=touch.summary,
                    policy_version=touch.policy_version,
                    detail={**detail, "subject_kind": case_row.subject_kind, "subject_id": case_row.subject_id,
                            "status": case_row.status},
                ))
            elif case_row.status != touch.before:
                scope.audit_rows.append(AuditLog.values(
                    actor=touch.actor, action="case.status", subject=f"case:{case_row.case_id}",
                    reason=touch.summary, policy_version=touch.policy_version, detail=detail,
                ))
        scope.touched.clear()
        await scope.write_pending()

    def _radius_of(self, scope: DecisionScope, accounts: Sequence[str], as_of: datetime) -> dict[str, Any]:
        revenue = [scope.known(account, as_of).revenue_cents for account in accounts]
        return {
            "accounts": len(accounts),
            "paying_accounts": sum(1 for cents in revenue if cents > 0),
            "revenue_cents": sum(revenue),
            "window_days": self._revenue_window.days,
            "as_of": rfc3339(as_of),
        }

    @staticmethod
    def _cluster_snapshot(cluster: Cluster | None) -> dict[str, Any] | None:
        if cluster is None:
            return None
        return {"cluster_id": cluster.cluster_id, "version": cluster.version, "size": cluster.size,
                "org_count": cluster.org_count, "evidence": dict(cluster.evidence)}

    @staticmethod
    def _summarize(case_row: Case, actions: Sequence[Action]) -> None:
        headline = _headline(actions)
        if headline is not None:
            case_row.proposed_action = headline.kind
            case_row.rpm_cap = headline.rpm_cap
            case_row.policy_rule = headline.policy_rule
            case_row.policy_version = headline.policy_version
        live = [a for a in actions if not a.shadow and a.kind != ActionKind.RESTORE]
        case_row.shadow = not live and any(a.shadow for a in actions)
        case_row.review_reasons = sorted({
            r for a in live if a.status == ActionStatus.PROPOSED for r in a.review_reasons
        })

    async def _blast_radius(self, session: AsyncSession, accounts: Sequence[str], as_of: datetime) -> dict[str, Any]:
        """How many accounts an action set covers, how many pay, and their revenue in the trailing window."""
        revenue: dict[str, int] = {}
        since = as_of - self._revenue_window
        for chunk in chunks(list(accounts)):
            rows = await session.execute(
                select(
                    Payment.account_id,
                    func.sum(
                        case(
                            (Payment.kind == "charge_succeeded", Payment.amount_cents),
                            (Payment.kind.in_(["refund", "chargeback"]), -Payment.amount_cents),
                            else_=0,
                        )
                    ),
                )
                .where(Payment.account_id.in_(chunk), Payment.occurred_at > since, Payment.occurred_at <= as_of)
                .group_by(Payment.account_id)
            )
            for account_id, cents in rows:
                revenue[account_id] = max(0, int(cents or 0))
        return {
            "accounts": len(accounts),
            "paying_accounts": sum(1 for cents in revenue.values() if cents > 0),
            "revenue_cents": sum(revenue.values()),
            "window_days": self._revenue_window.days,
            "as_of": rfc3339(as_of),
        }

    # ======================================================================================== internals: humans

    def _decision_plan(
        self, case_row: Case, actions: list[Action], decision: Decided
    ) -> tuple[list[Action], list[Action], CaseStatus]:
        """(actions to apply, actions to reject, status after) for a human decision; InvalidTransition if the
        case cannot take it."""
        status = CaseStatus(case_row.status)
        if status in TERMINAL_CASE_STATUSES:
            raise InvalidTransition(f"case {case_row.case_id} is {status}; it cannot be {decision}d")
        live_pending = [a for a in actions if not a.shadow and a.status == ActionStatus.PROPOSED]
        shadow_pending = [a for a in actions if a.shadow and a.status == ActionStatus.PROPOSED]
        if decision == "escalate":
            if status == CaseStatus.ESCALATED:
                raise InvalidTransition(f"case {case_row.case_id} is already escalated")
            return [], [], CaseStatus.ESCALATED
        if decision == "approve":
            apply = live_pending or (shadow_pending if case_row.shadow else [])
            if not apply and status not in (CaseStatus.OPEN, CaseStatus.PROPOSED, CaseStatus.REVIEW,
                                             CaseStatus.ESCALATED):
                raise InvalidTransition(f"case {case_row.case_id} has nothing awaiting approval")
            after = _simulate(actions, apply, ActionStatus.APPLIED)
            derived = _derive_status(status, after, human=True)
            if derived in (CaseStatus.OPEN, CaseStatus.PROPOSED, CaseStatus.ESCALATED, CaseStatus.REVIEW):
                derived = CaseStatus.APPROVED
            return apply, [], derived
        reject = live_pending + shadow_pending
        applied_enforcing = [a for a in actions if not a.shadow and a.status == ActionStatus.APPLIED
                             and ActionKind(a.kind).enforces]
        if not reject and applied_enforcing:
            raise InvalidTransition(
                f"case {case_row.case_id} has applied actions and nothing pending; reverse the actions instead"
            )
        after = _simulate(actions, reject, ActionStatus.REJECTED)
        derived = _derive_status(status, after, human=True)
        if derived != CaseStatus.ENFORCED:
            derived = CaseStatus.REJECTED
        return [], reject, derived

    @staticmethod
    def _reversal_refusal(action: Action) -> str | None:
        if action.kind == ActionKind.RESTORE:
            return "a restore action cannot be reversed"
        if action.status != ActionStatus.APPLIED:
            return f"action {action.action_id} is {action.status}; only applied actions can be reversed"
        return None

    async def _reverse(
        self,
        session: AsyncSession,
        action: Action,
        *,
        reason: str,
        actor: str,
        appeal_id: str | None,
        effects: _Effects,
    ) -> None:
        refusal = self._reversal_refusal(action)
        if refusal is not None:
            raise InvalidTransition(refusal)
        now = self._clock()
        policy = self.policy
        action.status = ActionStatus.REVERSED
        action.reversed_at = now
        key = f"restore:{action.action_id}"
        restore = Action(
            action_id=_action_id(key), idempotency_key=key, case_id=action.case_id, account_id=action.account_id,
            cluster_id=action.cluster_id, kind=ActionKind.RESTORE, rpm_cap=None, shadow=False,
            status=ActionStatus.APPLIED, score=action.score, signal_id=None, signal_occurred_at=None,
            policy_version=policy.version, policy_rule=action.policy_rule, reason_codes=["reversal"],
            blast_radius={}, review_reasons=[], reverses_action_id=action.action_id, created_at=now,
            applied_at=now, applied_by=actor,
        )
        session.add(restore)
        await session.flush()
        session.add(Reversal(action_id=action.action_id, restore_action_id=restore.action_id, appeal_id=appeal_id,
                             actor=actor, reason=reason, reversed_at=now))
        self._publish(session, restore, effects)
        effects.revoked.append((action.account_id, action.action_id))
        case_row = await session.get(Case, action.case_id)
        assert case_row is not None
        before = case_row.status
        actions = list(await session.scalars(select(Action).where(Action.case_id == action.case_id)))
        case_row.status = _derive_status(before, _states(actions), human=True)
        case_row.updated_at = now
        if case_row.status in TERMINAL_CASE_STATUSES:
            case_row.closed_at = now
        self._summarize(case_row, actions)
        session.add(Decision(case_id=action.case_id, decision="reverse", actor=actor, reason=reason,
                             policy_version=policy.version, decided_at=now,
                             detail={"action_id": action.action_id, "restore_action_id": restore.action_id,
                                     "appeal_id": appeal_id, "status_before": before,
                                     "status_after": case_row.status}))
        AuditLog.append(session, actor=actor, action="action.reverse", subject=f"account:{action.account_id}",
                        reason=reason, policy_version=policy.version,
                        detail={**self._action_detail(action), "restore_action_id": restore.action_id,
                                "appeal_id": appeal_id, "case_status_after": case_row.status})

    # ======================================================================================== internals: output

    def _publish(self, session: AsyncSession, action: Action, effects: _Effects) -> None:
        enqueue(session, self._actions_topic, action.account_id, self._message(action, effects))

    def _message(self, action: Action, effects: _Effects) -> bytes:
        """The enforcement.actions payload of an applied action; noted in `effects` for after the commit."""
        message = action_proto(action)
        effects.published.append(message)
        if not action.shadow and ActionKind(action.kind).enforces:
            effects.applied.append(self._active(action))
        return message.SerializeToString(deterministic=True)

    @staticmethod
    def _active(action: Action) -> ActiveAction:
        return ActiveAction(action.action_id, action.account_id, ActionKind(action.kind), action.rpm_cap,
                            tuple(action.reason_codes))

    @staticmethod
    def _action_detail(action: Action) -> dict[str, Any]:
        return {
            "action_id": action.action_id, "case_id": action.case_id, "kind": action.kind,
            "rpm_cap": action.rpm_cap, "shadow": action.shadow, "status": action.status,
            "policy_rule": action.policy_rule, "signal_id": action.signal_id,
            "review_reasons": list(action.review_reasons), "blast_radius": dict(action.blast_radius),
        }

    @staticmethod
    def _case_conditions(filters: CaseFilter) -> list[Any]:
        conditions: list[Any] = []
        if filters.status is not None:
            statuses = [filters.status] if isinstance(filters.status, str) else list(filters.status)
            conditions.append(Case.status.in_(statuses))
        if filters.proposed_action is not None:
            conditions.append(Case.proposed_action == filters.proposed_action)
        if filters.min_cluster_size is not None:
            conditions.append(Case.cluster_size >= filters.min_cluster_size)
        if filters.max_cluster_size is not None:
            conditions.append(Case.cluster_size <= filters.max_cluster_size)
        if filters.min_score is not None:
            conditions.append(Case.score >= filters.min_score)
        if filters.max_score is not None:
            conditions.append(Case.score <= filters.max_score)
        if filters.policy_rule is not None:
            conditions.append(Case.policy_rule == filters.policy_rule)
        if filters.shadow is not None:
            conditions.append(Case.shadow.is_(filters.shadow))
        if filters.subject_kind is not None:
            conditions.append(Case.subject_kind == filters.subject_kind)
        if filters.subject_id is not None:
            conditions.append(Case.subject_id == filters.subject_id)
        if filters.cluster_id is not None:
            conditions.append(Case.cluster_id == filters.cluster_id)
        if filters.account_id is not None:
            conditions.append(
                or_(
                    and_(Case.subject_kind == SubjectKind.ACCOUNT, Case.subject_id == filters.account_id),
                    Case.case_id.in_(select(Action.case_id).where(Action.account_id == filters.account_id)),
                )
            )
        return conditions


def _radius_accounts(case_row: Case, actions: Sequence[Action]) -> list[str]:
    """Accounts a case restricts or proposes to restrict (throttle or stronger; shadow ones for a shadow case).
    Monitoring restricts nobody, so it is not part of the blast radius."""
    return sorted({
        a.account_id for a in actions
        if ActionKind(a.kind).enforces and a.shadow == case_row.shadow
        and a.status in (ActionStatus.APPLIED, ActionStatus.PROPOSED)
    })


def _simulate(actions: list[Action], changed: list[Action], status: ActionStatus) -> list[_State]:
    """The states of `actions` once `changed` ones are in `status` (rows are not touched)."""
    ids = {a.action_id for a in changed}
    return [
        _State(a.kind, status, False if status == ActionStatus.APPLIED else a.shadow)
        if a.action_id in ids
        else _State(a.kind, a.status, a.shadow)
        for a in actions
    ]


__all__ = [
    "ACTION_NAMESPACE", "DomainError", "EnforcementDomain", "InvalidRequest", "InvalidSignal", "InvalidTransition",
    "NotFound", "SignalContext",
]
