from __future__ import annotations

from typing import Any

import orjson
import pytest

from distillguard.codec import (
    EVENT_MESSAGES,
    InvalidEvent,
    check_message,
    decode_line,
    decode_object,
    decode_wire,
    encode_object,
    enum_words,
)
from distillguard.v1 import events_pb2

INFERENCE: dict[str, Any] = {
    "type": "inference", "event_id": "e1", "occurred_at": "2026-03-01T12:00:00.250Z", "account_id": "acct_1",
    "api_key_id": "key_1", "model": "frontier-1", "ip": "203.0.113.9", "user_agent": "python-httpx/0.28",
    "input_tokens": 900, "output_tokens": 2000, "max_tokens": 2048, "latency_ms": 5100, "status": "ok",
    "stream": True, "prompt_sample": "Think step by step.", "system_prompt_sha256": "ab" * 32,
    "account_rpm_limit": 60,
}
SIGNUP: dict[str, Any] = {
    "type": "signup", "event_id": "s1", "occurred_at": "2026-03-01T11:00:00+02:00", "account_id": "acct_1",
    "email": "Jane.Doe+x@gmail.com", "display_name": "Jane", "org_id": "", "country": "DE",
    "signup_path": "self_serve", "verification": "email",
}
BILLING: dict[str, Any] = {
    "type": "billing", "event_id": "b1", "occurred_at": "2026-03-01T11:05:00Z", "account_id": "acct_1",
    "kind": "payment_method_added", "amount_cents": 0, "card_fingerprint": "fp1", "card_funding": "prepaid",
    "billing_address": {"line1": "1 Main St", "city": "Springfield", "country": "US"},
}


@pytest.mark.parametrize("event", [INFERENCE, SIGNUP, BILLING])
def test_round_trip_through_json_and_protobuf(event: dict[str, Any]) -> None:
    decoded = decode_line(orjson.dumps(event))
    again = decode_wire(decoded.event_type, decoded.message.SerializeToString())
    assert again == decoded.message
    encoded = encode_object(decoded.event_type, again)
    assert decode_object(encoded).message == decoded.message


def test_enum_words_are_lowercase_suffixes() -> None:
    assert enum_words(events_pb2.SignupPath.DESCRIPTOR) == {
        "self_serve": 1, "education": 2, "startup_program": 3, "research_program": 4,
        "enterprise_sales": 5, "other": 6,
    }
    assert set(enum_words(events_pb2.InferenceStatus.DESCRIPTOR)) == {"ok", "rate_limited", "error", "refused"}


def test_time_offsets_are_normalised_to_utc() -> None:
    message = decode_object(SIGNUP).message
    assert isinstance(message, events_pb2.SignupEvent)
    assert message.occurred_at.ToJsonString() == "2026-03-01T09:00:00Z"


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = {**base, **changes}
    return {key: value for key, value in out.items() if value is not ...}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (orjson.dumps(_with(INFERENCE, type="click")), "unknown type 'click'"),
        (orjson.dumps(_with(INFERENCE, type=...)), 'missing "type"'),
        (orjson.dumps(_with(INFERENCE, colour="red")), "unknown field 'colour'"),
        (orjson.dumps(_with(INFERENCE, input_tokens="12")), "input_tokens must be an integer"),
        (orjson.dumps(_with(INFERENCE, input_tokens=True)), "input_tokens must be an integer"),
        (orjson.dumps(_with(INFERENCE, output_tokens=-1)), "output_tokens must not be negative"),
        (orjson.dumps(_with(INFERENCE, account_id=...)), "missing required field account_id"),
        (orjson.dumps(_with(INFERENCE, event_id="")), "missing required field event_id"),
        (orjson.dumps(_with(INFERENCE, occurred_at="yesterday")), "unparseable RFC 3339 time"),
        (orjson.dumps(_with(INFERENCE, occurred_at="2026-03-01T12:00:00")), "has no UTC offset"),
        (orjson.dumps(_with(INFERENCE, prompt_sample="x" * 2001)), "prompt_sample is 2001 characters"),
        (orjson.dumps(_with(INFERENCE, status="OK")), "status must be one of ok | rate_limited"),
        (orjson.dumps(_with(INFERENCE, stream="yes")), "stream must be true or false"),
        (orjson.dumps(_with(BILLING, billing_address={"zip": "1"})), "unknown field 'billing_address.zip'"),
        (orjson.dumps(_with(BILLING, billing_address="1 Main St")), "billing_address must be an object"),
        (orjson.dumps(_with(BILLING, kind=...)), "missing required field kind"),
        (orjson.dumps(_with(INFERENCE, max_tokens=2**63)), "out of the int64 range"),
        (b" " * 70_000, "over the limit"),
    ],
)
def test_bad_lines_are_refused_with_their_reason(line: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_line(line)
    assert reason in str(caught.value)


def test_optional_fields_may_be_absent_or_null() -> None:
    minimal = {key: INFERENCE[key] for key in ("type", "event_id", "occurred_at", "account_id", "model", "status")}
    decoded = decode_object({**minimal, "prompt_sample": None})
    assert decoded.account_id == "acct_1"


def test_wire_messages_get_the_same_rules() -> None:
    with pytest.raises(InvalidEvent, match="not a valid InferenceEvent"):
        decode_wire("inference", b"\xff\xff\xff")
    bad = events_pb2.InferenceEvent(event_id="e", account_id="a", model="m", input_tokens=-5,
                                    status=events_pb2.INFERENCE_STATUS_OK)
    bad.occurred_at.GetCurrentTime()
    with pytest.raises(InvalidEvent, match="input_tokens must not be negative"):
        check_message("inference", bad)
    no_time = events_pb2.SignupEvent(event_id="e", account_id="a")
    with pytest.raises(InvalidEvent, match="missing required field occurred_at"):
        check_message("signup", no_time)


def test_every_event_field_is_covered_by_the_codec() -> None:
    """A new proto field of an unsupported type must fail here, not at ingestion time."""
    for name, message in EVENT_MESSAGES.items():
        assert encode_object(name, message())["type"] == name
