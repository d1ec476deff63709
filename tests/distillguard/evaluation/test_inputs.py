from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from distillguard.evaluation.inputs import (
    InputError,
    InputIssues,
    Label,
    epoch_ms,
    inference_requests,
    load_decisions,
    load_labels,
)

LABELS = {"a": Label(True, "hydra"), "b": Label(False, "casual")}


def good(**overrides: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "account_id": "a", "action": "ban", "enforced": True, "first_enforced_at": "2025-03-03T01:00:00Z",
        "cluster_id": "c1", "score": 0.9, "reasons": ["shared_card"], "policy_rule": "r1", "shadow": False,
    }
    return line | overrides


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def test_decisions_are_parsed_with_times_in_epoch_ms(tmp_path: Path) -> None:
    decisions = load_decisions(write_lines(tmp_path / "d.jsonl", [good()]), LABELS, InputIssues())
    assert decisions["a"].first_enforced_ms == epoch_ms("2025-03-03T02:00:00+01:00")
    assert decisions["a"].counts_as_enforced


@pytest.mark.parametrize(("override", "reason"), [
    ({"action": "nuke"}, "unknown action 'nuke'"),
    ({"first_enforced_at": "yesterday"}, "not an RFC 3339 time"),
    ({"first_enforced_at": "2025-03-03T01:00:00"}, "not an RFC 3339 time"),
    ({"enforced": "yes"}, "enforced must be true or false"),
    ({"account_id": ""}, "account_id must be a non-empty string"),
    ({"reasons": "x"}, "reasons must be a list of strings"),
])
def test_malformed_decision_lines_name_the_line_and_reason(tmp_path: Path, override: dict[str, Any], reason: str) -> None:
    path = write_lines(tmp_path / "d.jsonl", [good(account_id="b"), good(**override)])
    with pytest.raises(InputError, match=rf"d\.jsonl:2: .*{reason}"):
        load_decisions(path, LABELS, InputIssues())


def test_unknown_and_repeated_accounts_are_counted_not_fatal(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", [
        good(action="throttle", first_enforced_at="2025-03-03T05:00:00Z"),
        good(action="suspend", first_enforced_at="2025-03-03T03:00:00Z", shadow=True),
        good(action="ban", first_enforced_at="2025-03-03T04:00:00Z"),
        good(account_id="ghost"),
        good(account_id="b", first_enforced_at=None),
    ])
    issues = InputIssues()
    decisions = load_decisions(path, LABELS, issues)
    assert issues.unknown_decision_accounts == 1 and issues.unknown_decision_samples == ["ghost"]
    assert issues.duplicate_decision_lines == 2
    assert issues.enforced_without_time == 1
    # The strongest enforcing action, the earliest real (non-shadow) enforcement.
    assert decisions["a"].action == "ban"
    assert decisions["a"].first_enforced_ms == epoch_ms("2025-03-03T04:00:00Z")
    assert any("ghost" in line for line in issues.lines())


@pytest.mark.parametrize("content", [b"[]", b"{}", b'{"a": "attacker"}', b'{"a": 3}', b"not json"])
def test_bad_labels_are_refused(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "labels.json").write_bytes(content)
    with pytest.raises(InputError, match="labels"):
        load_labels(tmp_path / "labels.json")


def test_inference_requests_stream_gzip_and_count_bad_lines(tmp_path: Path) -> None:
    lines = [
        {"type": "signup", "account_id": "a", "occurred_at": "2025-03-03T00:00:00Z"},
        {"type": "inference", "account_id": "a", "occurred_at": "2025-03-03T00:00:01.500Z"},
        {"type": "inference", "account_id": "a", "occurred_at": "soon"},
    ]
    raw = b"".join(orjson.dumps(line) + b"\n" for line in lines) + b"{broken\n"
    (tmp_path / "e.jsonl.gz").write_bytes(gzip.compress(raw))
    issues = InputIssues()
    assert list(inference_requests(tmp_path / "e.jsonl.gz", issues)) == [("a", epoch_ms("2025-03-03T00:00:01.500Z"))]
    assert issues.unreadable_event_lines == 2
