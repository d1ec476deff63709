from __future__ import annotations

import numpy as np

from distillguard.simulator.world import Identities


def test_mailboxes_are_unique_after_gmail_normalisation() -> None:
    ids = Identities(np.random.default_rng(3))
    seen = set()
    for _ in range(3000):  # few names, so the raw draws collide often
        address = ids.email("Jane", "Smith")
        local, host = address.split("@")
        key = (local.split("+")[0].lower().replace(".", "") if host == "gmail.com" else local.lower(), host)
        assert key not in seen, address
        seen.add(key)
