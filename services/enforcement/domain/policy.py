"""Enforcement policies: versioned YAML documents, validated at load, evaluated against the facts of one account.

The language is documented in docs/enforcement.md. In short, a policy is a version string, an evaluation
mode, guard rails and an ordered list of rules; each rule has conditions (`when`, all of which must hold), an
action (monitor | throttle with rpm_cap | challenge | suspend | ban), a scope (account | cluster) and a
shadow flag.

Evaluation (`Policy.evaluate`) returns every matching rule in priority order, live and shadow rules apart:

- mode `most_severe` (default): strongest action first (ban > suspend > challenge > throttle > monitor; among
  throttles the lower rpm cap is stronger), ties in file order;
- mode `first_match`: file order.

The first live rule is the decision; later ones only matter when a guard rail holds the decision for review
(see `enforcement.domain.guardrails`). Shadow rules never change what is enforced: the first matching shadow
rule is recorded next to the live decision so operators can see what it would have done.

Loading is all-or-nothing: `load_policy` raises `PolicyError` naming the file, the rule and the field of
every problem, and `PolicyHolder.reload` keeps the running policy when the new file is refused.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from distillguard.casestore.models import ActionKind

SIGNUP_PATHS: Final = ("self_serve", "education", "startup_program", "research_program", "enterprise_sales", "other")
VERIFICATIONS: Final = ("none", "email", "phone", "id_document")
EVIDENCE_KINDS: Final = (
    "card_fingerprint", "device_fingerprint", "phone", "email_normalized", "api_key", "system_prompt", "ip",
    "ip_24", "signup_burst", "name_fuzzy", "address_fuzzy", "email_shape", "same_org",
)
#: Kinds of external signal: from ReportExternalSignal, and from events.billing (chargeback, failed_charge).
EXTERNAL_SIGNAL_KINDS: Final = ("failed_verification", "chargeback", "payment_fraud", "abuse_report", "failed_charge")

SignupPath = Literal["self_serve", "education", "startup_program", "research_program", "enterprise_sales", "other"]
VerificationLevel = Literal["none", "email", "phone", "id_document"]
EvidenceKind = Literal[
    "card_fingerprint", "device_fingerprint", "phone", "email_normalized", "api_key", "system_prompt", "ip",
    "ip_24", "signup_burst", "name_fuzzy", "address_fuzzy", "email_shape", "same_org",
]
ExternalSignalKind = Literal["failed_verification", "chargeback", "payment_fraud", "abuse_report", "failed_charge"]
PolicyAction = Literal["monitor", "throttle", "challenge", "suspend", "ban"]
Score = Annotated[float, Field(ge=0.0, le=1.0)]
FeatureName = Annotated[str, StringConstraints(min_length=1, max_length=128)]
RuleName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,127}$")]

DEFAULT_POLICY_RESOURCE: Final = ("enforcement.policies", "default.yaml")


class PolicyError(ValueError):
    """A policy file that cannot be used; str() lists every problem as `file: rule 'x': field 'y': why`."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{source}: {problem}" for problem in self.problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Conditions(_Strict):
    """What must hold for a rule to match. Every given condition must hold; empty lists are ignored."""

    #: Which signals the rule considers: risk signals about one account, about a cluster, or either.
    #: External signals (chargebacks, failed verification) are about an account.
    subject: Literal["account", "cluster", "any"] = "any"
    min_score: Score | None = None
    max_score: Score | None = None
    min_cluster_size: Annotated[int, Field(ge=1)] | None = None
    max_cluster_size: Annotated[int, Field(ge=1)] | None = None
    #: At least one of these features is among the signal's reasons.
    reasons_any: tuple[FeatureName, ...] = ()
    #: All of these features are among the signal's reasons.
    reasons_all: tuple[FeatureName, ...] = ()
    #: Feature -> minimum value: the feature is among the reasons with value >= the threshold.
    reason_min_values: Mapping[FeatureName, float] = Field(default_factory=dict)
    #: The account's identity cluster carries at least one / all of these evidence kinds.
    evidence_any: tuple[EvidenceKind, ...] = ()
    evidence_all: tuple[EvidenceKind, ...] = ()
    signup_path_in: tuple[SignupPath, ...] = ()
    signup_path_not_in: tuple[SignupPath, ...] = ()
    verification_in: tuple[VerificationLevel, ...] = ()
    verification_not_in: tuple[VerificationLevel, ...] = ()
    org_id_present: bool | None = None
    #: Net revenue in the trailing 30 days (charges - refunds - chargebacks) is / is not positive.
    paying: bool | None = None
    #: The account has received at least one of these external signals.
    external_signals_any: tuple[ExternalSignalKind, ...] = ()

    @model_validator(mode="after")
    def _coherent(self) -> Conditions:
        if self.min_score is not None and self.max_score is not None and self.min_score > self.max_score:
            raise ValueError(f"min_score {self.min_score} is above max_score {self.max_score}")
        if (
            self.min_cluster_size is not None
            and self.max_cluster_size is not None
            and self.min_cluster_size > self.max_cluster_size
        ):
            raise ValueError(f"min_cluster_size {self.min_cluster_size} is above max_cluster_size {self.max_cluster_size}")
        for name, threshold in self.reason_min_values.items():
            if not math.isfinite(threshold):
                raise ValueError(f"reason_min_values.{name} must be a finite number")
        scalars = (
            self.min_score, self.max_score, self.min_cluster_size, self.max_cluster_size, self.org_id_present,
            self.paying,
        )
        collections = (
            self.reasons_any, self.reasons_all, self.reason_min_values, self.evidence_any, self.evidence_all,
            self.signup_path_in, self.signup_path_not_in, self.verification_in, self.verification_not_in,
            self.external_signals_any,
        )
        if all(value is None for value in scalars) and not any(collections):
            raise ValueError("a rule needs at least one condition besides subject (it would match every account)")
        return self

    def holds(self, facts: Facts) -> bool:
        if self.subject != "any" and self.subject != facts.subject:
            return False
        if self.min_score is not None and facts.score < self.min_score:
            return False
        if self.max_score is not None and facts.score > self.max_score:
            return False
        if self.min_cluster_size is not None and facts.cluster_size < self.min_cluster_size:
            return False
        if self.max_cluster_size is not None and facts.cluster_size > self.max_cluster_size:
            return False
        if self.reasons_any and not any(name in facts.reasons for name in self.reasons_any):
            return False
        if self.reasons_all and not all(name in facts.reasons for name in self.reasons_all):
            return False
        for name, threshold in self.reason_min_values.items():
            value = facts.reasons.get(name)
            if value is None or value < threshold:
                return False
        if self.evidence_any and facts.evidence_kinds.isdisjoint(self.evidence_any):
            return False
        if self.evidence_all and not facts.evidence_kinds.issuperset(self.evidence_all):
            return False
        if self.signup_path_in and facts.signup_path not in self.signup_path_in:
            return False
        if self.signup_path_not_in and facts.signup_path in self.signup_path_not_in:
            return False
        if self.verification_in and facts.verification not in self.verification_in:
            return False
        if self.verification_not_in and facts.verification in self.verification_not_in:
            return False
        if self.org_id_present is not None and bool(facts.org_id) != self.org_id_present:
            return False
        if self.paying is not None and facts.paying != self.paying:
            return False
        if self.external_signals_any and facts.external_signals.isdisjoint(self.external_signals_any):
            return False
        return True


