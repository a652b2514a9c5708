"""Day, month and year boundaries in the site time zone, and the yearly quota prorated to a period.

Times are POSIX seconds (UTC). Boundaries are local midnights of the site time zone (DESIGN.md:
default ``Asia/Shanghai``), converted with :mod:`zoneinfo`, so a day is 86,400 s there and
23 h or 25 h on daylight-saving days elsewhere. Loops run once per day, never per second.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Bucket:
    """One calendar piece of a period: ``key`` is ``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY``."""

    key: str
    start: float
    end: float

    @property
    def duration_s(self) -> float:
        return self.end - self.start


def _zone(tz: ZoneInfo | str) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)


def _midnight(day: date, zone: ZoneInfo) -> float:
    return datetime.combine(day, time(0), tzinfo=zone).timestamp()


def _check_range(start: float, end: float) -> None:
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ValueError(f"period bounds must be finite: [{start}, {end})")
    if end < start:
        raise ValueError(f"period ends before it starts: [{start}, {end})")


def _split(
    start: float,
    end: float,
    tz: ZoneInfo | str,
    *,
    first_of: Callable[[date], date],
    following: Callable[[date], date],
    key_of: Callable[[date], str],
) -> list[Bucket]:
    _check_range(start, end)
    zone = _zone(tz)
    buckets: list[Bucket] = []
    day = first_of(datetime.fromtimestamp(start, zone).date())
    t = start
    while t < end:
        nxt = following(day)
        boundary = _midnight(nxt, zone)
        piece_end = min(boundary, end)
        if piece_end > t:
            buckets.append(Bucket(key_of(day), t, piece_end))
        t = max(t, piece_end)
        day = nxt
    return buckets


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def split_by_day(start: float, end: float, tz: ZoneInfo | str) -> list[Bucket]:
    """``[start, end)`` cut at local midnights; the first and last pieces may be partial."""
    return _split(
        start,
        end,
        tz,
        first_of=lambda d: d,
        following=lambda d: d + timedelta(days=1),
        key_of=lambda d: d.isoformat(),
    )


def split_by_month(start: float, end: float, tz: ZoneInfo | str) -> list[Bucket]:
    """``[start, end)`` cut at local first-of-month midnights."""
    return _split(
        start,
        end,
        tz,
        first_of=lambda d: d.replace(day=1),
        following=_next_month,
        key_of=lambda d: f"{d:%Y-%m}",
    )


def split_by_year(start: float, end: float, tz: ZoneInfo | str) -> list[Bucket]:
    """``[start, end)`` cut at local New Year midnights."""
    return _split(
        start,
        end,
        tz,
        first_of=lambda d: date(d.year, 1, 1),
        following=lambda d: date(d.year + 1, 1, 1),
        key_of=lambda d: f"{d.year:04d}",
    )


def year_bounds(year: int, tz: ZoneInfo | str) -> tuple[float, float]:
    """The local calendar year as ``[New Year midnight, next New Year midnight)``."""
    zone = _zone(tz)
    return _midnight(date(year, 1, 1), zone), _midnight(date(year + 1, 1, 1), zone)


def year_length_s(year: int, tz: ZoneInfo | str) -> float:
    """Seconds in the local calendar year (365 or 366 days, give or take DST)."""
    start, end = year_bounds(year, tz)
    return end - start


@lru_cache(maxsize=8192)  # a fleet's live day asks the same few (quota, day) pairs again
def prorated_quota_s(
    quota_h_per_year: float, start: float, end: float, tz: ZoneInfo | str
) -> float:
    """The yearly quota in seconds prorated to ``[start, end)``.

    Each piece of the period in one local calendar year earns ``quota x piece / that year's
    length``: a whole calendar year earns exactly the quota (leap years included), a day of
    2024 earns 1/366 of it and a day of 2025 1/365, and prorations of adjacent periods add up.
    """
    total = 0.0
    for bucket in split_by_year(start, end, tz):
        length = year_length_s(int(bucket.key), tz)
        total += quota_h_per_year * SECONDS_PER_HOUR * bucket.duration_s / length
    return total
