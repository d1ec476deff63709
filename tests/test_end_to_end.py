"""The whole platform on real Kafka and PostgreSQL: the smoke scenario replayed through identity
linking, rate-pattern analysis and enforcement, scored with the evaluation (labels only score)."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillguard.benchmarks.detection import isolated_settings, run_detection
from distillguard.simulator.cli import simulate_command

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_smoke_campaign_is_enforced_and_legitimate_segments_are_not(
    tmp_path: Path, pg_database_url: str
) -> None:
    scenario = tmp_path / "scenario"
    simulate_command.main(["--scenario", "smoke", "--seed", "11", "--out", str(scenario)], standalone_mode=False)
    run = await run_detection(isolated_settings(tmp_path, pg_database_url), scenario / "events.jsonl.gz",
                              scenario / "labels.json", tmp_path, slice_hours=24)
    evaluation = run.evaluation

    for name, segment in evaluation.segments.items():
        assert segment.enforced == 0, f"legitimate segment {name}: {segment.enforced} accounts enforced"
    hydra = evaluation.campaigns["hydra"]
    assert hydra.enforced >= 0.9 * hydra.accounts, f"hydra recall {hydra.enforced}/{hydra.accounts}"
    assert evaluation.clusters.legit_accounts_in_attack_clusters == 0
    assert (tmp_path / "report.md").read_text().count("hydra") >= 1
