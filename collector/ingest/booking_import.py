"""Bookings into the ledger: a booking-system CSV, a calendar file, a calendar URL (issue 13).

Shared by ``jishi collector import-bookings``, ``POST /api/v1/bookings/import`` and the
periodic pull of the calendar feeds configured in ``collector.toml`` (``[[bookings]]``).
"""

from __future__ import annotations

import http.client
import urllib.request
from pathlib import Path

from jishi.collector.ingest.bookings_csv import read_bookings_csv
from jishi.collector.ingest.bookings_ics import parse_ics
from jishi.collector.ingest.sessions_csv import decode_csv
from jishi.collector.ledger.bookings import (
    replace_feed,
    store_bookings,
    unknown_booking_instruments,
)
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.session_input import SessionImportError

MAX_CALENDAR_BYTES = 20 * 1024 * 1024
DAY = 86_400.0


def import_bookings_csv(engines: Engines, raw: bytes, timezone: str, now: float) -> int:
    """Store every row of ``raw`` (source ``csv``); all rows or none, every bad row listed."""
    records, problems = read_bookings_csv(decode_csv(raw), timezone)
    problems += unknown_booking_instruments(engines, records)
    if problems:
        raise SessionImportError(sorted(problems, key=lambda p: (p[0] is None, p[0] or 0)))
    return store_bookings(engines, records, "csv", now)


def import_calendar(  # noqa: PLR0917 - one calendar's import: what, for which instrument, when
    engines: Engines,
    raw: bytes,
    instrument: str,
    name: str,
    timezone: str,
    now: float,
    *,
    days_back: float = 30,
    days_ahead: float = 90,
) -> int:
    """The calendar's occurrences from ``days_back`` before ``now`` to ``days_ahead`` after it
    become the bookings of source ``ics:<name>`` in that window (earlier ones are kept)."""
    window = (now - days_back * DAY, now + days_ahead * DAY)
    bookings = parse_ics(raw, timezone=timezone, start=window[0], end=window[1])
    return replace_feed(engines, instrument, f"ics:{name}", bookings, window, now)


def fetch_calendar(location: str, timeout_s: float = 30.0) -> bytes:
    """The bytes of a calendar at an http(s) URL or a file path; a failure is an import error
    naming the location (the next pull tries again)."""
    try:
        if location.startswith(("http://", "https://")):
            request = urllib.request.Request(location, headers={"User-Agent": "jishi"})  # noqa: S310 - scheme checked above
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
                raw: bytes = response.read(MAX_CALENDAR_BYTES + 1)
        else:
            raw = Path(location.removeprefix("file://")).read_bytes()
    # OSError covers URLError, HTTPError, time-outs and refused connections; a malformed URL
    # is a ValueError, a broken HTTP exchange an HTTPException.
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise SessionImportError([(None, f"cannot read calendar {location}: {exc}")]) from None
    if len(raw) > MAX_CALENDAR_BYTES:
        raise SessionImportError([(None, f"calendar {location} is larger than 20 MB")])
    return raw
