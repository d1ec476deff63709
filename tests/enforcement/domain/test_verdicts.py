"""The in-memory verdict index behind CheckAccount, and its rebuild from the case store."""

from __future__ import annotations

import asyncio

import pytest

from distillguard.casestore.models import ActionKind
from enforcement.domain import ActiveAction, EnforcementDomain, Verdict, VerdictIndex
from enforcement.testing import Events


def active(action_id: str, account_id: str, kind: ActionKind, rpm_cap: int | None = None) -> ActiveAction:
    return ActiveAction(action_id, account_id, kind, rpm_cap, ("template_cross_account",))


def test_strongest_active_action_wins_and_lower_throttle_cap_is_stronger() -> None:
    index = VerdictIndex()
    index.apply(active("t60", "a", ActionKind.THROTTLE, 60))
    index.apply(active("t10", "a", ActionKind.THROTTLE, 10))
    answer = index.check("a")
    assert (answer.verdict, answer.rpm_cap, answer.action_id) == (Verdict.THROTTLE, 10, "t10")
    index.apply(active("c", "a", ActionKind.CHALLENGE))
    assert index.check("a").verdict is Verdict.CHALLENGE
    index.apply(active("s", "a", ActionKind.SUSPEND))
    assert index.check("a").verdict is Verdict.DENY
    assert index.check("someone-else").verdict is Verdict.ALLOW
    assert index.check().verdict is Verdict.ALLOW


def test_monitor_and_restore_carry_no_verdict() -> None:
    index = VerdictIndex()
    index.apply(active("m", "a", ActionKind.MONITOR))
    index.apply(active("r", "a", ActionKind.RESTORE))
    assert index.check("a").verdict is Verdict.ALLOW and len(index) == 0


def test_revoke_falls_back_to_the_remaining_actions() -> None:
    index = VerdictIndex()
    index.apply(active("t", "a", ActionKind.THROTTLE, 20))
    index.apply(active("b", "a", ActionKind.BAN))
    index.revoke("a", "b")
    assert (index.check("a").verdict, index.check("a").rpm_cap) == (Verdict.THROTTLE, 20)
    index.revoke("a", "t")
    assert index.check("a").verdict is Verdict.ALLOW
    index.revoke("a", "unknown")  # harmless


def test_identifiers_carry_an_enforced_accounts_verdict_to_new_accounts() -> None:
    index = VerdictIndex()
    for kind, value in [("card_fingerprint", "card-1"), ("device_fingerprint", "dev-1"), ("email", "Farm@Example.com"),
                        ("api_key_id", "key-1"), ("ip", "203.0.113.7")]:
        assert index.observe_identifiers("banned", kind, value)
    assert not index.observe_identifiers("banned", "card_fingerprint", "card-1"), "already known"
    index.observe_identifiers("bystander", "ip", "203.0.113.7")
    assert index.check(card_fingerprint="card-1").verdict is Verdict.ALLOW  # nobody enforced yet

    index.apply(active("ban-1", "banned", ActionKind.BAN))

    for query in ({"card_fingerprint": "card-1"}, {"device_fingerprint": "dev-1"}, {"email": " farm@example.COM "},
                  {"api_key_id": "key-1"}):
        answer = index.check("new-account", **query)
        assert answer.verdict is Verdict.DENY and answer.account_id == "banned", query
        assert answer.reason_codes[0] == f"linked_{next(iter(query))}"
    # A shared IP alone only earns a challenge, and a neighbour asked by account id is not affected.
    assert index.check("new-account", ip="203.0.113.7").verdict is Verdict.CHALLENGE
    assert index.check("bystander").verdict is Verdict.ALLOW
    # The strongest of everything asked wins.
    assert index.check("new-account", ip="203.0.113.7", device_fingerprint="dev-1").verdict is Verdict.DENY

    index.revoke("banned", "ban-1")
    assert index.check(card_fingerprint="card-1").verdict is Verdict.ALLOW
    assert index.check(ip="203.0.113.7").verdict is Verdict.ALLOW


