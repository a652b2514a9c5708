"""The reporting period from ``--year`` or ``--start/--end``: checked, in the site time zone.

Pure: the clock is an argument. A year in the future, a start in the future and an inverted
range are refused with a message that says what to type instead; the current year (or a range
ending after now) ends now, and the period says so (``partial``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from jishi.collector.ingest.sessions_csv import parse_time
from jishi.collector.reports.errors import PeriodError
from jishi.collector.usage.periods import year_bounds

# The usage API's limit (api_usage.MAX_RANGE_S): reports over longer ranges are refused too.
MAX_RANGE_S = 11 * 366 * 86_400
FIRST_YEAR = 1990


@dataclass(frozen=True, slots=True)
class ReportPeriod:
    """``[start, end)`` in POSIX seconds; ``label`` is ``2025`` or ``2025-03-01..2025-06-01``."""

    start: float
    end: float
    label: str
    timezone: str
    year: int | None = None
    partial: bool = False

    def as_dict(self) -> dict[str, object]:
        zone = ZoneInfo(self.timezone)
        return {
            "label": self.label,
            "start": datetime.fromtimestamp(self.start, zone).isoformat(),
            "end": datetime.fromtimestamp(self.end, zone).isoformat(),
            "timezone": self.timezone,
            "year": self.year,
            "partial": self.partial,
        }


def _local(value: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(value, zone).strftime("%Y-%m-%d %H:%M")


def resolve_period(
    *,
    year: int | None,
    start: str | None,
    end: str | None,
    timezone: str,
    now: float,
) -> ReportPeriod:
    """The period asked for; no arguments at all means the last complete calendar year."""
    zone = ZoneInfo(timezone)
    today = datetime.fromtimestamp(now, zone)
    if year is not None and (start is not None or end is not None):
        raise PeriodError("give either --year or --start/--end, not both")
    if year is None and start is None and end is None:
        year = today.year - 1
    if year is not None:
        return _year_period(year, zone, timezone, now, today)
    if start is None or end is None:
        raise PeriodError("give both --start and --end (e.g. --start 2025-01-01 --end 2025-07-01)")
    expected = "a date or time; use ISO 8601 such as 2025-01-01 or 2025-01-01T08:00"
    lo = parse_option_time("start", start, zone, expected=expected)
    hi = parse_option_time("end", end, zone, expected=expected)
    if hi <= lo:
        raise PeriodError(
            f"the range is inverted or empty: end ({end}) must be after start ({start})"
        )
    if hi - lo > MAX_RANGE_S:
        raise PeriodError("the range may span at most 11 years")
    if lo >= now:
        raise PeriodError(
            f"start ({start}) is in the future (now is {_local(now, zone)} {timezone})"
        )
    label = f"{start}..{end}"
    return ReportPeriod(lo, min(hi, now), label, timezone, None, partial=hi > now)


def bounds_if_asked(
    *,
    year: int | None,
    start: str | None,
    end: str | None,
    timezone: str,
    now: float,
) -> tuple[float | None, float | None]:
    """``(start, end)`` of the period asked for, or ``(None, None)`` when none is: a listing
    (the adjustments) then covers all time instead of last year."""
    if year is None and start is None and end is None:
        return None, None
    period = resolve_period(year=year, start=start, end=end, timezone=timezone, now=now)
    return period.start, period.end


def _year_period(
    year: int, zone: ZoneInfo, timezone: str, now: float, today: datetime
) -> ReportPeriod:
    if year > today.year:
        raise PeriodError(
            f"year {year} is in the future (it is {today.year} in {timezone}); "
            f"the latest complete year is {today.year - 1}"
        )
    if year < FIRST_YEAR:
        raise PeriodError(f"year {year} is before {FIRST_YEAR}; give a four-digit year like 2025")
    lo, hi = year_bounds(year, zone)
    return ReportPeriod(lo, min(hi, now), str(year), timezone, year, partial=hi > now)


def parse_option_time(option: str, text: str, zone: ZoneInfo, *, expected: str) -> float:
    """``--option text`` as POSIX seconds (a time without offset is site local time).

    A value that is no time is a :class:`PeriodError` saying it is not ``expected``.
    """
    try:
        return parse_time(text, zone)
    except ValueError:
        raise PeriodError(f"--{option} {text!r} is not {expected}") from None
