"""RatePatternProcessor and the servicer's profile batching, without a broker."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from aiokafka.structs import ConsumerRecord

from distillguard.pipeline import InputBatch, InputRecord
from distillguard.v1 import ratepattern_pb2
from ratepattern.domain import InferenceBatch, RatePatternConfig, RatePatternEngine
from ratepattern.service import RatePatternProcessor
from ratepattern.servicer import CallsInFlight, ProfileBatcher, RatePatternServicer
from ratepattern.synthetic import T0, make_event, segment

NOW_MS = (T0 + 3600) * 1000  # the processing clock of these tests: one hour after the traffic starts


def inference(events: list[object], first_offset: int = 0) -> list[InputRecord]:
    return [InputRecord("events.inference", 0, first_offset + i, b"k", e.SerializeToString())  # type: ignore[attr-defined]
            for i, e in enumerate(events)]


async def test_a_far_future_event_is_dead_lettered_and_does_not_move_event_time() -> None:
    engine = RatePatternEngine(RatePatternConfig())
    processor = RatePatternProcessor(engine, clock_ms=lambda: NOW_MS)
    future = make_event("acct_x", 10 * 365 * 86_400.0)  # ten years ahead of the clock
    result = await processor.process(inference([make_event("acct_a", 60.0), future, make_event("acct_a", 120.0)]))
    [refused] = result.rejected
    assert refused.record.offset == 1
    assert "is in the future" in refused.reason and "max_future_skew_ms" in refused.reason
    assert engine.stream_time_ms == (T0 + 120) * 1000
    assert engine.account_profile("acct_x") is None
    # the traffic after it is not late: the watermark did not move
    await processor.process(inference([make_event("acct_a", 180.0)], 3))
    assert engine.stats.accepted == 3 and engine.stats.late == 0


async def test_the_skew_allows_a_few_minutes_ahead_and_can_be_turned_off() -> None:
    ahead = make_event("acct_a", 3600 + 240.0)  # 4 minutes ahead of the clock: within the default 5
    processor = RatePatternProcessor(RatePatternEngine(RatePatternConfig()), clock_ms=lambda: NOW_MS)
    assert not (await processor.process(inference([ahead]))).rejected
    far = make_event("acct_b", 3600 + 600.0)
    assert (await processor.process(inference([far]))).rejected
    unchecked = RatePatternProcessor(RatePatternEngine(RatePatternConfig(max_future_skew_ms=None)),
                                     clock_ms=lambda: NOW_MS)
    assert not (await unchecked.process(inference([far]))).rejected
    with pytest.raises(ValueError, match="max_future_skew_ms"):
        RatePatternConfig(max_future_skew_ms=-1)


async def test_slicing_a_batch_gives_the_signals_of_one_engine_call() -> None:
    traffic = segment("campaign", seed=5, days=2)
    values = [e.SerializeToString() for e in traffic.inference]
    whole = RatePatternEngine(RatePatternConfig())
    expected = whole.apply_inference(InferenceBatch.from_protobuf_values(values))
    assert expected  # the campaign is signalled

    sliced = RatePatternEngine(RatePatternConfig())
    # a tiny time budget: every slice is the minimum size, so the batch is cut many times
    processor = RatePatternProcessor(sliced, clock_ms=lambda: 2**62, slice_seconds=1e-9)
    records = [InputRecord("events.inference", 0, i, b"k", v) for i, v in enumerate(values)]
    result = await processor.process(records)
    assert not result.rejected
    assert [o.value for o in result.outputs] == [s.SerializeToString() for s in expected]
    assert [o.key for o in result.outputs] == [(s.account_id or s.cluster_id).encode() for s in expected]


async def test_concurrent_profile_requests_are_answered_by_one_evaluation() -> None:
    engine = RatePatternEngine(RatePatternConfig())
    engine.apply_inference(InferenceBatch.from_events(
        [make_event(f"acct_{i % 3}", 30.0 * i, "Think step by step") for i in range(90)]))
    servicer = RatePatternServicer(engine)

    class Context:
        async def abort(self, code: grpc.StatusCode, details: str) -> None:
            raise RuntimeError(code.name)

    async def ask(account: str) -> ratepattern_pb2.AccountProfile | str:
        try:
            reply = await servicer.GetAccountProfile(ratepattern_pb2.GetAccountProfileRequest(account_id=account),
                                                     Context())  # type: ignore[arg-type]
        except RuntimeError as exc:
            return str(exc)
        return reply.profile

    replies = await asyncio.gather(*(ask(a) for a in ("acct_0", "acct_1", "nobody", "acct_2", "acct_0")))
    assert servicer.profiles.evaluations == 1
    assert replies[2] == "NOT_FOUND"
    for account, reply in zip(("acct_0", "acct_1", "acct_2", "acct_0"), replies[:2] + replies[3:]):
        assert reply == engine.account_profile(account)
    profile = engine.account_profile("acct_1")
    assert profile is not None and sum(b.requests for b in profile.hour_of_day) == 30
    await ask("acct_1")
    assert servicer.profiles.evaluations == 2


async def test_refused_records_of_a_consumed_batch_are_the_ones_dead_lettered() -> None:
    """With the pipeline's InputBatch (partitions of several topics), each refused inference value maps back
    to its own record, and the other topics' records are still handled in batch order."""
    def consumed(topic: str, partition: int, offset: int, value: bytes) -> ConsumerRecord[bytes, bytes]:
        return ConsumerRecord(topic, partition, offset, 0, 0, b"k", value, None, 1, len(value), [])

    engine = RatePatternEngine(RatePatternConfig())
    processor = RatePatternProcessor(engine, clock_ms=lambda: NOW_MS)
    a, b = (make_event("acct_b", at).SerializeToString() for at in (30.0, 90.0))
    batch = InputBatch()
    batch.add("events.inference", 0, [consumed("p.events.inference", 0, 10 + i,
                                               make_event("acct_a", 60.0 * i).SerializeToString()) for i in range(3)])
    batch.add("identity.clusters", 0, [consumed("p.identity.clusters", 0, 4, b"\xff not a ClusterUpdate")])
    batch.add("events.inference", 1, [consumed("p.events.inference", 1, 20, a),
                                      consumed("p.events.inference", 1, 21, b"\xff\xff not protobuf"),
                                      consumed("p.events.inference", 1, 22, b)])
    result = await processor.process(batch)
    assert [(r.record.topic, r.record.partition, r.record.offset) for r in result.rejected] == [
        ("identity.clusters", 0, 4), ("events.inference", 1, 21)]
    assert result.rejected[0].reason.startswith("not a valid ClusterUpdate protobuf")
    assert result.rejected[1].reason.startswith("undecodable InferenceEvent")
    assert result.rejected[1].record.value == b"\xff\xff not protobuf"
    assert engine.stats.accepted == 5


