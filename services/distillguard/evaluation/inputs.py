"""Reading and validating the evaluation's three inputs.

- labels.json: {account_id: "legit:<segment>" | "attack:<campaign>"} (the simulator's ground truth);
- decisions.jsonl: one object per line as printed by `distillguard export decisions`;
- events.jsonl[.gz]: the event stream, read line by line (only inference events matter).

A malformed labels file or decision line is an `InputError` naming the file, line and reason;
decisions about accounts the labels do not know, repeated decision lines and unreadable event lines
are counted in `InputIssues` and reported, not fatal.
"""

from __future__ import annotations

import gzip
import re
from io import BufferedIOBase
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

import orjson

ACTIONS: Final = ("monitor", "throttle", "challenge", "suspend", "ban")
# Throttle or stronger restricts the account; monitor only watches it.
ENFORCING_ACTIONS: Final = frozenset(ACTIONS[1:])
_STRENGTH: Final = {action: rank for rank, action in enumerate(ACTIONS)}
_LABEL: Final = re.compile(r"^(legit|attack):([A-Za-z0-9_.-]+)$")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MILLISECOND: Final = timedelta(milliseconds=1)
SAMPLE_LIMIT: Final = 5


class InputError(ValueError):
    """An input the evaluation cannot score; str(exc) names the file, the line and the reason."""


@dataclass(frozen=True)
class Label:
    attack: bool
    group: str  # segment or campaign name

    def __str__(self) -> str:
        return ("attack:" if self.attack else "legit:") + self.group


@dataclass(frozen=True)
class Decision:
    """One account's decision; times are epoch milliseconds."""

    account_id: str
    action: str
    enforced: bool
    shadow: bool
    first_enforced_ms: int | None
    cluster_id: str | None
    score: float | None
    policy_rule: str | None
    reasons: tuple[str, ...]

    @property
    def counts_as_enforced(self) -> bool:
        """Throttle or stronger, actually applied, not a shadow (dry-run) decision."""
        return self.enforced and not self.shadow and self.action in ENFORCING_ACTIONS

    @property
    def held_for_review(self) -> bool:
        """Throttle or stronger proposed (not a shadow) but not applied: waiting for a human (guard rail)."""
        return not self.enforced and not self.shadow and self.action in ENFORCING_ACTIONS


@dataclass
class InputIssues:
    """What was wrong with the inputs but did not stop the evaluation."""

    unknown_decision_accounts: int = 0
    unknown_decision_samples: list[str] = field(default_factory=list)
    duplicate_decision_lines: int = 0
    enforced_without_time: int = 0
    unreadable_event_lines: int = 0
    unlabelled_inference_requests: int = 0
    unlabelled_samples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "unknown_decision_accounts": self.unknown_decision_accounts,
            "unknown_decision_samples": self.unknown_decision_samples,
            "duplicate_decision_lines": self.duplicate_decision_lines,
            "enforced_without_time": self.enforced_without_time,
            "unreadable_event_lines": self.unreadable_event_lines,
            "unlabelled_inference_requests": self.unlabelled_inference_requests,
            "unlabelled_samples": self.unlabelled_samples,
        }

    def lines(self) -> list[str]:
        """Human-readable warnings, one per kind of issue present."""
        out = []
        if self.unknown_decision_accounts:
            out.append(f"{self.unknown_decision_accounts} decision account(s) missing from the labels (ignored), "
                       f"e.g. {', '.join(self.unknown_decision_samples)}")
        if self.duplicate_decision_lines:
            out.append(f"{self.duplicate_decision_lines} repeated decision line(s) merged "
                       "(strongest action, earliest enforcement)")
        if self.enforced_without_time:
            out.append(f"{self.enforced_without_time} enforced decision(s) without first_enforced_at: "
                       "counted as enforced, but all their requests count as leaked")
        if self.unreadable_event_lines:
            out.append(f"{self.unreadable_event_lines} unreadable event line(s) skipped")
        if self.unlabelled_inference_requests:
            out.append(f"{self.unlabelled_inference_requests} inference request(s) from unlabelled accounts skipped, "
                       f"e.g. {', '.join(self.unlabelled_samples)}")
        return out


