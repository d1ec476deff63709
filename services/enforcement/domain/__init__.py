"""The enforcement domain: policy engine, guard rails, cases and actions over the case store, the verdict
index behind CheckAccount, API client tokens, operators and the outbox relay. No Kafka, no gRPC."""

from enforcement.domain.cases import (
    DomainError,
    EnforcementDomain,
    InvalidRequest,
    InvalidSignal,
    InvalidTransition,
    NotFound,
    SignalContext,
)
from enforcement.domain.clients import Client, ClientError, ClientRegistry, hash_token
from enforcement.domain.operators import OperatorError, OperatorStore, OperatorView
from enforcement.domain.outbox import OutboxRelay, Publish
from enforcement.domain.policy import (
    Facts,
    Policy,
    PolicyError,
    PolicyHolder,
    load_default_policy,
    load_policy,
    parse_policy,
)
from enforcement.domain.verdicts import ActiveAction, Verdict, VerdictAnswer, VerdictIndex
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
    PageRequest,
    ReversalPreview,
)

__all__ = [
    "ActionView", "ActiveAction", "AppealView", "AuditEntryView", "CaseDetail", "CaseFilter", "CasePage",
    "CaseView", "Client", "ClientError", "ClientRegistry", "DecisionPreview", "DecisionResult", "DomainError",
    "EnforcementDomain", "Facts", "InvalidRequest", "InvalidSignal", "InvalidTransition", "NotFound",
    "OperatorError", "OperatorStore", "OperatorView", "OutboxRelay", "PageRequest", "Policy", "PolicyError",
    "PolicyHolder", "Publish", "ReversalPreview", "SignalContext", "Verdict", "VerdictAnswer", "VerdictIndex",
    "hash_token", "load_default_policy", "load_policy", "parse_policy",
]
