from __future__ import annotations

import gzip
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from distillguard.codec import format_time, parse_time
from distillguard.evaluation.cli import evaluate_command
from distillguard.simulator.engine import simulate
from distillguard.simulator.scenario import PRESETS


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("smoke")
    simulate(PRESETS["smoke"], 11, out)
    return out


def synthetic_decisions(smoke: Path) -> tuple[Path, dict[str, int]]:
    """Ban every hydra account one hour after its first request (one cluster), wrongly ban every
    family, and leave mimic and reseller alone; returns the path and the expected counts."""
    labels = orjson.loads((smoke / "labels.json").read_bytes())
    first: dict[str, str] = {}
    requests = {"hydra": 0, "hydra_leaked": 0}
    with gzip.open(smoke / "events.jsonl.gz") as events:
        for line in events:
            event = orjson.loads(line)
            if event["type"] == "inference":
                first.setdefault(event["account_id"], event["occurred_at"])
    with gzip.open(smoke / "events.jsonl.gz") as events:
        for line in events:
            event = orjson.loads(line)
            if event["type"] == "inference" and labels[event["account_id"]] == "attack:hydra":
                requests["hydra"] += 1
                stop = parse_time(first[event["account_id"]]) + timedelta(hours=1)
                requests["hydra_leaked"] += parse_time(event["occurred_at"]) < stop
    lines = []
    for account, label in sorted(labels.items()):
        if label == "attack:hydra" and account in first:
            at = format_time(parse_time(first[account]) + timedelta(hours=1))
            lines.append({"account_id": account, "action": "ban", "enforced": True, "first_enforced_at": at,
                          "cluster_id": "hydra-1", "score": 0.97, "reasons": ["shared_card"],
                          "policy_rule": "farm", "shadow": False})
        elif label == "legit:family":
            lines.append({"account_id": account, "action": "suspend", "enforced": True,
                          "first_enforced_at": "2025-03-04T00:00:00.000Z", "cluster_id": None, "score": 0.6,
                          "reasons": [], "policy_rule": "shared_card", "shadow": False})
    requests["hydra_accounts"] = sum(1 for label in labels.values() if label == "attack:hydra")
    requests["hydra_enforced"] = sum(1 for line in lines if line["policy_rule"] == "farm")
    requests["families"] = sum(1 for label in labels.values() if label == "legit:family")
    path = smoke / "decisions.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path, requests


def test_evaluate_end_to_end_on_smoke(smoke: Path, tmp_path: Path) -> None:
    decisions, expected = synthetic_decisions(smoke)
    out = tmp_path / "report"
    result = CliRunner().invoke(evaluate_command, [
        "--labels", str(smoke / "labels.json"), "--decisions", str(decisions),
        "--events", str(smoke / "events.jsonl.gz"), "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) <= 30, "the summary fits one screen"
    assert "precision" in result.output and "hydra" in result.output
    for name in ("report.md", "report.json", "leakage_over_time.png", "enforced_share.png", "time_to_enforcement.png"):
        assert (out / name).stat().st_size > 0, name
    report = orjson.loads((out / "report.json").read_bytes())
    hydra = report["campaigns"]["hydra"]
    assert hydra["enforced"] == expected["hydra_enforced"] and hydra["accounts"] == expected["hydra_accounts"]
    assert hydra["requests"] == expected["hydra"] and hydra["leaked_requests"] == expected["hydra_leaked"]
    assert hydra["time_to_enforcement_s"]["median"] == pytest.approx(3600.0)
    assert hydra["clusters"]["largest_cluster"] == expected["hydra_enforced"]
    assert report["campaigns"]["mimic"]["leakage"] == 1.0
    assert report["segments"]["family"]["false_positive_rate"] == 1.0
    assert report["segments"]["casual"]["false_positive_rate"] == 0.0
    tp, fp = expected["hydra_enforced"], expected["families"]
    assert report["account_level"]["precision"] == pytest.approx(tp / (tp + fp))
    assert report["clusters"]["purity"] == 1.0


def test_malformed_decisions_exit_2_with_the_line(smoke: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"account_id": "x", "action": "obliterate", "enforced": true}\n')
    result = CliRunner().invoke(evaluate_command, [
        "--labels", str(smoke / "labels.json"), "--decisions", str(bad),
        "--events", str(smoke / "events.jsonl.gz"), "--out", str(tmp_path / "r"),
    ])
    assert result.exit_code == 2
    assert "bad.jsonl:1" in result.output and "obliterate" in result.output