def epoch_ms(value: str) -> int:
    """Milliseconds since the epoch of an RFC 3339 time with an explicit offset; ValueError otherwise."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"time {value[:40]!r} has no UTC offset")
    return (moment - _EPOCH) // _MILLISECOND


def load_labels(path: Path) -> dict[str, Label]:
    """account_id -> Label; InputError on anything but an object of "legit:x" / "attack:x" strings."""
    try:
        raw = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read labels: {exc}") from None
    if not isinstance(raw, dict) or not raw:
        raise InputError(f"{path}: labels must be a non-empty JSON object of account_id -> label")
    labels: dict[str, Label] = {}
    for account_id, text in raw.items():
        match = _LABEL.match(text) if isinstance(text, str) else None
        if match is None:
            raise InputError(f"{path}: label of {account_id!r} must be 'legit:<segment>' or 'attack:<campaign>', "
                             f"got {str(text)[:60]!r}")
        labels[account_id] = Label(match.group(1) == "attack", match.group(2))
    return labels


def _decision(obj: Any) -> Decision:
    if not isinstance(obj, dict):
        raise ValueError(f"a decision must be a JSON object, got {type(obj).__name__}")
    account_id = obj.get("account_id")
    if not isinstance(account_id, str) or not account_id:
        raise ValueError("account_id must be a non-empty string")
    action = obj.get("action")
    if action not in _STRENGTH:
        raise ValueError(f"unknown action {str(action)[:40]!r}; expected one of {' | '.join(ACTIONS)}")
    enforced = obj.get("enforced")
    if not isinstance(enforced, bool):
        raise ValueError("enforced must be true or false")
    shadow = obj.get("shadow", False)
    if not isinstance(shadow, bool):
        raise ValueError("shadow must be true or false")
    when = obj.get("first_enforced_at")
    if when is not None and not isinstance(when, str):
        raise ValueError("first_enforced_at must be an RFC 3339 string or null")
    try:
        first_enforced_ms = epoch_ms(when) if when is not None else None
    except ValueError:
        raise ValueError(f"first_enforced_at {str(when)[:40]!r} is not an RFC 3339 time with an offset") from None
    cluster = obj.get("cluster_id")
    if cluster is not None and not isinstance(cluster, str):
        raise ValueError("cluster_id must be a string or null")
    score = obj.get("score")
    if score is not None and (not isinstance(score, (int, float)) or isinstance(score, bool)):
        raise ValueError("score must be a number or null")
    rule = obj.get("policy_rule")
    if rule is not None and not isinstance(rule, str):
        raise ValueError("policy_rule must be a string or null")
    reasons = obj.get("reasons", [])
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise ValueError("reasons must be a list of strings")
    return Decision(
        account_id=account_id, action=action, enforced=enforced, shadow=shadow, first_enforced_ms=first_enforced_ms,
        cluster_id=cluster or None, score=None if score is None else float(score), policy_rule=rule,
        reasons=tuple(reasons),
    )


def _merge(old: Decision, new: Decision) -> Decision:
    """Two lines about one account: the stronger enforcing decision, the earliest enforcement."""
    enforced = [d for d in (old, new) if d.counts_as_enforced]
    times = [d.first_enforced_ms for d in enforced if d.first_enforced_ms is not None]
    base = max(enforced or [old, new], key=lambda d: _STRENGTH[d.action])
    return Decision(
        account_id=base.account_id, action=base.action, enforced=base.enforced, shadow=base.shadow,
        first_enforced_ms=min(times) if times else base.first_enforced_ms,
        cluster_id=base.cluster_id or old.cluster_id or new.cluster_id, score=base.score,
        policy_rule=base.policy_rule, reasons=base.reasons,
    )


def load_decisions(path: Path, labels: dict[str, Label], issues: InputIssues) -> dict[str, Decision]:
    """account_id -> Decision for labelled accounts; InputError on a malformed line."""
    decisions: dict[str, Decision] = {}
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read decisions: {exc}") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                decision = _decision(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not JSON: {exc}") from None
            except ValueError as exc:
                raise InputError(f"{path}:{number}: {exc}") from None
            if decision.account_id not in labels:
                issues.unknown_decision_accounts += 1
                if len(issues.unknown_decision_samples) < SAMPLE_LIMIT:
                    issues.unknown_decision_samples.append(decision.account_id)
                continue
            previous = decisions.get(decision.account_id)
            if previous is not None:
                issues.duplicate_decision_lines += 1
                decision = _merge(previous, decision)
            decisions[decision.account_id] = decision
    issues.enforced_without_time = sum(
        1 for d in decisions.values() if d.counts_as_enforced and d.first_enforced_ms is None
    )
    return decisions


def _open_events(path: Path) -> BufferedIOBase:
    with path.open("rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else path.open("rb")


def inference_requests(path: Path, issues: InputIssues) -> Iterator[tuple[str, int]]:
    """(account_id, occurred_at in epoch ms) of every inference event, streamed from a JSON Lines
    file (gzip or plain). Other event types are skipped; unreadable lines are counted."""
    try:
        handle = _open_events(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read events: {exc}") from None
    with handle:
        for line in handle:
            try:
                event = orjson.loads(line)
                if event.get("type") != "inference":
                    continue
                account_id, when = event["account_id"], event["occurred_at"]
                if not isinstance(account_id, str) or not isinstance(when, str):
                    raise ValueError("account_id and occurred_at must be strings")
                moment = epoch_ms(when)
            except (orjson.JSONDecodeError, ValueError, KeyError, AttributeError, TypeError):
                issues.unreadable_event_lines += 1
                continue
            yield account_id, moment
