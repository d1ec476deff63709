"""Template hashing: the batch MinHash pass against datasketch's own, one prompt at a time."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from datasketch import MinHash

from ratepattern.domain import RatePatternConfig
from ratepattern.domain import content
from ratepattern.domain.content import analyse, minhash_rows


def test_batch_minhash_equals_datasketch_update_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.RandomState(3)
    words = np.array("plan the steps tool call reason about each python function test agent".split())
    prompts = [" ".join(rng.choice(words, rng.randint(1, 200))) for _ in range(120)] + ["", "one", "two words"]
    shingles = [analyse(p, 160)[0] for p in prompts]
    permutations = MinHash(num_perm=64).permutations
    expected = [m.hashvalues for m in MinHash.bulk(shingles, num_perm=64, hashfunc=zlib.crc32,
                                                     permutations=permutations)]
    monkeypatch.setattr(content, "_MINHASH_CHUNK", 300)  # several passes, some a single long prompt
    rows = minhash_rows(shingles, permutations)
    assert rows.dtype == np.uint64 and rows.shape == (len(prompts), 64)
    assert all(np.array_equal(r, e) for r, e in zip(rows, expected))
    with pytest.raises(ValueError, match="at least one shingle"):
        minhash_rows([[b"a"], []], permutations)


def test_template_matching_needs_a_permutation_count_a_byte_can_count() -> None:
    with pytest.raises(ValueError, match="minhash_num_perm"):
        RatePatternConfig(minhash_num_perm=256)
