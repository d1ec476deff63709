from __future__ import annotations

import gzip
from pathlib import Path

from distillguard.simulator.writer import GzipLineWriter


def test_writer_round_trips_and_is_reproducible(tmp_path: Path) -> None:
    chunks = [b"".join(b'{"n":%d}\n' % i for i in range(k, k + 1000)) for k in range(0, 5000, 1000)]
    for name in ("a.gz", "b.gz"):
        with GzipLineWriter(tmp_path / name, max_pending_chunks=2) as writer:
            for chunk in chunks:
                writer.write(chunk)
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()) == b"".join(chunks)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
