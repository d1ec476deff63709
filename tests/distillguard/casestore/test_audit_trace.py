from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from distillguard.casestore.audit import AuditLog


def test_audit_rows_carry_the_trace_id_of_the_operation_that_wrote_them() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("decide") as span:
        row = AuditLog.values(actor="policy", action="action.apply", subject="account:a", detail={"k": 1})
        expected = format(span.get_span_context().trace_id, "032x")
    assert row["detail"] == {"k": 1, "trace_id": expected}
    untraced = AuditLog.values(actor="policy", action="action.apply", subject="account:a")
    assert "trace_id" not in untraced["detail"]
    assert trace.get_current_span().get_span_context().is_valid is False
