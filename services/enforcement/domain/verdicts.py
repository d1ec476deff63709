"""The in-memory verdict index behind CheckAccount.

For every account with an active (applied, not shadow, not reversed) throttle-or-stronger action it holds the
strongest such action; for every identifier an account was seen with (api key, card, device, email, ip) it
holds the strongest verdict that identifier carries over from enforced accounts. A lookup is a handful of
dict reads: O(1), no I/O, no locks.

Verdicts, weakest first: allow < throttle(rpm) < challenge < deny. suspend and ban both answer deny; among
throttles the lower rpm cap wins. What an identifier carries over from an enforced account:

- api_key_id, card_fingerprint, device_fingerprint, email: the account's verdict, with the reason code
  `linked_<kind>` in front (a new account presenting a banned account's card or device is the same actor);
- ip: at most challenge, and only from a denied account (shared NAT, campus and mobile-carrier addresses make
  an IP alone too weak to deny or throttle anyone).

A lookup by account_id answers that account's own verdict; identifier traces apply only to identifiers the
caller passes (e.g. the auth system at signup), so an account is never restricted for a neighbour's action
without the caller asking.

Bounded: at most `max_accounts` accounts' identifiers are kept (least recently observed accounts without an
active action are evicted first; enforced accounts are pinned), at most `max_identifiers_per_kind` values per
account and kind (the first ones seen are kept).
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal, get_args

from distillguard.casestore.models import ActionKind

IdentifierKind = Literal["api_key_id", "card_fingerprint", "device_fingerprint", "email", "ip"]
IDENTIFIER_KINDS: Final[tuple[IdentifierKind, ...]] = get_args(IdentifierKind)
_EXACT_KINDS: Final = frozenset({"api_key_id", "card_fingerprint", "device_fingerprint", "email"})


class Verdict(enum.IntEnum):
    """Numbered as distillguard.v1.Verdict."""

    ALLOW = 1
    THROTTLE = 2
    CHALLENGE = 3
    DENY = 4


@dataclass(frozen=True, slots=True)
class VerdictAnswer:
    verdict: Verdict
    rpm_cap: int = 0
    reason_codes: tuple[str, ...] = ()
    #: The action this verdict comes from ("" for allow).
    action_id: str = ""
    #: The account that action is on ("" for allow).
    account_id: str = ""

    @property
    def strength(self) -> tuple[int, int]:
        return (int(self.verdict), -self.rpm_cap if self.verdict is Verdict.THROTTLE else 0)


ALLOW: Final = VerdictAnswer(Verdict.ALLOW)

_VERDICT_OF: Final = {
    ActionKind.THROTTLE: Verdict.THROTTLE,
    ActionKind.CHALLENGE: Verdict.CHALLENGE,
    ActionKind.SUSPEND: Verdict.DENY,
    ActionKind.BAN: Verdict.DENY,
}


@dataclass(frozen=True, slots=True)
class ActiveAction:
    """An applied, non-shadow action as the index needs it."""

    action_id: str
    account_id: str
    kind: ActionKind
    rpm_cap: int | None = None
    reason_codes: tuple[str, ...] = ()


def normalize_identifier(kind: str, value: str) -> str:
    value = value.strip()
    return value.lower() if kind == "email" else value


def _strongest(answers: Iterable[VerdictAnswer]) -> VerdictAnswer:
    best = ALLOW
    for answer in answers:
        if answer.strength > best.strength:
            best = answer
    return best


def _trace(kind: str, answer: VerdictAnswer) -> VerdictAnswer | None:
    """What an enforced account's verdict says about another holder of one of its identifiers."""
    code = f"linked_{kind}"
    if kind in _EXACT_KINDS:
        return VerdictAnswer(answer.verdict, answer.rpm_cap, (code, *answer.reason_codes), answer.action_id,
                             answer.account_id)
    if answer.verdict is Verdict.DENY:
        return VerdictAnswer(Verdict.CHALLENGE, 0, (code, *answer.reason_codes), answer.action_id, answer.account_id)
    return None


