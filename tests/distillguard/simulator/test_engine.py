from __future__ import annotations

import gzip
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from distillguard.codec import decode_line, parse_time
from distillguard.simulator.engine import EVENTS_FILE, LABELS_FILE, MANIFEST_FILE, SimulationSummary, simulate
from distillguard.simulator.identity_data import FARM_PREPAID_BINS
from distillguard.simulator.scenario import ATTACK_KINDS, LEGIT_KINDS, PRESETS

SMOKE = PRESETS["smoke"]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    """The smoke preset (seed 7), generated once for the module."""
    out = tmp_path_factory.mktemp("smoke")
    return out, simulate(SMOKE, 7, out)


@pytest.fixture(scope="module")
def smoke_events(smoke_run: tuple[Path, SimulationSummary]) -> list[dict[str, Any]]:
    """Every line of the smoke output, checked against the event contract as it is read."""
    out, _ = smoke_run
    events = []
    with gzip.open(out / EVENTS_FILE, "rb") as handle:
        for line in handle:
            decode_line(line.rstrip(b"\n"))  # raises InvalidEvent on any contract breach
            events.append(orjson.loads(line))
    return events


@pytest.fixture(scope="module")
def smoke_labels(smoke_run: tuple[Path, SimulationSummary]) -> dict[str, str]:
    labels: dict[str, str] = orjson.loads((smoke_run[0] / LABELS_FILE).read_bytes())
    return labels


@pytest.fixture(scope="module")
def release(smoke_run: tuple[Path, SimulationSummary]) -> datetime:
    manifest = orjson.loads((smoke_run[0] / MANIFEST_FILE).read_bytes())
    (new_model,) = [m for m in manifest["models"] if m["released_at"]]
    assert new_model["name"] == "frontier-2"
    return parse_time(new_model["released_at"])


def test_same_seed_gives_the_same_bytes(smoke_run: tuple[Path, SimulationSummary], tmp_path: Path) -> None:
    first, summary = smoke_run
    simulate(SMOKE, summary.seed, tmp_path)
    for name in (EVENTS_FILE, LABELS_FILE, MANIFEST_FILE):
        assert (tmp_path / name).read_bytes() == (first / name).read_bytes(), name


def test_a_different_seed_gives_different_bytes(smoke_run: tuple[Path, SimulationSummary], tmp_path: Path) -> None:
    first, summary = smoke_run
    simulate(SMOKE, summary.seed + 1, tmp_path)
    assert (tmp_path / EVENTS_FILE).read_bytes() != (first / EVENTS_FILE).read_bytes()
    assert set(orjson.loads((tmp_path / LABELS_FILE).read_bytes())).isdisjoint(
        orjson.loads((first / LABELS_FILE).read_bytes())
    )


def test_gzip_header_has_no_name_and_no_time(smoke_run: tuple[Path, SimulationSummary]) -> None:
    header = (smoke_run[0] / EVENTS_FILE).read_bytes()[:10]
    assert header[:3] == b"\x1f\x8b\x08"
    assert header[3] & 0x08 == 0, "no original file name"
    assert header[4:8] == b"\0\0\0\0", "mtime is zero"


def test_smoke_is_small_and_covers_every_population(
    smoke_events: list[dict[str, Any]], smoke_labels: dict[str, str], smoke_run: tuple[Path, SimulationSummary]
) -> None:
    summary = smoke_run[1]
    assert len(smoke_events) == summary.events <= 50_000
    assert 200 <= len(smoke_labels) <= 1_000
    assert set(smoke_labels.values()) == {f"legit:{k}" for k in LEGIT_KINDS} | {f"attack:{k}" for k in ATTACK_KINDS}
    requests = Counter(smoke_labels[e["account_id"]] for e in smoke_events if e["type"] == "inference")
    expected = {("attack:" if s.kind in ATTACK_KINDS else "legit:") + s.kind: s.requests for s in SMOKE.populations}
    assert requests == expected, "each population makes exactly its planned number of requests"


def test_events_are_in_time_order_and_each_account_signs_up_first(
    smoke_events: list[dict[str, Any]], smoke_labels: dict[str, str]
) -> None:
    times = [parse_time(e["occurred_at"]) for e in smoke_events]
    assert all(a <= b for a, b in zip(times, times[1:]))
    signed_up: set[str] = set()
    for event in smoke_events:
        if event["type"] == "signup":
            assert event["account_id"] not in signed_up, "one signup per account"
            signed_up.add(event["account_id"])
        else:
            assert event["account_id"] in signed_up, f"{event['type']} before signup"
    assert signed_up == set(smoke_labels), "every labelled account appears and every account is labelled"
    assert len({e["event_id"] for e in smoke_events}) == len(smoke_events), "event ids are unique"


def test_labels_do_not_leak_into_events(smoke_run: tuple[Path, SimulationSummary], smoke_labels: dict[str, str]) -> None:
    text = gzip.decompress((smoke_run[0] / EVENTS_FILE).read_bytes()).decode().lower()
    for word in ("attack", "legit", *ATTACK_KINDS, "eval_lab", "production_app"):
        assert word not in text, word
    assert all(re.fullmatch(r"acct_[0-9a-f]{16}", account) for account in smoke_labels)