async def test_profile_lookups_within_the_window_share_one_evaluation_and_a_full_batch_goes_at_once() -> None:
    engine = RatePatternEngine(RatePatternConfig())
    engine.apply_inference(InferenceBatch.from_events(
        [make_event(f"acct_{i % 4}", 30.0 * i, "Think step by step") for i in range(80)]))
    batcher = ProfileBatcher(engine, window_s=0.05, max_batch=3)

    async def later(account: str, delay: float) -> ratepattern_pb2.AccountProfile | None:
        await asyncio.sleep(delay)
        return await batcher.profile(account)

    # Two lookups 10 ms apart fall in one 50 ms window.
    first = await asyncio.gather(later("acct_0", 0.0), later("acct_1", 0.01))
    assert batcher.evaluations == 1
    assert list(first) == [engine.account_profile("acct_0"), engine.account_profile("acct_1")]
    # A full batch is answered without waiting for the window.
    started = asyncio.get_running_loop().time()
    await asyncio.gather(*(batcher.profile(a) for a in ("acct_1", "acct_2", "acct_3")))
    assert batcher.evaluations == 2 and asyncio.get_running_loop().time() - started < 0.04


async def test_ingestion_gives_way_to_calls_in_flight_between_slices() -> None:
    """While an API call is being answered the processor applies no further slice (until the call ends,
    or for at most max_give_way_s); with no recent call it does not wait at all."""
    events: list[object] = [make_event(f"acct_{i % 5}", 30.0 * i) for i in range(3 * 256)]  # three minimum slices
    calls = CallsInFlight()
    engine = RatePatternEngine(RatePatternConfig())
    processor = RatePatternProcessor(engine, clock_ms=lambda: 2**62, slice_seconds=1e-9, calls=calls,
                                     max_give_way_s=60.0)
    answered = asyncio.Event()

    async def call() -> None:
        with calls.serving():
            await answered.wait()

    in_flight = asyncio.create_task(call())
    await asyncio.sleep(0)
    processing = asyncio.create_task(processor.process(inference(events)))
    await asyncio.sleep(0.1)
    assert engine.stats.accepted == 256 and not processing.done()  # one slice, then waiting for the call
    answered.set()
    await in_flight
    result = await asyncio.wait_for(processing, 5)
    assert not result.rejected and engine.stats.accepted == 3 * 256

    # A call that never ends holds each slice back for max_give_way_s only.
    stuck = RatePatternProcessor(RatePatternEngine(RatePatternConfig()), clock_ms=lambda: 2**62,
                                 slice_seconds=1e-9, calls=calls, max_give_way_s=0.01)
    never = asyncio.create_task(call())
    answered.clear()
    await asyncio.sleep(0)
    result = await asyncio.wait_for(stuck.process(inference(events)), 5)
    assert stuck.engine.stats.accepted == 3 * 256
    never.cancel()
    with pytest.raises(asyncio.CancelledError):
        await never


async def test_without_recent_calls_giving_way_returns_at_once() -> None:
    calls = CallsInFlight(recent_s=1.0, arrival_s=10.0)  # a sleep would overrun the wait_for below
    await asyncio.wait_for(calls.give_way(60.0), 1)
    with calls.serving():
        assert calls.count == 1
    assert calls.count == 0


async def test_slices_are_short_only_while_the_api_is_in_use() -> None:
    """Each engine call has a fixed cost, so without recent API calls a batch is applied in idle-sized
    slices; a call in the last `recent_s` makes them short again."""
    events: list[object] = [make_event(f"acct_{i % 5}", 30.0 * i) for i in range(4 * 256)]
    calls = CallsInFlight(recent_s=60.0, arrival_s=0.0)
    engine = RatePatternEngine(RatePatternConfig())
    sizes: list[int] = []
    apply = engine.apply_inference

    def counting(batch: InferenceBatch) -> list[ratepattern_pb2.RiskSignal]:
        sizes.append(len(batch))
        return apply(batch)

    engine.apply_inference = counting  # type: ignore[method-assign]
    processor = RatePatternProcessor(engine, clock_ms=lambda: 2**62, slice_seconds=1e-9, idle_slice_seconds=60.0,
                                     calls=calls)
    await processor.process(inference(events[:512]))
    assert sizes == [512]  # no call yet: one slice
    with calls.serving():
        pass
    await processor.process(inference(events[512:]))
    assert sizes == [512, 256, 256]  # a recent call: minimum slices
