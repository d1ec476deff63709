"""InferenceBatch: decoding serialized events into columns, and refusing bad input with a reason."""

from __future__ import annotations

import numpy as np
import pytest

from distillguard.v1 import events_pb2
from ratepattern.domain import InferenceBatch
from ratepattern.domain import batch as batch_module
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


def test_one_parse_decoding_reads_what_inferenceevent_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch decoded in one parse, without parsing any message alone, equals the batch of the parsed
    messages, including values that are not canonical: a field repeated (the last wins), a message field
    repeated (merged), defaults written out and unknown fields."""
    events = [make_event(f"a{i % 4}", 10.0 * i, f"prompt {i}", input_tokens=i, output_tokens=0, max_tokens=i % 3,
                         rpm_limit=i % 2, model=f"m{i % 3}", system_prompt="s" if i % 2 else "")
              for i in range(40)]
    values = [e.SerializeToString() for e in events]
    values.append(make_event("b", 1.0, input_tokens=7).SerializeToString() + b"\x40\x09")  # input_tokens 9 wins
    values.append(make_event("c", 2.0).SerializeToString() + b"\x12\x05\x10\xc0\x96\xb1\x02")  # occurred_at again: 5 ms
    values.append(make_event("e", 4.0).SerializeToString() + b"\x50\x00" + b"\xf8\x07\x05")  # max_tokens 0, field 127
    parsed = [events_pb2.InferenceEvent.FromString(v) for v in values]

    def no_single_parse(value: bytes) -> events_pb2.InferenceEvent:
        raise AssertionError("decoded message by message")

    monkeypatch.setattr(batch_module, "_PARSE", no_single_parse)
    batch = InferenceBatch.from_protobuf_values(values)
    monkeypatch.undo()
    expected = InferenceBatch.from_events(parsed)
    assert batch.rejected == [] and len(batch) == len(values)
    assert batch.account_ids == expected.account_ids and batch.account_ids[-3:] == ["b", "c", "e"]
    assert [batch.models[i] for i in batch.model_index] == [expected.models[i] for i in expected.model_index]
    for name in ("event_keys", "occurred_ms", "input_tokens", "output_tokens", "max_tokens", "rpm_limit", "status"):
        assert np.array_equal(getattr(batch, name), getattr(expected, name)), name
    assert batch.input_tokens[40] == 9 and batch.occurred_ms[41] == (T0 + 2) * 1000 + 5 and batch.max_tokens[42] == 0
    assert [batch.content(i) for i in range(len(batch))] == [expected.content(i) for i in range(len(batch))]


def test_values_the_one_parse_cannot_attribute_are_decoded_message_by_message() -> None:
    """A value equal to a sentinel, an empty string written out or two messages concatenated are decoded
    one by one, with the same outcome as any other batch; a negative (unknown) status is kept, as
    InferenceEvent keeps it."""
    empty_id = make_event("a", 1.0).SerializeToString() + b"\x0a\x00"  # event_id "" written out last: missing
    merged = make_event("e", 5.0).SerializeToString() + make_event("f", 6.0, rpm_limit=0).SerializeToString()
    negative_rpm = make_event("b", 2.0, rpm_limit=-1)
    negative_status = make_event("c", 3.0)
    negative_status.status = -1  # type: ignore[assignment]
    batch = InferenceBatch.from_protobuf_values([empty_id, negative_rpm.SerializeToString(),
                                                 negative_status.SerializeToString(),
                                                 make_event("d", 4.0).SerializeToString(), merged])
    assert batch.account_ids == ["c", "d", "f"]
    assert batch.status.tolist() == [-1, events_pb2.INFERENCE_STATUS_OK, events_pb2.INFERENCE_STATUS_OK]
    assert batch.rpm_limit[2] == 60  # f's limit 0 is not on the wire: e's stays
    assert [(r.index, r.reason) for r in batch.rejected] == [(0, "missing required field event_id"),
                                                             (1, "negative token count or rpm limit")]


def test_invalid_utf8_in_any_string_field_is_refused_as_inferenceevent_refuses_it() -> None:
    event = make_event("a", 1.0, "hello")
    bad = event.SerializeToString().replace(b"hello", b"hel\xfflo")  # prompt_sample, a field the batch does not read
    batch = InferenceBatch.from_protobuf_values([make_event("b", 2.0).SerializeToString(), bad])
    assert batch.account_ids == ["b"]
    [refused] = batch.rejected
    assert refused.index == 1 and refused.reason.startswith("undecodable InferenceEvent")