class Rule(_Strict):
    name: RuleName
    description: str = ""
    when: Conditions
    action: PolicyAction
    #: Requests-per-minute cap; required for throttle and refused for every other action.
    rpm_cap: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    #: cluster: an account signal that matches also acts on every member of the account's cluster for which
    #: the rule's conditions hold (scores and reasons are the triggering signal's).
    scope: Literal["account", "cluster"] = "account"
    #: Decide and record, enforce nothing.
    shadow: bool = False

    @model_validator(mode="after")
    def _rpm_cap_with_throttle(self) -> Rule:
        if self.action == "throttle" and self.rpm_cap is None:
            raise ValueError("throttle needs rpm_cap (requests per minute)")
        if self.action != "throttle" and self.rpm_cap is not None:
            raise ValueError(f"rpm_cap only applies to throttle, not {self.action}")
        return self

    @property
    def kind(self) -> ActionKind:
        return ActionKind(self.action)

    @property
    def strength(self) -> tuple[int, int]:
        return action_strength(self.kind, self.rpm_cap)

    def matches(self, facts: Facts) -> bool:
        return self.when.holds(facts)


class GuardRails(_Strict):
    """Decisions a machine may not take alone: these go to human review (case status "review")."""

    #: A ban that covers a cluster (cluster signal or cluster scope) whose size is above this goes to review.
    review_cluster_ban_above: Annotated[int, Field(ge=1)] = 25
    #: Any throttle-or-stronger action on an enterprise_sales account with an org_id goes to review.
    review_verified_enterprise: bool = True
    #: Any throttle-or-stronger action on an id_document-verified account goes to review.
    review_id_document: bool = True


