"""The working set of one decision transaction.

Deciding about a signal needs each covered account's facts (signup, revenue, external signals), its action
history, its cluster and the case the decision lands in. `DecisionScope` loads these in bulk, once per
transaction (a whole batch of signals shares one), and keeps them current as the transaction adds actions, so
a signal that changes nothing costs no queries of its own beyond the batch's.

It is only valid inside one transaction under the domain's process lock: it assumes nothing else changes these
rows meanwhile (other processes only ever add signals, which the signal inbox deduplicates).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from distillguard.casestore.audit import AuditLog
from distillguard.casestore.models import (
    Account,
    Action,
    ActionKind,
    ActionStatus,
    Case,
    CaseStatus,
    Cluster,
    Decision,
    EvidenceSnapshot,
    Payment,
    Signal,
    SubjectKind,
)
from enforcement.domain.outbox import enqueue_all
from enforcement.domain.policy import action_strength

CHUNK: Final = 500
ACTIVE_CASE_STATUSES: Final = (
    CaseStatus.OPEN, CaseStatus.PROPOSED, CaseStatus.REVIEW, CaseStatus.ESCALATED, CaseStatus.APPROVED,
    CaseStatus.ENFORCED,
)
#: Billing kinds and their sign in revenue.
REVENUE_SIGN: Final = {"charge_succeeded": 1, "refund": -1, "chargeback": -1}

Strength = tuple[int, int]
T = TypeVar("T")


def chunks(items: Sequence[T]) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def stronger(a: Strength | None, b: Strength) -> Strength:
    return b if a is None or b > a else a


@dataclass(frozen=True)
class Known:
    """An account's stored facts as of a trigger's event time."""

    signup_path: str | None = None
    verification: str | None = None
    org_id: str | None = None
    cluster_id: str | None = None
    revenue_cents: int = 0
    external: frozenset[str] = frozenset()


@dataclass
class History:
    """Strongest actions on one account by state (None: no such action)."""

    active: Strength | None = None
    pending: Strength | None = None
    #: Strongest throttle-or-stronger action a human rejected or reversed.
    suppressed: Strength | None = None
    #: rule -> strongest shadow proposal recorded (proposed, or rejected by a human).
    shadow: dict[str, Strength] = field(default_factory=dict)

    def add(self, kind: ActionKind, rpm_cap: int | None, status: str, shadow: bool, rule: str) -> None:
        strength = action_strength(kind, rpm_cap)
        if kind is ActionKind.RESTORE:
            return
        if shadow:
            if status in (ActionStatus.PROPOSED, ActionStatus.REJECTED):
                self.shadow[rule] = stronger(self.shadow.get(rule), strength)
            return
        if status == ActionStatus.APPLIED:
            self.active = stronger(self.active, strength)
        elif status == ActionStatus.PROPOSED:
            self.pending = stronger(self.pending, strength)
        elif kind.enforces:  # rejected or reversed by a human
            self.suppressed = stronger(self.suppressed, strength)


@dataclass
class CaseTouch:
    """What a transaction did to a case, to summarise it once at the end."""

    before: str
    is_new: bool
    as_of: datetime
    signal_id: str
    actor: str
    summary: str
    policy_version: str


class DecisionScope:
    def __init__(self, session: AsyncSession, revenue_window: timedelta) -> None:
        self.session = session
        self._window = revenue_window
        self._accounts: dict[str, Account | None] = {}
        self._payments: dict[str, list[tuple[str, int, datetime]]] = {}
        self._external: dict[str, set[str]] = {}
        self._history: dict[str, History] = {}
        self._clusters: dict[str, Cluster | None] = {}
        self._cases: dict[tuple[str, str], Case | None] = {}
        self._case_actions: dict[str, list[Action]] = {}
        self._case_rows: dict[str, Case] = {}
        self.touched: dict[str, CaseTouch] = {}
        # Rows nobody reads back in this transaction, written in one statement per table by `write_pending`
        # (the ORM would insert rows with autoincrement keys one by one on SQLite).
        self.audit_rows: list[dict[str, Any]] = []
        self.outbox_rows: list[dict[str, Any]] = []
        self.decision_rows: list[dict[str, Any]] = []
        self.evidence_rows: list[dict[str, Any]] = []

    # ------------------------------------------------------------------------------------------ accounts

    async def load(self, account_ids: Iterable[str]) -> None:
        """Fetch facts and history of the accounts not loaded yet (a handful of queries per 500 accounts)."""
        missing = [a for a in dict.fromkeys(account_ids) if a and a not in self._accounts]
        if not missing:
            return
        for account_id in missing:
            self._accounts[account_id] = None
            self._payments[account_id] = []
            self._external[account_id] = set()
            self._history[account_id] = History()
        session = self.session
        for chunk in chunks(missing):
            for row in await session.scalars(select(Account).where(Account.account_id.in_(chunk))):
                self._accounts[row.account_id] = row
            payments = await session.execute(
                select(Payment.account_id, Payment.kind, Payment.amount_cents, Payment.occurred_at).where(
                    Payment.account_id.in_(chunk), Payment.kind.in_(list(REVENUE_SIGN))
                )
            )
            for account_id, kind, cents, occurred_at in payments:
                self._payments[account_id].append((kind, int(cents), occurred_at))
            external = await session.execute(
                select(Signal.account_id, Signal.kind)
                .where(Signal.account_id.in_(chunk), Signal.source.in_(["external", "billing"]))
                .distinct()
            )
            for account_id, kind in external:
                if account_id is not None:
                    self._external[account_id].add(kind)
            history = await session.execute(
                select(Action.account_id, Action.kind, Action.rpm_cap, Action.status, Action.shadow,
                       Action.policy_rule).where(Action.account_id.in_(chunk))
            )
            for account_id, kind, rpm_cap, status, shadow, rule in history:
                self._history[account_id].add(ActionKind(kind), rpm_cap, status, shadow, rule)
            # Each account's open case, and that case's actions, so deciding needs no query per signal.
            for account_id in chunk:
                self._cases.setdefault((SubjectKind.ACCOUNT.value, account_id), None)
            cases = await session.scalars(
                select(Case)
                .where(Case.subject_kind == SubjectKind.ACCOUNT, Case.subject_id.in_(chunk),
                       Case.status.in_(ACTIVE_CASE_STATUSES))
                .order_by(Case.opened_at)
            )
            found = {}
            for case_row in cases:
                found[case_row.case_id] = case_row
                self._case_rows[case_row.case_id] = case_row
                self._cases[(SubjectKind.ACCOUNT.value, case_row.subject_id)] = case_row  # newest wins
            fresh_ids = [case_id for case_id in found if case_id not in self._case_actions]
            for case_id in fresh_ids:
                self._case_actions[case_id] = []
            for id_chunk in chunks(fresh_ids):
                for action in await session.scalars(select(Action).where(Action.case_id.in_(id_chunk))):
                    self._case_actions[action.case_id].append(action)

    def account(self, account_id: str, now: datetime) -> Account:
        """The account's row (created if the store has none); the account must be loaded."""
        row = self._accounts[account_id]
        if row is None:
            row = Account(account_id=account_id, last_reasons=[], updated_at=now)
            self.session.add(row)
            self._accounts[account_id] = row
        return row

    def stored_account(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    def known(self, account_id: str, as_of: datetime) -> Known:
        row = self._accounts.get(account_id)
        since = as_of - self._window
        revenue = sum(
            REVENUE_SIGN[kind] * cents
            for kind, cents, occurred_at in self._payments.get(account_id, ())
            if since < occurred_at <= as_of
        )
        return Known(
            signup_path=row.signup_path if row else None,
            verification=row.verification if row else None,
            org_id=row.org_id if row else None,
            cluster_id=row.cluster_id if row else None,
            revenue_cents=max(0, revenue),
            external=frozenset(self._external.get(account_id, ())),
        )

    def history(self, account_id: str) -> History:
        return self._history[account_id]

    def note_external(self, account_id: str, kind: str) -> None:
        if account_id in self._external:
            self._external[account_id].add(kind)

    def note_payment(self, account_id: str, kind: str, cents: int, occurred_at: datetime) -> None:
        if account_id in self._payments and kind in REVENUE_SIGN:
            self._payments[account_id].append((kind, cents, occurred_at))

    # ------------------------------------------------------------------------------------------ clusters

    async def cluster(self, cluster_id: str | None) -> Cluster | None:
        """The live cluster for an id, following absorbed_into to the survivor."""
        seen: set[str] = set()
        while cluster_id and cluster_id not in seen:
            seen.add(cluster_id)
            if cluster_id not in self._clusters:
                self._clusters[cluster_id] = await self.session.get(Cluster, cluster_id)
            row = self._clusters[cluster_id]
            if row is None or row.absorbed_into is None:
                return row
            cluster_id = row.absorbed_into
        return None

    # ------------------------------------------------------------------------------------------ cases

    async def active_case(self, subject_kind: str, subject_id: str) -> Case | None:
        key = (subject_kind, subject_id)
        if key not in self._cases:
            self._cases[key] = row = await self.session.scalar(
                select(Case)
                .where(Case.subject_kind == subject_kind, Case.subject_id == subject_id,
                       Case.status.in_(ACTIVE_CASE_STATUSES))
                .order_by(Case.opened_at.desc())
                .limit(1)
            )
            if row is not None:
                self._case_rows[row.case_id] = row
        return self._cases[key]

    async def new_case(self, case_row: Case) -> None:
        self.session.add(case_row)  # the model's relationships make a flush insert it before its actions
        self._case_rows[case_row.case_id] = case_row
        self._cases[(case_row.subject_kind, case_row.subject_id)] = case_row
        self._case_actions[case_row.case_id] = []

    async def case_actions(self, case_id: str) -> list[Action]:
        if case_id not in self._case_actions:
            self._case_actions[case_id] = list(
                await self.session.scalars(select(Action).where(Action.case_id == case_id))
            )
        return self._case_actions[case_id]

    async def add_action(self, action: Action) -> None:
        actions = await self.case_actions(action.case_id)
        self.session.add(action)
        actions.append(action)
        history = self._history.get(action.account_id)
        if history is not None:
            history.add(ActionKind(action.kind), action.rpm_cap, action.status, action.shadow, action.policy_rule)

    def touch(self, case_row: Case, *, is_new: bool, as_of: datetime, signal_id: str, actor: str, summary: str,
              policy_version: str) -> None:
        touch = self.touched.get(case_row.case_id)
        if touch is None:
            self.touched[case_row.case_id] = CaseTouch(
                before=case_row.status, is_new=is_new, as_of=as_of, signal_id=signal_id, actor=actor,
                summary=summary, policy_version=policy_version,
            )
            return
        touch.as_of = max(touch.as_of, as_of)
        touch.signal_id, touch.actor, touch.summary = signal_id, actor, summary

    async def case_row(self, case_id: str) -> Case:
        row = self._case_rows.get(case_id)
        if row is None:
            # (a pending row is not in the session's identity map yet; get() would flush it early)
            row = await self.session.get(Case, case_id)
            if row is None:  # pragma: no cover - the id came from this transaction
                raise LookupError(case_id)
            self._case_rows[case_id] = row
        return row

    async def write_pending(self) -> None:
        """Flush the ORM changes, then insert the buffered rows (cases exist before rows that refer to them)."""
        session = self.session
        await session.flush()
        for model, rows in (
            (Decision, self.decision_rows), (EvidenceSnapshot, self.evidence_rows),
        ):
            if rows:
                await session.execute(insert(model), rows)
        await AuditLog.append_all(session, self.audit_rows)
        await enqueue_all(session, self.outbox_rows)
        for rows in (self.audit_rows, self.outbox_rows, self.decision_rows, self.evidence_rows):
            rows.clear()

