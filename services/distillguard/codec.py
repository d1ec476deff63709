"""JSON Lines <-> protobuf codec for the ingestion contract.

The rules come from the proto descriptors and their `(distillguard.v1.rules)` options, so
protos/distillguard/v1/events.proto stays the single source of truth: field names, types,
enum words (the lowercase suffix after the enum's prefix), required fields, length bounds and
non-negative numbers. Decoding is strict: unknown fields, wrong JSON types, unparseable
times, oversize strings and negative counts raise InvalidEvent with a reason a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from collections.abc import Callable
from typing import Any, Final, Literal

import orjson
from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from distillguard.v1 import events_pb2, options_pb2

EventType = Literal["signup", "billing", "inference"]

EVENT_MESSAGES: Final[dict[str, type[Message]]] = {
    "signup": events_pb2.SignupEvent,
    "billing": events_pb2.BillingEvent,
    "inference": events_pb2.InferenceEvent,
}
DEFAULT_MAX_STRING: Final = 4096
MAX_LINE_BYTES: Final = 64 * 1024
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


class InvalidEvent(ValueError):
    """An event that breaks the contract; str(exc) is the reason."""


@dataclass(frozen=True)
class _Field:
    name: str
    kind: Literal["string", "int", "bool", "enum", "timestamp", "message"]
    required: bool
    max_length: int
    non_negative: bool
    enum_words: dict[str, int] | None = None
    enum_names: dict[int, str] | None = None
    nested: dict[str, _Field] | None = None


def enum_words(enum: EnumDescriptor) -> dict[str, int]:
    """Lowercase JSON words of an enum, without its UPPER_SNAKE prefix and without UNSPECIFIED."""
    prefix = "".join("_" + c if c.isupper() and i else c for i, c in enumerate(enum.name)).upper() + "_"
    words = {}
    for value in enum.values:
        if value.number == 0:
            continue
        if not value.name.startswith(prefix):
            raise AssertionError(f"enum value {value.name} lacks prefix {prefix}")
        words[value.name[len(prefix):].lower()] = value.number
    return words


def _fields(descriptor: Any) -> dict[str, _Field]:
    fields: dict[str, _Field] = {}
    for fd in descriptor.fields:
        rules = fd.GetOptions().Extensions[options_pb2.rules]
        common: dict[str, Any] = {
            "name": fd.name,
            "required": rules.required,
            "max_length": rules.max_length or DEFAULT_MAX_STRING,
            "non_negative": rules.non_negative,
        }
        if fd.type == FieldDescriptor.TYPE_MESSAGE and fd.message_type.full_name == "google.protobuf.Timestamp":
            fields[fd.name] = _Field(kind="timestamp", **common)
        elif fd.type == FieldDescriptor.TYPE_MESSAGE:
            fields[fd.name] = _Field(kind="message", nested=_fields(fd.message_type), **common)
        elif fd.type == FieldDescriptor.TYPE_ENUM:
            words = enum_words(fd.enum_type)
            fields[fd.name] = _Field(
                kind="enum", enum_words=words, enum_names={v: k for k, v in words.items()}, **common
            )
        elif fd.type == FieldDescriptor.TYPE_STRING:
            fields[fd.name] = _Field(kind="string", **common)
        elif fd.type == FieldDescriptor.TYPE_BOOL:
            fields[fd.name] = _Field(kind="bool", **common)
        elif fd.type in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_INT32):
            fields[fd.name] = _Field(kind="int", **common)
        else:  # pragma: no cover - guarded by test_codec_covers_every_field_type
            raise AssertionError(f"codec does not support field type {fd.type} of {fd.full_name}")
    return fields


_SCHEMAS: Final[dict[str, dict[str, _Field]]] = {
    name: _fields(message.DESCRIPTOR) for name, message in EVENT_MESSAGES.items()
}


def parse_time(value: str) -> datetime:
    """Parse an RFC 3339 timestamp with an explicit offset (Z or +hh:mm) into an aware UTC datetime."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidEvent(f"unparseable RFC 3339 time {value[:64]!r}") from None
    if parsed.tzinfo is None:
        raise InvalidEvent(f"time {value[:64]!r} has no UTC offset")
    return parsed.astimezone(timezone.utc)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z suffix and millisecond precision."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Converter = Callable[[Any, str], Any]