class PolicyDocument(_Strict):
    version: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")]
    description: str = ""
    mode: Literal["most_severe", "first_match"] = "most_severe"
    guard_rails: GuardRails = GuardRails()
    rules: Annotated[tuple[Rule, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_rule_names(self) -> PolicyDocument:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"rule name {rule.name!r} is used twice")
            seen.add(rule.name)
        return self


def action_strength(kind: ActionKind, rpm_cap: int | None) -> tuple[int, int]:
    """Orders actions by how much they restrict: severity, then (for throttles) the lower cap is stronger."""
    return (kind.severity, -(rpm_cap or 0) if kind is ActionKind.THROTTLE else 0)


@dataclass(frozen=True)
class Facts:
    """Everything a rule can look at, for one account under one signal."""

    subject: Literal["account", "cluster"]
    score: float
    #: feature -> value of the signal's reasons
    reasons: Mapping[str, float] = field(default_factory=dict)
    cluster_size: int = 1
    evidence_kinds: frozenset[str] = frozenset()
    signup_path: str | None = None
    verification: str | None = None
    org_id: str | None = None
    paying: bool = False
    external_signals: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Evaluation:
    """Matching rules in priority order: `live[0]` is the decision, `shadow[0]` what shadow mode would do."""

    live: tuple[Rule, ...]
    shadow: tuple[Rule, ...]

    @property
    def decision(self) -> Rule | None:
        return self.live[0] if self.live else None

    @property
    def shadow_decision(self) -> Rule | None:
        return self.shadow[0] if self.shadow else None


@dataclass(frozen=True)
class Policy:
    document: PolicyDocument
    yaml_text: str
    source: str
    sha256: str

    @property
    def version(self) -> str:
        return self.document.version

    @property
    def guard_rails(self) -> GuardRails:
        return self.document.guard_rails

    def rule(self, name: str) -> Rule | None:
        for rule in self.document.rules:
            if rule.name == name:
                return rule
        return None

    def evaluate(self, facts: Facts) -> Evaluation:
        matching = [rule for rule in self.document.rules if rule.matches(facts)]
        if self.document.mode == "most_severe":
            # sorted() is stable: equal strengths keep file order.
            matching.sort(key=lambda rule: rule.strength, reverse=True)
        return Evaluation(
            live=tuple(rule for rule in matching if not rule.shadow),
            shadow=tuple(rule for rule in matching if rule.shadow),
        )


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of silently keeping the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)  # type: ignore[no-untyped-call]
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node)  # type: ignore[no-untyped-call]
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _describe(error: Mapping[str, Any], raw: object) -> str:
    loc = tuple(error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        index = loc[1]
        name = None
        if isinstance(raw, dict) and isinstance(raw.get("rules"), list) and index < len(raw["rules"]):
            candidate = raw["rules"][index]
            if isinstance(candidate, dict) and isinstance(candidate.get("name"), str):
                name = candidate["name"]
        where = f"rule {name!r} (rules[{index}])" if name else f"rules[{index}]"
        rest = ".".join(str(part) for part in loc[2:])
        return f"{where}: field {rest!r}: {message}" if rest else f"{where}: {message}"
    if loc:
        return f"field {'.'.join(str(part) for part in loc)!r}: {message}"
    return message


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Validate a policy document; raise PolicyError listing every problem."""
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(source, [f"{where}YAML syntax error: {problem}"]) from None
    if not isinstance(raw, dict):
        raise PolicyError(source, [f"expected a mapping with version, rules, ...; got {type(raw).__name__}"])
    try:
        document = PolicyDocument.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        if any(error["loc"][:1] == ("rules",) and len(error["loc"]) > 1 for error in errors):
            # Invalid rules are dropped before the length check, which then misreports "0 rules".
            errors = [error for error in errors if not (error["loc"] == ("rules",) and error["type"] == "too_short")]
        raise PolicyError(source, [_describe(error, raw) for error in errors]) from None
    return Policy(document, text, source, hashlib.sha256(text.encode()).hexdigest())


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; raise PolicyError naming the file on any problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(source, [f"cannot read the file: {exc}"]) from None
    return parse_policy(text, source)


def default_policy_text() -> str:
    package, name = DEFAULT_POLICY_RESOURCE
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


def load_default_policy() -> Policy:
    """The policy bundled with the package (enforcement/policies/default.yaml)."""
    package, name = DEFAULT_POLICY_RESOURCE
    return parse_policy(default_policy_text(), f"{package.replace('.', '/')}/{name}")


class PolicyHolder:
    """The running policy. A refused reload leaves it unchanged."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy

    @classmethod
    def from_path(cls, path: str | Path | None) -> PolicyHolder:
        """Load `path`, or the bundled default for None; raise PolicyError if it is invalid."""
        return cls(load_default_policy() if path is None else load_policy(path))

    @property
    def current(self) -> Policy:
        return self._policy

    def reload(self, path: str | Path) -> PolicyError | None:
        """Swap in the policy at `path`; on any problem return the error and keep the running policy."""
        try:
            policy = load_policy(path)
        except PolicyError as exc:
            return exc
        self._policy = policy
        return None

    def replace(self, policy: Policy) -> None:
        self._policy = policy
