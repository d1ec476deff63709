"""InferenceBatch: decoding serialized events into columns, and refusing bad input with a reason."""

from __future__ import annotations

import numpy as np

from distillguard.v1 import events_pb2
from ratepattern.domain import InferenceBatch
from ratepattern.synthetic import T0, make_event


def test_columns_follow_the_events() -> None:
    events = [make_event("a", 1.5, "hello there", input_tokens=10, output_tokens=20, max_tokens=30, rpm_limit=7,
                         model="m1", status=events_pb2.INFERENCE_STATUS_RATE_LIMITED, system_prompt="sys"),
              make_event("b", 2.0, "", model="m2")]
    batch = InferenceBatch.from_protobuf_values([e.SerializeToString() for e in events])
    assert batch.account_ids == ["a", "b"]
    assert batch.occurred_ms.tolist() == [T0 * 1000 + 1500, T0 * 1000 + 2000]
    assert [batch.models[i] for i in batch.model_index] == ["m1", "m2"]
    assert batch.input_tokens.tolist() == [10, 400]
    assert batch.output_tokens.tolist() == [20, 600]
    assert batch.max_tokens.tolist() == [30, 4096]
    assert batch.rpm_limit.tolist() == [7, 60]
    assert batch.status.tolist() == [events_pb2.INFERENCE_STATUS_RATE_LIMITED, events_pb2.INFERENCE_STATUS_OK]
    assert batch.event_keys[0] != batch.event_keys[1]
    prompt, system = batch.content(0)
    assert prompt == "hello there" and len(system) == 64
    assert batch.rejected == []


def test_from_events_matches_from_protobuf_values() -> None:
    events = [make_event(f"a{i}", float(i), f"p{i}") for i in range(5)]
    a = InferenceBatch.from_events(events)
    b = InferenceBatch.from_protobuf_values([e.SerializeToString() for e in events])
    for name in ("event_keys", "occurred_ms", "input_tokens", "output_tokens", "max_tokens", "rpm_limit", "status"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.content(3) == b.content(3)


def test_bad_values_are_refused_with_reasons_and_the_rest_kept() -> None:
    good = make_event("a", 1.0, "ok")
    no_account = make_event("", 2.0)
    no_time = make_event("c", 3.0)
    no_time.ClearField("occurred_at")
    negative = make_event("d", 4.0, input_tokens=-5)
    no_status = make_event("e", 5.0, status=events_pb2.INFERENCE_STATUS_UNSPECIFIED)
    values = [good.SerializeToString(), b"\xff\xff\xff not protobuf", no_account.SerializeToString(),
              no_time.SerializeToString(), negative.SerializeToString(), no_status.SerializeToString()]
    batch = InferenceBatch.from_protobuf_values(values)
    assert batch.account_ids == ["a"]
    assert batch.source_index.tolist() == [0]
    reasons = {r.index: r.reason for r in batch.rejected}
    assert sorted(reasons) == [1, 2, 3, 4, 5]
    assert reasons[1].startswith("undecodable InferenceEvent")
    assert reasons[2] == "missing required field account_id"
    assert reasons[3] == "missing required field occurred_at"
    assert reasons[4] == "negative token count or rpm limit"
    assert reasons[5] == "missing required field status"
    assert batch.content(0) == ("ok", "")


def test_empty_batch() -> None:
    batch = InferenceBatch.from_protobuf_values([])
    assert len(batch) == 0 and batch.rejected == []


def test_events_later_than_not_after_are_refused_with_the_reason() -> None:
    events = [make_event("a", 1.0), make_event("b", 400.0), make_event("c", 2.0)]
    values = [e.SerializeToString() for e in events]
    not_after = T0 * 1000 + 300_000
    batch = InferenceBatch.from_protobuf_values(values, not_after_ms=not_after)
    assert batch.account_ids == ["a", "c"] and batch.source_index.tolist() == [0, 2]
    [refused] = batch.rejected
    assert refused.index == 1
    assert refused.reason.startswith("occurred_at 2026-03-02T00:06:40.000Z is in the future: later than "
                                     "2026-03-02T00:05:00.000Z")
    assert "max_future_skew_ms" in refused.reason
    # at the bound is fine, and without a bound (replays of recorded traffic) nothing is refused
    assert len(InferenceBatch.from_protobuf_values(values, not_after_ms=T0 * 1000 + 400_000)) == 3
    assert len(InferenceBatch.from_protobuf_values(values)) == 3


def test_a_timestamp_whose_milliseconds_overflow_is_still_in_the_future() -> None:
    event = make_event("a", 1.0)
    event.occurred_at.seconds = 2**62  # seconds * 1000 wraps around int64
    batch = InferenceBatch.from_protobuf_values([event.SerializeToString()], not_after_ms=T0 * 1000)
    assert len(batch) == 0 and "in the future" in batch.rejected[0].reason
