"""Policy language: loading, validation errors a person can act on, and evaluation semantics."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from distillguard.casestore import AuditQuery, PolicyVersion
from distillguard.casestore.models import ActionKind
from enforcement.domain import EnforcementDomain, Facts, PolicyError, PolicyHolder, load_default_policy, parse_policy
from enforcement.domain.policy import load_policy


def policy(rules: str, *, mode: str = "most_severe", version: str = "t-1") -> str:
    return f"version: {version}\nmode: {mode}\nrules:\n" + textwrap.indent(textwrap.dedent(rules), "  ")


def facts(**overrides: object) -> Facts:
    values: dict[str, object] = {"subject": "account", "score": 0.5}
    values.update(overrides)
    return Facts(**values)  # type: ignore[arg-type]


def test_bundled_default_policy_is_valid_and_has_every_action() -> None:
    default = load_default_policy()
    assert default.version
    assert {rule.action for rule in default.document.rules} == {"monitor", "throttle", "challenge", "suspend", "ban"}
    assert any(rule.shadow for rule in default.document.rules)
    assert any(rule.scope == "cluster" for rule in default.document.rules)


def test_most_severe_picks_the_strongest_matching_rule_regardless_of_order() -> None:
    loaded = parse_policy(policy("""\
        - name: watch
          when: {min_score: 0.5}
          action: monitor
        - name: throttle-soft
          when: {min_score: 0.6}
          action: throttle
          rpm_cap: 60
        - name: throttle-hard
          when: {min_score: 0.6}
          action: throttle
          rpm_cap: 5
        - name: suspend
          when: {min_score: 0.9}
          action: suspend
        """))
    assert [r.name for r in loaded.evaluate(facts(score=0.7)).live] == ["throttle-hard", "throttle-soft", "watch"]
    assert loaded.evaluate(facts(score=0.95)).decision is not None
    assert loaded.evaluate(facts(score=0.95)).decision.name == "suspend"  # type: ignore[union-attr]
    assert loaded.evaluate(facts(score=0.4)).decision is None


def test_first_match_takes_rules_in_file_order() -> None:
    loaded = parse_policy(policy("""\
        - name: watch
          when: {min_score: 0.5}
          action: monitor
        - name: suspend
          when: {min_score: 0.9}
          action: suspend
        """, mode="first_match"))
    decision = loaded.evaluate(facts(score=0.95)).decision
    assert decision is not None and decision.name == "watch"


@pytest.mark.parametrize(
    ("conditions", "matching", "not_matching"),
    [
        ("{subject: cluster, min_score: 0.1}", {"subject": "cluster"}, {"subject": "account"}),
        ("{max_score: 0.3}", {"score": 0.2}, {"score": 0.31}),
        ("{min_cluster_size: 3, max_cluster_size: 10}", {"cluster_size": 3}, {"cluster_size": 11}),
        ("{reasons_any: [a, b]}", {"reasons": {"b": 0.1}}, {"reasons": {"c": 1.0}}),
        ("{reasons_all: [a, b]}", {"reasons": {"a": 1.0, "b": 0.1}}, {"reasons": {"a": 1.0}}),
        ("{reason_min_values: {a: 0.5}}", {"reasons": {"a": 0.5}}, {"reasons": {"a": 0.49}}),
        ("{evidence_any: [card_fingerprint, phone]}", {"evidence_kinds": frozenset({"phone"})},
         {"evidence_kinds": frozenset({"ip"})}),
        ("{evidence_all: [card_fingerprint, phone]}", {"evidence_kinds": frozenset({"phone", "card_fingerprint"})},
         {"evidence_kinds": frozenset({"phone"})}),
        ("{signup_path_in: [education]}", {"signup_path": "education"}, {"signup_path": "self_serve"}),
        ("{signup_path_not_in: [enterprise_sales]}", {"signup_path": None}, {"signup_path": "enterprise_sales"}),
        ("{verification_in: [none, email]}", {"verification": "email"}, {"verification": "id_document"}),
        ("{verification_not_in: [id_document]}", {"verification": "phone"}, {"verification": "id_document"}),
        ("{org_id_present: false}", {"org_id": None}, {"org_id": "org-1"}),
        ("{paying: false}", {"paying": False}, {"paying": True}),
        ("{external_signals_any: [chargeback]}", {"external_signals": frozenset({"chargeback"})},
         {"external_signals": frozenset({"failed_charge"})}),
    ],
)
def test_each_condition_filters(conditions: str, matching: dict[str, object], not_matching: dict[str, object]) -> None:
    loaded = parse_policy(policy(f"""\
        - name: r
          when: {conditions}
          action: challenge
        """))
    assert loaded.evaluate(facts(**matching)).decision is not None
    assert loaded.evaluate(facts(**not_matching)).decision is None


def test_shadow_rules_never_become_the_live_decision() -> None:
    loaded = parse_policy(policy("""\
        - name: live-throttle
          when: {min_score: 0.5}
          action: throttle
          rpm_cap: 10
        - name: trial-ban
          when: {min_score: 0.5}
          action: ban
          shadow: true
        """))
    evaluation = loaded.evaluate(facts(score=0.8))
    assert evaluation.decision is not None and evaluation.decision.name == "live-throttle"
    assert evaluation.shadow_decision is not None and evaluation.shadow_decision.name == "trial-ban"


def test_rule_strength_orders_actions_and_throttle_caps() -> None:
    loaded = parse_policy(policy("""\
        - {name: a, when: {min_score: 0.1}, action: throttle, rpm_cap: 100}
        - {name: b, when: {min_score: 0.1}, action: throttle, rpm_cap: 10}
        - {name: c, when: {min_score: 0.1}, action: challenge}
        """))
    a, b, c = loaded.document.rules
    assert a.strength < b.strength < c.strength
    assert c.kind is ActionKind.CHALLENGE


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ("- {name: r, when: {min_score: 1.5}, action: ban}",
         "test.yaml: rule 'r' (rules[0]): field 'when.min_score': Input should be less than or equal to 1"),
        ("- {name: r, when: {min_score: 0.5}, action: throttle}",
         "test.yaml: rule 'r' (rules[0]): throttle needs rpm_cap (requests per minute)"),
        ("- {name: r, when: {min_score: 0.5}, action: ban, rpm_cap: 5}",
         "test.yaml: rule 'r' (rules[0]): rpm_cap only applies to throttle, not ban"),
        ("- {name: r, when: {min_score: 0.5}, action: obliterate}",
         "test.yaml: rule 'r' (rules[0]): field 'action': Input should be 'monitor', 'throttle', 'challenge', "
         "'suspend' or 'ban'"),
        ("- {name: r, when: {min_scor: 0.5}, action: ban}",
         "test.yaml: rule 'r' (rules[0]): field 'when.min_scor': Extra inputs are not permitted"),
        ("- {name: r, when: {subject: cluster}, action: ban}",
         "test.yaml: rule 'r' (rules[0]): field 'when': a rule needs at least one condition besides subject"),
        ("- {name: r, when: {min_score: 0.9, max_score: 0.5}, action: ban}",
         "test.yaml: rule 'r' (rules[0]): field 'when': min_score 0.9 is above max_score 0.5"),
        ("- {name: r, when: {evidence_any: [telepathy]}, action: ban}",
         "test.yaml: rule 'r' (rules[0]): field 'when.evidence_any.0': Input should be 'card_fingerprint'"),
        ("- {name: r, when: {min_score: 0.5}, action: ban}\n- {name: r, when: {min_score: 0.6}, action: ban}",
         "test.yaml: rule name 'r' is used twice"),
        ("- {name: Bad Name, when: {min_score: 0.5}, action: ban}",
         "test.yaml: rule 'Bad Name' (rules[0]): field 'name': String should match pattern"),
    ],
)
def test_validation_errors_name_file_rule_and_field(rules: str, expected: str) -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy(f"version: t-1\nrules:\n{textwrap.indent(rules, '  ')}\n", "test.yaml")
    assert expected in str(raised.value)


def test_every_problem_is_reported_at_once() -> None:
    text = policy("""\
        - {name: one, when: {min_score: 2}, action: ban}
        - {name: two, when: {min_score: 0.5}, action: throttle}
        """)
    with pytest.raises(PolicyError) as raised:
        parse_policy(text, "p.yaml")
    assert len(raised.value.problems) == 2
    assert "rule 'one'" in raised.value.problems[0] and "rule 'two'" in raised.value.problems[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: t\nrules: [\n", "p.yaml: line 3, column 1: YAML syntax error"),
        ("version: t\nversion: u\nrules: []\n", "found duplicate key 'version'"),
        ("- just a list\n", "p.yaml: expected a mapping with version, rules"),
        ("rules:\n  - {name: r, when: {min_score: 0.5}, action: ban}\n", "p.yaml: field 'version': Field required"),
        ("version: t\nrules: []\n", "p.yaml: field 'rules': Tuple should have at least 1 item"),
        ("version: t\nmode: random\nrules:\n  - {name: r, when: {min_score: 0.5}, action: ban}\n",
         "p.yaml: field 'mode': Input should be 'most_severe' or 'first_match'"),
    ],
)
def test_document_level_errors(text: str, expected: str) -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy(text, "p.yaml")
    assert expected in str(raised.value)


def test_unreadable_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="missing.yaml: cannot read the file"):
        load_policy(tmp_path / "missing.yaml")


def test_reload_keeps_the_running_policy_when_the_new_file_is_bad(tmp_path: Path) -> None:
    holder = PolicyHolder(parse_policy(policy("- {name: r, when: {min_score: 0.5}, action: ban}", version="v1")))
    bad = tmp_path / "bad.yaml"
    bad.write_text(policy("- {name: r, when: {min_score: 0.5}, action: throttle}", version="v2"))
    error = holder.reload(bad)
    assert error is not None and "bad.yaml: rule 'r'" in str(error)
    assert holder.current.version == "v1"

    good = tmp_path / "good.yaml"
    good.write_text(policy("- {name: r, when: {min_score: 0.5}, action: challenge}", version="v2"))
    assert holder.reload(good) is None
    assert holder.current.version == "v2" and holder.current.sha256


async def test_domain_records_policy_versions_and_refuses_changed_content_under_a_known_version(
    domain: EnforcementDomain, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    first = tmp_path / "p1.yaml"
    first.write_text(policy("- {name: r, when: {min_score: 0.5}, action: challenge}", version="v7"))
    assert await domain.reload_policy(first, actor="alice") is None
    assert domain.policy.version == "v7"

    changed = tmp_path / "p2.yaml"
    changed.write_text(policy("- {name: r, when: {min_score: 0.4}, action: challenge}", version="v7"))
    error = await domain.reload_policy(changed, actor="alice")
    assert error is not None and "'v7' was loaded before with different content" in str(error)
    assert domain.policy.source == str(first)

    broken = tmp_path / "p3.yaml"
    broken.write_text("version: v8\nrules: nope\n")
    assert await domain.reload_policy(broken, actor="alice") is not None
    assert domain.policy.version == "v7"

    async with sessions() as session:
        versions = {row.version: row for row in await session.scalars(select(PolicyVersion))}
    assert set(versions) == {"test-1", "v7"}
    assert versions["v7"].yaml_text == first.read_text() and versions["v7"].loaded_by == "alice"
    actions = [entry.action for entry in await domain.audit_log(AuditQuery(actor="alice"))]
    assert actions == ["policy.refuse", "policy.refuse", "policy.activate"]
