from __future__ import annotations

import gzip
from pathlib import Path

import orjson
from click.testing import CliRunner

from distillguard.simulator.cli import simulate_command


def test_simulate_command_writes_the_three_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        simulate_command, ["--scenario", "smoke", "--seed", "3", "--out", str(tmp_path), "--max-events", "500"]
    )
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.output.splitlines()[-1])
    assert summary["truncated"] is True and summary["scenario"] == "smoke"
    with gzip.open(tmp_path / "events.jsonl.gz") as events:
        assert sum(1 for _ in events) == 500
    assert len(orjson.loads((tmp_path / "labels.json").read_bytes())) == summary["accounts"]
    assert orjson.loads((tmp_path / "scenario.json").read_bytes())["seed"] == 3


def test_unknown_scenario_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(simulate_command, ["--scenario", "huge", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "huge" in result.output
