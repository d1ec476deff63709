"""docs/ratepattern.md states the scoring models; this keeps the tables and the code in step."""

from __future__ import annotations

from pathlib import Path

import pytest

from ratepattern.domain.scoring import ACCOUNT_MODEL, CLUSTER_MODEL, Model

DOC = Path(__file__).resolve().parents[3] / "docs" / "ratepattern.md"


def _table(marker: str) -> list[tuple[str, float, float, float, bool]]:
    lines = DOC.read_text().splitlines()
    start = lines.index(marker) + 3
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append((cells[0], float(cells[1]), float(cells[2]), float(cells[3]), cells[4] == "log2"))
    return rows


@pytest.mark.parametrize(("marker", "model"), [("<!-- account-model -->", ACCOUNT_MODEL),
                                               ("<!-- cluster-model -->", CLUSTER_MODEL)])
def test_documented_model_matches_code(marker: str, model: Model) -> None:
    code = [(f.name, f.baseline, f.saturation, f.weight, f.log2) for f in model.features]
    assert _table(marker) == code


def test_documented_biases_match_code() -> None:
    text = DOC.read_text()
    assert f"Account model, bias {ACCOUNT_MODEL.bias}:" in text
    assert f"Cluster model, bias {CLUSTER_MODEL.bias}:" in text
