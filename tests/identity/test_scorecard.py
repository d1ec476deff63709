"""Identity linking scored on the simulator's smoke scenario (labels read only to score)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from identity.domain import IdentityGraph
from identity.scorecard import link, score
from identity.synthetic import T0, billing, inference, signup

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("smoke")
    distillguard = shutil.which("distillguard", path=str(Path(sys.executable).parent))
    assert distillguard, "the distillguard CLI is not installed next to this interpreter"
    done = subprocess.run([distillguard, "simulate", "--scenario", "smoke", "--seed", "0", "--out", str(out)],
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return out


def test_smoke_scenario_meets_the_identity_targets(smoke: Path) -> None:
    graph, events, _ = link(smoke / "events.jsonl.gz")
    labels = orjson.loads((smoke / "labels.json").read_bytes())
    card = score(graph, labels)
    assert events > 10_000 and card.attack_clusters > 0
    assert card.purity == 1.0, card.impure_examples
    assert card.hard_negative_failures == []
    for campaign, accounts in card.campaign_accounts.items():
        if accounts >= 5:
            assert card.coverage[campaign] >= 0.95, (campaign, card.coverage[campaign])
        else:  # too few to fill a cluster of five: all of them in one
            assert card.largest_campaign_cluster[campaign] == accounts, campaign


def test_scorecard_counts_an_impure_cluster_and_a_cross_org_merge() -> None:
    graph = IdentityGraph()
    graph.apply_batch([
        billing("farm1", card="c"), billing("farm2", card="c"), billing("victim", card="c"),
        signup("seat1", org_id="org_a"), signup("seat2", org_id="org_b"),
        signup("seat1", device="d", at=T0 + 1), signup("seat2", device="d", at=T0 + 1),
        inference("solo", ip="198.51.100.1"),
    ])
    labels = {"farm1": "attack:hydra", "farm2": "attack:hydra", "victim": "legit:casual",
              "seat1": "legit:enterprise", "seat2": "legit:enterprise", "solo": "legit:vpn"}
    card = score(graph, labels, min_cluster=2)
    assert (card.attack_clusters, card.impure_attack_clusters, card.legit_accounts_in_attack_clusters) == (1, 1, 1)
    assert card.purity == 0.0
    assert card.coverage == {"hydra": 1.0}
    assert len(card.hard_negative_failures) == 1 and "spans 2 organisations" in card.hard_negative_failures[0]
