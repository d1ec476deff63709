"""The whole platform on real Kafka and PostgreSQL: the smoke scenario replayed through identity
linking, rate-pattern analysis and enforcement, scored with the evaluation (labels only score)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distillguard.benchmarks.detection import isolated_settings, run_detection
from distillguard.simulator.cli import simulate_command
from ratepattern.service import RatePatternProcessor

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

    # Rate-pattern analysis (its state as the replay left it): the hydra farm's identity cluster scores in
    # the enforce band, and no legitimate account or cluster does.
    processor = run.processors["ratepattern"]
    assert isinstance(processor, RatePatternProcessor)
    engine = processor.engine
    enforce = engine.config.enforce_threshold
    labels = json.loads((scenario / "labels.json").read_text())
    hydra_clusters = [c for c in engine.clusters.clusters.values()
                      if sum(labels.get(m) == "attack:hydra" for m in c.members) * 2 > len(c.members)]
    assert hydra_clusters and max(c.score for c in hydra_clusters) >= enforce
    for cluster in engine.clusters.clusters.values():
        if all(labels.get(m, "").startswith("legit:") for m in cluster.members):
            assert cluster.score < enforce, f"legitimate cluster {cluster.members}: {cluster.score:.3f}"
    legit = [a for a, label in labels.items() if label.startswith("legit:")]
    for account, profile in zip(legit, engine.account_profiles(legit)):
        assert profile is None or profile.score < enforce, f"legitimate {account}: {profile.score:.3f}"
