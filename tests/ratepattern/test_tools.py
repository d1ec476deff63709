"""The benchmark and the simulator replay run end to end on small inputs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import orjson

from distillguard.codec import encode_object
from ratepattern import bench, replay
from ratepattern.domain import RatePatternConfig
from ratepattern.synthetic import segment


def test_bench_measures_a_tiny_stream() -> None:
    stream = bench.make_stream("production-mix", 5, 1000, seed=1)
    result = bench.measure(stream, batch=250, repeat=1, config=RatePatternConfig())
    assert result["events"] == len(stream.values) > 1000  # duplicates were added
    # redeliveries are refused as duplicates, or as late once they trail the watermark
    assert result["duplicates"] + result["late"] >= len(stream.values) - 1000
    assert result["domain_eps"] > 0 and result["parse_eps"] > result["domain_eps"]
    assert 0 < result["sampled_share"] < 1
    section = bench.render([("tiny", result)], 250, "python -m ratepattern.bench --events 1000")
    assert section.startswith(bench.SECTION) and "| tiny | 1,0" in section


def test_replay_scores_a_simulator_style_directory(tmp_path: Path) -> None:
    traffic = segment("campaign", seed=5, days=2)
    lines = [encode_object("signup", s) for s in traffic.signups]
    lines += [encode_object("inference", e) for e in traffic.inference]
    with gzip.open(tmp_path / "events.jsonl.gz", "wb") as fh:
        for obj in lines:
            fh.write(orjson.dumps(obj) + b"\n")
    (tmp_path / "labels.json").write_text(json.dumps(traffic.labels))
    result = replay.replay(tmp_path, batch=500)
    card = replay.scorecard(result, traffic.labels)
    assert card["events"] == len(traffic.inference)
    assert card["accounts"]["attack:campaign-hydra"]["accounts"] == 40
    assert card["accounts"]["attack:campaign-hydra"]["p50"] > card["accounts"]["legit:casual"]["max"]
    assert "| attack:campaign-hydra | 40 |" in replay.render(card)


def test_worker_bench_renders_its_section() -> None:
    from ratepattern import bench_worker

    raw = {"events_per_s": 200_000.0, "cpu_us_per_event": 2.5}
    worker = {"events_per_s": 50_000.0, "cpu_us_per_event": 12.0, "signals": 3, "dead_letters": 1, "max_rss_mb": 300.0}
    row = bench_worker.Row("production-mix", 1000, 5, raw, worker, [0.5, 0.7])
    section = bench_worker.render([row], "python -m ratepattern.bench_worker --events 1000", 1, 0, 10)
    assert section.startswith(bench_worker.SECTION)
    assert "| production-mix | 1,000 | 5 | 200,000 | **50,000** | **25%** | 12.0 | 2.5 | 3 | 1 | 300 MB |" in section
    assert "load average 0.50-0.70" in section
    assert "interleaved pair" not in section  # one pair: nothing to add
    assert "raw consumer: **met** (50,000 events/s, 25%)." in section
    row.worker = {**worker, "events_per_s": 39_000.0}
    assert "raw consumer: **not met** (39,000 events/s, 20%)." in bench_worker.render(
        [row], "python -m ratepattern.bench_worker --events 1000", 1, 0, 10)
    row.worker = worker
    row.ratios = [0.31, 0.224]
    section = bench_worker.render([row], "python -m ratepattern.bench_worker --events 1000", 2, 0, 10)
    assert "in run order (this machine's speed drifts between runs): production-mix 31%, 22%." in section