def _string_converter(spec: _Field) -> Converter:
    limit = spec.max_length

    def convert(value: Any, where: str) -> Any:
        if type(value) is not str:
            raise InvalidEvent(f"field {where} must be a string, got {type(value).__name__}")
        if len(value) > limit:
            raise InvalidEvent(f"field {where} is {len(value)} characters, over the limit of {limit}")
        return value

    return convert


def _int_converter(spec: _Field) -> Converter:
    low = 0 if spec.non_negative else INT64_MIN

    def convert(value: Any, where: str) -> Any:
        if type(value) is not int:
            raise InvalidEvent(f"field {where} must be an integer, got {type(value).__name__}")
        if value < low:
            if spec.non_negative:
                raise InvalidEvent(f"field {where} must not be negative, got {value}")
            raise InvalidEvent(f"field {where} is out of the int64 range")
        if value > INT64_MAX:
            raise InvalidEvent(f"field {where} is out of the int64 range")
        return value

    return convert


def _bool_converter(spec: _Field) -> Converter:
    def convert(value: Any, where: str) -> Any:
        if type(value) is not bool:
            raise InvalidEvent(f"field {where} must be true or false, got {type(value).__name__}")
        return value

    return convert


def _enum_converter(spec: _Field) -> Converter:
    assert spec.enum_words is not None
    words = spec.enum_words
    allowed = " | ".join(words)

    def convert(value: Any, where: str) -> Any:
        number = words.get(value) if type(value) is str else None
        if number is None:
            raise InvalidEvent(f"field {where} must be one of {allowed}, got {str(value)[:64]!r}")
        return number

    return convert


def _timestamp_converter(spec: _Field) -> Converter:
    def convert(value: Any, where: str) -> Any:
        if type(value) is not str:
            raise InvalidEvent(f"field {where} must be an RFC 3339 string, got {type(value).__name__}")
        moment = parse_time(value)
        stamp = Timestamp()
        stamp.FromDatetime(moment)
        return stamp

    return convert


def _message_converter(spec: _Field, message_type: type[Message]) -> Converter:
    assert spec.nested is not None
    converters = _converters(spec.nested, message_type)

    def convert(value: Any, where: str) -> Any:
        if type(value) is not dict:
            raise InvalidEvent(f"field {where} must be an object, got {type(value).__name__}")
        return _build(message_type, converters, spec.nested or {}, value, f"{where}.")

    return convert


_CONVERTERS: Final[dict[str, Callable[[_Field], Converter]]] = {
    "string": _string_converter,
    "int": _int_converter,
    "bool": _bool_converter,
    "enum": _enum_converter,
    "timestamp": _timestamp_converter,
}


def _converters(schema: dict[str, _Field], message_type: type[Message]) -> dict[str, Converter]:
    out: dict[str, Converter] = {}
    for name, spec in schema.items():
        if spec.kind == "message":
            nested_type = type(getattr(message_type(), name))
            out[name] = _message_converter(spec, nested_type)
        else:
            out[name] = _CONVERTERS[spec.kind](spec)
    return out


def _build(
    message_type: type[Message],
    converters: dict[str, Converter],
    schema: dict[str, _Field],
    obj: dict[str, Any],
    path: str,
) -> Message:
    """Convert every field of `obj`, then build the message in one constructor call."""
    values: dict[str, Any] = {}
    for key, value in obj.items():
        convert = converters.get(key)
        if convert is None:
            if key == "type" and not path:
                continue
            raise InvalidEvent(f"unknown field {(path + key)[:80]!r}")
        if value is None:
            continue
        values[key] = convert(value, path + key)
    for name, spec in schema.items():
        if spec.required and not values.get(name):
            raise InvalidEvent(f"missing required field {path}{name}")
    return message_type(**values)


_EVENT_CONVERTERS: Final[dict[str, dict[str, Converter]]] = {
    name: _converters(_SCHEMAS[name], message) for name, message in EVENT_MESSAGES.items()
}


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    event_type: str
    message: Message

    @property
    def account_id(self) -> str:
        return str(getattr(self.message, "account_id"))


