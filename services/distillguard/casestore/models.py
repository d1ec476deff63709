"""The case store: typed SQLAlchemy 2 models shared by every service, portable across PostgreSQL and SQLite.

The schema is owned by the Alembic migrations next to this module; `tests/distillguard/casestore` checks
that the migrations and these models describe the same tables. Instants are timezone-aware UTC
(`UTCDateTime`); JSON documents are JSONB on PostgreSQL.

Vocabulary (the string values stored, checked by CHECK constraints):

- case status: open (a monitor decision), proposed (a shadow rule's decision, nothing enforced), review (a
  guard rail held the action for a human), escalated, approved, rejected, enforced (at least one action
  applied), reversed (every applied action was reversed), closed;
- action kind: monitor, throttle, challenge, suspend, ban, restore (undoes another action);
- action status: proposed (decided, not applied: shadow or awaiting review), applied, reversed, rejected.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from distillguard.casestore.types import BigIntKey, JSONDocument, UTCDateTime, utcnow

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    PROPOSED = "proposed"
    REVIEW = "review"
    APPROVED = "approved"
    REJECTED = "rejected"
    ESCALATED = "escalated"
    ENFORCED = "enforced"
    REVERSED = "reversed"
    CLOSED = "closed"


class SubjectKind(enum.StrEnum):
    ACCOUNT = "account"
    CLUSTER = "cluster"


class ActionKind(enum.StrEnum):
    """Graduated actions, weakest first; RESTORE undoes an earlier action and is never chosen by a policy."""

    MONITOR = "monitor"
    THROTTLE = "throttle"
    CHALLENGE = "challenge"
    SUSPEND = "suspend"
    BAN = "ban"
    RESTORE = "restore"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @property
    def enforces(self) -> bool:
        """Throttle or stronger: the action changes what the account may do."""
        return self.severity >= _SEVERITY[ActionKind.THROTTLE]


_SEVERITY: Final = {
    ActionKind.RESTORE: -1,
    ActionKind.MONITOR: 0,
    ActionKind.THROTTLE: 1,
    ActionKind.CHALLENGE: 2,
    ActionKind.SUSPEND: 3,
    ActionKind.BAN: 4,
}


class ActionStatus(enum.StrEnum):
    PROPOSED = "proposed"
    APPLIED = "applied"
    REVERSED = "reversed"
    REJECTED = "rejected"


class AppealStatus(enum.StrEnum):
    OPEN = "open"
    UPHELD = "upheld"
    DENIED = "denied"


class OperatorRole(enum.StrEnum):
    VIEWER = "viewer"
    ANALYST = "analyst"
    ADMIN = "admin"


class ClientScope(enum.StrEnum):
    CHECK = "check"
    REPORT = "report"
    OPERATOR = "operator"


def _one_of(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Account(Base):
    """What the enforcement service knows about one account: signup facts, cluster, latest risk score."""

    __tablename__ = "accounts"

    account_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    cluster_id: Mapped[str | None] = mapped_column(String(128), index=True)
    signup_path: Mapped[str | None] = mapped_column(String(32))
    verification: Mapped[str | None] = mapped_column(String(32))
    org_id: Mapped[str | None] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(320))
    signed_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_score: Mapped[float | None] = mapped_column(Float)
    #: [{"feature", "value", "baseline", "contribution"}] of the latest risk signal.
    last_reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    last_signal_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AccountIdentifier(Base):
    """An identifier an account was seen with (api_key_id, card_fingerprint, device_fingerprint, email, ip)."""

    __tablename__ = "account_identifiers"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(320), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Cluster(Base):
    """The latest identity.clusters update per cluster (stale versions are dropped)."""

    __tablename__ = "clusters"

    cluster_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    members: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    size: Mapped[int] = mapped_column(Integer, default=0)
    org_count: Mapped[int] = mapped_column(Integer, default=0)
    #: {evidence kind: count}
    evidence: Mapped[dict[str, int]] = mapped_column(JSONDocument, default=dict)
    absorbed_into: Mapped[str | None] = mapped_column(String(128))
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Signal(Base):
    """Every signal acted on, by id: the inbox that makes re-delivery a no-op.

    source is "risk" (risk.signals), "external" (ReportExternalSignal) or "billing" (chargebacks and failed
    charges from events.billing); kind is the external kind (chargeback, failed_verification, ...) or
    "account"/"cluster" for risk signals.
    """

    __tablename__ = "signals"
    __table_args__ = (Index("ix_signals_account_id_source", "account_id", "source"),)

    signal_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str | None] = mapped_column(String(128))
    cluster_id: Mapped[str | None] = mapped_column(String(128))
    score: Mapped[float | None] = mapped_column(Float)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)


class Payment(Base):
    """Billing events by event id, for revenue (blast radius, "paying") and chargeback signals."""

    __tablename__ = "payments"
    __table_args__ = (Index("ix_payments_account_id_occurred_at", "account_id", "occurred_at"),)

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="")
    card_fingerprint: Mapped[str | None] = mapped_column(String(128))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Case(Base):
    """One case per cluster or account: what the policy proposed, why, and where it stands."""

    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(_one_of("status", CaseStatus), name="status"),
        CheckConstraint(_one_of("subject_kind", SubjectKind), name="subject_kind"),
        Index("ix_cases_subject_kind_subject_id", "subject_kind", "subject_id"),
        Index("ix_cases_status_updated_at", "status", "updated_at"),
    )

    case_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(128))
    cluster_id: Mapped[str | None] = mapped_column(String(128), index=True)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    proposed_action: Mapped[str] = mapped_column(String(16))
    rpm_cap: Mapped[int | None] = mapped_column(Integer)
    policy_rule: Mapped[str] = mapped_column(String(128))
    policy_version: Mapped[str] = mapped_column(String(64))
    shadow: Mapped[bool] = mapped_column(Boolean, default=False)
    cluster_size: Mapped[int] = mapped_column(Integer, default=0)
    #: [{"feature", "value", "baseline", "contribution"}]
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    #: {"accounts", "paying_accounts", "revenue_cents", "window_days", "as_of"}
    blast_radius: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    #: Guard rails that sent the case to human review, e.g. ["cluster_ban_size", "id_document"].
    review_reasons: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class EvidenceSnapshot(Base):
    """The evidence behind a case as it was when a decision was taken (signals change later; this does not)."""

    __tablename__ = "evidence_snapshots"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), index=True)
    case: Mapped[Case] = relationship(lazy="raise")
    #: risk_signal | cluster_update | external_signal
    kind: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(200))
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)


class Decision(Base):
    """Who decided what about a case, and why (policy decisions and human ones alike)."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), index=True)
    case: Mapped[Case] = relationship(lazy="raise")
    #: auto_monitor | auto_enforce | auto_review | auto_shadow | approve | reject | escalate | reverse
    decision: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text, default="")
    policy_version: Mapped[str] = mapped_column(String(64), default="")
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)


