"""Builders for the messages the enforcement worker feeds the domain, and a controllable clock.

For tests and demos of this service (and the console's); nothing in the running service imports it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from google.protobuf.timestamp_pb2 import Timestamp

from distillguard.v1 import events_pb2, identity_pb2, ratepattern_pb2

#: The event time the builders default to.
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def acknowledged() -> asyncio.Future[None]:
    """A broker acknowledgement that has already arrived: what a stand-in `Publish` returns."""
    done = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


def stamp(when: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(when)
    return value


class Events:
    """Builders for the messages the worker decodes from Kafka."""

    def account_signal(
        self,
        signal_id: str,
        account_id: str,
        score: float,
        *,
        at: datetime = T0,
        cluster_id: str = "",
        reasons: Sequence[tuple[str, float, float]] = (("template_cross_account", 0.8, 0.4),),
    ) -> ratepattern_pb2.RiskSignal:
        return ratepattern_pb2.RiskSignal(
            signal_id=signal_id, subject_kind=ratepattern_pb2.SUBJECT_KIND_ACCOUNT, account_id=account_id,
            cluster_id=cluster_id, score=score, occurred_at=stamp(at),
            reasons=[ratepattern_pb2.Reason(feature=f, value=v, baseline=0.01, contribution=c) for f, v, c in reasons],
        )

    def cluster_signal(
        self, signal_id: str, cluster_id: str, members: Sequence[str], score: float, *, at: datetime = T0
    ) -> ratepattern_pb2.RiskSignal:
        return ratepattern_pb2.RiskSignal(
            signal_id=signal_id, subject_kind=ratepattern_pb2.SUBJECT_KIND_CLUSTER, cluster_id=cluster_id,
            members=list(members), score=score, occurred_at=stamp(at),
            reasons=[ratepattern_pb2.Reason(feature="synchronized_timing", value=0.9, baseline=0.1, contribution=0.6)],
        )

    def cluster_update(
        self,
        cluster_id: str,
        members: Sequence[str],
        version: int,
        *,
        added: Sequence[str] = (),
        absorbed: Sequence[str] = (),
        evidence: dict[str, int] | None = None,
        at: datetime = T0,
    ) -> identity_pb2.ClusterUpdate:
        return identity_pb2.ClusterUpdate(
            cluster_id=cluster_id, members=list(members), added_members=list(added), version=version,
            absorbed_cluster_ids=list(absorbed), occurred_at=stamp(at),
            evidence_summary=[identity_pb2.EvidenceCount(kind=k, count=c) for k, c in (evidence or {}).items()],
        )

    def signup(
        self,
        account_id: str,
        *,
        signup_path: events_pb2.SignupPath.ValueType = events_pb2.SIGNUP_PATH_SELF_SERVE,
        verification: events_pb2.Verification.ValueType = events_pb2.VERIFICATION_EMAIL,
        org_id: str = "",
        email: str = "",
        ip: str = "",
        device: str = "",
        at: datetime = T0 - timedelta(days=40),
    ) -> events_pb2.SignupEvent:
        return events_pb2.SignupEvent(
            event_id=f"signup-{account_id}", account_id=account_id, occurred_at=stamp(at), signup_path=signup_path,
            verification=verification, org_id=org_id, email=email, ip=ip, device_fingerprint=device,
        )

    def billing(
        self,
        event_id: str,
        account_id: str,
        kind: events_pb2.BillingKind.ValueType,
        amount_cents: int = 0,
        *,
        at: datetime = T0 - timedelta(days=1),
        card: str = "",
    ) -> events_pb2.BillingEvent:
        return events_pb2.BillingEvent(
            event_id=event_id, account_id=account_id, kind=kind, amount_cents=amount_cents, currency="USD",
            occurred_at=stamp(at), card_fingerprint=card,
        )


class Clock:
    """A controllable wall clock (decided_at, audit times); event times come from the messages."""

    def __init__(self) -> None:
        self.now = T0 + timedelta(minutes=5)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now