def decode_object(obj: Any) -> DecodedEvent:
    """Validate one already-parsed JSON value against the contract."""
    if not isinstance(obj, dict):
        raise InvalidEvent(f"line must be a JSON object, got {type(obj).__name__}")
    event_type = obj.get("type")
    if event_type is None:
        raise InvalidEvent('missing "type" (signup | billing | inference)')
    message_type = EVENT_MESSAGES.get(event_type) if isinstance(event_type, str) else None
    if message_type is None:
        raise InvalidEvent(f"unknown type {str(event_type)[:32]!r}; expected signup | billing | inference")
    message = _build(message_type, _EVENT_CONVERTERS[event_type], _SCHEMAS[event_type], obj, "")
    return DecodedEvent(event_type, message)


def decode_line(line: bytes | str) -> DecodedEvent:
    """Validate one JSON Lines line; raise InvalidEvent with the reason."""
    if len(line) > MAX_LINE_BYTES:
        raise InvalidEvent(f"line is {len(line)} bytes, over the limit of {MAX_LINE_BYTES}")
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not JSON: {exc}") from None
    return decode_object(obj)


def _to_json(message: Message, schema: dict[str, _Field]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in schema.items():
        value = getattr(message, name)
        if spec.kind == "timestamp":
            if message.HasField(name):
                out[name] = format_time(value.ToDatetime(tzinfo=timezone.utc))
        elif spec.kind == "message":
            if message.HasField(name):
                assert spec.nested is not None
                out[name] = _to_json(value, spec.nested)
        elif spec.kind == "enum":
            assert spec.enum_names is not None
            if value:
                out[name] = spec.enum_names[value]
        elif value or spec.kind in ("int", "bool"):
            out[name] = value
    return out


def encode_object(event_type: str, message: Message) -> dict[str, Any]:
    """The JSON Lines object of an event (inverse of decode_object)."""
    return {"type": event_type, **_to_json(message, _SCHEMAS[event_type])}


def schema_field_names(event_type: str) -> frozenset[str]:
    return frozenset(_SCHEMAS[event_type])


def _check(message: Message, schema: dict[str, _Field], path: str) -> None:
    # Per-event hot path: the field's path is formatted only for an error.
    for name, spec in schema.items():
        value = getattr(message, name)
        kind = spec.kind
        if kind == "string":
            if spec.required and not value:
                raise InvalidEvent(f"missing required field {path}{name}")
            if len(value) > spec.max_length:
                raise InvalidEvent(
                    f"field {path}{name} is {len(value)} characters, over the limit of {spec.max_length}"
                )
        elif kind == "int":
            if spec.non_negative and value < 0:
                raise InvalidEvent(f"field {path}{name} must not be negative, got {value}")
        elif kind == "enum":
            assert spec.enum_names is not None
            if spec.required and value == 0:
                raise InvalidEvent(f"missing required field {path}{name}")
            if value and value not in spec.enum_names:
                raise InvalidEvent(f"field {path}{name} has unknown enum number {value}")
        elif kind == "timestamp":
            if spec.required and not message.HasField(name):
                raise InvalidEvent(f"missing required field {path}{name}")
        elif kind == "message" and message.HasField(name):
            assert spec.nested is not None
            _check(value, spec.nested, f"{path}{name}.")


def check_message(event_type: str, message: Message) -> None:
    """Apply the contract's rules to a message that arrived as protobuf (Kafka consumers call this)."""
    _check(message, _SCHEMAS[event_type], "")


def decode_wire(event_type: str, value: bytes) -> Message:
    """Parse and check one protobuf event from Kafka; raise InvalidEvent with the reason."""
    message = EVENT_MESSAGES[event_type]()
    try:
        message.ParseFromString(value)
    except Exception as exc:  # protobuf raises DecodeError and, for some inputs, other errors
        raise InvalidEvent(f"not a valid {message.DESCRIPTOR.name} protobuf: {exc}") from None
    check_message(event_type, message)
    return message