class Action(Base):
    """An enforcement action on one account. action_id is derived from idempotency_key, so it is stable."""

    __tablename__ = "actions"
    __table_args__ = (
        CheckConstraint(_one_of("kind", ActionKind), name="kind"),
        CheckConstraint(_one_of("status", ActionStatus), name="status"),
        Index("ix_actions_account_id_status", "account_id", "status"),
    )

    action_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), index=True)
    case: Mapped[Case] = relationship(lazy="raise")
    account_id: Mapped[str] = mapped_column(String(128))
    cluster_id: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    rpm_cap: Mapped[int | None] = mapped_column(Integer)
    shadow: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    signal_id: Mapped[str | None] = mapped_column(String(200))
    #: Event time of the signal that caused the action (not wall-clock time).
    signal_occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    policy_version: Mapped[str] = mapped_column(String(64), default="")
    policy_rule: Mapped[str] = mapped_column(String(128), default="")
    reason_codes: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    #: This account's share of the case's blast radius: {"accounts", "paying_accounts", "revenue_cents"}.
    blast_radius: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    review_reasons: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    reverses_action_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    applied_by: Mapped[str | None] = mapped_column(String(128))
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Appeal(Base):
    """An account holder's (or operator's) challenge of an action; an upheld appeal reverses the action."""

    __tablename__ = "appeals"
    __table_args__ = (CheckConstraint(_one_of("status", AppealStatus), name="status"),)

    appeal_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    action_id: Mapped[str] = mapped_column(ForeignKey("actions.action_id"), index=True)
    action: Mapped[Action] = relationship(lazy="raise")
    account_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    filed_by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Reversal(Base):
    """An applied action undone: by whom, why, and the RESTORE action that carried it to consumers."""

    __tablename__ = "reversals"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    action_id: Mapped[str] = mapped_column(ForeignKey("actions.action_id"), unique=True)
    restore_action_id: Mapped[str] = mapped_column(ForeignKey("actions.action_id"))
    appeal_id: Mapped[str | None] = mapped_column(ForeignKey("appeals.appeal_id"))
    # Relationships only order inserts in a flush (parents first); they are never loaded.
    action: Mapped[Action] = relationship(foreign_keys=[action_id], lazy="raise")
    restore_action: Mapped[Action] = relationship(foreign_keys=[restore_action_id], lazy="raise")
    appeal: Mapped[Appeal | None] = relationship(lazy="raise")
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    reversed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PolicyVersion(Base):
    """Every policy file ever loaded, verbatim. A version string names exactly one content (sha256)."""

    __tablename__ = "policy_versions"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    yaml_text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(1024), default="")
    loaded_by: Mapped[str] = mapped_column(String(128), default="")
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditEntry(Base):
    """One row of the append-only audit log. Never updated or deleted (ORM guard + database triggers)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_subject_id", "subject", "id"),
        Index("ix_audit_log_actor_id", "actor", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    policy_version: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)


class OutboxMessage(Base):
    """A message to publish, written in the same transaction as the state change it announces."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    #: Base topic name (distillguard.topics); the publisher applies any configured prefix.
    topic: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(255))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApiClient(Base):
    """A gRPC client (billing, auth, ...): only the sha256 of its token is stored."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    #: Subset of ClientScope values.
    scopes: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Operator(Base):
    """A console user. password_hash is an argon2 PHC string."""

    __tablename__ = "operators"
    __table_args__ = (CheckConstraint(_one_of("role", OperatorRole), name="role"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
