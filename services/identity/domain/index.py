"""Inverted index from attribute value to the accounts that hold it: the blocking structure.

Postings hold account indexes (creation order). A value seen on one account costs a single int
reference; only shared values get a list. Lists keep the `store_cap` oldest accounts and count the
rest, so a value shared by millions costs a bounded list and an exact count. Which accounts are
listed depends only on which accounts hold the value, not on arrival order, so rebuilding the index
from account records reproduces it exactly.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Sequence


class BlockIndex:
    __slots__ = ("_postings", "_overflow", "_store_cap")

    def __init__(self, store_cap: int) -> None:
        self._postings: dict[str, int | list[int]] = {}
        self._overflow: dict[str, int] = {}
        self._store_cap = store_cap

    def add(self, key: str, idx: int) -> None:
        """Record that account `idx` holds `key`; the caller guarantees it is not already recorded."""
        posting = self._postings.get(key)
        if posting is None:
            self._postings[key] = idx
        elif isinstance(posting, int):
            self._postings[key] = [posting, idx] if posting < idx else [idx, posting]
        elif len(posting) < self._store_cap:
            if idx > posting[-1]:
                posting.append(idx)
            else:
                insort(posting, idx)
        else:
            self._overflow[key] = self._overflow.get(key, 0) + 1
            if idx < posting[-1]:
                insort(posting, idx)
                posting.pop()

    def count(self, key: str) -> int:
        """How many accounts hold `key` (exact, including those not listed)."""
        posting = self._postings.get(key)
        if posting is None:
            return 0
        if posting.__class__ is int:
            return 1
        listed = len(posting)  # type: ignore[arg-type]
        # Only a full list can have holders beyond it.
        return listed if listed < self._store_cap else listed + self._overflow.get(key, 0)

    def members(self, key: str) -> Sequence[int]:
        """Listed holders of `key`, oldest account first (at most store_cap of them)."""
        posting = self._postings.get(key)
        if posting is None:
            return ()
        if isinstance(posting, int):
            return (posting,)
        return posting

    def __len__(self) -> int:
        return len(self._postings)