def test_attackers_move_half_their_traffic_to_the_new_model_within_a_day(
    smoke_events: list[dict[str, Any]], smoke_labels: dict[str, str], release: datetime
) -> None:
    share: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for event in smoke_events:
        if event["type"] != "inference":
            continue
        when = parse_time(event["occurred_at"])
        new = event["model"] == "frontier-2"
        assert not (new and when < release), "nobody uses the new model before its release"
        if release + timedelta(hours=18) <= when < release + timedelta(hours=24):
            group = smoke_labels[event["account_id"]]
            group = group if group in ("attack:hydra", "attack:mimic", "legit:eval_lab") else group.split(":")[0]
            share[group][0] += new
            share[group][1] += 1
    for farm in ("attack:hydra", "attack:mimic"):
        moved, total = share[farm]
        assert total > 50 and 0.38 <= moved / total <= 0.62, (farm, moved, total)
    moved, total = share["legit"]
    assert moved / total < 0.2, "legitimate users adopt the new model slowly"


def test_campaigns_leave_their_documented_traces(
    smoke_events: list[dict[str, Any]], smoke_labels: dict[str, str]
) -> None:
    cards: dict[str, set[str]] = defaultdict(set)
    card_bins: dict[str, str] = {}
    devices: dict[str, set[str]] = defaultdict(set)
    systems: dict[str, Counter[str]] = defaultdict(Counter)
    for event in smoke_events:
        label = smoke_labels[event["account_id"]]
        if event["type"] == "billing" and event["kind"] == "payment_method_added":
            cards[event["card_fingerprint"]].add(event["account_id"])
            card_bins[event["card_fingerprint"]] = event["card_bin"]
        elif event["type"] == "signup":
            devices[event["device_fingerprint"]].add(event["account_id"])
        elif event["type"] == "inference" and label == "attack:reseller":
            systems[event["account_id"]][event["system_prompt_sha256"]] += 1

    def labels_of(accounts: set[str]) -> set[str]:
        return {smoke_labels[a] for a in accounts}

    hydra_cards = [fp for fp, accounts in cards.items() if labels_of(accounts) == {"attack:hydra"}]
    assert max(len(cards[fp]) for fp in hydra_cards) >= 3, "hydra reuses card fingerprints across accounts"
    assert {card_bins[fp] for fp in hydra_cards} <= set(FARM_PREPAID_BINS)
    mimic_cards = [fp for fp, accounts in cards.items() if "attack:mimic" in labels_of(accounts)]
    assert all(len(cards[fp]) == 1 for fp in mimic_cards), "mimic shares no card"
    assert any(len(a) >= 2 and labels_of(a) == {"attack:mimic"} for a in devices.values()), "mimic shares devices"
    top = {counter.most_common(1)[0][0] for counter in systems.values()}
    assert len(systems) == 3 and len(top) == 1, "every reseller account injects the same system prompt"


def test_legitimate_hard_cases_look_like_attack_traces(
    smoke_events: list[dict[str, Any]], smoke_labels: dict[str, str]
) -> None:
    org_cards: dict[str, set[str]] = defaultdict(set)
    family_cards: dict[str, set[str]] = defaultdict(set)
    student_emails = []
    card_of: dict[str, str] = {}
    org_of: dict[str, str] = {}
    eval_cot = 0
    for event in smoke_events:
        label = smoke_labels[event["account_id"]]
        if event["type"] == "signup" and label == "legit:enterprise":
            org_of[event["account_id"]] = event["org_id"]
            assert event["signup_path"] == "enterprise_sales"
        elif event["type"] == "signup" and label == "legit:student":
            student_emails.append(event["email"])
        elif event["type"] == "billing" and event["kind"] == "payment_method_added":
            card_of[event["account_id"]] = event["card_fingerprint"]
        elif event["type"] == "inference" and label == "legit:eval_lab":
            eval_cot += "think step by step" in event["prompt_sample"].lower()
    for account, org in org_of.items():
        org_cards[org].add(card_of[account])
    for account, label in smoke_labels.items():
        if label == "legit:family":
            family_cards[card_of[account]].add(account)
    assert len(org_cards) >= 1 and all(len(c) == 1 for c in org_cards.values()), "one corporate card per org"
    assert all(len(accounts) >= 2 for accounts in family_cards.values()), "family members share a card"
    assert all(re.fullmatch(r"s\d{7}@[a-z0-9.-]+", email) for email in student_emails)
    assert eval_cot > 100, "eval labs send chain-of-thought benchmark prompts"


def test_max_events_writes_a_time_ordered_prefix(smoke_run: tuple[Path, SimulationSummary], tmp_path: Path) -> None:
    summary = simulate(SMOKE, smoke_run[1].seed, tmp_path, max_events=1_000)
    assert summary.truncated and summary.planned_events == smoke_run[1].events
    with gzip.open(tmp_path / EVENTS_FILE, "rb") as capped, gzip.open(smoke_run[0] / EVENTS_FILE, "rb") as full:
        capped_lines = capped.readlines()
        assert capped_lines == [next(full) for _ in range(1_000)]


def test_the_helper_process_writes_the_same_bytes(smoke_run: tuple[Path, SimulationSummary], tmp_path: Path) -> None:
    first, summary = smoke_run
    assert summary.formatter_cpu_seconds == 0, "smoke is small enough to format in the generating thread"
    helped = simulate(SMOKE, summary.seed, tmp_path / "full", helper_process=True)
    assert (tmp_path / "full" / EVENTS_FILE).read_bytes() == (first / EVENTS_FILE).read_bytes()
    assert helped.events == summary.events and helped.formatter_cpu_seconds > 0
    local = simulate(SMOKE, summary.seed, tmp_path / "local", max_events=1_234, helper_process=False)
    capped = simulate(SMOKE, summary.seed, tmp_path / "capped", max_events=1_234, helper_process=True)
    assert (tmp_path / "capped" / EVENTS_FILE).read_bytes() == (tmp_path / "local" / EVENTS_FILE).read_bytes()
    assert (capped.signup_events, capped.billing_events, capped.inference_events) == (
        local.signup_events, local.billing_events, local.inference_events
    )
    assert capped.events == 1_234
