"""The shared SQL case store: models, engines, migrations and the append-only audit log."""

from distillguard.casestore.audit import AuditLog, AuditLogImmutable, AuditQuery
from distillguard.casestore.engine import (
    create_engine,
    current_revision,
    head_revision,
    session_factory,
    upgrade_database,
)
from distillguard.casestore.models import (
    Account,
    AccountIdentifier,
    Action,
    ActionKind,
    ActionStatus,
    ApiClient,
    Appeal,
    AppealStatus,
    AuditEntry,
    Base,
    Case,
    CaseStatus,
    ClientScope,
    Cluster,
    Decision,
    EvidenceSnapshot,
    Operator,
    OperatorRole,
    OutboxMessage,
    Payment,
    PolicyVersion,
    Reversal,
    Signal,
    SubjectKind,
)

__all__ = [
    "Account", "AccountIdentifier", "Action", "ActionKind", "ActionStatus", "ApiClient", "Appeal", "AppealStatus",
    "AuditEntry", "AuditLog", "AuditLogImmutable", "AuditQuery", "Base", "Case", "CaseStatus", "ClientScope",
    "Cluster", "Decision", "EvidenceSnapshot", "Operator", "OperatorRole", "OutboxMessage", "Payment",
    "PolicyVersion", "Reversal", "Signal", "SubjectKind", "create_engine", "current_revision", "head_revision",
    "session_factory", "upgrade_database",
]
