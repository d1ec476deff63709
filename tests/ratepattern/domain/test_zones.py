"""Claimed time zones: offsets from the IANA database and night masks over UTC hours."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from ratepattern.domain.zones import UNKNOWN, ClaimedZones, utc_offsets

JAN = datetime(2026, 1, 15, tzinfo=timezone.utc)
JUL = datetime(2026, 7, 15, tzinfo=timezone.utc)
JAN_MS = int(JAN.timestamp() * 1000)


def test_offsets_follow_daylight_saving_and_every_zone_of_the_country() -> None:
    assert utc_offsets("GB", JAN) == (0,)
    assert utc_offsets("GB", JUL) == (1,)
    assert utc_offsets("gb", JAN) == (0,)
    us = utc_offsets("US", JAN)
    assert {-8, -7, -6, -5, -10} <= set(us)
    assert utc_offsets("IN", JAN) == (6,)  # +5:30, rounded to the histogram's hour


def test_unknown_countries_have_no_zones() -> None:
    assert utc_offsets("XX", JAN) == ()
    assert utc_offsets("", JAN) == ()


def _hist(hours: list[int], n: int = 10) -> np.ndarray:
    h = np.zeros((24, 1))
    for hour in hours:
        h[hour % 24, 0] += n
    return h


def test_night_is_local_midnight_to_six_in_the_claimed_country() -> None:
    zones = ClaimedZones()
    de = np.array([zones.index("DE")])  # UTC+1 in January
    night, total = zones.night_requests(_hist([23, 0, 1, 2, 3, 4]), de, JAN_MS)
    assert (night[0], total[0]) == (60.0, 60.0)
    night, total = zones.night_requests(_hist([5, 6, 12, 22]), de, JAN_MS)
    assert (night[0], total[0]) == (0.0, 40.0)


def test_the_most_favourable_zone_of_the_country_counts() -> None:
    zones = ClaimedZones()
    us = np.array([zones.index("US")])
    # 08:00-12:00 UTC is 00:00-04:00 in Los Angeles, 03:00-07:00 in New York and 22:00-02:00 in
    # Honolulu: only the hours that are night in every zone of the country count (10:00 and 11:00).
    night, _ = zones.night_requests(_hist([8, 9, 10, 11]), us, JAN_MS)
    assert night[0] == 20.0
    # 11:00-13:00 UTC: 01:00-03:00 Hawaii, 03:00-05:00 Pacific, 06:00-08:00 Eastern: not night in New York.
    night, _ = zones.night_requests(_hist([11, 12]), us, JAN_MS)
    assert night[0] == 0.0
    # A UTC+8 working day (01:00-13:00 UTC) claimed from the UK is mostly its night.
    gb = np.array([zones.index("GB")])
    night, total = zones.night_requests(_hist(list(range(1, 13))), gb, JAN_MS)
    assert night[0] / total[0] == pytest.approx(5 / 12)


def test_accounts_without_a_known_country_give_no_evidence() -> None:
    zones = ClaimedZones()
    assert zones.index("ZZ") == UNKNOWN and zones.index("\u00e9\u00e9") == UNKNOWN
    assert zones.countries == [""]  # unknown codes never grow the table
    idx = np.array([UNKNOWN, zones.index("ZZ")])
    hist = np.hstack([_hist([1, 2, 3]), _hist([1, 2, 3])])
    night, total = zones.night_requests(hist, idx, JAN_MS)
    assert night.tolist() == [0.0, 0.0] and total.tolist() == [0.0, 0.0]


def test_a_night_across_midnight() -> None:
    zones = ClaimedZones(night_start=22, night_end=4)
    gb = np.array([zones.index("GB")])
    night, total = zones.night_requests(_hist([21, 22, 23, 0, 3, 4]), gb, JAN_MS)
    assert (night[0], total[0]) == (40.0, 60.0)


def test_invalid_night_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="night hours"):
        ClaimedZones(night_start=3, night_end=3)
    with pytest.raises(ValueError, match="night hours"):
        ClaimedZones(night_start=0, night_end=24)
