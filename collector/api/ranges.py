"""Query parameters the routes share: times and ranges in the site time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi import HTTPException

from jishi.agent.wire import iso_utc
from jishi.collector.ingest.sessions_csv import parse_time

MAX_RANGE_S = 11 * 366 * 86_400


def parse_param(name: str, text: str, zone: ZoneInfo) -> float:
    try:
        return parse_time(text, zone)
    except ValueError:
        raise HTTPException(
            400, detail=f"{name}={text!r} is not an ISO 8601 date or time, e.g. 2025-01-01"
        ) from None


def parse_range(start: str, end: str, zone: ZoneInfo) -> tuple[float, float]:
    lo, hi = parse_param("start", start, zone), parse_param("end", end, zone)
    if hi <= lo:
        raise HTTPException(400, detail=f"end ({end}) must be after start ({start})")
    if hi - lo > MAX_RANGE_S:
        raise HTTPException(400, detail="the range may span at most 11 years")
    return lo, hi


def until_now(lo: float, hi: float, now: float, start: str) -> tuple[float, bool]:
    """A period reaching past now ends now and is ``partial``, as in the reports
    (reports/period.py): the future is not unknown, it has not happened, and the quota is
    prorated over the time that has."""
    if lo >= now:
        raise HTTPException(
            400, detail=f"start ({start}) is in the future; nothing is measured there yet"
        )
    return min(hi, now), hi > now


def iso(value: float) -> str:
    return iso_utc(datetime.fromtimestamp(value, UTC))
