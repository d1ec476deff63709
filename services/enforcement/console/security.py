"""The console's security mechanisms: response headers, CSRF tokens, login throttling, revoked sessions, and
audit rows for sign-ins. The policy they implement is described in docs/console.md."""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import Any, Final, Generic, Hashable, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from distillguard.casestore.audit import AuditLog

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "x-csrf-token"
STATIC_PREFIX: Final = "/static/"
K = TypeVar("K", bound=Hashable)


class SecurityHeaders:
    """ASGI middleware: the security headers on every response (pages, fragments, static files, errors), and
    `Cache-Control: no-store` on everything but static files, so case data never lands in a shared cache or
    the browser's back-forward cache."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith(STATIC_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if not static:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(session: dict[str, Any]) -> str:
    """The session's CSRF token, created on first use (an anonymous session gets one for the login form)."""
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = session["csrf"] = new_token()
    return token


def csrf_matches(session: Mapping[str, Any], supplied: str | None) -> bool:
    expected = session.get("csrf")
    if not isinstance(expected, str) or not expected or not supplied:
        return False
    return hmac.compare_digest(expected.encode(), supplied.encode())


class _FailureWindows(Generic[K]):
    """Failure times per key within a sliding window, for at most `max_keys` keys (least recently failing
    evicted first)."""

    def __init__(self, limit: int, window_s: float, max_keys: int) -> None:
        self.limit = limit
        self._window = window_s
        self._max_keys = max_keys
        self._failures: OrderedDict[K, deque[float]] = OrderedDict()

    def _recent(self, key: K, now: float) -> deque[float] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures

    def wait(self, key: K, now: float) -> float:
        """0 when `key` is under its limit, else the seconds until its oldest counted failure expires."""
        failures = self._recent(key, now)
        if failures is None or len(failures) < self.limit:
            return 0.0
        return failures[-self.limit] + self._window - now

    def add(self, key: K, now: float) -> bool:
        """Count a failure; True when it brings `key` to its limit."""
        failures = self._recent(key, now)
        if failures is None:
            failures = self._failures[key] = deque(maxlen=self.limit)
        failures.append(now)
        self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)
        return len(failures) == self.limit

    def clear(self, key: K) -> None:
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._failures)


class LoginThrottle:
    """Sliding-window limits on failed sign-ins.

    A (name, address) pair may fail `max_failures` times per window; after that, attempts for that pair are
    refused without checking the password until the oldest failure leaves the window. One address may fail
    `ADDRESS_FACTOR * max_failures` times per window across all names, which slows password spraying and keeps
    an attacker from escaping the per-pair limit by rotating names. Both tables are bounded (`max_keys`). A
    successful sign-in clears its pair, not its address."""

    ADDRESS_FACTOR: Final = 4

    def __init__(
        self,
        *,
        max_failures: int,
        window_s: float,
        max_keys: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._pairs: _FailureWindows[tuple[str, str]] = _FailureWindows(max_failures, window_s, max_keys)
        self._addresses: _FailureWindows[str] = _FailureWindows(max_failures * self.ADDRESS_FACTOR, window_s,
                                                                max_keys)

    @staticmethod
    def _pair(name: str, address: str) -> tuple[str, str]:
        return name.strip().lower()[:128], address

    def retry_after(self, name: str, address: str) -> float:
        """0 when an attempt may proceed, else the seconds until it may."""
        now = self._clock()
        return max(self._pairs.wait(self._pair(name, address), now), self._addresses.wait(address, now))

    def failed(self, name: str, address: str) -> bool:
        """Record a failure; True when it is the one that starts throttling its pair or its address."""
        now = self._clock()
        pair = self._pairs.add(self._pair(name, address), now)
        by_address = self._addresses.add(address, now)
        return pair or by_address

    def succeeded(self, name: str, address: str) -> None:
        self._pairs.clear(self._pair(name, address))

    def __len__(self) -> int:
        """(name, address) pairs with recent failures."""
        return len(self._pairs)


class RevokedSessions:
    """Session ids signed out before their cookie expired (cookies are client-side, so a copied cookie stays
    valid until refused here). Entries live as long as a session can; at most `max_entries` are kept."""

    def __init__(self, lifetime_s: float, max_entries: int = 100_000,
                 clock: Callable[[], float] = time.time) -> None:
        self._lifetime = lifetime_s
        self._max = max_entries
        self._clock = clock
        self._revoked: OrderedDict[str, float] = OrderedDict()

    def revoke(self, session_id: str) -> None:
        now = self._clock()
        self._revoked[session_id] = now + self._lifetime
        self._revoked.move_to_end(session_id)
        while self._revoked and (len(self._revoked) > self._max or next(iter(self._revoked.values())) < now):
            self._revoked.popitem(last=False)

    def __contains__(self, session_id: object) -> bool:
        expires = self._revoked.get(session_id) if isinstance(session_id, str) else None
        return expires is not None and expires >= self._clock()


class ConsoleAudit:
    """Audit rows the console writes itself: sign-ins, failed and throttled sign-ins, sign-outs and refused
    requests. Decisions, reversals, appeals, operator and policy changes are audited by the domain in the same
    transaction as the change."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def record(
        self, *, actor: str, action: str, subject: str, reason: str = "", detail: Mapping[str, Any] | None = None
    ) -> None:
        async with self._sessions.begin() as session:
            AuditLog.append(session, actor=actor[:128], action=action[:64], subject=subject[:200],
                            reason=reason[:4000], detail=detail)
