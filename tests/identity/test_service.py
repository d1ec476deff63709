"""The identity service on the real broker: events in, clusters out, gRPC answers, restart recovery."""

from __future__ import annotations

import asyncio

from typing import Any

import grpc
import orjson
import pytest

from distillguard.settings import Settings
from distillguard.v1 import events_pb2, identity_pb2, identity_pb2_grpc
from servicekit import publish_events, publish_raw, read_topic, running, wait_for

pytestmark = pytest.mark.integration


def farm(size: int, card: str = "fp_prepaid_1") -> list[dict[str, Any]]:
    """`size` accounts sharing one prepaid card and one device fingerprint."""
    events: list[dict[str, Any]] = []
    for n in range(size):
        account = f"acct_{card}_{n}"
        events.append({"type": "signup", "event_id": f"s-{account}", "occurred_at": f"2026-03-01T10:{n:02d}:00Z",
                       "account_id": account, "email": f"user{n}x{n * 7}@mailbox.example",
                       "device_fingerprint": "dev_shared_9", "ip": f"198.51.{n}.{n + 10}",
                       "signup_path": "self_serve", "verification": "email"})
        events.append({"type": "billing", "event_id": f"b-{account}", "occurred_at": f"2026-03-01T10:{n:02d}:30Z",
                       "account_id": account, "kind": "payment_method_added", "card_fingerprint": card,
                       "card_bin": "411111", "card_funding": "prepaid", "cardholder_name": f"Holder {n}"})
    return events


async def test_farm_is_clustered_and_served_over_grpc_and_survives_restart(kafka_settings: Settings) -> None:
    events = farm(6)
    await publish_events(kafka_settings, events)
    await publish_raw(kafka_settings, "events.signup", b"acct_bad", b"\xff\x00 not protobuf")
    async with running(kafka_settings, "identity") as service:
        updates = await read_topic(kafka_settings, "identity.clusters", identity_pb2.ClusterUpdate, until=1)
        assert updates, "no ClusterUpdate published"
        cluster_id = updates[-1].cluster_id
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = identity_pb2_grpc.IdentityServiceStub(channel)
            async def clustered() -> bool:
                reply = await stub.GetCluster(identity_pb2.GetClusterRequest(account_id="acct_fp_prepaid_1_0"))
                return len(reply.members) == 6
            await wait_for(clustered)
            reply = await stub.GetCluster(identity_pb2.GetClusterRequest(account_id="acct_fp_prepaid_1_3"))
            assert reply.cluster_id == cluster_id
            assert {e.kind for link in reply.links for e in link.evidence} >= {"card_fingerprint"}
            found = await stub.FindAccounts(identity_pb2.FindAccountsRequest(attribute_kind="card_fingerprint",
                                                                            value="fp_prepaid_1"))
            assert len(found.account_ids) == 6
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetCluster(identity_pb2.GetClusterRequest(account_id="acct_nobody"))
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        letters = await read_topic(kafka_settings, "dlq.identity", events_pb2.DeadLetter, until=1)
        assert letters and "not a valid SignupEvent protobuf" in letters[0].reason
        assert letters[0].source_topic == kafka_settings.topic("events.signup")

    # Restart: state comes back from the changelog; re-delivered events change nothing.
    await publish_events(kafka_settings, events[:4])
    async with running(kafka_settings, "identity") as service:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = identity_pb2_grpc.IdentityServiceStub(channel)
            reply = await stub.GetCluster(identity_pb2.GetClusterRequest(account_id="acct_fp_prepaid_1_5"))
            assert reply.cluster_id == cluster_id and len(reply.members) == 6
        await wait_for(lambda: service.pipeline is not None and service.pipeline.stats.records >= 4)
    updates = await read_topic(kafka_settings, "identity.clusters", identity_pb2.ClusterUpdate, until=99,
                               timeout_s=3)
    assert all(update.cluster_id == cluster_id for update in updates)
    assert len(updates) == len({u.version for u in updates}), "a re-delivered event published a new version"

    # `distillguard export clusters|links` rebuild the graph from the state topic, no worker needed.
    from distillguard.exports import export_lines

    def export(what: str, min_score: float = 0.0) -> list[Any]:  # the CLI path runs its own event loop
        return [orjson.loads(line) for line in export_lines(kafka_settings, what, min_score)]

    clusters = await asyncio.to_thread(export, "clusters")
    assert [(c["cluster_id"], len(c["members"])) for c in clusters] == [(cluster_id, 6)]
    assert clusters[0]["evidence"].get("card_fingerprint", 0) >= 1
    links = await asyncio.to_thread(export, "links", 0.5)
    assert links and all(link["score"] >= 0.5 and link["evidence"] for link in links)
    assert any(link["merged"] for link in links)
