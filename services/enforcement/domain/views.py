"""Immutable values the domain returns (never live ORM rows), with their protobuf forms for the gRPC layer."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final, Literal

from google.protobuf.timestamp_pb2 import Timestamp

from distillguard.casestore.models import (
    Action,
    ActionKind,
    Appeal,
    AuditEntry,
    Case,
    Decision,
    EvidenceSnapshot,
    Reversal,
)
from distillguard.v1 import enforcement_pb2

CaseSort = Literal["updated", "opened", "score", "cluster_size"]
MAX_PAGE_SIZE: Final = 500


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(timezone.utc))
    return stamp


def action_kind_proto(kind: str) -> enforcement_pb2.ActionKind.ValueType:
    return enforcement_pb2.ActionKind.Value(f"ACTION_KIND_{kind.upper()}")


@dataclass(frozen=True)
class ActionView:
    action_id: str
    case_id: str
    account_id: str
    cluster_id: str | None
    kind: ActionKind
    rpm_cap: int | None
    shadow: bool
    status: str
    score: float
    signal_id: str | None
    signal_occurred_at: datetime | None
    policy_version: str
    policy_rule: str
    reason_codes: tuple[str, ...]
    blast_radius: dict[str, Any]
    review_reasons: tuple[str, ...]
    reverses_action_id: str | None
    created_at: datetime
    applied_at: datetime | None
    applied_by: str | None
    reversed_at: datetime | None

    @classmethod
    def of(cls, row: Action) -> ActionView:
        return cls(
            action_id=row.action_id, case_id=row.case_id, account_id=row.account_id, cluster_id=row.cluster_id,
            kind=ActionKind(row.kind), rpm_cap=row.rpm_cap, shadow=row.shadow, status=row.status, score=row.score,
            signal_id=row.signal_id, signal_occurred_at=row.signal_occurred_at, policy_version=row.policy_version,
            policy_rule=row.policy_rule, reason_codes=tuple(row.reason_codes), blast_radius=dict(row.blast_radius),
            review_reasons=tuple(row.review_reasons), reverses_action_id=row.reverses_action_id,
            created_at=row.created_at, applied_at=row.applied_at, applied_by=row.applied_by,
            reversed_at=row.reversed_at,
        )

    def to_proto(self) -> enforcement_pb2.EnforcementAction:
        return action_proto(self)


def action_proto(action: ActionView | Action) -> enforcement_pb2.EnforcementAction:
    """The enforcement.actions message for an action (the outbox stores exactly these bytes)."""
    message = enforcement_pb2.EnforcementAction(
        action_id=action.action_id,
        account_id=action.account_id,
        cluster_id=action.cluster_id or "",
        kind=action_kind_proto(str(action.kind)),
        rpm_cap=action.rpm_cap or 0,
        case_id=action.case_id,
        policy_version=action.policy_version,
        policy_rule=action.policy_rule,
        reason_codes=list(action.reason_codes),
        reverses_action_id=action.reverses_action_id or "",
    )
    decided = timestamp(action.applied_at or action.created_at)
    if decided is not None:
        message.decided_at.CopyFrom(decided)
    occurred = timestamp(action.signal_occurred_at)
    if occurred is not None:
        message.signal_occurred_at.CopyFrom(occurred)
    return message


@dataclass(frozen=True)
class CaseView:
    case_id: str
    status: str
    subject_kind: str
    subject_id: str
    cluster_id: str | None
    score: float
    proposed_action: str
    rpm_cap: int | None
    policy_rule: str
    policy_version: str
    shadow: bool
    cluster_size: int
    reasons: tuple[dict[str, Any], ...]
    blast_radius: dict[str, Any]
    review_reasons: tuple[str, ...]
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None

    @classmethod
    def of(cls, row: Case) -> CaseView:
        return cls(
            case_id=row.case_id, status=row.status, subject_kind=row.subject_kind, subject_id=row.subject_id,
            cluster_id=row.cluster_id, score=row.score, proposed_action=row.proposed_action, rpm_cap=row.rpm_cap,
            policy_rule=row.policy_rule, policy_version=row.policy_version, shadow=row.shadow,
            cluster_size=row.cluster_size, reasons=tuple(dict(r) for r in row.reasons),
            blast_radius=dict(row.blast_radius), review_reasons=tuple(row.review_reasons),
            opened_at=row.opened_at, updated_at=row.updated_at, closed_at=row.closed_at,
        )

    @property
    def reason_features(self) -> list[str]:
        return [str(reason.get("feature", "")) for reason in self.reasons]

    def to_proto(self) -> enforcement_pb2.Case:
        message = enforcement_pb2.Case(
            case_id=self.case_id, status=self.status, subject_kind=self.subject_kind, subject_id=self.subject_id,
            cluster_id=self.cluster_id or "", score=self.score, proposed_action=self.proposed_action,
            policy_rule=self.policy_rule, shadow=self.shadow, cluster_size=self.cluster_size,
            reasons=self.reason_features, blast_radius_json=json.dumps(self.blast_radius, sort_keys=True),
        )
        for name, value in (("opened_at", self.opened_at), ("updated_at", self.updated_at)):
            stamp = timestamp(value)
            if stamp is not None:
                getattr(message, name).CopyFrom(stamp)
        return message


@dataclass(frozen=True)
class DecisionView:
    decision: str
    actor: str
    reason: str
    policy_version: str
    decided_at: datetime
    detail: dict[str, Any]

    @classmethod
    def of(cls, row: Decision) -> DecisionView:
        return cls(row.decision, row.actor, row.reason, row.policy_version, row.decided_at, dict(row.detail))


@dataclass(frozen=True)
class EvidenceView:
    kind: str
    source_id: str
    captured_at: datetime
    payload: dict[str, Any]

    @classmethod
    def of(cls, row: EvidenceSnapshot) -> EvidenceView:
        return cls(row.kind, row.source_id, row.captured_at, dict(row.payload))


@dataclass(frozen=True)
class AppealView:
    appeal_id: str
    action_id: str
    account_id: str
    status: str
    filed_by: str
    reason: str
    filed_at: datetime
    decided_by: str | None
    decision_reason: str | None
    decided_at: datetime | None

    @classmethod
    def of(cls, row: Appeal) -> AppealView:
        return cls(
            row.appeal_id, row.action_id, row.account_id, row.status, row.filed_by, row.reason, row.filed_at,
            row.decided_by, row.decision_reason, row.decided_at,
        )


@dataclass(frozen=True)
class ReversalView:
    action_id: str
    restore_action_id: str
    appeal_id: str | None
    actor: str
    reason: str
    reversed_at: datetime

    @classmethod
    def of(cls, row: Reversal) -> ReversalView:
        return cls(row.action_id, row.restore_action_id, row.appeal_id, row.actor, row.reason, row.reversed_at)


@dataclass(frozen=True)
class CaseDetail:
    case: CaseView
    actions: tuple[ActionView, ...]
    decisions: tuple[DecisionView, ...]
    evidence: tuple[EvidenceView, ...]
    appeals: tuple[AppealView, ...]
    reversals: tuple[ReversalView, ...]


@dataclass(frozen=True)
class AuditEntryView:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    reason: str
    policy_version: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, row: AuditEntry) -> AuditEntryView:
        return cls(row.id, row.at, row.actor, row.action, row.subject, row.reason, row.policy_version,
                   dict(row.detail))

    def to_proto(self) -> enforcement_pb2.AuditEntry:
        message = enforcement_pb2.AuditEntry(
            id=self.id, actor=self.actor, action=self.action, subject=self.subject, reason=self.reason,
            policy_version=self.policy_version, detail_json=json.dumps(self.detail, sort_keys=True),
        )
        stamp = timestamp(self.at)
        if stamp is not None:
            message.at.CopyFrom(stamp)
        return message


@dataclass(frozen=True)
class CaseFilter:
    """Case queue filters; None means "any". `account_id` finds cases with an action on that account."""

    status: str | Sequence[str] | None = None
    proposed_action: str | None = None
    min_cluster_size: int | None = None
    max_cluster_size: int | None = None
    min_score: float | None = None
    max_score: float | None = None
    policy_rule: str | None = None
    shadow: bool | None = None
    subject_kind: str | None = None
    subject_id: str | None = None
    cluster_id: str | None = None
    account_id: str | None = None


@dataclass(frozen=True)
class PageRequest:
    size: int = 50
    #: Opaque token from a previous CasePage.next_page_token ("" = first page).
    token: str = ""
    sort: CaseSort = "updated"
    descending: bool = True

    def offset(self) -> int:
        if not self.token:
            return 0
        try:
            value = int(base64.urlsafe_b64decode(self.token.encode()).decode())
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise ValueError(f"invalid page token {self.token!r}") from None
        if value < 0:
            raise ValueError(f"invalid page token {self.token!r}")
        return value

    def bounded_size(self) -> int:
        return max(1, min(self.size, MAX_PAGE_SIZE))


def page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


@dataclass(frozen=True)
class CasePage:
    cases: tuple[CaseView, ...]
    next_page_token: str
    total: int


@dataclass(frozen=True)
class DecisionResult:
    case: CaseView
    #: Actions published because of the decision (applied by an approval).
    actions: tuple[enforcement_pb2.EnforcementAction, ...] = ()


@dataclass(frozen=True)
class DecisionPreview:
    """What `decide_case` would do, computed without changing anything."""

    case: CaseView
    decision: str
    status_after: str
    would_apply: tuple[ActionView, ...] = ()
    would_reject: tuple[ActionView, ...] = ()
    blast_radius: dict[str, Any] = field(default_factory=dict)
    refused: str | None = None


@dataclass(frozen=True)
class ReversalPreview:
    action: ActionView
    #: The account's verdict now and after the reversal ("allow", "throttle(20)", "challenge", "deny").
    verdict_before: str
    verdict_after: str
    refused: str | None = None
