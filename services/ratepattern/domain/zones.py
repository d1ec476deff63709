"""Claimed time zones: when is it night where the account says it is?

A person's traffic follows their own day. An account that claims a country at signup but sends
its requests while that country sleeps is either automation (flat 24/7 traffic puts a quarter of
it in any six-hour night) or a farm working its operators' day in another time zone. The claimed
night share is the share of an account's requests (hour-of-day histogram, UTC) that fall between
`night_start` and `night_end` local time under the most favourable of the country's time zones:
the minimum over its zones, so an account that lives in any zone of the country it claims has at
most its own night share. Zones and their UTC offsets (DST included, at the evaluation day) come
from the IANA database through pytz; half-hour offsets are rounded to the hour (the histogram's
resolution). Accounts without a known country give no evidence.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Final

import numpy as np
import numpy.typing as npt
import pytz

from ratepattern.domain.config import DAY_MS

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

UNKNOWN: Final = 0  # country index of accounts without a (known) country


def utc_offsets(country: str, at: datetime) -> tuple[int, ...]:
    """Distinct whole-hour UTC offsets of the country's IANA zones at `at` ((): unknown country)."""
    try:
        names = pytz.country_timezones[country.upper()]
    except KeyError:
        return ()
    hours = set()
    for name in names:
        offset = at.astimezone(pytz.timezone(name)).utcoffset()
        if offset is not None:
            hours.add(round(offset.total_seconds() / 3600))
    return tuple(sorted(hours))


class ClaimedZones:
    """Country codes as small integers, and each country's night as masks over UTC hours of day."""

    def __init__(self, night_start: int = 0, night_end: int = 6) -> None:
        if not (0 <= night_start < 24 and 0 <= night_end < 24 and night_start != night_end):
            raise ValueError("night hours must be distinct hours of day in [0, 24)")
        self.night_start = night_start
        self.night_end = night_end
        self.countries: list[str] = [""]
        self._index: dict[str, int] = {"": UNKNOWN}
        self._masks: tuple[int, int, npt.NDArray[np.bool_]] | None = None  # (day, countries, masks)

    def index(self, country: str) -> int:
        """The small integer of a country code; "" and codes the IANA database does not know are UNKNOWN,
        so the table holds at most the ~250 real countries whatever the input says."""
        code = country.strip().upper()
        idx = self._index.get(code)
        if idx is None:
            if code not in pytz.country_timezones:
                return UNKNOWN
            idx = self._index[code] = len(self.countries)
            self.countries.append(code)
        return idx

    def night_masks(self, now_ms: int) -> npt.NDArray[np.bool_]:
        """[countries, zones, 24 UTC hours]: True where that UTC hour is night in that zone.

        Countries with fewer zones repeat their first; UNKNOWN and unknown codes have no true hour.
        Cached per UTC day (offsets change with DST only between days).
        """
        day = now_ms // DAY_MS
        if self._masks is not None and self._masks[0] == day and self._masks[1] == len(self.countries):
            return self._masks[2]
        at = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc)
        offsets = [utc_offsets(c, at) if c else () for c in self.countries]
        width = max([len(o) for o in offsets] + [1])
        masks = np.zeros((len(self.countries), width, 24), dtype=np.bool_)
        utc_hour = np.arange(24)
        for c, zone_offsets in enumerate(offsets):
            for z in range(width):
                if not zone_offsets:
                    break
                local = (utc_hour + zone_offsets[min(z, len(zone_offsets) - 1)]) % 24
                if self.night_start < self.night_end:
                    masks[c, z] = (local >= self.night_start) & (local < self.night_end)
                else:
                    masks[c, z] = (local >= self.night_start) | (local < self.night_end)
        self._masks = (day, len(self.countries), masks)
        return masks

    def night_requests(self, hist: F64, countries: I64, now_ms: int) -> tuple[F64, F64]:
        """(requests at claimed night, requests with a known country) per column of a [24, n] UTC
        hour-of-day histogram, `countries` being each column's country index."""
        masks = self.night_masks(now_ms)[countries]  # [n, zones, 24]
        per_zone = np.einsum("nzh,hn->nz", masks.astype(np.float64), hist)
        known = masks.any(axis=(1, 2))
        night: F64 = np.where(known, per_zone.min(axis=1), 0.0)
        total: F64 = np.where(known, hist.sum(axis=0), 0.0)
        return night, total
