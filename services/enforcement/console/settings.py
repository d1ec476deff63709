"""The console's settings: one frozen object, built from the platform settings plus console-only knobs."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from distillguard.settings import Settings

LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain"})


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ConsoleSettings:
    """What the console needs to know. Invalid combinations fail at construction with the field's name.

    `secure_cookies` may only be turned off when the console listens on a loopback address: the session
    cookie then travels without the Secure flag, which is acceptable for a test server on 127.0.0.1 and
    nowhere else. Browsers treat http://127.0.0.1 and http://localhost as secure contexts, so the default
    (Secure on) also works for a console served over plain HTTP on loopback (the demo).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    #: Signs session cookies. None: a random key per process (every restart signs everyone out).
    secret_key: str | None = field(default=None, repr=False)
    secure_cookies: bool = True
    #: Idle lifetime of a session cookie (each response renews it) and absolute lifetime of a login.
    session_idle_s: int = 8 * 3600
    session_absolute_s: int = 12 * 3600
    #: Login throttling: at most this many failures per (operator name, client address) per window ...
    login_max_failures: int = 5
    login_window_s: float = 15 * 60
    #: ... remembered for at most this many (name, address) pairs (least recently failed evicted first).
    login_throttle_keys: int = 10_000
    #: The policy file "reload policy" reads; None: the bundled default.
    policy_file: Path | None = None
    #: Seconds between the case queue's polls for new cases.
    poll_interval_s: int = 5
    #: Time budget for each ConsoleData call (cluster graph, timeline, templates) before the panel gives up.
    extra_timeout_s: float = 3.0
    #: The case graph shows at most this many accounts (cytoscape stays responsive up to a few hundred).
    graph_max_nodes: int = 400
    page_size: int = 25

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"ConsoleSettings.port: {self.port} is not a TCP port")
        if not self.secure_cookies and not is_loopback(self.host):
            raise ValueError(
                f"ConsoleSettings.secure_cookies: may be False only on a loopback host, not {self.host!r}"
            )
        if self.secret_key is not None and len(self.secret_key) < 32:
            raise ValueError("ConsoleSettings.secret_key: at least 32 characters")
        for name in ("session_idle_s", "session_absolute_s", "login_max_failures", "login_throttle_keys",
                     "poll_interval_s", "graph_max_nodes", "page_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"ConsoleSettings.{name}: must be at least 1")
        for name in ("login_window_s", "extra_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ConsoleSettings.{name}: must be positive")

    @classmethod
    def from_platform(cls, settings: Settings, **overrides: object) -> ConsoleSettings:
        """Host, port (DISTILLGUARD_CONSOLE_HOST / _PORT) and policy file from the platform settings."""
        base = cls(host=settings.console_host, port=settings.console_port, policy_file=settings.policy_file)
        return replace(base, **overrides)  # type: ignore[arg-type]

    def signing_key(self) -> str:
        return self.secret_key if self.secret_key is not None else secrets.token_urlsafe(48)

    @property
    def cookie_name(self) -> str:
        # The __Host- prefix makes browsers insist on Secure, path=/ and no Domain: the cookie cannot be set
        # or shadowed by a sibling host. Without Secure (loopback tests) the prefix would be refused.
        return "__Host-dg_console" if self.secure_cookies else "dg_console"