class VerdictIndex:
    def __init__(
        self,
        *,
        max_accounts: int = 1_000_000,
        max_identifiers_per_kind: int = 32,
    ) -> None:
        if max_accounts < 1 or max_identifiers_per_kind < 1:
            raise ValueError("bounds must be positive")
        self._max_accounts = max_accounts
        self._max_per_kind = max_identifiers_per_kind
        # account -> action_id -> action (only applied, non-shadow, throttle-or-stronger actions)
        self._actions: dict[str, dict[str, ActiveAction]] = {}
        # account -> its own verdict (only for accounts with an active action)
        self._account_verdict: dict[str, VerdictAnswer] = {}
        # account -> kind -> values, in least-recently-observed order
        self._identifiers: OrderedDict[str, dict[str, list[str]]] = OrderedDict()
        # (kind, value) -> enforced accounts holding it
        self._enforced_holders: dict[tuple[str, str], set[str]] = {}
        # (kind, value) -> strongest carried-over verdict
        self._identifier_verdict: dict[tuple[str, str], VerdictAnswer] = {}

    # ------------------------------------------------------------------------------------------ lookups


    def empty_like(self) -> VerdictIndex:
        """A new, empty index with the same bounds."""
        return VerdictIndex(max_accounts=self._max_accounts, max_identifiers_per_kind=self._max_per_kind)

    def check(
        self,
        account_id: str = "",
        *,
        api_key_id: str = "",
        card_fingerprint: str = "",
        device_fingerprint: str = "",
        email: str = "",
        ip: str = "",
    ) -> VerdictAnswer:
        """The strongest verdict over the account itself and every identifier given (empty ones are ignored)."""
        best = self._account_verdict.get(account_id, ALLOW) if account_id else ALLOW
        for kind, value in (
            ("api_key_id", api_key_id),
            ("card_fingerprint", card_fingerprint),
            ("device_fingerprint", device_fingerprint),
            ("email", email),
            ("ip", ip),
        ):
            if value:
                answer = self._identifier_verdict.get((kind, normalize_identifier(kind, value)))
                if answer is not None and answer.strength > best.strength:
                    best = answer
        return best

    def account_verdict(self, account_id: str) -> VerdictAnswer:
        return self._account_verdict.get(account_id, ALLOW)

    def identifiers_of(self, account_id: str) -> dict[str, tuple[str, ...]]:
        return {kind: tuple(values) for kind, values in self._identifiers.get(account_id, {}).items()}

    def __len__(self) -> int:
        """Accounts with an active action."""
        return len(self._account_verdict)

    @property
    def tracked_accounts(self) -> int:
        return len(self._identifiers)

    # ------------------------------------------------------------------------------------------ updates

    def apply(self, action: ActiveAction) -> None:
        """Record an applied action. Monitor and restore actions carry no verdict and are ignored."""
        if action.kind not in _VERDICT_OF:
            return
        self._actions.setdefault(action.account_id, {})[action.action_id] = action
        self._refresh_account(action.account_id)

    def revoke(self, account_id: str, action_id: str) -> None:
        """Forget a reversed action; the account falls back to its strongest remaining action (or allow)."""
        actions = self._actions.get(account_id)
        if not actions or actions.pop(action_id, None) is None:
            return
        if not actions:
            del self._actions[account_id]
        self._refresh_account(account_id)

    def observe_identifiers(self, account_id: str, kind: str, value: str) -> bool:
        """Remember that `account_id` used identifier (kind, value); True when it is new to the index."""
        if kind not in IDENTIFIER_KINDS:
            raise ValueError(f"unknown identifier kind {kind!r}; expected one of {', '.join(IDENTIFIER_KINDS)}")
        value = normalize_identifier(kind, value)
        if not value or not account_id:
            return False
        per_kind = self._identifiers.get(account_id)
        if per_kind is None:
            per_kind = self._identifiers[account_id] = {}
            self._evict()
        else:
            self._identifiers.move_to_end(account_id)
        values = per_kind.setdefault(kind, [])
        if value in values or len(values) >= self._max_per_kind:
            return False
        values.append(value)
        answer = self._account_verdict.get(account_id)
        if answer is not None:
            self._enforced_holders.setdefault((kind, value), set()).add(account_id)
            self._raise_identifier(kind, value, answer)
        return True

    def clear(self) -> None:
        self._actions.clear()
        self._account_verdict.clear()
        self._identifiers.clear()
        self._enforced_holders.clear()
        self._identifier_verdict.clear()

    # ------------------------------------------------------------------------------------------ internals

    def _verdict_from(self, action: ActiveAction) -> VerdictAnswer:
        verdict = _VERDICT_OF[action.kind]
        rpm = (action.rpm_cap or 0) if verdict is Verdict.THROTTLE else 0
        return VerdictAnswer(verdict, rpm, action.reason_codes, action.action_id, action.account_id)

    def _refresh_account(self, account_id: str) -> None:
        before = self._account_verdict.get(account_id)
        after = _strongest(self._verdict_from(a) for a in self._actions.get(account_id, {}).values())
        if after.verdict is Verdict.ALLOW:
            self._account_verdict.pop(account_id, None)
        else:
            self._account_verdict[account_id] = after
        if before == (after if after.verdict is not Verdict.ALLOW else None):
            return
        for kind, values in self._identifiers.get(account_id, {}).items():
            for value in values:
                key = (kind, value)
                holders = self._enforced_holders.setdefault(key, set())
                if after.verdict is Verdict.ALLOW:
                    holders.discard(account_id)
                else:
                    holders.add(account_id)
                if before is None or after.strength > before.strength:
                    self._raise_identifier(kind, value, after)
                else:
                    self._recompute_identifier(key)
                if not holders:
                    del self._enforced_holders[key]

    def _raise_identifier(self, kind: str, value: str, answer: VerdictAnswer) -> None:
        carried = _trace(kind, answer)
        if carried is None:
            return
        current = self._identifier_verdict.get((kind, value))
        if current is None or carried.strength > current.strength:
            self._identifier_verdict[(kind, value)] = carried

    def _recompute_identifier(self, key: tuple[str, str]) -> None:
        kind, _ = key
        carried = (_trace(kind, self._account_verdict[a]) for a in self._enforced_holders.get(key, ()))
        best = _strongest(answer for answer in carried if answer is not None)
        if best.verdict is Verdict.ALLOW:
            self._identifier_verdict.pop(key, None)
        else:
            self._identifier_verdict[key] = best

    def _evict(self) -> None:
        """Drop least-recently-observed accounts without an active action until within bounds."""
        budget = len(self._identifiers)
        while len(self._identifiers) > self._max_accounts and budget > 0:
            budget -= 1
            account_id, per_kind = self._identifiers.popitem(last=False)
            if account_id in self._account_verdict:
                self._identifiers[account_id] = per_kind  # pinned: back to the recent end
                continue
            return