def test_identifier_verdict_follows_the_strongest_remaining_holder() -> None:
    index = VerdictIndex()
    index.observe_identifiers("a", "card_fingerprint", "shared")
    index.observe_identifiers("b", "card_fingerprint", "shared")
    index.apply(active("throttle-a", "a", ActionKind.THROTTLE, 5))
    index.apply(active("ban-b", "b", ActionKind.BAN))
    assert index.check(card_fingerprint="shared").verdict is Verdict.DENY
    index.revoke("b", "ban-b")
    answer = index.check(card_fingerprint="shared")
    assert (answer.verdict, answer.rpm_cap, answer.account_id) == (Verdict.THROTTLE, 5, "a")
    # Identifiers observed after the enforcement count too.
    index.observe_identifiers("a", "device_fingerprint", "late-device")
    assert index.check(device_fingerprint="late-device").verdict is Verdict.THROTTLE


def test_memory_is_bounded_and_enforced_accounts_are_never_evicted() -> None:
    index = VerdictIndex(max_accounts=3, max_identifiers_per_kind=2)
    index.observe_identifiers("enforced", "ip", "10.0.0.1")
    index.apply(active("ban", "enforced", ActionKind.BAN))
    for i in range(10):
        index.observe_identifiers(f"a{i}", "ip", f"10.0.1.{i}")
    assert index.tracked_accounts == 3
    assert index.identifiers_of("enforced") == {"ip": ("10.0.0.1",)}
    assert index.identifiers_of("a0") == {}, "least recently observed is evicted"
    for i in range(5):
        index.observe_identifiers("a9", "email", f"x{i}@example.com")
    assert len(index.identifiers_of("a9")["email"]) == 2
    with pytest.raises(ValueError, match="unknown identifier kind"):
        index.observe_identifiers("a", "phone", "123")


async def test_rebuild_from_the_case_store_restores_every_verdict(domain: EnforcementDomain, ev: Events) -> None:
    await domain.observe_signups([ev.signup("acct-1", email="One@Example.com", device="dev-1")])
    await domain.handle_signal(ev.account_signal("s1", "acct-1", 0.95))
    (throttle,) = await domain.handle_signal(ev.account_signal("s2", "acct-2", 0.75))
    await domain.handle_signal(ev.account_signal("s3", "acct-3", 0.75))
    await domain.reverse_action(
        (await domain.actions_for_account("acct-3"))[0].action_id, reason="fp", actor="alice"
    )
    await domain.record_identifiers("acct-2", [("api_key_id", "key-2")])
    before = [domain.check(a) for a in ("acct-1", "acct-2", "acct-3")]

    domain.verdicts.clear()
    assert domain.check("acct-1").verdict is Verdict.ALLOW
    assert await domain.rebuild_verdicts() == 2

    assert [domain.check(a) for a in ("acct-1", "acct-2", "acct-3")] == before
    assert [v.verdict for v in before] == [Verdict.DENY, Verdict.THROTTLE, Verdict.ALLOW]
    assert domain.check(email="one@example.com").verdict is Verdict.DENY
    assert domain.check(device_fingerprint="dev-1").verdict is Verdict.DENY
    assert domain.check(api_key_id="key-2").action_id == throttle.action_id


async def test_checks_during_a_rebuild_are_answered_by_the_complete_old_index(
    domain: EnforcementDomain, ev: Events
) -> None:
    await domain.handle_signal(ev.account_signal("s1", "acct-1", 0.95))
    old = domain.verdicts
    rebuilding = asyncio.create_task(domain.rebuild_verdicts())
    answers = []
    while not rebuilding.done():  # every turn of the loop the rebuild yields (it reads the case store)
        answers.append(domain.check("acct-1").verdict)
        await asyncio.sleep(0)
    assert await rebuilding == 1
    assert len(answers) > 1 and set(answers) == {Verdict.DENY}, "never an empty, half-loaded index"
    assert domain.verdicts is not old and domain.check("acct-1").verdict is Verdict.DENY


async def test_record_identifiers_skips_pairs_already_known(domain: EnforcementDomain) -> None:
    assert await domain.record_identifiers("acct-1", [("api_key_id", "k1"), ("ip", "192.0.2.1")]) == 2
    assert await domain.record_identifiers("acct-1", [("api_key_id", "k1"), ("api_key_id", "k2")]) == 1
    assert await domain.find_accounts("api_key_id", "k2") == ["acct-1"]
