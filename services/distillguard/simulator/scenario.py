"""Scenario presets: how many accounts each population has and how many requests it makes.

Request totals are exact: the generator allocates each population's budget over the hours of the
window in proportion to its accounts' activity (multinomial), so `alibaba-scale` has exactly
25,000 attack accounts making exactly 28,800,000 inference requests over 45 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Final

ATTACK_KINDS: Final = ("hydra", "mimic", "reseller")
LEGIT_KINDS: Final = (
    "casual", "developer", "production_app", "enterprise", "student", "eval_lab", "family", "vpn",
)


@dataclass(frozen=True)
class PopulationSpec:
    """One population: `kind` names its behaviour and label; `groups` is the number of orgs,
    universities or labs where the kind has them (0 = the kind's default)."""

    kind: str
    accounts: int
    requests: int
    groups: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ATTACK_KINDS + LEGIT_KINDS:
            raise ValueError(f"unknown population kind {self.kind!r}")
        if self.accounts < 1 or self.requests < 0:
            raise ValueError(f"{self.kind}: accounts must be >= 1 and requests >= 0")


@dataclass(frozen=True)
class Scenario:
    """A window of `days` days starting on a Monday at 00:00 UTC; the new model is released at
    17:00 UTC on day `release_day` (0-based)."""

    name: str
    days: int
    release_day: int
    populations: tuple[PopulationSpec, ...]
    start: datetime = datetime(2025, 3, 3, tzinfo=timezone.utc)

    def __post_init__(self) -> None:
        if self.start.weekday() != 0 or (self.start.hour, self.start.minute, self.start.second) != (0, 0, 0):
            raise ValueError("a scenario starts on a Monday at 00:00 UTC")
        if not 1 <= self.release_day < self.days:
            raise ValueError("the release day must fall inside the window, after its first day")

    @property
    def accounts(self) -> int:
        return sum(p.accounts for p in self.populations)

    @property
    def requests(self) -> int:
        return sum(p.requests for p in self.populations)

    def attack_accounts(self) -> int:
        return sum(p.accounts for p in self.populations if p.kind in ATTACK_KINDS)

    def attack_requests(self) -> int:
        return sum(p.requests for p in self.populations if p.kind in ATTACK_KINDS)


PRESETS: Final[dict[str, Scenario]] = {
    "smoke": Scenario("smoke", days=4, release_day=2, populations=(
        PopulationSpec("casual", 120, 2_400),
        PopulationSpec("developer", 50, 2_400),
        PopulationSpec("production_app", 6, 4_800),
        PopulationSpec("enterprise", 26, 1_800),
        PopulationSpec("student", 40, 1_600, groups=1),
        PopulationSpec("eval_lab", 3, 3_000, groups=3),
        PopulationSpec("family", 24, 700),
        PopulationSpec("vpn", 25, 700),
        PopulationSpec("hydra", 80, 6_500),
        PopulationSpec("mimic", 20, 2_000),
        PopulationSpec("reseller", 3, 4_500),
    )),
    "standard": Scenario("standard", days=14, release_day=8, populations=(
        PopulationSpec("casual", 5_000, 120_000),
        PopulationSpec("developer", 1_800, 110_000),
        PopulationSpec("production_app", 120, 180_000),
        PopulationSpec("enterprise", 280, 60_000),
        PopulationSpec("student", 1_400, 70_000, groups=3),
        PopulationSpec("eval_lab", 6, 40_000, groups=5),
        PopulationSpec("family", 800, 22_000),
        PopulationSpec("vpn", 700, 25_000),
        PopulationSpec("hydra", 1_200, 240_000),
        PopulationSpec("mimic", 200, 60_000),
        PopulationSpec("reseller", 5, 80_000),
    )),
    "alibaba-scale": Scenario("alibaba-scale", days=45, release_day=30, populations=(
        PopulationSpec("casual", 48_000, 1_600_000),
        PopulationSpec("developer", 14_000, 1_900_000),
        PopulationSpec("production_app", 1_000, 4_500_000),
        PopulationSpec("enterprise", 2_200, 900_000),
        PopulationSpec("student", 8_000, 800_000, groups=15),
        PopulationSpec("eval_lab", 14, 500_000, groups=12),
        PopulationSpec("family", 5_000, 250_000),
        PopulationSpec("vpn", 4_000, 250_000),
        PopulationSpec("hydra", 23_500, 25_500_000),
        PopulationSpec("mimic", 1_480, 1_800_000),
        PopulationSpec("reseller", 20, 1_500_000),
    )),
}
