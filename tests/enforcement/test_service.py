"""The enforcement service on real Kafka and PostgreSQL: signal in, action out, scoped gRPC API."""

from __future__ import annotations

import grpc
import pytest

from distillguard.casestore import upgrade_database
from distillguard.settings import Settings, load_settings
from distillguard.v1 import enforcement_pb2, enforcement_pb2_grpc, events_pb2, ratepattern_pb2
from servicekit import mint, publish_events, publish_raw, read_topic, running, wait_for

pytestmark = pytest.mark.integration


def risk_signal(account: str, score: float) -> ratepattern_pb2.RiskSignal:
    signal = ratepattern_pb2.RiskSignal(
        signal_id=f"sig-{account}-{score}", subject_kind=ratepattern_pb2.SUBJECT_KIND_ACCOUNT, account_id=account,
        score=score, window_requests=400,
        reasons=[ratepattern_pb2.Reason(feature="cot_elicitation_share", value=0.9, baseline=0.05, contribution=0.4)],
    )
    signal.occurred_at.FromJsonString("2026-03-02T08:00:00Z")
    return signal


async def test_signal_becomes_published_action_and_scoped_api(
    kafka_settings: Settings, pg_database_url: str
) -> None:
    settings = load_settings(**{**kafka_settings.model_dump(), "database_url": pg_database_url})
    await upgrade_database(pg_database_url)
    billing_token = await mint(pg_database_url, "billing", "check", "report")
    operator_token = await mint(pg_database_url, "ops-bot", "operator")
    await publish_events(settings, [
        {"type": "signup", "event_id": "s1", "occurred_at": "2026-03-01T08:00:00Z", "account_id": "acct_x",
         "email": "x@example.org", "signup_path": "self_serve", "verification": "email"},
        {"type": "inference", "event_id": "i1", "occurred_at": "2026-03-01T08:05:00Z", "account_id": "acct_x",
         "api_key_id": "key_x", "model": "m", "status": "ok"},
    ])
    signal = risk_signal("acct_x", 0.97)
    await publish_raw(settings, "risk.signals", b"acct_x", signal.SerializeToString())
    await publish_raw(settings, "risk.signals", b"acct_x", signal.SerializeToString())  # re-delivery
    await publish_raw(settings, "risk.signals", b"acct_y", b"\x0a\xff garbage")

    async with running(settings, "enforcement") as service:
        actions = await read_topic(settings, "enforcement.actions", enforcement_pb2.EnforcementAction, until=1)
        assert [a.kind for a in actions] == [enforcement_pb2.ACTION_KIND_SUSPEND]
        assert actions[0].account_id == "acct_x" and actions[0].policy_rule == "account-distillation-suspend"
        letters = await read_topic(settings, "dlq.enforcement", events_pb2.DeadLetter, until=1)
        assert letters and "RiskSignal" in letters[0].reason

        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = enforcement_pb2_grpc.EnforcementServiceStub(channel)
            billing = (("authorization", f"Bearer {billing_token}"),)
            operator = (("authorization", f"Bearer {operator_token}"),)

            async def denied_by_key() -> bool:
                reply = await stub.CheckAccount(enforcement_pb2.CheckAccountRequest(api_key_id="key_x"),
                                                metadata=billing)
                return bool(reply.verdict == enforcement_pb2.VERDICT_DENY)
            await wait_for(denied_by_key)
            reply = await stub.CheckAccount(enforcement_pb2.CheckAccountRequest(account_id="acct_x"), metadata=billing)
            assert reply.verdict == enforcement_pb2.VERDICT_DENY and reply.action_id == actions[0].action_id
            other = await stub.CheckAccount(enforcement_pb2.CheckAccountRequest(account_id="acct_ok"), metadata=billing)
            assert other.verdict == enforcement_pb2.VERDICT_ALLOW

            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.CheckAccount(enforcement_pb2.CheckAccountRequest(account_id="acct_x"))
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.CheckAccount(enforcement_pb2.CheckAccountRequest(account_id="acct_x"),
                                        metadata=(("authorization", "Bearer dg_not_a_token"),))
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.ListCases(enforcement_pb2.ListCasesRequest(), metadata=billing)
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.CheckAccount(enforcement_pb2.CheckAccountRequest(account_id="acct_x"), metadata=operator)
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED

            cases = await stub.ListCases(enforcement_pb2.ListCasesRequest(), metadata=operator)
            assert len(cases.cases) == 1
            restore = await stub.ReverseAction(
                enforcement_pb2.ReverseActionRequest(action_id=actions[0].action_id, reason="appeal upheld"),
                metadata=operator)
            assert restore.restore.kind == enforcement_pb2.ACTION_KIND_RESTORE
            await wait_for(lambda: service.pipeline is not None)
            after = await stub.CheckAccount(enforcement_pb2.CheckAccountRequest(account_id="acct_x"), metadata=billing)
            assert after.verdict == enforcement_pb2.VERDICT_ALLOW
            audit = await stub.GetAuditLog(enforcement_pb2.GetAuditLogRequest(actor="client:ops-bot"),
                                           metadata=operator)
            assert any(entry.reason == "appeal upheld" for entry in audit.entries)

        published = await read_topic(settings, "enforcement.actions", enforcement_pb2.EnforcementAction, until=2)
        assert [a.kind for a in published] == [enforcement_pb2.ACTION_KIND_SUSPEND, enforcement_pb2.ACTION_KIND_RESTORE]
        assert published[1].reverses_action_id == actions[0].action_id
