"""gRPC EnforcementService: decode the request, call the enforcement domain, encode the answer."""

from __future__ import annotations

from datetime import timezone
from typing import Any, NoReturn

import grpc

from distillguard.v1 import enforcement_pb2, enforcement_pb2_grpc
from enforcement.auth import current_client
from distillguard.casestore import AuditQuery
from enforcement.domain import (
    CaseFilter,
    DomainError,
    EnforcementDomain,
    InvalidRequest,
    InvalidTransition,
    NotFound,
    PageRequest,
)

Context = grpc.aio.ServicerContext[Any, Any]
_DECISIONS = {
    enforcement_pb2.DECISION_APPROVE: "approve",
    enforcement_pb2.DECISION_REJECT: "reject",
    enforcement_pb2.DECISION_ESCALATE: "escalate",
}


async def _fail(context: Context, exc: DomainError) -> NoReturn:
    if isinstance(exc, NotFound):
        await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
    if isinstance(exc, InvalidTransition):
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
    if isinstance(exc, InvalidRequest):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    await context.abort(grpc.StatusCode.INTERNAL, str(exc))
    raise AssertionError("unreachable")


def _actor() -> str:
    return f"client:{current_client.get().name}"


class EnforcementServicer(enforcement_pb2_grpc.EnforcementServiceServicer):
    def __init__(self, domain: EnforcementDomain) -> None:
        self.domain = domain

    async def CheckAccount(  # noqa: N802
        self, request: enforcement_pb2.CheckAccountRequest, context: Context
    ) -> enforcement_pb2.CheckAccountResponse:
        if not any((request.account_id, request.api_key_id, request.card_fingerprint, request.device_fingerprint,
                    request.email, request.ip)):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "give at least one identifier")
        answer = self.domain.check(
            request.account_id, api_key_id=request.api_key_id, card_fingerprint=request.card_fingerprint,
            device_fingerprint=request.device_fingerprint, email=request.email, ip=request.ip,
        )
        return enforcement_pb2.CheckAccountResponse(
            verdict=enforcement_pb2.Verdict.ValueType(int(answer.verdict)), rpm_cap=answer.rpm_cap, reason_codes=list(answer.reason_codes),
            action_id=answer.action_id,
        )

    async def ReportExternalSignal(  # noqa: N802
        self, request: enforcement_pb2.ReportExternalSignalRequest, context: Context
    ) -> enforcement_pb2.ReportExternalSignalResponse:
        occurred = request.occurred_at.ToDatetime(tzinfo=timezone.utc) if request.HasField("occurred_at") else None
        try:
            await self.domain.report_external_signal(
                request.account_id, request.kind, signal_id=request.signal_id, occurred_at=occurred,
                detail=request.detail, actor=_actor(),
            )
        except DomainError as exc:
            await _fail(context, exc)
        return enforcement_pb2.ReportExternalSignalResponse(accepted=True)

    async def ListCases(  # noqa: N802
        self, request: enforcement_pb2.ListCasesRequest, context: Context
    ) -> enforcement_pb2.ListCasesResponse:
        try:
            page = await self.domain.list_cases(
                CaseFilter(status=request.status or None),
                PageRequest(size=request.page_size or 50, token=request.page_token),
            )
        except DomainError as exc:
            await _fail(context, exc)
        return enforcement_pb2.ListCasesResponse(
            cases=[case.to_proto() for case in page.cases], next_page_token=page.next_page_token
        )

    async def GetCase(  # noqa: N802
        self, request: enforcement_pb2.GetCaseRequest, context: Context
    ) -> enforcement_pb2.GetCaseResponse:
        try:
            detail = await self.domain.get_case(request.case_id)
        except DomainError as exc:
            await _fail(context, exc)
        return enforcement_pb2.GetCaseResponse(
            case=detail.case.to_proto(), actions=[action.to_proto() for action in detail.actions]
        )

    async def DecideCase(  # noqa: N802
        self, request: enforcement_pb2.DecideCaseRequest, context: Context
    ) -> enforcement_pb2.DecideCaseResponse:
        decision = _DECISIONS.get(request.decision)
        if decision is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "decision must be APPROVE, REJECT or ESCALATE")
        if not request.reason.strip():
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a reason is required")
        try:
            result = await self.domain.decide_case(
                request.case_id, decision, reason=request.reason, actor=_actor()  # type: ignore[arg-type]
            )
        except DomainError as exc:
            await _fail(context, exc)
        return enforcement_pb2.DecideCaseResponse(case=result.case.to_proto(), actions=list(result.actions))

    async def ReverseAction(  # noqa: N802
        self, request: enforcement_pb2.ReverseActionRequest, context: Context
    ) -> enforcement_pb2.ReverseActionResponse:
        if not request.reason.strip():
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a reason is required")
        try:
            restore = await self.domain.reverse_action(request.action_id, reason=request.reason, actor=_actor())
        except DomainError as exc:
            await _fail(context, exc)
        return enforcement_pb2.ReverseActionResponse(restore=restore)

    async def GetAuditLog(  # noqa: N802
        self, request: enforcement_pb2.GetAuditLogRequest, context: Context
    ) -> enforcement_pb2.GetAuditLogResponse:
        limit = request.limit or 100
        if not 1 <= limit <= 1000:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "limit must be within 1..1000")
        entries = await self.domain.audit_log(
            AuditQuery(subject=request.subject or None, actor=request.actor or None, limit=limit)
        )
        return enforcement_pb2.GetAuditLogResponse(entries=[entry.to_proto() for entry in entries])
